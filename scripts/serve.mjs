#!/usr/bin/env node
// A tiny static server for the demo and the browser tests: the repository root on loopback only
// (WebGPU needs a secure context; http://127.0.0.1 is one). `/` goes to the demo page.
//   node scripts/serve.mjs [--port 8787]    (npm run demo builds first, then runs this)
// Files are streamed with Content-Length, so the page can show download progress.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.wgsl': 'text/plain; charset=utf-8',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
  '.md': 'text/plain; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
};

/** Starts the server; port 0 picks a free one. Resolves to its URL and a close(). */
export function serve({ port = 0, host = '127.0.0.1', root = ROOT, quiet = true } = {}) {
  const server = createServer(async (req, res) => {
    const send = (code, text) => { res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }); res.end(text); };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only');
      if (url.pathname === '/' || url.pathname === '/demo') { res.writeHead(302, { location: '/demo/' + url.search }); return res.end(); }
      let rel = decodeURIComponent(url.pathname);
      // Inside the root, and nothing hidden (.git, .cache) or installed (node_modules).
      const path = normalize(join(root, rel));
      if (!path.startsWith(root + sep) || rel.split('/').some((p) => p.startsWith('.') || p === 'node_modules')) return send(403, 'forbidden');
      let file = path;
      let st = await stat(file).catch(() => null);
      if (st?.isDirectory()) { file = join(path, 'index.html'); st = await stat(file).catch(() => null); }
      if (!st?.isFile()) return send(404, `not found: ${rel}`);
      res.writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': st.size,
        'cache-control': 'no-cache',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
      if (!quiet) console.log(`${req.method} ${rel}`);
    } catch (e) {
      send(500, String(e?.message ?? e));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: p } = server.address();
      resolve({ url: `http://${host}:${p}`, server, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const want = Number(i > 0 ? process.argv[i + 1] : process.env.PORT ?? 8787);
  let s;
  for (let port = want; !s; port++) {
    try { s = await serve({ port }); } catch (e) {
      if (e.code !== 'EADDRINUSE' || port > want + 20) { console.error(`cannot listen on 127.0.0.1:${port}: ${e.message}`); process.exit(1); }
    }
  }
  console.log(`trans3dhead demo: ${s.url}/demo/`);
  console.log(`  with the small test model: ${s.url}/demo/?weights=/test/fixtures/small/model.pth&config=/test/fixtures/small/config.json&sample=1`);
  console.log('  (serves this folder on 127.0.0.1 only; Ctrl-C stops it)');
  console.log('  No GPU? Chromium runs WebGPU on SwiftShader with: chromium --enable-unsafe-webgpu --enable-features=Vulkan \\\n' +
    '    --use-vulkan=swiftshader --use-webgpu-adapter=swiftshader --use-angle=swiftshader --enable-unsafe-swiftshader <url>');
}

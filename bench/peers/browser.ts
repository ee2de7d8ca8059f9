// The in-browser peers, for bench/peers.ts: serves page.html, ONNX Runtime Web's dist, the
// exported model and our browser bundle from 127.0.0.1, drives Debian's chromium (headless,
// WebGPU on whatever adapter it finds: SwiftShader here) with playwright-core, runs the peers
// one after the other in fresh pages of the same browser and prints one line per peer:
//   PEER <name> <json>           (a PeerResult, or {"error": ...})
//   node --import ./scripts/register.mjs bench/peers/browser.ts '<json config>'
// config: { meta: path to the export's .json, image: photo, ours?: bundle file in dist/browser,
//           peers: [{ name, kind: 'ort' | 'ours', build?, ep?, frames, seconds, deadline?, timeoutS, threads? }] }
// deadline (epoch ms): no timed frame is started that would likely end after it; timeoutS: hard bound.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';
import { loadMeta } from './common.ts';

interface PeerSpec { name: string; kind: 'ort' | 'ours'; build?: string; ep?: string; frames: number; seconds: number; deadline?: number; timeoutS: number; threads?: number }
const cfg = JSON.parse(process.argv[2]) as { meta: string; image: string; ours?: string; peers: PeerSpec[] };
const meta = loadMeta(cfg.meta);
const root = resolve(new URL('../..', import.meta.url).pathname);

// URL prefix -> folder (or file). Nothing outside these is served.
const mounts: [string, string][] = [
  ['/ort/', join(root, 'node_modules/onnxruntime-web/dist')],
  ['/model/', resolve(dirname(cfg.meta))],
  ['/ours/', join(root, 'dist/browser')],
];
const files: Record<string, string> = { '/': join(root, 'bench/peers/page.html'), '/page.js': join(root, 'bench/peers/page.js'), '/image': resolve(cfg.image) };
const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg' };

function lookup(url: string): string | null {
  const path = decodeURIComponent(url.split('?')[0]);
  if (files[path]) return files[path];
  for (const [prefix, dir] of mounts) {
    if (!path.startsWith(prefix)) continue;
    const p = resolve(dir, '.' + path.slice(prefix.length - 1));
    if (p.startsWith(dir + sep) && existsSync(p) && statSync(p).isFile()) return p;
  }
  return null;
}

const server = createServer((req, res) => {
  const p = lookup(req.url ?? '/');
  if (!p) { res.writeHead(404).end(); return; }
  // Cross-origin isolation: SharedArrayBuffer, so ORT's WASM can use threads.
  res.writeHead(200, {
    'Content-Type': types[extname(p)] ?? 'application/octet-stream', 'Content-Length': statSync(p).size,
    'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store',
  });
  createReadStream(p).pipe(res);
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
const port = (server.address() as { port: number }).port;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
    '--enable-unsafe-swiftshader', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', // playwright gives it a fresh temporary profile
  // PEERS_REAL_GPU=1: drop the SwiftShader flags and let Chromium take the machine's GPU.
  ].filter((a) => !(process.env.PEERS_REAL_GPU && /swiftshader/.test(a))).concat(process.env.PEERS_REAL_GPU ? ['--ignore-gpu-blocklist'] : []),
});

async function runPeer(spec: PeerSpec): Promise<unknown> {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.text().startsWith('[peers]')) process.stderr.write(`  ${m.text().slice(8)}\n`); });
  page.on('pageerror', (e) => process.stderr.write(`  page error: ${e.message}\n`));
  let timer: NodeJS.Timeout | undefined;
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (window as unknown as { peersReady?: boolean }).peersReady === true);
    const call = spec.kind === 'ours'
      ? page.evaluate((a) => (window as any).peers.ours(a), { bundle: cfg.ours, frames: spec.frames, seconds: spec.seconds, deadline: spec.deadline })
      : page.evaluate((a) => (window as any).peers.ortWeb(a), { build: spec.build, ep: spec.ep, meta, frames: spec.frames, seconds: spec.seconds, deadline: spec.deadline, threads: spec.threads ?? 1 });
    const timeout = new Promise<never>((_, no) => { timer = setTimeout(() => no(new Error(`no result within ${spec.timeoutS} s`)), spec.timeoutS * 1000); });
    return await Promise.race([call, timeout]);
  } catch (e) {
    return { error: String((e as Error).message ?? e).split('\n')[0] };
  } finally {
    clearTimeout(timer);
    await page.close().catch(() => {});
  }
}

try {
  for (const spec of cfg.peers) {
    process.stderr.write(`${spec.name}...\n`);
    console.log(`PEER ${spec.name} ${JSON.stringify(await runPeer(spec))}`);
  }
} finally {
  await browser.close().catch(() => {});
  server.close();
}

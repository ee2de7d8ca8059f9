#!/usr/bin/env node
// Prepares .gpucheck/, what the GPU check needs on a machine with no package registry and no
// node_modules (bench/README.md, "GPU check"); scripts/gpu-check.sh runs it there.
//   .gpucheck/node.xz          this machine's Node binary (x86-64 Linux, self-contained), stripped
//   .gpucheck/runtime.tar.xz   bundle/bench/gpu-check.mjs and bundle/test/*.test.mjs (esbuild, WGSL
//                              inlined, shared chunks), node_modules/ with only the packages the
//                              bundles import (webgpu reduced to its linux-x64 dawn.node), and
//                              vk/libvulkan.so.1 from Debian's libvulkan1 package
//   .gpucheck/expected.json    the full model's outputs on this machine's CPU adapter, seeded weights
//   .gpucheck/manifest.json    what went in, with sizes
// Usage: node scripts/prepare-gpu-check.mjs [--skip-expected]
import { execFileSync, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(ROOT);
const OUT = '.gpucheck';
const STAGE = '.cache/gpucheck-stage';
const RT = join(STAGE, 'runtime');
const MiB = 2 ** 20;
const mib = (n) => `${(n / MiB).toFixed(1)} MiB`;
const say = (s) => console.log(`prepare-gpu-check: ${s}`);
const fail = (s) => { console.error(`prepare-gpu-check: ${s}`); process.exit(1); };

if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the GPU machine is x86-64 Linux; run this on one too (this is ${process.platform}-${process.arch}), since Node and dawn.node travel as binaries`);

// Test files that exercise kernels on the adapter (CPU references or committed small-config
// goldens). Left out: the PyTorch parity tests (.torch.test.ts: 170 MB of fixtures; CI runs them),
// device/robustness (they spawn TS sources and the CLI), pure-CPU reader and pose tests.
const KERNEL_TESTS = ['attention', 'backbone', 'compact', 'compute-f16', 'conv2d', 'decoder', 'elementwise', 'executor', 'flame', 'gemm', 'kernel',
  'layernorm', 'maxpool', 'mean', 'model', 'network', 'preprocess', 'qamem'].map((n) => `test/${n}.test.ts`);

rmSync(STAGE, { recursive: true, force: true });
mkdirSync(RT, { recursive: true });
// --skip-expected keeps the expected outputs already there (they depend only on the weights'
// seed, the model code and the photo); everything else is remade.
const skipExpected = process.argv.includes('--skip-expected');
if (skipExpected && !existsSync(join(OUT, 'expected.json'))) fail(`--skip-expected: there is no ${OUT}/expected.json to keep`);
for (const f of existsSync(OUT) ? readdirSync(OUT) : []) if (!(skipExpected && f === 'expected.json')) rmSync(join(OUT, f), { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// ---- bundles ----
// Tests find fixtures through import.meta.url; in a bundle that is the bundle's URL, so it becomes
// the test file's own path under the working directory (the check runs them from the repo root).
const testUrls = {
  name: 'test-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]test[\\/][^\\/]+\.ts$/ }, (a) => {
      const rel = relative(ROOT, a.path).split('\\').join('/');
      const src = readFileSync(a.path, 'utf8').replaceAll('import.meta.url', `(new URL(${JSON.stringify(rel)}, 'file://' + process.cwd() + '/').href)`);
      return { contents: src, loader: 'ts' };
    });
  },
};
const t0 = performance.now();
const built = await esbuild.build({
  entryPoints: ['bench/gpu-check.ts', ...KERNEL_TESTS], outdir: join(RT, 'bundle'), outbase: '.',
  entryNames: '[dir]/[name]', chunkNames: 'chunks/[name]-[hash]', outExtension: { '.js': '.mjs' },
  bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external',
  loader: { '.wgsl': 'text' }, plugins: [testUrls], metafile: true, logLevel: 'error', legalComments: 'none', absWorkingDir: ROOT,
});
say(`bundled ${1 + KERNEL_TESTS.length} entries in ${(performance.now() - t0).toFixed(0)} ms`);

// ---- node_modules: only the packages the bundles import, and their dependencies ----
const BUILTIN = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const pkgName = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
const wanted = new Set();
for (const o of Object.values(built.metafile.outputs)) for (const i of o.imports) if (i.external && !BUILTIN.has(i.path)) wanted.add(pkgName(i.path));
const queue = [...wanted];
while (queue.length) {
  const p = queue.pop();
  const pj = join('node_modules', p, 'package.json');
  if (!existsSync(pj)) fail(`${p} is imported but not installed: run npm ci`);
  for (const d of Object.keys(JSON.parse(readFileSync(pj, 'utf8')).dependencies ?? {})) if (!wanted.has(d)) { wanted.add(d); queue.push(d); }
}
for (const p of wanted) {
  const dst = join(RT, 'node_modules', p);
  if (p === 'webgpu') {
    // Its loader picks dist/<platform>-<arch>/dawn.node; only linux-x64 travels.
    for (const f of ['index.js', 'package.json', 'LICENSE.md', 'dist/linux-x64/dawn.node']) cpSync(join('node_modules/webgpu', f), join(dst, f));
  } else cpSync(join('node_modules', p), dst, { recursive: true, dereference: true });
}
say(`node_modules: ${[...wanted].sort().join(', ')}`);

// ---- the Vulkan loader, from Debian's libvulkan1 (the GPU machine may have none) ----
const debDir = '.cache/gpucheck-deb';
mkdirSync(debDir, { recursive: true });
let deb = readdirSync(debDir).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
if (!deb) {
  const r = spawnSync('apt-get', ['download', 'libvulkan1:amd64'], { cwd: debDir, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  deb = readdirSync(debDir).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!deb) fail(`apt-get download libvulkan1 failed (${r.stderr?.trim() || r.error?.message}); the GPU machine may lack the Vulkan loader, so it must travel`);
}
execFileSync('dpkg-deb', ['-x', join(debDir, deb), join(STAGE, 'deb')]);
cpSync(join(STAGE, 'deb/usr/lib/x86_64-linux-gnu/libvulkan.so.1'), join(RT, 'vk/libvulkan.so.1'), { dereference: true });
say(`Vulkan loader from ${deb}`);

// ---- the expected outputs: the bundle itself, on this machine's CPU adapter ----
if (!skipExpected) {
  say('expected outputs: running the bundled check on this machine\'s adapter (a minute or more on a CPU adapter)...');
  const r = spawnSync(process.execPath, [join(RT, 'bundle/bench/gpu-check.mjs'), '--write-expected', join(OUT, 'expected.json')], { stdio: 'inherit' });
  if (r.status !== 0) fail('the bundled check could not make the expected outputs (see above)');
}

// ---- archives ----
execFileSync('tar', ['-C', STAGE, '-cf', join(OUT, 'runtime.tar'), 'runtime']);
execFileSync('xz', ['-6', '-T2', join(OUT, 'runtime.tar')]);
// Node: stripped and compressed once per binary (xz -9 of 86 MB takes minutes), then reused.
const nodeStat = statSync(process.execPath);
const nodeKey = `${process.version} ${process.execPath} ${nodeStat.size} ${nodeStat.mtimeMs}`;
const nodeCache = '.cache/gpucheck-node.xz';
if (!existsSync(nodeCache) || !existsSync(`${nodeCache}.key`) || readFileSync(`${nodeCache}.key`, 'utf8') !== nodeKey) {
  const ldd = spawnSync('ldd', [process.execPath], { encoding: 'utf8' }).stdout ?? '';
  const libs = [...ldd.matchAll(/^\s*(\S+)\s/gm)].map((m) => m[1]).filter((l) => !/^(linux-vdso|libc|libm|libdl|libpthread|libstdc\+\+|libgcc_s|librt|\/lib64\/ld-linux)/.test(l));
  if (libs.length) fail(`${process.execPath} links ${libs.join(', ')}, which the GPU machine may not have; use a self-contained Node build (nodejs.org, NodeSource)`);
  say(`compressing ${process.execPath} (${process.version}, ${mib(nodeStat.size)}); this takes a few minutes once...`);
  execFileSync('strip', ['-o', '.cache/gpucheck-node', process.execPath]);
  rmSync(nodeCache, { force: true });
  execFileSync('xz', ['-9', '-T2', '.cache/gpucheck-node']);
  writeFileSync(`${nodeCache}.key`, nodeKey);
}
cpSync(nodeCache, join(OUT, 'node.xz'));

// ---- sizes: everything that travels must stay under 64 MiB ----
const duBytes = (p) => { const s = statSync(p); return s.isDirectory() ? readdirSync(p).reduce((n, f) => n + duBytes(join(p, f)), 0) : s.size; };
const files = Object.fromEntries(readdirSync(OUT).map((f) => [f, duBytes(join(OUT, f))]));
const ours = Object.values(files).reduce((a, b) => a + b, 0);
const tree = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0').filter((f) => f && existsSync(f) && !statSync(f).isDirectory());
const treeBytes = tree.reduce((n, f) => n + statSync(f).size, 0);
writeFileSync(join(OUT, 'manifest.json'), JSON.stringify({
  date: new Date().toISOString(), node: process.version, commit: spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
  vulkanDeb: deb, packages: [...wanted].sort(), kernelTests: KERNEL_TESTS, files,
}, null, 1));
for (const [f, n] of Object.entries(files)) say(`  ${OUT}/${f.padEnd(18)} ${mib(n).padStart(10)}`);
const total = ours + treeBytes;
say(`${OUT}: ${mib(ours)}; working tree (tracked + untracked, not ignored): ${mib(treeBytes)}; total that travels ${mib(total)} of 64 MiB`);
if (total > 60 * MiB) fail('over 60 MiB: too close to the 64 MiB limit on what travels');
say('done. On the GPU machine (carry .gpucheck): bash scripts/gpu-check.sh');

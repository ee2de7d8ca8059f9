#!/usr/bin/env node
// Test runner: one Node process per test file (isolation, and a hang or an unclean exit fails
// that file instead of the whole run), uvu inside each. Prints the closing line
// "N passed, N failed" that CI reads.
// Each group runs on a stated adapter (TRANS3DHEAD_ADAPTER / _LIMITS / _SCHEDULE set for its files):
//   node scripts/test.mjs                 all groups below (the README's command)
//   node scripts/test.mjs --unit          tests that need only Node and a WebGPU adapter, on SwiftShader
//   node scripts/test.mjs --gpu-schedules the kernel, executor and model suites on SwiftShader with the GPU
//                                         ("tiled") schedules forced and only the WebGPU spec-default limits
//   node scripts/test.mjs --lavapipe      the same suites on lavapipe with its own (CPU) schedules
//   node scripts/test.mjs --torch         PyTorch parity (makes .cache/torch-full first)
//   node scripts/test.mjs --browser       headless Chromium tests
//   node scripts/test.mjs test/gemm.test.ts ...   just these files
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const GROUP_FLAGS = ['--unit', '--gpu-schedules', '--lavapipe', '--torch', '--browser'];
const unknown = args.filter((a) => a.startsWith('--') && !GROUP_FLAGS.includes(a));
if (unknown.length) { console.error(`unknown option ${unknown.join(' ')}; use ${GROUP_FLAGS.join(' ')} or test files`); process.exit(2); }
const want = (flag) => args.includes(flag) || (!args.some((a) => GROUP_FLAGS.includes(a)) && files.length === 0);
const SWIFTSHADER = { TRANS3DHEAD_ADAPTER: 'swiftshader', TRANS3DHEAD_LIMITS: 'adapter', TRANS3DHEAD_SCHEDULE: 'auto' };
const SWIFTSHADER_SPEC_GPU = { TRANS3DHEAD_ADAPTER: 'swiftshader', TRANS3DHEAD_LIMITS: 'default', TRANS3DHEAD_SCHEDULE: 'gpu' };
const LAVAPIPE = { TRANS3DHEAD_ADAPTER: 'lavapipe', TRANS3DHEAD_LIMITS: 'adapter', TRANS3DHEAD_SCHEDULE: 'auto' };
// The suites whose results depend on the adapter: kernels, executor, the model graph.
const ADAPTER_SUITES = /(^|\/)(attention|backbone|compact|compute-f16|conv2d|decoder|depthwise_conv|detector|device|elementwise|executor|flame|flame-dynamic|gemm|kernel|layernorm|maxpool|mean|model|network|preprocess|qamem|tflite-ops)\.test\.ts$/;
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 15 * 60 * 1000);

const all = readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', f));
const browser = existsSync('test/browser') ? readdirSync('test/browser').filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test/browser', f)) : [];
const groups = [];
if (files.length) groups.push(['selected', files, {}]);
else {
  if (want('--unit')) groups.push(['unit on SwiftShader', all.filter((f) => !f.endsWith('.torch.test.ts')), SWIFTSHADER]);
  if (want('--gpu-schedules')) groups.push(['GPU schedules on SwiftShader, spec-default limits', all.filter((f) => ADAPTER_SUITES.test(f)), SWIFTSHADER_SPEC_GPU]);
  // attention.test crosses SwiftShader-sized register tiles and the GPU schedule at head dims up
  // to 64: on lavapipe each takes LLVM 40-80 s to compile (the file ran past 15 minutes).
  // lavapipe's own attention schedule is checked there by the model suites (small golden,
  // decoder, and adapters.test's full model against SwiftShader).
  if (want('--lavapipe')) groups.push(['lavapipe', all.filter((f) => ADAPTER_SUITES.test(f) && !f.endsWith('attention.test.ts')), LAVAPIPE]);
  if (want('--torch')) groups.push(['torch on SwiftShader', all.filter((f) => f.endsWith('.torch.test.ts')), SWIFTSHADER]);
  // Chromium runs on SwiftShader here: Node's side of the browser-equals-Node checks must too.
  if (want('--browser')) groups.push(['browser (Chromium and Node on SwiftShader)', browser, SWIFTSHADER]);
}

function torchFixtures() {
  // The full-size PyTorch reference outputs are generated, never committed.
  const out = '.cache/torch-full';
  if (existsSync(join(out, 'expected.safetensors')) && !process.env.REGENERATE_FIXTURES) return true;
  console.log(`making ${out} with Debian's PyTorch (python/make_fixtures.py --config full)...`);
  const r = spawnSync('/usr/bin/python3', ['python/make_fixtures.py', '--config', 'full', '--out', out], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\nCould not make the PyTorch reference (${r.error?.message ?? 'exit ' + r.status}). ` +
      'The parity tests need Debian\'s PyTorch: apt-get install python3-torch python3-torchvision python3-scipy python3-skimage');
    return false;
  }
  return true;
}

function runFile(file, env, group) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // --expose-gc: the leak checks (robustness.test.ts) measure the heap after a full collection.
    const child = spawn(process.execPath, ['--expose-gc', '--import', './scripts/register.mjs', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    const timer = setTimeout(() => { out += `\n${file}: timed out after ${FILE_TIMEOUT_MS / 1000} s\n`; child.kill('SIGKILL'); }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      // A file that crashed, hung, or ran no test at all counts as one failure.
      let failed = total - passed - skipped;
      if (code !== 0 && failed === 0) failed = 1;
      if (total === 0 && failed === 0) failed = 1;
      resolve({ file, group, passed, failed, skipped, code, signal, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

const results = [];
for (const [name, list, env] of groups) {
  if (name.startsWith('torch') && list.length && !torchFixtures()) {
    for (const file of list) results.push({ file, group: name, passed: 0, failed: 1, skipped: 0, code: 1, seconds: 0 });
    continue;
  }
  console.log(`\n══ ${name}${Object.keys(env).length ? ` (${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}`);
  for (const file of list) {
    console.log(`\n── ${file}`);
    results.push(await runFile(file, env, name));
  }
}
let shown = null;
console.log('\nfile                                        passed failed  seconds');
for (const r of results) {
  if (r.group !== shown) { shown = r.group; console.log(`[${r.group}]`); }
  console.log(`${r.file.padEnd(44)}${String(r.passed).padStart(6)}${String(r.failed).padStart(7)}${r.seconds.toFixed(1).padStart(9)}${r.failed ? '  FAILED' + (r.code ? ` (exit ${r.code ?? r.signal})` : '') : ''}`);
}
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
if (results.length === 0) { console.log('\nno test files found'); process.exit(1); }
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);

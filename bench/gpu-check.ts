// The GPU check (bench/README.md, "GPU check"): one run that says what the adapter is, runs the
// kernel tests on it, checks the full model's outputs against a CPU adapter's on the same seeded
// weights, and benchmarks batch 1, 8 and 32 with per-kernel timestamps, into one JSON file.
// scripts/prepare-gpu-check.mjs bundles this file; scripts/gpu-check.sh runs the bundle. Also
// runs from source: node --import ./scripts/register.mjs bench/gpu-check.ts --quick
//   --quick                  CPU adapters: batches 1 and 2, 3 timed frames, one profile
//   --batches 1,8,32         batches to benchmark (default 1,8,32; --quick 1,2)
//   --seconds S              timed frames per batch stop after S seconds (default 10)
//   --expected file          the CPU adapter's outputs (default .gpucheck/expected.json)
//   --write-expected file    write them instead of checking (scripts/prepare-gpu-check.mjs)
//   --tests dir              bundled kernel test files (*.test.mjs) to run, one process each
//   --test-files a,b         only these of them (default all; --quick: the fast ones, QUICK_TESTS)
//   --test-timeout S         per test file (default 300 on a GPU, 1800 on a CPU adapter)
//   --out file               the JSON (default $OUT/gpu-check.json, else .cache/gpu-check.json)
//   --variants / --no-variants  batch 1 with f16 and int8 weights and, with shader-f16, f16
//                            compute (default: on a GPU only; issue 16's speed and drift)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodePlatform, getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Trans3DHead, type HeadResult } from '../src/model/trans3dhead.ts';
import type { NodeTiming } from '../src/graph/compile.ts';
import { compare, summarise, TOLERANCES, VERTEX_STRIDE, type Summary } from './gpu-check-compare.ts';
import { DEFAULT_WEIGHTS_SEED, runWhole, SAMPLE_IMAGE, seededModel } from './seeded-model.ts';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    batches: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    expected: { type: 'string', default: '.gpucheck/expected.json' },
    'write-expected': { type: 'string' },
    tests: { type: 'string' },
    'test-files': { type: 'string' },
    'test-timeout': { type: 'string' },
    out: { type: 'string' },
    image: { type: 'string', default: SAMPLE_IMAGE },
    variants: { type: 'boolean' },
    'no-variants': { type: 'boolean' },
  },
});
const quick = opt.quick!;
const batches = (opt.batches ?? (quick ? '1,2' : '1,8,32')).split(',').map(Number);
if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`--batches must be positive integers separated by commas, got ${opt.batches}`);
const maxSeconds = Number(opt.seconds);
// On a CPU adapter the whole kernel suite takes tens of minutes; these take a few (and cover
// GEMM, the op every stage leans on). A GPU runs them all in about a minute.
const QUICK_TESTS = ['elementwise', 'gemm', 'layernorm', 'maxpool', 'mean', 'qamem'];
const outFile = opt.out ?? (process.env.OUT ? join(process.env.OUT, 'gpu-check.json') : '.cache/gpu-check.json');
const t0 = performance.now();
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]; };
const elapsed = () => ((performance.now() - t0) / 1000).toFixed(0).padStart(4) + ' s';
const log = (s: string) => console.log(`[${elapsed()}] ${s}`);

// ---- 1. The adapter ----
log('GPU check: adapter');
const ctx = await getDevice();
const report = ctx.adapter;
const cpu = report.cpu;
// attention.test alone takes about 5 minutes on SwiftShader under load; seconds on a GPU.
const testTimeoutMs = 1000 * Number(opt['test-timeout'] ?? (cpu ? 1800 : 300));
const deviceLimits: Record<string, number> = {};
const LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage', 'minStorageBufferOffsetAlignment', 'minUniformBufferOffsetAlignment'];
for (const k of LIMITS) deviceLimits[k] = Number((ctx.device.limits as unknown as Record<string, number>)[k]);
console.log(`  adapter: ${describeAdapter(report)}`);
console.log(`  kind: ${cpu ? 'CPU adapter (figures are CPU figures)' : 'GPU'}; timestamps: ${ctx.timestamps}; features: ${report.features.join(' ')}`);
for (const k of LIMITS) {
  console.log(`  ${k.padEnd(36)} adapter ${String(report.limits[k]).padStart(12)}  device ${String(deviceLimits[k]).padStart(12)}`);
}
console.log(`  node ${process.version} ${process.platform}-${process.arch}; VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? ''} VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? ''}`);

const out: Record<string, unknown> = {
  date: new Date().toISOString(), node: process.version, quick,
  adapter: { ...report, timestamps: ctx.timestamps, deviceLimits, description: describeAdapter(report) },
};
let failures = 0;
const save = () => { mkdirSync(dirname(outFile), { recursive: true }); writeFileSync(outFile, JSON.stringify(out, null, 1)); };

// ---- 2. Kernel tests, one process per file (as scripts/test.mjs), on this machine's adapter ----
interface TestRun { file: string; passed: number; failed: number; skipped: number; seconds: number; exit: number | null; tail?: string }
function runTestFile(file: string): Promise<TestRun> {
  return new Promise((resolve) => {
    const ts = performance.now();
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { text += d; });
    const timer = setTimeout(() => { text += `\ntimed out after ${testTimeoutMs / 1000} s\n`; child.kill('SIGKILL'); }, testTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      const total = num(/Total:\s+(\d+)/), passed = num(/Passed:\s+(\d+)/), skipped = num(/Skipped:\s+(\d+)/);
      // A file that crashed, hung, or ran no test at all counts as one failure; skips are not passes.
      let failed = total - passed - skipped;
      if ((code !== 0 || total === 0) && failed === 0) failed = 1;
      resolve({ file, passed, failed, skipped, exit: code, seconds: (performance.now() - ts) / 1000, tail: failed ? text.slice(-3000) : undefined });
    });
  });
}
if (opt.tests) {
  const all = readdirSync(opt.tests).filter((f) => f.endsWith('.test.mjs')).sort();
  if (all.length === 0) throw new Error(`--tests ${opt.tests}: no *.test.mjs files there; run scripts/prepare-gpu-check.mjs first`);
  const only = opt['test-files']?.split(',') ?? (quick ? QUICK_TESTS : undefined);
  const unknown = only?.filter((n) => !all.includes(`${n}.test.mjs`)) ?? [];
  if (unknown.length) throw new Error(`--test-files: no ${unknown.join(', ')} in ${opt.tests} (there: ${all.map((f) => f.replace('.test.mjs', '')).join(', ')})`);
  const files = only ? all.filter((f) => only.includes(f.replace('.test.mjs', ''))) : all;
  log(`kernel tests: ${files.length} of ${all.length} files${only ? ` (${only.join(', ')})` : ''}`);
  const runs: TestRun[] = [];
  for (const f of files) {
    log(`  ${f}...`);
    const r = await runTestFile(join(opt.tests, f));
    runs.push(r);
    console.log(`  ${f.padEnd(26)} ${String(r.passed).padStart(3)} passed ${String(r.failed).padStart(2)} failed${r.skipped ? ` ${r.skipped} skipped` : ''} ${r.seconds.toFixed(1).padStart(6)} s`);
    if (r.tail) console.log(r.tail.replace(/^/gm, '    | '));
  }
  const failed = runs.reduce((s, r) => s + r.failed, 0);
  failures += failed;
  out.kernelTests = { notRun: all.filter((f) => !files.includes(f)), passed: runs.reduce((s, r) => s + r.passed, 0), failed, skipped: runs.reduce((s, r) => s + r.skipped, 0), files: runs };
  save();
} else out.kernelTests = { note: 'not run (no --tests folder given)' };

// ---- 3. The full model on seeded weights, against the CPU adapter's outputs ----
log(`full model: built-in default weights (seed ${DEFAULT_WEIGHTS_SEED}, untrained), synthetic FLAME`);
const { model, weightsSha256, weights: weightBytes } = await seededModel(ctx);
const image = await nodePlatform.decodeImage(opt.image);
log(`weights sha256 ${weightsSha256.slice(0, 16)}...; image ${opt.image} ${image.width}x${image.height}`);

if (opt['write-expected']) {
  const r = await runWhole(model, image);
  const expected = { image: opt.image, weightsSeed: DEFAULT_WEIGHTS_SEED, weightsSha256, vertexStride: VERTEX_STRIDE, adapter: describeAdapter(report), date: new Date().toISOString(), ...summarise(r) };
  writeFileSync(opt['write-expected'], JSON.stringify(expected));
  log(`wrote ${opt['write-expected']} (${describeAdapter(report)})`);
  await model.dispose();
  await releaseDevice();
  process.exit(0);
}

if (!existsSync(opt.expected!)) throw new Error(`${opt.expected} is missing: run node scripts/prepare-gpu-check.mjs here (it makes the CPU adapter's outputs)`);
const exp = JSON.parse(readFileSync(opt.expected!, 'utf8')) as Summary & { weightsSha256: string; adapter: string; image: string };
if (exp.image !== opt.image) throw new Error(`the expected outputs are for ${exp.image}, not ${opt.image}: drop --image, or make them for it with --write-expected`);
if (exp.weightsSha256 !== weightsSha256) {
  throw new Error(`the expected outputs were made from other weights (sha256 ${exp.weightsSha256.slice(0, 16)}..., here ${weightsSha256.slice(0, 16)}...): src/model/default-weights.ts changed; rerun scripts/prepare-gpu-check.mjs`);
}
const parity: Record<string, unknown> = { expectedFrom: exp.adapter, tolerances: TOLERANCES, toleranceNote: 'twice the end-to-end PyTorch tolerances: each adapter is held within those of PyTorch in CI' };
function checkAgainstExpected(label: string, r: HeadResult) {
  const c = compare(summarise(r), exp);
  parity[label] = c;
  if (!c.ok) failures++;
  console.log(`  ${label}: ${c.ok ? 'ok' : 'MISMATCH'}`);
  for (const k of c.checks) if (!k.ok || label === 'batch 1') console.log(`    ${k.name.padEnd(40)} max |diff| ${k.maxAbsDiff.toExponential(2)}  tol ${k.tol}${k.ok ? '' : '  FAILED'}`);
}
out.parity = parity;

// ---- 4. Benchmarks: batch 1, 8, 32 ----
function byKernel(nodes: NodeTiming[]) {
  const m: Record<string, { ms: number; count: number; gflop: number }> = {};
  for (const n of nodes) { const s = (m[n.kernel] ??= { ms: 0, count: 0, gflop: 0 }); s.ms += n.ms; s.count++; s.gflop += n.flops / 1e9; }
  return Object.entries(m).sort((a, b) => b[1].ms - a[1].ms).map(([kernel, s]) => ({ kernel, ...s, gflopsPerS: s.gflop / (s.ms / 1000) }));
}
function byStage(nodes: NodeTiming[]) {
  const m: Record<string, { ms: number; gflop: number }> = {};
  for (const n of nodes) { const k = n.stage.split('.').slice(0, 2).join('.') || n.kernel; const s = (m[k] ??= { ms: 0, gflop: 0 }); s.ms += n.ms; s.gflop += n.flops / 1e9; }
  return Object.entries(m).map(([stage, s]) => ({ stage, ...s }));
}

const benches: Record<string, unknown>[] = [];
out.bench = benches;
const profileRuns = quick ? 1 : 5;
async function measureBatch(batch: number): Promise<void> {
  const images = Array(batch).fill(image);
  const tb = performance.now();
  let cg;
  try {
    cg = await model.prepare(image.width, image.height, (image.channels ?? 4) as 3 | 4, batch);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/maxStorageBufferBindingSize/.test(msg)) throw e;
    // Not a failure of the engine: this adapter cannot bind a tensor this large.
    benches.push({ batch, skipped: `this adapter's maxStorageBufferBindingSize (${deviceLimits.maxStorageBufferBindingSize} bytes) is too small for batch ${batch}: ${msg}` });
    console.log(`  SKIPPED: ${msg}`);
    return;
  }
  const buildMs = performance.now() - tb;
  const tf = performance.now();
  const first = await model.runBatch(images);
  const firstFrameMs = performance.now() - tf;
  checkAgainstExpected(`batch ${batch}`, first[0]);
  if (batch > 1) checkAgainstExpected(`batch ${batch}, last image`, first[batch - 1]);
  // Warm-up: GPUs clock up and caches fill; CPU adapters need one run.
  const warm = performance.now();
  let warmups = 0;
  do { await model.runBatch(images); warmups++; } while (!cpu && !quick && performance.now() - warm < 1000);
  const timeFrames = async (seconds: number) => {
    const ms: number[] = [];
    const start = performance.now();
    const maxFrames = quick ? 3 : 200;
    while (ms.length < maxFrames && (ms.length < 3 || (performance.now() - start) / 1000 < seconds)) {
      const t = performance.now();
      await model.runBatch(images);
      ms.push(performance.now() - t);
    }
    return ms;
  };
  const ms = await timeFrames(maxSeconds);
  // In Node our GPU waits poll Dawn every 1 ms (src/platform/node.ts, settle) so as not to spin a
  // core; a GPU frame of 1-2 ms can round up to that. Batch 1 again with Dawn's own polling says
  // what that costs (not on CPU adapters, where a spinning core is taken from the GPU work).
  let spinPolling: { msMedian: number; fps: number; frames: number } | undefined;
  if (batch === 1 && !cpu) {
    const polite = ctx.settle;
    ctx.settle = (start) => start();
    try {
      const spin = await timeFrames(Math.min(maxSeconds, 5));
      spinPolling = { msMedian: pct(spin, 0.5), fps: 1000 / pct(spin, 0.5), frames: spin.length };
    } finally { ctx.settle = polite; }
  }
  // Per-node timestamps; the median of several profiled runs per node.
  let nodes: NodeTiming[] = [];
  const gpuMsRuns: number[] = [];
  const perNode: number[][] = [];
  if (ctx.timestamps) {
    for (let i = 0; i < profileRuns; i++) {
      const { profile } = await model.profile(image, {}, batch);
      gpuMsRuns.push(profile.gpuMs);
      profile.nodes.forEach((n, j) => (perNode[j] ??= []).push(n.ms));
      nodes = profile.nodes;
    }
    nodes = nodes.map((n, j) => ({ ...n, ms: pct(perNode[j], 0.5) }));
  }
  const median = pct(ms, 0.5);
  const r = {
    batch, frames: ms.length, warmups, msMedian: median, msP10: pct(ms, 0.1), msP90: pct(ms, 0.9), msMin: Math.min(...ms),
    fps: (1000 * batch) / median, buildMs, firstFrameMs, spinPolling,
    gflop: cg.flops / 1e9, dispatches: cg.dispatchCount,
    gpuMsTimestamps: gpuMsRuns.length ? pct(gpuMsRuns, 0.5) : null,
    memory: { intermediatesPlannedBytes: cg.plan.peakBytes, intermediatesWithoutReuseBytes: cg.plan.totalBytes, weightBytes: cg.weights.bytes },
    kernels: byKernel(nodes), stages: byStage(nodes),
    topNodes: [...nodes].sort((a, b) => b.ms - a.ms).slice(0, 15).map((n) => ({ name: n.name, kernel: n.kernel, ms: n.ms, gflop: n.flops / 1e9 })),
  };
  benches.push(r);
  console.log(`  ${r.fps.toFixed(2)} FPS, ${median.toFixed(2)} ms per batch median (p10 ${r.msP10.toFixed(2)}, p90 ${r.msP90.toFixed(2)}, ${ms.length} frames after ${warmups} warm-up)`);
  if (spinPolling) console.log(`  with Dawn's own polling (a core spinning): ${spinPolling.fps.toFixed(2)} FPS, ${spinPolling.msMedian.toFixed(3)} ms median (${spinPolling.frames} frames)`);
  console.log(`  build ${buildMs.toFixed(0)} ms, first frame ${firstFrameMs.toFixed(0)} ms; GPU ${r.gpuMsTimestamps?.toFixed(2) ?? '-'} ms by timestamps (profile mode, one pass per node), ${r.gflop.toFixed(2)} GFLOP, ${r.dispatches} dispatches`);
  // Free this batch's intermediates before the next, larger one.
  await cg.dispose();
}
for (const batch of batches) {
  log(`batch ${batch}`);
  try {
    await measureBatch(batch);
  } catch (e) {
    // Keep what the other batches measured: record this one's error and go on.
    failures++;
    benches.push({ batch, error: (e as Error).stack ?? String(e) });
    console.log(`  FAILED: ${(e as Error).stack ?? e}`);
  }
  save();
}

// ---- 4b. Compact weights and f16 compute at batch 1 (issue 16): speed, and drift against f32 ----
const runVariants = opt['no-variants'] ? false : opt.variants ?? !cpu;
if (runVariants) {
  const base = (await model.runBatch([image]))[0]!;
  const variants: { weightFormat: 'f32' | 'f16' | 'int8'; compute: 'f32' | 'f16' }[] = [
    { weightFormat: 'f16', compute: 'f32' }, { weightFormat: 'int8', compute: 'f32' },
  ];
  if (ctx.device.features.has('shader-f16')) variants.push({ weightFormat: 'f32', compute: 'f16' }, { weightFormat: 'f16', compute: 'f16' });
  const rows: Record<string, unknown>[] = [];
  out.variants = { note: 'batch 1, the seeded untrained weights converted at load (weightFormat); drift against f32 weights and compute', rows };
  const f32Row = (benches as { batch: number; msMedian?: number; gpuMsTimestamps?: number | null }[]).find((b) => b.batch === 1);
  log(`variants: ${variants.map((v) => `${v.weightFormat}/${v.compute}`).join(', ')} (f32/f32: ${f32Row?.msMedian?.toFixed(2) ?? '-'} ms)`);
  for (const v of variants) {
    try {
      const tb = performance.now();
      const m = await Trans3DHead.create(nodePlatform, { weights: weightBytes, device: ctx, ...v });
      const buildMs = performance.now() - tb;
      try {
        const [r] = await m.runBatch([image]);
        const ms: number[] = [];
        const start = performance.now();
        while (ms.length < (quick ? 2 : 200) && (ms.length < 3 || (performance.now() - start) / 1000 < Math.min(maxSeconds, 3))) {
          const t = performance.now(); await m.runBatch([image]); ms.push(performance.now() - t);
        }
        const gpu: number[] = [];
        if (ctx.timestamps) for (let i = 0; i < profileRuns; i++) gpu.push((await m.profile(image, {}, 1)).profile.gpuMs);
        let lm = 0;
        for (let i = 0; i < r!.landmarks.length; i += 2) lm = Math.max(lm, Math.hypot(r!.landmarks[i]! - base.landmarks[i]!, r!.landmarks[i + 1]! - base.landmarks[i + 1]!));
        const pose = Math.max(...(['pitch', 'yaw', 'roll'] as const).map((k) => Math.abs(r!.pose[k] - base.pose[k])));
        const row = { ...v, weightBytes: m.weightBytes, buildMs, msMedian: pct(ms, 0.5), gpuMsTimestamps: gpu.length ? pct(gpu, 0.5) : null, driftLandmarksPx: lm, driftPoseDeg: pose };
        rows.push(row);
        console.log(`  weights ${v.weightFormat} compute ${v.compute}: ${row.msMedian.toFixed(2)} ms median, GPU ${row.gpuMsTimestamps?.toFixed(2) ?? '-'} ms, ${(m.weightBytes / 2 ** 20).toFixed(1)} MiB weights; drift ${lm.toFixed(3)} px, ${pose.toFixed(3)} deg`);
      } finally { await m.dispose(); }
    } catch (e) {
      failures++;
      rows.push({ ...v, error: (e as Error).stack ?? String(e) });
      console.log(`  weights ${v.weightFormat} compute ${v.compute}: FAILED ${(e as Error).stack ?? e}`);
    }
    save();
  }
} else out.variants = { note: cpu ? 'not run on a CPU adapter (pass --variants)' : 'not run (--no-variants)' };

if (!benches.some((b) => !b.skipped && !b.error)) {
  parity.notChecked = 'no batch could run on this adapter, so its outputs were not checked';
  failures++;
}

// ---- 5. Summary ----
type Bench = { batch: number; skipped?: string; error?: string; fps?: number; msMedian?: number; gpuMsTimestamps?: number | null; gflop?: number; kernels?: ReturnType<typeof byKernel>; stages?: ReturnType<typeof byStage> };
const b1 = (benches as Bench[]).find((b) => b.batch === 1 && !b.skipped && !b.error);
out.target = {
  what: 'batch-1 FPS >= 575 (5x the paper\'s 115 FPS) on a GPU',
  batch1Fps: b1?.fps ?? null,
  met: cpu ? null : b1?.fps !== undefined ? b1.fps >= 575 : null,
  note: cpu ? 'CPU adapter: the target applies to GPUs only' : undefined,
};
out.failures = failures;
out.seconds = (performance.now() - t0) / 1000;
save();

console.log(`\n== GPU check summary: ${describeAdapter(report)}`);
console.log('batch      FPS   ms/batch  GPU ms (timestamps)  GFLOP/s (timestamps)');
for (const b of benches as Bench[]) {
  if (b.skipped || b.error) { console.log(`${String(b.batch).padStart(5)}  ${b.skipped ? 'skipped: maxStorageBufferBindingSize' : 'FAILED (error above)'}`); continue; }
  const g = b.gpuMsTimestamps;
  console.log(`${String(b.batch).padStart(5)}${b.fps!.toFixed(2).padStart(9)}${b.msMedian!.toFixed(2).padStart(11)}${(g?.toFixed(2) ?? '-').padStart(21)}${(g ? (b.gflop! / (g / 1000)).toFixed(1) : '-').padStart(22)}`);
}
const spin = (b1 as { spinPolling?: { fps: number } } | undefined)?.spinPolling;
if (spin) console.log(`batch 1 with Dawn's own polling (a core spinning instead of 1 ms timers): ${spin.fps.toFixed(2)} FPS`);
for (const b of (benches as Bench[]).filter((x) => x.kernels?.length)) {
  const total = b.kernels!.reduce((s, k) => s + k.ms, 0);
  console.log(`\nbatch ${b.batch}, per kernel (median of ${profileRuns} profiled runs):`);
  console.log('  kernel            count    GPU ms   share  GFLOP/s');
  for (const k of b.kernels!) console.log(`  ${k.kernel.padEnd(16)}${String(k.count).padStart(6)}${k.ms.toFixed(3).padStart(10)}${(100 * k.ms / total).toFixed(1).padStart(7)}%${k.gflopsPerS.toFixed(1).padStart(9)}`);
  console.log('  stage                          GPU ms');
  for (const s of b.stages!) console.log(`  ${s.stage.padEnd(28)}${s.ms.toFixed(3).padStart(10)}`);
}
const kt = out.kernelTests as { passed?: number; failed?: number; notRun?: string[] };
console.log(`\nkernel tests: ${kt.passed ?? '-'} passed, ${kt.failed ?? '-'} failed${kt.notRun?.length ? ` (${kt.notRun.length} files not run)` : ''}; outputs vs ${exp.adapter}: ${parity.notChecked ? 'NOT CHECKED' : Object.values(parity).some((p) => (p as { ok?: boolean }).ok === false) ? 'MISMATCH' : 'ok'}`);
console.log(`target (batch-1 FPS >= 575 on a GPU): ${cpu ? 'n/a on a CPU adapter' : (out.target as { met: boolean }).met ? 'met' : 'missed'}${b1 ? ` (${b1.fps!.toFixed(1)} FPS)` : ''}`);
console.log(`wrote ${outFile}; ${failures ? `${failures} FAILURE(S)` : 'all checks passed'} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await model.dispose();
await releaseDevice();
process.exit(failures ? 1 : 0);

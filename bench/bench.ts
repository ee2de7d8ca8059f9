// npm run bench: FPS of the whole model on this adapter, per-stage and per-kernel GPU time,
// achieved GFLOP/s, memory plan, start-up (createModel compiles and warms every pipeline) and
// first-result latency. On Mesa (lavapipe) set MESA_SHADER_CACHE_DISABLE=true for a cold start.
//   --weights w.safetensors|w.pth --flame f   (default: the built-in full-size model)
//   --frames N --seconds S --batch B --json out.json --peers (see bench/peers.ts)
import { writeFileSync } from 'node:fs';
import { nodePlatform, releaseDevice } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { decodeImage } from '../src/platform/node-io.ts';
import type { NodeTiming } from '../src/graph/compile.ts';
import { cores, workerCpuMs } from './cpu-time.ts';

const arg = (name: string, def?: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
const maxFrames = Number(arg('--frames', '20'));
const maxSeconds = Number(arg('--seconds', '60'));
const bigBatch = Number(arg('--batch', '4'));
const photo = arg('--image', 'test/fixtures/astronaut-head.png')!;

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]; };
const progress = (s: string) => process.stderr.isTTY ? process.stderr.write(`\r\x1b[K${s}`) : undefined;

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const model = await Trans3DHead.create(nodePlatform, { weights: arg('--weights'), flame: arg('--flame') });
const loadMs = performance.now() - t0;
// Process CPU time, all threads: on a shared machine a better guide to an idle one than wall time.
const cpuUsed = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const loadCpuMs = cpuUsed(process.cpuUsage(cpu0));
const image = await decodeImage(photo);
console.log(`adapter: ${model.adapter}`);
console.log(`model: ${arg('--weights') ?? 'built-in default (untrained)'}; config ${JSON.stringify(model.config)}`);

let firstCpuMs = 0;
async function measure(batch: number) {
  const images = Array(batch).fill(image);
  const c0 = process.cpuUsage();
  const tb = performance.now();
  const cg = await model.prepare(image.width, image.height, (image.channels ?? 4) as 3 | 4, batch);
  const buildMs = performance.now() - tb;
  const tf = performance.now();
  await model.runBatch(images);
  const firstMs = performance.now() - tf;
  if (batch === 1 && !firstCpuMs) firstCpuMs = cpuUsed(process.cpuUsage(c0));
  await model.runBatch(images); // warm-up
  const ms: number[] = [], cpu: number[] = [];
  const start = performance.now();
  while (ms.length < maxFrames && (performance.now() - start) / 1000 < maxSeconds) {
    const t = performance.now();
    const c = workerCpuMs();
    await model.runBatch(images);
    ms.push(performance.now() - t);
    if (c !== null) cpu.push(workerCpuMs()! - c);
    progress(`batch ${batch}: frame ${ms.length}, ${pct(ms, 0.5).toFixed(1)} ms median`);
  }
  progress('');
  const { profile } = await model.profile(image, {}, batch);
  const median = pct(ms, 0.5);
  // On a CPU adapter the workers' CPU time / cores is what a frame costs on an idle machine.
  const idleMs = model.ctx.adapter.cpu && cpu.length ? pct(cpu, 0.5) / cores : undefined;
  return {
    pipelines: cg.pipelineCount,
    idleEstimate: idleMs === undefined ? undefined : { msPerFrame: idleMs, fps: (1000 * batch) / idleMs, gflopsPerS: cg.flops / 1e6 / idleMs, cores },
    batch, frames: ms.length, msMedian: median, msP10: pct(ms, 0.1), msP90: pct(ms, 0.9),
    fps: (1000 * batch) / median, buildMs, firstFrameMs: firstMs, gpuMs: profile.gpuMs,
    gflops: cg.flops / 1e9, achievedGflops: cg.flops / 1e6 / profile.gpuMs,
    memory: { intermediatesPeakBytes: cg.plan.peakBytes, intermediatesTotalBytes: cg.plan.totalBytes, weightBytes: cg.weights.bytes },
    dispatches: cg.dispatchCount, nodes: profile.nodes,
  };
}

function stages(nodes: NodeTiming[]) {
  const out: Record<string, { ms: number; gflops: number }> = {};
  for (const n of nodes) {
    const key = n.stage.split('.').slice(0, 2).join('.') || n.kernel;
    const s = (out[key] ??= { ms: 0, gflops: 0 });
    s.ms += n.ms; s.gflops += n.flops / 1e9;
  }
  return out;
}

function kernels(nodes: NodeTiming[]) {
  const out: Record<string, { ms: number; count: number; gflops: number }> = {};
  for (const n of nodes) {
    const s = (out[n.kernel] ??= { ms: 0, count: 0, gflops: 0 });
    s.ms += n.ms; s.count++; s.gflops += n.flops / 1e9;
  }
  return Object.entries(out).sort((a, b) => b[1].ms - a[1].ms).map(([kernel, s]) => ({ kernel, ...s, gflopsPerS: s.gflops / (s.ms / 1000) }));
}

const results: Awaited<ReturnType<typeof measure>>[] = [];
for (const batch of [1, bigBatch]) {
  const r = await measure(batch);
  results.push(r);
  console.log(`\nbatch ${batch}: ${r.fps.toFixed(2)} FPS, ${r.msMedian.toFixed(1)} ms/frame median (p10 ${r.msP10.toFixed(1)}, p90 ${r.msP90.toFixed(1)}, ${r.frames} frames)`);
  if (r.idleEstimate) console.log(`  idle-machine estimate (driver worker-thread CPU time / ${r.idleEstimate.cores} cores): ${r.idleEstimate.msPerFrame.toFixed(1)} ms/frame, ${r.idleEstimate.fps.toFixed(2)} FPS, ${r.idleEstimate.gflopsPerS.toFixed(2)} GFLOP/s`);
  console.log(`  GPU ${r.gpuMs.toFixed(1)} ms (timestamps), ${r.gflops.toFixed(2)} GFLOP -> ${r.achievedGflops.toFixed(2)} GFLOP/s; readback and host ${Math.max(0, r.msMedian - r.gpuMs).toFixed(1)} ms`);
  console.log(`  build ${r.buildMs.toFixed(0)} ms (graph for this image: buffers, bind groups; pipelines already compiled by createModel for batch 1), first frame ${r.firstFrameMs.toFixed(0)} ms, ${r.dispatches} dispatches of ${r.pipelines} pipelines in one pass`);
  console.log(`  memory: intermediates ${(r.memory.intermediatesPeakBytes / 2 ** 20).toFixed(1)} MiB planned (${(r.memory.intermediatesTotalBytes / 2 ** 20).toFixed(1)} MiB without reuse), weights ${(r.memory.weightBytes / 2 ** 20).toFixed(1)} MiB`);
  console.log('  stage                        GPU ms   GFLOP/s');
  for (const [k, s] of Object.entries(stages(r.nodes))) console.log(`  ${k.padEnd(28)}${s.ms.toFixed(2).padStart(9)}${(s.gflops / (s.ms / 1000)).toFixed(2).padStart(10)}`);
  console.log('  kernel           count   GPU ms   GFLOP/s');
  for (const k of kernels(r.nodes)) console.log(`  ${k.kernel.padEnd(16)}${String(k.count).padStart(6)}${k.ms.toFixed(2).padStart(9)}${k.gflopsPerS.toFixed(2).padStart(10)}`);
}
console.log(`\nload ${loadMs.toFixed(0)} ms (createModel: weights, FLAME, device, ${model.warmUpMs.toFixed(0)} ms compiling and warming the pipelines)`);
// The four start-up and speed figures, for batch 1.
const r1 = results[0];
const startup = { createModelCpuMs: loadCpuMs, firstResultCpuMs: firstCpuMs, createModelMs: loadMs, pipelinesMs: model.warmUpMs, firstResultMs: r1.buildMs + r1.firstFrameMs, createToFirstResultMs: loadMs + r1.buildMs + r1.firstFrameMs };
console.log(`summary (batch 1, ${model.ctx.adapter.description || model.ctx.adapter.architecture || model.adapter}):\n` +
  `  pipeline build ${startup.pipelinesMs.toFixed(0)} ms (inside createModel ${loadMs.toFixed(0)} ms)\n` +
  `  first result ${startup.firstResultMs.toFixed(0)} ms after createModel; createModel + first result ${startup.createToFirstResultMs.toFixed(0)} ms ` +
  `(process CPU time ${loadCpuMs.toFixed(0)} + ${firstCpuMs.toFixed(0)} ms)\n` +
  `  steady ${r1.msMedian.toFixed(1)} ms/frame (wall, median of ${r1.frames})\n` +
  `  ${(r1.gflops / (r1.msMedian / 1000)).toFixed(2)} GFLOP/s (wall), ${r1.achievedGflops.toFixed(2)} GFLOP/s (GPU timestamps)` +
  (r1.idleEstimate ? `, ${r1.idleEstimate.gflopsPerS.toFixed(2)} GFLOP/s idle-machine estimate` : ''));

let peers: Record<string, unknown> = {};
if (process.argv.includes('--peers')) {
  const { runPeers } = await import('./peers.ts');
  peers = await runPeers({ ours: results[0], image: photo });
}
const json = arg('--json');
if (json) {
  const slim = (r: (typeof results)[number]) => ({ ...r, stages: stages(r.nodes), kernels: kernels(r.nodes), nodes: undefined });
  writeFileSync(json, JSON.stringify({ adapter: model.ctx.adapter, startup, model: { ...slim(results[0]), batches: results.map(slim) }, peers }, null, 2));
  console.log(`wrote ${json}`);
}
await model.dispose();
await releaseDevice();

// ResNet-50 backbone speed: node --import ./scripts/register.mjs bench/backbone.ts
// Full width, 256x256, seeded untrained weights. Reports GPU time from timestamp queries
// (CompiledGraph.profile: one pass per node, median over repeats) per stage and in total, with
// GFLOP/s from the kernels' own FLOP counts, plus the wall time of a plain run() and, for
// comparison, a standalone GEMM of similar shape.
// Options: --repeats N (5) --batch B (1) --size S (256) --no-gemm --nodes (per-node table)
import { cores, workerCpuMs } from './cpu-time.ts';
import { getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph, type ProfileResult } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { gemm } from '../src/kernels/gemm.ts';
import { BACKBONE_INPUT_CHANNELS, buildBackbone } from '../src/model/backbone.ts';
import { DEFAULT_CONFIG } from '../src/model/config.ts';
import { defaultWeights } from '../src/model/default-weights.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const repeats = Number(arg('--repeats') ?? 5);
const batch = Number(arg('--batch') ?? 1);
const size = Number(arg('--size') ?? 256);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gflops = (flops: number, ms: number) => (flops / ms / 1e6).toFixed(2);


const ctx = await getDevice();
console.log(`adapter: ${describeAdapter(ctx.adapter)}`);
const tuning = tuningFor(ctx);

const sd = defaultWeights(DEFAULT_CONFIG);
const g = new Graph(tuning);
const C = BACKBONE_INPUT_CHANNELS;
g.output('c5', buildBackbone(g, g.input('x', [batch, size, size, C]), sd, DEFAULT_CONFIG.backbone));
let t0 = performance.now();
const cg = await CompiledGraph.create(ctx, g, { label: 'backbone' });
console.log(`ResNet-50 ${size}x${size} batch ${batch}: ${cg.dispatchCount} dispatches, ${(cg.flops / 1e9).toFixed(2)} GFLOP, build ${(performance.now() - t0).toFixed(0)} ms`);
const x = new Float32Array(batch * size * size * C).map((_, i) => (i % C === 3 ? 0 : Math.sin(i * 0.37)));

await cg.run({ x }); // warm-up
const runs: number[] = [], cpuRuns: number[] = [];
for (let i = 0; i < repeats; i++) {
  t0 = performance.now();
  const c0 = workerCpuMs();
  await cg.run({ x });
  runs.push(performance.now() - t0);
  if (c0 !== null) cpuRuns.push(workerCpuMs()! - c0);
}
const profiles: ProfileResult[] = [];
for (let i = 0; i < repeats; i++) profiles.push(await cg.profile({ x }));

const total = median(profiles.map((p) => p.gpuMs));
const stages = new Map<string, { ms: number[]; flops: number }>();
profiles.forEach((p, r) => {
  const per = new Map<string, number>();
  for (const n of p.nodes) per.set(n.stage, (per.get(n.stage) ?? 0) + n.ms);
  for (const [s, ms] of per) {
    const e = stages.get(s) ?? { ms: [], flops: p.nodes.filter((n) => n.stage === s).reduce((a, n) => a + n.flops, 0) };
    e.ms[r] = ms;
    stages.set(s, e);
  }
});
// On a CPU adapter, the worker CPU time (min over runs, spread over the cores) estimates the
// time on an otherwise idle machine; stages get it in proportion to their timestamp time.
const cpuMin = ctx.adapter.cpu && cpuRuns.length ? Math.min(...cpuRuns) / cores : null;
const cpuCols = cpuMin !== null ? '   idle-est ms  GFLOP/s' : '';
console.log(`\nstage                 GPU ms   GFLOP   GFLOP/s${cpuCols}`);
const row = (label: string, ms: number, flops: number) => {
  const est = cpuMin !== null ? (cpuMin * ms) / total : null;
  console.log(`${label.padEnd(20)}${ms.toFixed(1).padStart(9)}${(flops / 1e9).toFixed(3).padStart(8)}${gflops(flops, ms).padStart(10)}` +
    (est !== null ? `${est.toFixed(0).padStart(14)}${gflops(flops, est).padStart(9)}` : ''));
};
for (const [s, e] of stages) row(s, median(e.ms), e.flops);
row('total (GPU)', total, cg.flops);
console.log(`run() wall time, median of ${repeats}: ${median(runs).toFixed(1)} ms (${gflops(cg.flops, median(runs))} GFLOP/s; one pass, no per-node timestamps)`);
if (cpuMin !== null) {
  console.log(`CPU adapter: worker-thread CPU time per run ${(cpuMin * cores).toFixed(0)} ms (min of ${repeats}) = ${cpuMin.toFixed(0)} ms on ${cores} idle cores, ${gflops(cg.flops, cpuMin)} GFLOP/s ` +
    '(timestamps and wall time also count waiting for other processes; idle-est columns use this)');
}

if (process.argv.includes('--nodes')) {
  console.log('\nnode                                     GPU ms   GFLOP/s');
  const last = profiles[profiles.length - 1];
  last.nodes.forEach((n, i) => {
    const ms = median(profiles.map((p) => p.nodes[i].ms));
    console.log(`${n.name.padEnd(40)}${ms.toFixed(2).padStart(8)}${(n.flops ? gflops(n.flops, ms) : '-').padStart(10)}`);
  });
}
cg.dispose();
cg.weights.dispose();

if (!process.argv.includes('--no-gemm')) {
  // The reference rate: a standalone GEMM shaped like layer1's 3x3 conv (M = 64*64 pixels).
  const [M, N, K] = [4096, 256, 2304];
  const gg = new Graph(tuning);
  const a = gg.input('a', [M, K]);
  gg.output('c', gemm(gg, a, gg.weight('b', [K, N], new Float32Array(K * N).map((_, i) => ((i % 7) - 3) * 0.01))));
  const gc = await CompiledGraph.create(ctx, gg);
  const ax = new Float32Array(M * K).fill(0.5);
  await gc.profile({ a: ax });
  const ms: number[] = [], cpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    ms.push((await gc.profile({ a: ax })).gpuMs);
    const c0 = workerCpuMs();
    await gc.run({ a: ax });
    if (c0 !== null) cpu.push(workerCpuMs()! - c0);
  }
  const f = 2 * M * N * K;
  console.log(`\ngemm ${M}x${N}x${K} (reference, default tiles): ${median(ms).toFixed(1)} ms, ${gflops(f, median(ms))} GFLOP/s` +
    (ctx.adapter.cpu && cpu.length ? `; worker CPU ${Math.min(...cpu).toFixed(0)} ms = ${gflops(f, Math.min(...cpu) / cores)} GFLOP/s on ${cores} idle cores` : ''));
  gc.dispose();
  gc.weights.dispose();
}
await releaseDevice();

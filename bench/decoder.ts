// Decoder branches' GPU time (profile mode, per-node timestamps, median of repeats) at full size
// (d 256, 8 heads, FFN 2048, 2 layers, 413 / 68 queries, 64 memory tokens), seeded weights.
//   node --import ./scripts/register.mjs bench/decoder.ts [--batches 1,8] [--repeats 5] [--toggles disable_robustness] [--detail]
import { readFileSync } from 'node:fs';
import { getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph, type NodeTiming } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import type { StateDict } from '../src/io/tensor.ts';
import { cores, workerCpuMs } from './cpu-time.ts';
import { branchShapes, buildLandmarkBranch, buildParamsBranch, type DecoderConfig } from '../src/model/decoder.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const batches = (arg('--batches') ?? '1,8').split(',').map(Number);
const repeats = Number(arg('--repeats') ?? 5);
const detail = process.argv.includes('--detail');
const toggles = arg('--toggles');

const cfg: DecoderConfig = { d_model: 256, nhead: 8, dim_feedforward: 2048, num_layers: 2, num_params: 413, num_landmarks: 68 };

function weights(): StateDict {
  const sd: StateDict = new Map();
  let s = 12345;
  const rand = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296 - 0.5; };
  for (const kind of ['params', 'landmark'] as const) {
    for (const [k, shape] of branchShapes(cfg, kind)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const scale = shape.length > 1 ? 2 / Math.sqrt(shape[1]) : 0.2;
      const data = new Float32Array(n).map(() => (/norm\d?\.weight$/.test(k) ? 1 : 0) + scale * rand());
      sd.set(`${kind === 'params' ? 'params_branch.' : 'landmark_branch.'}${k}`, { shape: [...shape], data });
    }
  }
  return sd;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ctx = await getDevice(toggles ? { enableToggles: toggles.split(',') } : {});
console.log(`adapter: ${describeAdapter(ctx.adapter)}${toggles ? ` toggles ${toggles}` : ''}`);
const sd = weights();
for (const B of batches) {
  const g = new Graph(tuningFor(ctx));
  const m = g.input('memory', [B, 64, cfg.d_model]);
  const pb = buildParamsBranch(g, m, sd, cfg);
  const lb = buildLandmarkBranch(g, m, sd, cfg);
  g.output('params', pb.params);
  g.output('landmarks', lb.landmarks);
  const cg = await CompiledGraph.create(ctx, g);
  const memory = new Float32Array(B * 64 * cfg.d_model).map((_, i) => Math.sin(i));
  await cg.profile({ memory });
  const runs: NodeTiming[][] = [];
  for (let i = 0; i < repeats; i++) runs.push((await cg.profile({ memory })).nodes);
  const walls: number[] = [], cpuRuns: number[] = [];
  await cg.run({ memory });
  for (let i = 0; i < repeats; i++) {
    const c0 = workerCpuMs();
    const t0 = performance.now();
    await cg.run({ memory });
    walls.push(performance.now() - t0);
    if (c0 !== null) cpuRuns.push(workerCpuMs()! - c0);
  }
  // CPU adapter: the workers' CPU time spread over the idle cores estimates an idle machine.
  const idleMs = ctx.adapter.cpu && cpuRuns.length ? Math.min(...cpuRuns) / cores : null;
  const stageMs = (pre: string) => median(runs.map((r) => r.filter((n) => n.stage.startsWith(pre)).reduce((a, n) => a + n.ms, 0)));
  const stageFlops = (pre: string) => runs[0].filter((n) => n.stage.startsWith(pre)).reduce((a, n) => a + n.flops, 0);
  const both = stageMs('params_branch') + stageMs('landmark_branch');
  for (const st of ['params_branch', 'landmark_branch']) {
    const ms = stageMs(st), gf = stageFlops(st) / 1e9;
    const idle = idleMs !== null ? `; idle-machine estimate ${(idleMs * ms / both).toFixed(0)} ms (${(gf / (idleMs * ms / both) * 1e3).toFixed(2)} GFLOP/s)` : '';
    console.log(`B${B} ${st}: ${ms.toFixed(1)} ms GPU (profile), ${gf.toFixed(3)} GFLOP, ${(gf / ms * 1e3).toFixed(2)} GFLOP/s, ${runs[0].filter((n) => n.stage.startsWith(st)).length} dispatches${idle}`);
  }
  const cpuNote = idleMs !== null ? `; worker CPU time ${(idleMs * cores).toFixed(0)} ms per run() = ${idleMs.toFixed(0)} ms on ${cores} idle cores (min of ${repeats})` : '';
  console.log(`B${B} both branches: ${both.toFixed(1)} ms GPU (profile), ${median(walls).toFixed(1)} ms wall per run() (one pass, incl. upload/readback, median of ${repeats})${cpuNote}`);
  if (process.platform === 'linux') {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`  machine load average ${load} (timings above include other processes' contention)`);
  }
  // Per node: median over the repeats, then summed per kernel (one slow outlier run is noise here).
  const nodeMs = runs[0].map((_, i) => median(runs.map((r) => r[i].ms)));
  const byKernel = new Map<string, { ms: number; flops: number; n: number }>();
  runs[0].forEach((n, i) => {
    const e = byKernel.get(n.kernel) ?? { ms: 0, flops: 0, n: 0 };
    e.ms += nodeMs[i]; e.flops += n.flops; e.n++;
    byKernel.set(n.kernel, e);
  });
  console.log(`  by kernel: ${[...byKernel].map(([k, e]) => `${k} ${e.ms.toFixed(1)} ms (${e.n}x, ${(e.flops / e.ms / 1e6).toFixed(2)} GFLOP/s)`).join(', ')}`);
  if (detail) runs[0].forEach((n, i) => console.log(`  ${n.name.padEnd(56)} ${nodeMs[i].toFixed(2).padStart(8)} ms ${(n.flops / nodeMs[i] / 1e6).toFixed(2).padStart(6)} GFLOP/s`));
  cg.dispose();
  cg.weights.dispose();
}
await releaseDevice();

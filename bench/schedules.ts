// Candidate schedules for the GEMM and the implicit-GEMM conv on this adapter: cold compile
// time (pipeline creation, then the first dispatch, where lazy drivers such as lavapipe compile)
// and steady speed (median wall time of run()). For a cold driver cache on Mesa, set
// MESA_SHADER_CACHE_DISABLE=true.
//   node --import ./scripts/register.mjs bench/schedules.ts --cases 'gemm:4096x64x256,conv:64x64x64x64x3'
//     --tiles '[{"schedule":"registers","TM":4,"TN4":1,"WG_X":8,"WG_Y":8,"BK":4}, ...]' --repeats 3
// gemm:MxNxK; conv:HxWxCinxCoutxKsize (stride 1, same padding, batch 1).
import { getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { gemm, gemmTiles } from '../src/kernels/gemm.ts';
import { conv2d, convTiles, type ConvTiles } from '../src/kernels/conv2d.ts';
import { cores } from './cpu-time.ts';

// CPU time of the whole process (all threads): on a CPU adapter, the cost of compiling and
// running, unlike wall time, which on a shared machine also counts waiting for other processes.
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const cases = (arg('--cases') ?? 'gemm:4096x64x256,gemm:1024x512x128,conv:64x64x64x64x3,conv:16x16x256x256x3').split(',');
const repeats = Number(arg('--repeats') ?? 3);
const tileList: (ConvTiles | null)[] = arg('--tiles') ? JSON.parse(arg('--tiles')!) : [null];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ctx = await getDevice();
console.log(`adapter: ${describeAdapter(ctx.adapter)}`);
const tuning = tuningFor(ctx);
for (const c of cases) {
  const [op, dims] = c.split(':');
  const d = dims.split('x').map(Number);
  for (const forced of tileList) {
    const g = new Graph(tuning);
    let flops: number, x: Float32Array, tiles: unknown;
    if (op === 'gemm') {
      const [M, N, K] = d;
      const a = g.input('a', [M, K]);
      const b = g.weight('b', [K, N], new Float32Array(K * N).map((_, i) => ((i % 7) - 3) * 0.01));
      tiles = forced ?? gemmTiles(tuning, M, N);
      g.output('c', gemm(g, a, b, { relu: true }, forced ?? undefined));
      flops = 2 * M * N * K; x = new Float32Array(M * K).fill(0.5);
    } else {
      const [H, W, C, N, k] = d;
      const xin = g.input('x', [1, H, W, C]);
      const w = g.weight('w', [k, k, C, N], new Float32Array(k * k * C * N).map((_, i) => ((i % 7) - 3) * 0.01));
      const bias = g.weight('bias', [N], new Float32Array(N).fill(0.1));
      tiles = forced ?? convTiles(tuning, H * W, N, k * k * C);
      g.output('y', conv2d(g, xin, w, { bias, pad: (k - 1) >> 1, relu: true }, forced ?? undefined));
      flops = 2 * H * W * N * k * k * C; x = new Float32Array(H * W * C).map((_, i) => Math.sin(i));
    }
    const t0 = performance.now(), c0 = cpuMs();
    const cg = await CompiledGraph.create(ctx, g);
    const createMs = performance.now() - t0, createCpu = cpuMs() - c0;
    const inputs: Record<string, Float32Array> = op === 'gemm' ? { a: x } : { x };
    const t1 = performance.now(), c1 = cpuMs();
    await cg.run(inputs);
    const firstMs = performance.now() - t1, firstCpu = cpuMs() - c1;
    const ms: number[] = [], cpu: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t = performance.now(), c = cpuMs();
      await cg.run(inputs);
      ms.push(performance.now() - t); cpu.push(cpuMs() - c);
    }
    const m = median(ms), mc = median(cpu) / cores;
    const t = tiles as ConvTiles;
    const label = `${t.schedule === 'tiled' ? 'T' : 'R'} ${t.TM}x${t.TN4 * 4} wg ${t.WG_X}x${t.WG_Y} bk ${t.BK}${t.splitK && t.splitK > 1 ? ` split ${t.splitK}` : ''}`;
    console.log(`${c.padEnd(22)} ${label.padEnd(26)} create ${createMs.toFixed(0)} ms (cpu ${createCpu.toFixed(0)}), first run ${firstMs.toFixed(0)} ms (cpu ${firstCpu.toFixed(0)}), ` +
      `steady ${m.toFixed(1)} ms wall = ${(flops / m / 1e6).toFixed(2)} GFLOP/s; cpu/${cores} ${mc.toFixed(1)} ms = ${(flops / mc / 1e6).toFixed(2)} GFLOP/s (median of ${repeats})`);
    await cg.dispose();
    cg.weights.dispose();
  }
}
await releaseDevice();

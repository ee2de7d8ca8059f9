// npm run bench:kernels: GEMM GFLOP/s from GPU timestamps on this adapter.
// Options: --shapes MxNxK,... --repeats N --tiles '{"schedule":"registers","TM":8,...}'
//          --compute f32,f16 (arithmetic; f16 needs shader-f16) --weights f32,f16,int8 (B's storage)
import { getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor, type ComputePrecision } from '../src/graph/tuning.ts';
import { gemm, gemmTiles, type GemmTiles } from '../src/kernels/gemm.ts';
import { compactMatrix, matrixWeight, type WeightFormat } from '../src/kernels/weights.ts';
import { cores, workerCpuMs } from './cpu-time.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const shapes = (arg('--shapes') ?? '1024x1024x1024,4096x256x2304,64x256x2048').split(',').map((s) => s.split('x').map(Number));
const repeats = Number(arg('--repeats') ?? 5);
const tilesArg = arg('--tiles');
const computes = (arg('--compute') ?? 'f32').split(',') as ComputePrecision[];
const formats = (arg('--weights') ?? 'f32').split(',') as WeightFormat[];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const toggles = arg('--toggles');
const ctx = await getDevice(toggles ? { enableToggles: toggles.split(',') } : {});
console.log(`adapter: ${describeAdapter(ctx.adapter)}`);
for (const compute of computes) for (const format of formats) for (const [M, N, K] of shapes) {
  const tuning = tuningFor(ctx, undefined, compute);
  const g = new Graph(tuning);
  const a = g.input('a', [M, K]);
  const data = new Float32Array(K * N).map((_, i) => (i % 7) - 3);
  const b = matrixWeight(g, 'b', [K, N], data, format === 'f32' ? undefined : compactMatrix(data, K, N, format));
  const tiles: GemmTiles = tilesArg ? JSON.parse(tilesArg) : gemmTiles(tuning, M, N);
  g.output('c', gemm(g, a, b, {}, tiles));
  const cg = await CompiledGraph.create(ctx, g);
  const x = new Float32Array(M * K).fill(0.5);
  await cg.profile({ a: x });
  const ms: number[] = [], cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const c = workerCpuMs();
    ms.push((await cg.profile({ a: x })).gpuMs);
    if (c !== null) cpu.push(workerCpuMs()! - c);
  }
  const m = median(ms);
  // On CPU adapters, SwiftShader's worker CPU time / cores estimates an idle machine's time.
  const idle = ctx.adapter.cpu && cpu.length ? `; idle-machine estimate ${(2 * M * N * K / (median(cpu) / cores) / 1e6).toFixed(2)} GFLOP/s` : '';
  console.log(`gemm ${M}x${N}x${K} weights ${format} compute ${compute} ${JSON.stringify(tiles)}: ${m.toFixed(2)} ms, ${(2 * M * N * K / m / 1e6).toFixed(2)} GFLOP/s (timestamps, median of ${repeats})${idle}`);
  cg.dispose();
  cg.weights.dispose();
}
await releaseDevice();

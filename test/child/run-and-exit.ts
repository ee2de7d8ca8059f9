// Child process for test/device.test.ts: uses the GPU, then simply ends (or releases first).
import { getDevice, releaseDevice } from '../../src/platform/node.ts';
import { Graph } from '../../src/graph/graph.ts';
import { CompiledGraph } from '../../src/graph/compile.ts';
import { tuningFor } from '../../src/graph/tuning.ts';
import { gemm } from '../../src/kernels/gemm.ts';

try {
  const ctx = await getDevice({ quiet: true });
  const g = new Graph(tuningFor(ctx));
  const a = g.input('a', [16, 16]);
  g.output('c', gemm(g, a, g.weight('b', [16, 16], new Float32Array(256).fill(1)), { relu: true }));
  const cg = await CompiledGraph.create(ctx, g);
  const { c } = await cg.run({ a: new Float32Array(256).fill(1) });
  process.stdout.write(`result ${c[0]}\n`);
  if (process.argv.includes('--release')) await releaseDevice();
} catch (e) {
  process.stdout.write(`error ${(e as Error).name}: ${(e as Error).message}\n`);
  process.exitCode = 3;
}

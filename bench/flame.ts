// FLAME layer GPU time (timestamp queries, median) at batch 1 and 32, per kernel, and the
// effective memory bandwidth: the blend kernel must stream the packed blend shapes
// (shapedirs + posedirs, 26 MB in f32) at least once per run, which dominates the layer.
//   node --import ./scripts/register.mjs bench/flame.ts [--batches 1,32] [--repeats 9]
//     [--tiles '{"WG_N":64,"CN":1,"KS":4,"BT":8}'] [--flame path/to/flame.safetensors]
import { readFileSync } from 'node:fs';
import { getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { readFlame } from '../src/io/flame.ts';
import { buildFlame } from '../src/model/flame.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';
import { blendTiles, packFlame, type BlendTiles } from '../src/kernels/flame_lbs.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const batches = (arg('--batches') ?? '1,32').split(',').map(Number);
const repeats = Number(arg('--repeats') ?? 9);
const tilesArg = arg('--tiles');
const flamePath = arg('--flame');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ctx = await getDevice();
console.log(`adapter: ${describeAdapter(ctx.adapter)}`);
const flame = flamePath ? readFlame(new Uint8Array(readFileSync(flamePath)), flamePath) : syntheticFlame(0);
console.log(`FLAME: ${flamePath ?? 'synthetic (seed 0)'}, V = ${flame.V}`);
const packed = packFlame(flame);
const dirsBytes = packed.dirs.byteLength;
const tuning = tuningFor(ctx);

for (const B of batches) {
  const g = new Graph(tuning);
  const tiles: BlendTiles = tilesArg ? JSON.parse(tilesArg) : blendTiles(tuning, B);
  const o = buildFlame(g, g.input('params', [B, 413]), packed, { poses: g.input('poses', [B, 12]), blendTiles: tiles });
  g.output('vertices', o.vertices);
  g.output('projected', o.projected);
  g.output('rotation', o.rotation);
  if (o.landmarks3d) g.output('landmarks3d', o.landmarks3d);
  const cg = await CompiledGraph.create(ctx, g);
  const params = new Float32Array(B * 413).map((_, i) => Math.sin(i) * 0.5);
  for (let b = 0; b < B; b++) params.set([1, 0, 0, 0, -1, 0], b * 413 + 403);
  const inputs = { params, poses: new Float32Array(B * 12).fill(0.1) };
  await cg.profile(inputs);
  const runs: { total: number; nodes: Map<string, number> }[] = [];
  for (let i = 0; i < repeats; i++) {
    const r = await cg.profile(inputs);
    runs.push({ total: r.gpuMs, nodes: new Map(r.nodes.map((n) => [n.name, n.ms])) });
  }
  const total = median(runs.map((r) => r.total));
  const per = [...runs[0].nodes.keys()].map((k) => `${k.replace('flame.', '')} ${median(runs.map((r) => r.nodes.get(k)!)).toFixed(3)}`);
  const blend = median(runs.map((r) => r.nodes.get('flame.blend')!));
  // Bytes the layer must move at least: the blend shapes once, the vertex-sized arrays of each item.
  const perItem = (packed.N4 * 4 * 4) * 2 + flame.V * (3 + 2) * 4;
  const layerBytes = dirsBytes + flame.weights.byteLength + B * perItem;
  console.log(`B=${B} ${JSON.stringify(tiles)}: FLAME ${total.toFixed(3)} ms GPU (median of ${repeats}; ${per.join(', ')} ms), ` +
    `${(total / B).toFixed(3)} ms/item; effective bandwidth: layer ${(layerBytes / total / 1e6).toPrecision(3)} GB/s, ` +
    `blend ${((dirsBytes + B * packed.N4 * 16) / blend / 1e6).toPrecision(3)} GB/s (${(dirsBytes / 1e6).toFixed(1)} MB blend shapes)`);
  cg.dispose();
  cg.weights.dispose();
}
await releaseDevice();

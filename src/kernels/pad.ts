// Zero padding of a rank-4 tensor (shaders/pad.wgsl): TFLite's PAD, e.g. the channel padding of
// BlazeFace's residual paths.
import source from '../../shaders/pad.wgsl';
import { numel, type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const PAD = kernel({
  name: 'pad', source,
  inputs: { x: 'f32' }, outputs: { y: 'f32' },
  uniforms: { dims: 'vec4u', before: 'vec4u', inn: 'vec4u', total: 'u32', pitch: 'u32' },
});

/** x: rank <= 4; pads[d] = [before, after] per axis (non-negative). */
export function pad(g: Graph, x: Tensor, pads: readonly (readonly [number, number])[], name = `pad${g.nodes.length}`): Tensor {
  const r = x.shape.length;
  if (r < 1 || r > 4 || pads.length !== r) throw new Error(`${name}: need one [before, after] per axis of [${x.shape.join(', ')}] (rank 1..4)`);
  for (const [b, a] of pads) if (!(Number.isInteger(b) && Number.isInteger(a) && b >= 0 && a >= 0)) throw new Error(`${name}: paddings must be non-negative integers, got ${JSON.stringify(pads)}`);
  const lead = 4 - r;
  const inn = [...Array(lead).fill(1), ...x.shape] as number[];
  const before = [...Array(lead).fill(0), ...pads.map((p) => p[0])] as number[];
  const out = inn.map((d, i) => d + before[i] + (i < lead ? 0 : pads[i - lead][1]));
  const y = g.tensor(name, out.slice(lead));
  const total = numel(out);
  const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
  const v4 = (a: number[]) => [a[0], a[1], a[2], a[3]] as const;
  PAD.add(g, name, {
    inputs: { x }, outputs: { y },
    uniforms: { dims: v4(out), before: v4(before), inn: v4(inn), total, pitch },
    workgroups,
  });
  return y;
}

// DepthToSpace over NHWC (shaders/depth_to_space.wgsl): TFLite's DEPTH_TO_SPACE.
import source from '../../shaders/depth_to_space.wgsl';
import nhwc from '../../shaders/nhwc.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const D2S = kernel({
  name: 'depth_to_space', source,
  inputs: { x: 'f32' }, outputs: { y: 'f32' },
  uniforms: { total: 'u32', C: 'u32', OH: 'u32', OW: 'u32', W: 'u32', bs: 'u32', pitch: 'u32' },
  include: { nhwc },
});

/** x: [B, H, W, C*bs*bs] -> [B, H*bs, W*bs, C]. */
export function depthToSpace(g: Graph, x: Tensor, bs: number, name = `depth_to_space${g.nodes.length}`): Tensor {
  if (x.shape.length !== 4) throw new Error(`${name}: input must be NHWC [B, H, W, C], got [${x.shape.join(', ')}]`);
  const [B, H, W, Cin] = x.shape;
  if (!(Number.isInteger(bs) && bs >= 1 && Cin % (bs * bs) === 0)) throw new Error(`${name}: block size ${bs} does not divide ${Cin} channels into bs*bs groups`);
  const C = Cin / (bs * bs), OH = H * bs, OW = W * bs;
  const y = g.tensor(name, [B, OH, OW, C]);
  const total = B * OH * OW * C;
  const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
  D2S.add(g, name, {
    inputs: { x }, outputs: { y },
    uniforms: { total, C, OH, OW, W, bs, pitch },
    workgroups,
  });
  return y;
}

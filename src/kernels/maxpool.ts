// Max pooling over NHWC (shaders/maxpool.wgsl); the ResNet stem uses 3x3, stride 2, padding 1.
import source from '../../shaders/maxpool.wgsl';
import nhwc from '../../shaders/nhwc.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { convOut } from './conv2d.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const MAXPOOL = kernel({
  name: 'maxpool', source,
  inputs: { x: 'T' }, outputs: { y: 'T' },
  uniforms: { total: 'u32', C: 'u32', H: 'u32', W: 'u32', OH: 'u32', OW: 'u32', K: 'u32', stride: 'u32', pad: 'i32', pitch: 'u32' },
  include: { nhwc },
});

export interface MaxPoolOptions { kernel?: number; stride?: number; pad?: number; name?: string }

/** x: [B, H, W, C] -> [B, OH, OW, C]; padding acts as -inf (PyTorch's MaxPool2d). */
export function maxpool2d(g: Graph, x: Tensor, opts: MaxPoolOptions = {}): Tensor {
  const name = opts.name ?? `maxpool${g.nodes.length}`;
  const k = opts.kernel ?? 3, s = opts.stride ?? 2, pad = opts.pad ?? 1;
  if (x.shape.length !== 4) throw new Error(`${name}: input must be NHWC [B, H, W, C], got [${x.shape.join(', ')}]`);
  if (!(k >= 1 && s >= 1 && pad >= 0 && 2 * pad <= k)) throw new Error(`${name}: padding ${pad} must be at most half the kernel ${k}`);
  const [B, H, W, C] = x.shape;
  const OH = convOut(H, k, s, pad), OW = convOut(W, k, s, pad);
  if (OH < 1 || OW < 1) throw new Error(`${name}: ${k}x${k} window does not fit a ${H}x${W} input`);
  const vec4 = C % 4 === 0;
  const Cu = vec4 ? C / 4 : C;
  const total = B * OH * OW * Cu;
  const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
  const y = g.tensor(name, [B, OH, OW, C]);
  MAXPOOL.add(g, name, {
    inputs: { x }, outputs: { y },
    uniforms: { total, C: Cu, H, W, OH, OW, K: k, stride: s, pad, pitch },
    flags: { VEC4: vec4 },
    workgroups,
    flops: B * OH * OW * C * k * k,
  });
  return y;
}

// Depthwise conv2d over NHWC (shaders/depthwise_conv.wgsl): BlazeFace's 3x3 depthwise layers.
import source from '../../shaders/depthwise_conv.wgsl';
import nhwc from '../../shaders/nhwc.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const DEPTHWISE = kernel({
  name: 'depthwise_conv', source,
  inputs: { x: 'T', w: 'T', 'bias?': 'T' }, outputs: { y: 'T' },
  uniforms: {
    total: 'u32', C: 'u32', H: 'u32', W: 'u32', OH: 'u32', OW: 'u32',
    strideH: 'u32', strideW: 'u32', padTop: 'i32', padLeft: 'i32', relu: 'u32', pitch: 'u32',
  },
  include: { nhwc },
});

export interface DepthwiseOptions {
  bias?: Tensor;
  stride?: number | [number, number];
  /** Leading zero padding [top, left]; the trailing padding follows from `out`. */
  pad?: [number, number];
  /** Output [OH, OW]; default symmetric padding: floor((H + 2*pad - KH) / stride) + 1. */
  out?: [number, number];
  relu?: boolean;
  name?: string;
  /** Unrolled branch-free taps (default on SwiftShader only: faster there, slower on lavapipe). */
  unroll?: boolean;
}

/** x: [B, H, W, C], weight: [KH, KW, C] -> [B, OH, OW, C]. */
export function depthwiseConv2d(g: Graph, x: Tensor, weight: Tensor, opts: DepthwiseOptions = {}): Tensor {
  const name = opts.name ?? `depthwise${g.nodes.length}`;
  if (x.shape.length !== 4) throw new Error(`${name}: input must be NHWC [B, H, W, C], got [${x.shape.join(', ')}]`);
  if (weight.shape.length !== 3) throw new Error(`${name}: weight must be [KH, KW, C], got [${weight.shape.join(', ')}]`);
  const [B, H, W, C] = x.shape;
  const [KH, KW, Cw] = weight.shape;
  if (Cw !== C) throw new Error(`${name}: input has ${C} channels, weight [${weight.shape.join(', ')}] has ${Cw}`);
  const [sh, sw] = typeof opts.stride === 'number' ? [opts.stride, opts.stride] : opts.stride ?? [1, 1];
  const [pt, pl] = opts.pad ?? [0, 0];
  if (KH * KW > 49) throw new Error(`${name}: ${KH}x${KW} kernels are not supported (the taps are unrolled; up to 7x7)`);
  if (!(sh >= 1 && sw >= 1 && pt >= 0 && pl >= 0 && pt < KH && pl < KW)) throw new Error(`${name}: bad stride [${sh}, ${sw}] / padding [${pt}, ${pl}]`);
  const [OH, OW] = opts.out ?? [Math.floor((H + 2 * pt - KH) / sh) + 1, Math.floor((W + 2 * pl - KW) / sw) + 1];
  // Every output window must touch the input (else it would be all padding).
  if (!(OH >= 1 && OW >= 1 && (OH - 1) * sh - pt < H && (OW - 1) * sw - pl < W)) throw new Error(`${name}: output ${OH}x${OW} does not fit a ${H}x${W} input`);
  if (opts.bias && (opts.bias.shape.length !== 1 || opts.bias.shape[0] !== C)) throw new Error(`${name}: bias must be [${C}], got [${opts.bias.shape.join(', ')}]`);
  const vec4 = C % 4 === 0;
  const Cu = vec4 ? C / 4 : C;
  const total = B * OH * OW * Cu;
  const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
  const y = g.tensor(name, [B, OH, OW, C]);
  DEPTHWISE.add(g, name, {
    inputs: { x, w: weight, bias: opts.bias }, outputs: { y },
    uniforms: { total, C: Cu, H, W, OH, OW, strideH: sh, strideW: sw, padTop: pt, padLeft: pl, relu: Number(!!opts.relu), pitch },
    flags: { VEC4: vec4, KH, KW, UNROLL: opts.unroll ?? g.tuning.kind === 'swiftshader' },
    workgroups,
    flops: 2 * B * OH * OW * C * KH * KW,
  });
  return y;
}

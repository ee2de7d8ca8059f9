// Bilinear resize of NHWC tensors (shaders/resize_bilinear.wgsl): TFLite's RESIZE_BILINEAR,
// the upsampling of BlazeFace full range's feature pyramid.
import source from '../../shaders/resize_bilinear.wgsl';
import nhwc from '../../shaders/nhwc.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const RESIZE = kernel({
  name: 'resize_bilinear', source,
  inputs: { x: 'f32' }, outputs: { y: 'f32' },
  uniforms: { total: 'u32', C: 'u32', H: 'u32', W: 'u32', OH: 'u32', OW: 'u32', scaleH: 'f32', scaleW: 'f32', halfPixel: 'u32', pitch: 'u32' },
  include: { nhwc },
});

export interface ResizeOptions { alignCorners?: boolean; halfPixelCenters?: boolean; name?: string }

/** x: [B, H, W, C] -> [B, OH, OW, C]. */
export function resizeBilinear(g: Graph, x: Tensor, OH: number, OW: number, opts: ResizeOptions = {}): Tensor {
  const name = opts.name ?? `resize${g.nodes.length}`;
  if (x.shape.length !== 4) throw new Error(`${name}: input must be NHWC [B, H, W, C], got [${x.shape.join(', ')}]`);
  if (opts.alignCorners && opts.halfPixelCenters) throw new Error(`${name}: align_corners and half_pixel_centers cannot both be set`);
  const [B, H, W, C] = x.shape;
  const scale = (i: number, o: number) => (opts.alignCorners && o > 1 ? (i - 1) / (o - 1) : i / o);
  const y = g.tensor(name, [B, OH, OW, C]);
  const total = B * OH * OW * C;
  const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
  RESIZE.add(g, name, {
    inputs: { x }, outputs: { y },
    uniforms: { total, C, H, W, OH, OW, scaleH: scale(H, OH), scaleW: scale(W, OW), halfPixel: Number(!!opts.halfPixelCenters), pitch },
    workgroups,
    flops: 8 * total,
  });
  return y;
}

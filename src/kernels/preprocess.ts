// GPU preprocessing (shaders/preprocess.wgsl) and the CPU-side geometry it needs (SPEC section 1).
import source from '../../shaders/preprocess.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';

const PREPROCESS = kernel({
  name: 'preprocess', source,
  inputs: { pixels: 'u32', params: 'f32' }, outputs: { out: 'f32' },
  uniforms: { width: 'u32', height: 'u32', channels: 'u32', wordsPerImage: 'u32' },
});

export interface Box { x: number; y: number; width: number; height: number }

/** Where the crop lands in the SIZE x SIZE input, and how to map points back to the image. */
export interface CropGeometry {
  box: Box;
  /** k = SIZE / max(h, w) */
  k: number;
  outW: number;
  outH: number;
  padLeft: number;
  padTop: number;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function cropGeometry(box: Box, size = 256): CropGeometry {
  const k = size / Math.max(box.height, box.width);
  const outH = Math.min(size, Math.max(1, roundHalfEven(box.height * k)));
  const outW = Math.min(size, Math.max(1, roundHalfEven(box.width * k)));
  return { box, k, outW, outH, padLeft: (size - outW) >> 1, padTop: (size - outH) >> 1 };
}

/** The 10 floats per image the kernel reads. */
export function preprocessParams(geo: CropGeometry, out: Float32Array, offset = 0): void {
  const { box } = geo;
  out.set([box.x, box.y, box.width, box.height, geo.outW, geo.outH, geo.padLeft, geo.padTop,
    box.width / geo.outW, box.height / geo.outH], offset);
}
export const PREPROCESS_PARAMS = 10;

/** Crop-pixel point -> input-image pixel point. */
export function cropToImage(geo: CropGeometry, x: number, y: number): [number, number] {
  return [(x - geo.padLeft) / geo.k + geo.box.x, (y - geo.padTop) / geo.k + geo.box.y];
}

/** u32 words one image of width x height x channels bytes takes. */
export const wordsPerImage = (width: number, height: number, channels: number) => ceilDiv(width * height * channels, 4);

/**
 * pixels: u32 input [B * wordsPerImage] (raw RGBA8/RGB8 bytes), params: f32 [B, 10].
 * Returns the normalised input [B, size, size, outChannels] (outChannels 3, or 4 with a zero 4th).
 */
export function preprocess(g: Graph, pixels: Tensor, params: Tensor, img: { width: number; height: number; channels: 3 | 4 },
  opts: { batch: number; size?: number; outChannels?: 3 | 4 }): Tensor {
  const size = opts.size ?? 256;
  const outC = opts.outChannels ?? 4;
  const words = wordsPerImage(img.width, img.height, img.channels);
  if (pixels.shape.reduce((a, b) => a * b, 1) !== words * opts.batch) throw new Error(`preprocess: pixel buffer has ${pixels.shape} words, expected ${words * opts.batch}`);
  const out = g.tensor('preprocessed', [opts.batch, size, size, outC]);
  PREPROCESS.add(g, 'preprocess', {
    inputs: { pixels, params }, outputs: { out },
    uniforms: { width: img.width, height: img.height, channels: img.channels, wordsPerImage: words },
    flags: { SIZE: size, OUT_C: outC },
    workgroups: [ceilDiv(size, 16), ceilDiv(size, 16), opts.batch],
  });
  return out;
}

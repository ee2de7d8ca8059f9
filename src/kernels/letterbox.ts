// Letterbox + [-1, 1] normalisation of a raw RGBA8/RGB8 image into the face detector's input
// (shaders/letterbox.wgsl). The geometry is src/detect/letterbox.ts's.
import source from '../../shaders/letterbox.wgsl';
import type { Graph, Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';
import { wordsPerImage } from './preprocess.ts';

const LETTERBOX = kernel({
  name: 'letterbox', source,
  inputs: { pixels: 'u32' }, outputs: { out: 'f32' },
  uniforms: { width: 'u32', height: 'u32', channels: 'u32', size: 'u32', scale: 'f32', padX: 'f32', padY: 'f32' },
});

/** pixels: u32 [wordsPerImage] -> [1, size, size, 3]. Image pixel = (tensor pixel - pad) / scale. */
export function letterboxImage(g: Graph, pixels: Tensor, img: { width: number; height: number; channels: 3 | 4 },
  geo: { size: number; scale: number; padX: number; padY: number }, name = 'letterbox'): Tensor {
  const words = wordsPerImage(img.width, img.height, img.channels);
  if (pixels.shape.reduce((a, b) => a * b, 1) !== words) throw new Error(`${name}: pixel buffer has ${pixels.shape} words, expected ${words}`);
  const out = g.tensor(name, [1, geo.size, geo.size, 3]);
  LETTERBOX.add(g, name, {
    inputs: { pixels }, outputs: { out },
    uniforms: { width: img.width, height: img.height, channels: img.channels, size: geo.size, scale: geo.scale, padX: geo.padX, padY: geo.padY },
    workgroups: [ceilDiv(geo.size, 8), ceilDiv(geo.size, 8), 1],
  });
  return out;
}

// Image inputs shared by both platforms: validation of raw pixels and head boxes, with errors
// that say what is wrong and what to pass instead.
import type { RawImage } from '../platform/types.ts';
import type { Box } from '../kernels/preprocess.ts';

export class InputError extends Error {
  constructor(message: string) { super(message); this.name = 'InputError'; }
}

export interface Pixels { bytes: Uint8Array; width: number; height: number; channels: 3 | 4 }

/** Largest side we accept: beyond it the pixel buffer outgrows what devices bind. */
const MAX_IMAGE_SIDE = 16384;

export function isRawImage(x: unknown): x is RawImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x;
}

/** Validates {data, width, height[, channels]} and returns packed RGBA8/RGB8 bytes. */
export function toPixels(img: RawImage, maxBytes = Infinity): Pixels {
  const { width, height } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InputError(`image size ${width}x${height} is invalid: width and height must be positive integers`);
  }
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new InputError(`image ${width}x${height} is too large (largest side ${MAX_IMAGE_SIDE}); pass a head box or downscale it first`);
  }
  const n = width * height;
  const data = img.data;
  if (!data || typeof (data as ArrayLike<number>).length !== 'number') throw new InputError('image.data must be a Uint8Array, Uint8ClampedArray, Float32Array or number array of RGBA/RGB values');
  const channels = img.channels ?? (data.length === n * 4 ? 4 : data.length === n * 3 ? 3 : 0);
  if (channels !== 3 && channels !== 4) {
    throw new InputError(`image data has ${data.length} values for ${width}x${height} pixels: expected ${n * 4} (RGBA) or ${n * 3} (RGB)`);
  }
  if (data.length < n * channels) throw new InputError(`image data has ${data.length} values, shorter than ${width}x${height}x${channels} = ${n * channels}`);
  if (n * channels > maxBytes) throw new InputError(`image ${width}x${height} needs ${n * channels} bytes, more than this GPU can bind (${maxBytes}); pass a head box or downscale it`);
  let bytes: Uint8Array;
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) {
    bytes = new Uint8Array(data.buffer, data.byteOffset, n * channels);
  } else {
    // Float or plain arrays: 0..255 values, rounded; NaN/Inf would silently become garbage.
    bytes = new Uint8Array(n * channels);
    for (let i = 0; i < n * channels; i++) {
      const v = Number(data[i]);
      if (!Number.isFinite(v)) throw new InputError(`image data[${i}] is ${v}: pixel values must be finite numbers in 0..255`);
      bytes[i] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { bytes, width, height, channels };
}

/**
 * A head box on the image. Integer pixels; a box partly outside the image is kept (SPEC: the
 * part outside reads zeros); a box with no overlap with the image is an error.
 */
export function resolveBox(box: Partial<Box> | [number, number, number, number] | 'image' | undefined, width: number, height: number): Box {
  if (box === undefined || box === 'image') return { x: 0, y: 0, width, height };
  if (typeof box !== 'object' || box === null) throw new InputError(`box ${JSON.stringify(box)}: expected {x, y, width, height}, [x, y, width, height] or 'image'`);
  const b = Array.isArray(box) ? { x: box[0], y: box[1], width: box[2], height: box[3] } : box;
  const vals = [b.x, b.y, b.width, b.height];
  if (vals.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw new InputError(`box ${JSON.stringify(box)} must be four finite numbers x, y, width, height`);
  const [x, y, w, h] = vals.map((v) => Math.round(v as number));
  if (w <= 0 || h <= 0) throw new InputError(`box ${x},${y},${w},${h} has no area: width and height must be positive`);
  if (w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE) throw new InputError(`box ${w}x${h} is too large (largest side ${MAX_IMAGE_SIDE})`);
  if (x >= width || y >= height || x + w <= 0 || y + h <= 0) {
    throw new InputError(`box ${x},${y},${w},${h} lies outside the ${width}x${height} image`);
  }
  return { x, y, width: w, height: h };
}

// Letterboxing: the whole image, aspect kept, scaled to fit an inputSize x inputSize tensor and
// centred, the border zero. This is what MediaPipe's ImageToTensorCalculator does with
// keep_aspect_ratio (the ROI grown to a square about the image centre), so boxes map back with
// the same three numbers.

export interface Letterbox {
  /** Tensor pixels per image pixel. */
  scale: number;
  /** Left border in tensor pixels. */
  padX: number;
  /** Top border in tensor pixels. */
  padY: number;
}

export function letterbox(imageW: number, imageH: number, inputSize: number): Letterbox {
  if (!(imageW > 0 && imageH > 0 && inputSize > 0)) {
    throw new Error(`letterbox: sizes must be positive, got image ${imageW}x${imageH}, input ${inputSize}`);
  }
  const scale = inputSize / Math.max(imageW, imageH);
  return { scale, padX: (inputSize - imageW * scale) / 2, padY: (inputSize - imageH * scale) / 2 };
}

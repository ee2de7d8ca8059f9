// Letterbox geometry of the face detector (MediaPipe's keep_aspect_ratio): the image is scaled
// by `scale` to fit inputSize x inputSize and centred; the bars are padX / padY wide (not
// rounded: MediaPipe maps with a float affine transform). Shared by the GPU preprocessing
// (src/kernels/letterbox.ts) and the post-processing that maps detections back:
//   image = (tensor - pad) / scale   (tensor pixels; normalised coordinates times inputSize).
export interface Letterbox { scale: number; padX: number; padY: number }

export function letterbox(imageW: number, imageH: number, inputSize: number): Letterbox {
  if (!(imageW > 0 && imageH > 0 && inputSize > 0)) throw new Error(`letterbox: bad sizes ${imageW}x${imageH} -> ${inputSize}`);
  const scale = inputSize / Math.max(imageW, imageH);
  return { scale, padX: (inputSize - imageW * scale) / 2, padY: (inputSize - imageH * scale) / 2 };
}

// The face detector's output, shared by the detector (tflite graph + post-processing), the
// head-box rule and the API. Coordinates are input-image pixels.
import type { Box } from '../kernels/preprocess.ts';

/** MediaPipe's six face keypoints, in its order. */
export const FACE_KEYPOINTS = ['rightEye', 'leftEye', 'noseTip', 'mouth', 'rightEar', 'leftEar'] as const;

export interface Face {
  /** Face box (x, y, width, height), image pixels; may reach past the image border. */
  box: Box;
  /** 6 x (x, y) in image pixels, in FACE_KEYPOINTS order ("right" is the subject's right). */
  keypoints: Float32Array;
  /** Detection confidence, 0..1 (sigmoid of the model's logit). */
  score: number;
}

/** Something that finds faces in an image (the BlazeFace detector; tests may pass a fake). */
export interface FaceDetector {
  detect(image: unknown): Promise<Face[]>;
  dispose(): Promise<void>;
}

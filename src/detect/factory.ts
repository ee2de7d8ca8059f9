// How the model gets its face detector when the caller names one ('short' | 'full'): the seam
// between the API (model/trans3dhead.ts) and the BlazeFace detector (detect/detector.ts).
import type { BytesSource, GpuContext, Platform } from '../platform/types.ts';
import { BlazeFaceDetector, MODEL_DETECTOR_OPTIONS } from './detector.ts';
import type { FaceDetector } from './types.ts';

export type DetectorKind = 'short' | 'full';
export const DETECTOR_KINDS: readonly DetectorKind[] = ['short', 'full'];

/** What CreateModelOptions.detector accepts: a BlazeFace model, your own detector, or none. */
export type DetectorChoice = DetectorKind | FaceDetector | false;

export type DetectorFactory = (kind: DetectorKind, platform: Platform, ctx: GpuContext, file?: BytesSource, cache?: boolean) => Promise<FaceDetector>;

let factory: DetectorFactory | null = null;

/** Replaces the BlazeFace constructor (tests; null restores it). */
export function setDetectorFactory(f: DetectorFactory | null): void { factory = f; }

/** Makes the named detector on the model's device. */
export async function makeDetector(kind: DetectorKind, platform: Platform, ctx: GpuContext, file?: BytesSource, cache?: boolean): Promise<FaceDetector> {
  // The hints of its errors name createModel's options (detector, detectorFile), which the caller set.
  if (!factory) return BlazeFaceDetector.create(platform, { model: kind, file, device: ctx, cache }, MODEL_DETECTOR_OPTIONS);
  return factory(kind, platform, ctx, file, cache);
}

export function isFaceDetector(x: unknown): x is FaceDetector {
  return typeof x === 'object' && x !== null && typeof (x as FaceDetector).detect === 'function' && typeof (x as FaceDetector).dispose === 'function';
}

// Browser entry point: the same API as Node, on navigator.gpu.
import { bindApi } from './model/api.ts';
import { browserPlatform } from './platform/browser.ts';

export const { createModel, runModel } = bindApi(browserPlatform);
export { getDevice, createDevice, releaseDevice, clearModelCache, MODEL_CACHE } from './platform/browser.ts';
export * from './exports.ts';
export { OverlayRenderer, type OverlayFrame, type OverlayOptions, type PhotoSource } from './render/overlay-renderer.ts';
import { createDetector as createDetectorOn, type DetectorOptions } from './detect/detector.ts';
/** The BlazeFace face detector alone, on our kernels (browsers: pass the .tflite's URL as `file`). */
export const createDetector = (o: DetectorOptions = {}) => createDetectorOn(browserPlatform, o);

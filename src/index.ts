// Node entry point. Browsers get src/browser.ts (package.json "exports").
import { bindApi } from './model/api.ts';
import { nodePlatform } from './platform/node.ts';

export const { createModel, runModel } = bindApi(nodePlatform);
export { getDevice, createDevice, releaseDevice } from './platform/node.ts';
export { clearModelCache, modelCacheDir } from './platform/node-io.ts';
export * from './exports.ts';
import { createDetector as createDetectorOn, type DetectorOptions } from './detect/detector.ts';
/** The BlazeFace face detector alone, on our kernels (default file: the npm package @mediapipe/face_detection's). */
export const createDetector = (o: DetectorOptions = {}) => createDetectorOn(nodePlatform, o);

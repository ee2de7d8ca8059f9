// Records MediaPipe's own face detections on the detection test images (test/detect-images.ts)
// into test/fixtures/detect/mediapipe.json, the reference of the parity test. MediaPipe's runtime
// is the npm package @mediapipe/face_detection (its WASM + WebGL solution) in Debian's headless
// Chromium, offline. Not needed to run the tests; rerun when the images or the package change:
//   npm install --no-save @mediapipe/face_detection   (or MEDIAPIPE_FACE_DETECTION=<unpacked dir>)
//   node --import ./scripts/register.mjs scripts/make-detect-fixtures.ts [--png .cache/detect]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectImages, toPng } from '../test/detect-images.ts';
import { findPackage, runMediaPipe } from '../test/browser/mediapipe-runner.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'test/fixtures/detect/mediapipe.json' }, png: { type: 'string' } } });
const images = detectImages();
if (values.png) {
  mkdirSync(values.png, { recursive: true });
  for (const im of images) writeFileSync(join(values.png, `${im.name}.png`), toPng(im));
}
const pkg = findPackage();
const version = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version as string;
const t0 = performance.now();
const detections = await runMediaPipe(images, ['short', 'full'], null);
const r = (v: number) => Math.round(v * 1e4) / 1e4;
const rounded = Object.fromEntries(Object.entries(detections).map(([model, per]) => [model, Object.fromEntries(Object.entries(per).map(([name, faces]) =>
  [name, faces.map((f) => ({ box: f.box.map(r), keypoints: f.keypoints.map(r), score: f.score === null ? null : r(f.score) }))]))]));
const fixture = {
  about: 'MediaPipe face detection (npm @mediapipe/face_detection, WASM + WebGL in headless Chromium) on test/detect-images.ts; ' +
    'boxes [x, y, w, h] and keypoints in image pixels; made by scripts/make-detect-fixtures.ts',
  package: `@mediapipe/face_detection@${version}`,
  // The solution's graph defaults (setting minDetectionConfidence breaks this build's graph).
  minScore: { short: 0.5, full: 0.6 },
  models: { short: 'face_detection_short_range.tflite', full: 'face_detection_full_range_sparse.tflite' },
  images: images.map((im) => ({ name: im.name, width: im.width, height: im.height })),
  detections: rounded,
};
writeFileSync(values.out!, JSON.stringify(fixture, null, 1) + '\n');
for (const model of ['short', 'full']) {
  console.log(model + ': ' + images.map((im) => `${im.name} ${rounded[model][im.name].length}`).join(', '));
}
console.log(`wrote ${values.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

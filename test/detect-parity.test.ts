// Face detection parity with MediaPipe's own runtime (issue 15), in Node: our detector (BlazeFace
// on our kernels, src/detect/detector.ts) on the generated astronaut composites
// (test/detect-images.ts) against MediaPipe's detections recorded from its WASM solution in
// headless Chromium (test/fixtures/detect/mediapipe.json, scripts/make-detect-fixtures.ts).
// Rule: the same number of faces, boxes and keypoints within 1% of the box size, scores within 0.02.
// MediaPipe's solution runs face_detection_short_range.tflite and, for 'full',
// face_detection_full_range_sparse.tflite (the dense full range file is another model: its scores
// differ by up to 0.08), so the detector loads the same files. The browser side and the check of
// the post-processing alone are in test/browser/detect-parity.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { BLAZEFACE, type FaceModel } from '../src/detect/postprocess.ts';
import type { Face } from '../src/detect/types.ts';
import { nodePlatform } from '../src/platform/node.ts';
import type { RgbaImage } from './detect-images.ts';
import { MODELS, checkRun, faceToFixture, fixtureImages, loadFixture, modelFile, type FixtureFace } from './detect-parity-helpers.ts';
import { gpu } from './helpers.ts';

const fx = loadFixture();
let images: RgbaImage[] = [];
test.before(() => { images = fixtureImages(fx); });

test('fixture: made from these images, with MediaPipe\'s thresholds', () => {
  for (const m of MODELS) assert.is(fx.minScore[m], BLAZEFACE[m].minScore, `${m} threshold`);
  const faces = (m: FaceModel) => images.map((im) => fx.detections[m][im.name].length);
  // The reference itself: one face per single-head image, three on the group, none on the negatives.
  for (const m of MODELS) assert.equal(faces(m), images.map((im) => im.name.startsWith('no-face') ? 0 : im.name.startsWith('group') ? 3 : 1), m);
});

// The seam: src/detect/detector.ts (helper "tflite") exports createDetector(platform, { model,
// file, device }) -> { detect(image), dispose() }. Where it is not there yet, these tests are not
// registered (a note says so; uvu's skip would count as a failure in scripts/test.mjs).
const DETECTOR = '../src/detect/detector.ts';
const hasDetector = existsSync(new URL(DETECTOR, import.meta.url));
if (!hasDetector) console.log('  (src/detect/detector.ts is not here yet: the detector parity tests are not run)');

for (const model of MODELS) {
  if (hasDetector) test(`our detector in Node (WebGPU), ${model} range, equals MediaPipe`, async () => {
    const { createDetector } = await import(DETECTOR) as { createDetector: (p: unknown, o: object) => Promise<{ detect(i: unknown): Promise<Face[]>; dispose(): Promise<void> }> };
    const t0 = performance.now();
    const det = await createDetector(nodePlatform, { model, file: modelFile(fx, model), device: await gpu() });
    try {
      const ours: Record<string, FixtureFace[]> = {};
      for (const im of images) ours[im.name] = (await det.detect({ data: im.data, width: im.width, height: im.height, channels: 4 })).map(faceToFixture);
      console.log(`  (${model}: ${images.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s, first-run pipeline compiles included)`);
      checkRun(fx, model, ours, 'our detector in Node');
    } finally { await det.dispose(); }
  });
}

test.run();

// Face detection parity with MediaPipe's own runtime (issue 15): on the generated astronaut
// composites (test/detect-images.ts), MediaPipe's detections recorded from its WASM solution in
// headless Chromium (test/fixtures/detect/mediapipe.json) against
//   1. our post-processing (src/detect/postprocess.ts) fed with the raw outputs of an independent
//      TFLite interpreter (TensorFlow's TFLite WASM runtime, test/browser/tflite-reference.ts),
//   2. our detector (BlazeFace on our kernels) in Node, and
//   3. the same in headless Chromium through the browser bundle.
// Rule: the same number of faces, boxes and keypoints within 1% of the box size, scores within 0.02.
// MediaPipe's solution runs face_detection_short_range.tflite and, for 'full',
// face_detection_full_range_sparse.tflite (not the dense full range file, whose outputs differ by
// up to 0.08 in score): the detectors here load the same files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFaces, BLAZEFACE, type FaceModel } from '../../src/detect/postprocess.ts';
import type { Face } from '../../src/detect/types.ts';
import { nodePlatform } from '../../src/platform/node.ts';
import { letterboxTensor, type RgbaImage } from '../detect-images.ts';
import { compareRun, faceToFixture, fixtureImages, loadFixture, type FixtureFace } from '../detect-parity-helpers.ts';
import { gpu } from '../helpers.ts';
import { openBrowser, type Browser } from './chromium.ts';
import { findPackage } from './mediapipe-runner.ts';
import { runTfliteReference } from './tflite-reference.ts';

const fx = loadFixture();
const MODELS: FaceModel[] = ['short', 'full'];
let images: RgbaImage[] = [];
test.before(() => { images = fixtureImages(fx); });

function modelFile(model: FaceModel): string {
  return join(findPackage(), fx.models[model]);
}

function check(model: FaceModel, ours: Record<string, FixtureFace[]>, who: string): void {
  const { problems, summary } = compareRun(model, ours, fx);
  console.log(`  ${who} vs MediaPipe, ${summary}`);
  assert.equal(problems, [], `${who} vs MediaPipe (${fx.package}):\n${problems.join('\n')}`);
}

test('fixture: made from these images, with MediaPipe\'s thresholds and files', () => {
  for (const m of MODELS) assert.is(fx.minScore[m], BLAZEFACE[m].minScore, `${m} threshold`);
  const faces = (m: FaceModel) => images.map((im) => fx.detections[m][im.name].length);
  // Sanity of the reference itself: one face per single-head image, three on the group, none on the negatives.
  for (const m of MODELS) assert.equal(faces(m), images.map((im) => im.name.startsWith('no-face') ? 0 : im.name.startsWith('group') ? 3 : 1), m);
});

test('post-processing: TFLite interpreter raw outputs -> decodeFaces equals MediaPipe (both models)', async () => {
  const t0 = performance.now();
  const runs = await runTfliteReference(MODELS.map((model) => {
    const size = BLAZEFACE[model].inputSize;
    return { modelFile: modelFile(model), size, inputs: images.map((im) => letterboxTensor(im, size)) };
  }));
  console.log(`  (TFLite WASM reference in Chromium: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  MODELS.forEach((model, m) => {
    const raws = runs[m];
    const ours: Record<string, FixtureFace[]> = {};
    images.forEach((im, i) => { ours[im.name] = decodeFaces(raws[i], { model, imageWidth: im.width, imageHeight: im.height }).map(faceToFixture); });
    check(model, ours, 'TFLite reference + our post-processing');
  });
});

// ---- Our detector. The seam: src/detect/detector.ts (helper "tflite") exports
// createDetector(platform, { model, file, device }) -> { detect(image), dispose() }; the browser
// bundle is expected to export the same createDetector bound to the browser platform. Until the
// detector lands these two tests are not registered (a note says so; uvu's skip would count as a
// failure in scripts/test.mjs).
const DETECTOR = '../../src/detect/detector.ts';
const hasDetector = existsSync(new URL(DETECTOR, import.meta.url));
if (!hasDetector) console.log('  (src/detect/detector.ts is not here yet: the Node and Chromium detector parity tests are not run)');

// One test per model and runtime, so that a failure names its model.
const createDetectorNode = async (o: object) => {
  const { createDetector } = await import(DETECTOR) as { createDetector: (p: unknown, o: object) => Promise<{ detect(i: unknown): Promise<Face[]>; dispose(): Promise<void> }> };
  return createDetector(nodePlatform, o);
};

for (const model of MODELS) {
  if (hasDetector) test(`our detector in Node (WebGPU), ${model} range, equals MediaPipe`, async () => {
    const det = await createDetectorNode({ model, file: modelFile(model), device: await gpu() });
    try {
      const ours: Record<string, FixtureFace[]> = {};
      for (const im of images) ours[im.name] = (await det.detect({ data: im.data, width: im.width, height: im.height, channels: 4 })).map(faceToFixture);
      check(model, ours, 'our detector in Node');
    } finally { await det.dispose(); }
  });
}

let browser: Browser | undefined;
test.after(async () => { await browser?.close(); });

for (const model of MODELS) {
  if (hasDetector) test(`our detector in headless Chromium (WebGPU on SwiftShader), ${model} range, equals MediaPipe`, async () => {
    if (!browser) {
      browser = await openBrowser();
      // The .tflite files come from the npm package, which the test server does not serve.
      await browser.page.route('**/__detector/*', (route) => {
        const name = new URL(route.request().url()).pathname.split('/').pop()!;
        return route.fulfill({ status: 200, body: readFileSync(join(findPackage(), name.replace(/[^\w.-]/g, ''))) });
      });
      await browser.page.goto(`${browser.url}/test/browser/blank.html`);
    }
    const ours: Record<string, FixtureFace[]> = {};
    for (const im of images) {
      ours[im.name] = await browser.page.evaluate(async ({ model, file, width, height, data }) => {
        const T = await import('/dist/browser/trans3dhead.js' as string);
        if (typeof T.createDetector !== 'function') throw new Error('the browser bundle does not export createDetector (wire it in src/browser.ts)');
        const w = window as unknown as { detectors?: Record<string, any> };
        w.detectors ??= {};
        w.detectors[model] ??= await T.createDetector({ model, file: `/__detector/${file}` });
        const faces = await w.detectors[model].detect({ data: new Uint8Array(data), width, height, channels: 4 });
        return faces.map((f: Face) => ({ box: [f.box.x, f.box.y, f.box.width, f.box.height], keypoints: Array.from(f.keypoints), score: f.score }));
      }, { model, file: fx.models[model], width: im.width, height: im.height, data: Array.from(im.data) });
    }
    check(model, ours, 'our detector in Chromium');
  });
}

test.run();

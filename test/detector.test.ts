// The BlazeFace detector on our engine: the .tflite reader on the real files and on hostile
// bytes, and the whole GPU graph (letterbox + model) against the TS CPU interpreter of the same
// .tflite (test/reference/tflite.ts) on the real short and full range models.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WeightFileError } from '../src/io/errors.ts';
import { readTflite, type TfliteModel } from '../src/detect/tflite.ts';
import { packTflite } from '../src/detect/tflite-graph.ts';
import { createDetector, MODEL_FILES } from '../src/detect/detector.ts';
import { makeDetector } from '../src/detect/factory.ts';
import type { Platform } from '../src/platform/types.ts';
import { nodePlatform } from '../src/platform/node.ts';
import { runTfliteRef } from './reference/tflite.ts';
import { letterboxRef } from './reference/letterbox.ts';
import { detectImages } from './detect-images.ts';
import { gpu, rng } from './helpers.ts';

/** The package's files (a dependency); TRANS3DHEAD_MEDIAPIPE_DIR overrides where they are. */
function modelPath(file: string): string {
  const dir = process.env.TRANS3DHEAD_MEDIAPIPE_DIR;
  if (dir) return `${dir}/${file}`;
  try {
    return fileURLToPath(import.meta.resolve(`@mediapipe/face_detection/${file}`));
  } catch {
    throw new Error(`${file} not found: npm install (@mediapipe/face_detection is a dependency) or set TRANS3DHEAD_MEDIAPIPE_DIR`);
  }
}
const bytesOf = (model: 'short' | 'full') => new Uint8Array(readFileSync(modelPath(MODEL_FILES[model])));

test('tflite reader: the real short and full range files', () => {
  // The two files the detector loads, and the dense full range file (another model, also supported).
  const expect = [['face_detection_short_range.tflite', 164, 128, 896], ['face_detection_full_range_sparse.tflite', 388, 192, 2304],
    ['face_detection_full_range.tflite', 354, 192, 2304]] as const;
  for (const [file, ops, size, n] of expect) {
    const m = readTflite(new Uint8Array(readFileSync(modelPath(file))), file);
    assert.is(m.operators.length, ops, file);
    assert.equal(m.tensors[m.inputs[0]].shape, [1, size, size, 3]);
    assert.equal(m.outputs.map((i) => m.tensors[i].shape[1]), [n, n]);
    // f16 weights behind DEQUANTIZE (sparse ones behind DENSIFY too); every op is one we translate.
    assert.ok(m.tensors.some((t) => t.type === 'float16'));
    assert.is(m.tensors.some((t) => t.sparsity), file.includes('sparse'));
    packTflite(m);
  }
});

test('tflite reader: foreign and truncated bytes are clear WeightFileErrors, never a crash', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  for (const [bytes, re] of [[png, /not a TensorFlow Lite model/], [new Uint8Array(3), /not a TensorFlow Lite model/],
    [new TextEncoder().encode('{"weights": []}'), /not a TensorFlow Lite model/]] as [Uint8Array, RegExp][]) {
    assert.throws(() => readTflite(bytes, 'x.tflite'), (e: Error) => e instanceof WeightFileError && re.test(e.message) && e.message.startsWith('x.tflite'));
  }
  const full = bytesOf('short');
  // Cut anywhere: the reader must notice (the buffers are at the end, so every cut loses something).
  for (const n of [8, 64, 1000, full.length >> 2, full.length >> 1, full.length - 100, full.length - 1]) {
    assert.throws(() => packTflite(readTflite(full.subarray(0, n), 'cut.tflite')), (e: Error) => e instanceof WeightFileError, `cut at ${n}`);
  }
  // Corrupted bytes in the flatbuffer's tables: parsed or refused, but only ever a WeightFileError.
  const r = rng(5);
  for (let trial = 0; trial < 40; trial++) {
    const b = full.slice();
    for (let k = 0; k < 8; k++) b[8 + Math.floor(r() * 4000)] = Math.floor(r() * 256);
    try { packTflite(readTflite(b, 'flipped.tflite')); } catch (e) {
      if (!(e instanceof WeightFileError)) throw new Error(`trial ${trial}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

test('tflite translation: an operator we do not run is an error naming it', () => {
  const m = readTflite(bytesOf('short'), 'short.tflite');
  const bad: TfliteModel = { ...m, operators: m.operators.map((o, k) => (k === 5 ? { ...o, op: 'TANH', code: 28 } : o)) };
  assert.throws(() => packTflite(bad), (e: Error) => e instanceof WeightFileError && /unsupported operator TANH/.test(e.message) && /operator 5/.test(e.message));
});

// GPU vs CPU interpreter, same letterboxed input. Raw outputs are sums over a 20-40 layer net in
// f32 (different summation order, 1x1 convs over up to 384 channels) against f64 CPU sums:
// measured max |diff| ~5e-5 on outputs up to ~100; bound 1e-3 absolute + 1e-4 relative.
const TOL = { atol: 1e-3, rtol: 1e-4 };

for (const model of ['short', 'full'] as const) {
  test(`detector graph (${model} range) matches the CPU interpreter; raw outputs, faces`, async () => {
    const ctx = await gpu();
    const bytes = bytesOf(model);
    const det = await createDetector(nodePlatform, { model, file: bytes, device: ctx });
    try {
      const img = detectImages().find((i) => i.name === 'single-landscape')!;
      const t0 = performance.now();
      const raw = await det.runRaw({ data: img.data, width: img.width, height: img.height });
      const firstMs = performance.now() - t0;
      const size = det.inputSize;
      const input = letterboxRef(img.data, img.width, img.height, 4, { size, ...raw.letterbox });
      const m = readTflite(bytes, model);
      const ref = runTfliteRef(m, input);
      const [regName, clsName] = m.outputs.map((i) => m.tensors[i]).sort((a, b) => b.shape[2] - a.shape[2]).map((t) => t.name);
      let worst = 0;
      const cmp = (a: Float32Array, e: Float32Array, what: string) => {
        assert.is(a.length, e.length, what);
        for (let i = 0; i < e.length; i++) {
          const err = Math.abs(a[i] - e[i]);
          worst = Math.max(worst, err);
          if (!(err <= TOL.atol + TOL.rtol * Math.abs(e[i]))) assert.unreachable(`${model} ${what}[${i}]: ${a[i]} vs ${e[i]}`);
        }
      };
      cmp(raw.regressors, ref[regName], 'regressors');
      cmp(raw.scores, ref[clsName], 'scores');
      const faces = await det.detect({ data: img.data, width: img.width, height: img.height });
      assert.is(faces.length, 1, `${model}: one face on single-landscape`);
      console.log(`  ${model}: max |gpu - cpu| ${worst.toExponential(2)}; first run ${firstMs.toFixed(0)} ms; face ${JSON.stringify(faces[0].box)} score ${faces[0].score.toFixed(3)}`);
    } finally {
      await det.dispose();
    }
  });
}

// Parity with MediaPipe's own runtime (its WASM solution in Chromium, saved by postproc's
// scripts/make-detect-fixtures.ts in test/fixtures/detect/mediapipe.json) on the astronaut
// composites: the bounds, same number of faces, boxes and keypoints within 1% of the box
// size, scores within 0.02 (measured: 0.05% and 4e-4, on lavapipe and SwiftShader).
test('detector: same faces as MediaPipe\'s runtime on every test image, both models', async () => {
  const fx = JSON.parse(readFileSync(new URL('./fixtures/detect/mediapipe.json', import.meta.url), 'utf8'));
  const ctx = await gpu();
  // The fixture's 'full-sparse' run is MediaPipe's solution as shipped, on the sparse full-range
  // file our 'full' loads by default ('full' there is its graph on the dense file).
  for (const [model, run] of [['short', 'short'], ['full', 'full-sparse']] as const) {
    assert.is(fx.models[run], MODEL_FILES[model], 'the fixture was made with the file the detector loads');
    const det = await createDetector(nodePlatform, { model, file: bytesOf(model), device: ctx });
    try {
      let worst = 0, worstScore = 0;
      for (const img of detectImages()) {
        const faces = await det.detect({ data: img.data, width: img.width, height: img.height });
        const want: { box: number[]; keypoints: number[]; score: number }[] = fx.detections[run][img.name];
        assert.is(faces.length, want.length, `${model} ${img.name}: number of faces`);
        faces.forEach((f, i) => {
          const w = want[i], size = w.box[2];
          const got = [f.box.x, f.box.y, f.box.width, f.box.height, ...f.keypoints];
          [...w.box, ...w.keypoints].forEach((v, k) => { worst = Math.max(worst, Math.abs(got[k] - v) / size); });
          worstScore = Math.max(worstScore, Math.abs(f.score - w.score));
        });
      }
      console.log(`  ${model}: worst box/keypoint difference ${(worst * 100).toFixed(3)}% of the box, score ${worstScore.toFixed(4)}`);
      assert.ok(worst <= 0.01, `${model}: ${worst}`);
      assert.ok(worstScore <= 0.02, `${model}: score ${worstScore}`);
    } finally {
      await det.dispose();
    }
  }
});

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

async function message(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return (e as Error).message; }
  return assert.unreachable('expected an error') as never;
}

test('detector: bad options and inputs are clear errors', async () => {
  const ctx = await gpu();
  await rejects(createDetector(nodePlatform, { model: 'medium' as 'short', device: ctx }), /use 'short' or 'full'/);
  await rejects(createDetector(nodePlatform, { file: new Uint8Array(100), device: ctx }), /not a TensorFlow Lite model/);
  // The full range file passed as the short range model.
  await rejects(createDetector(nodePlatform, { model: 'short', file: bytesOf('full'), device: ctx }), /not the short range BlazeFace model/);
  const det = await createDetector(nodePlatform, { file: bytesOf('short'), device: ctx });
  try {
    await rejects(det.detect({ data: new Uint8Array(10), width: 4, height: 4 }), /image data has 10 values/);
  } finally { await det.dispose(); }
});

test('detector: the missing- and wrong-file hints name the options of the API the caller used', async () => {
  const ctx = await gpu();
  // A browser has no package to fall back on: the file must be passed.
  const browser: Platform = { ...nodePlatform, name: 'browser' };
  const own = await message(createDetector(browser, { device: ctx }));
  assert.match(own, /pass the face detector file: \{ file: URL of face_detection_short_range\.tflite \}/);
  // createModel makes its detector through makeDetector: its option is detectorFile.
  const viaModel = await message(makeDetector('full', browser, ctx));
  assert.match(viaModel, /pass the face detector file: \{ detectorFile: URL of face_detection_full_range_sparse\.tflite \}/);
  // The full range file for the short range model.
  const wrong = await message(createDetector(nodePlatform, { model: 'short', file: bytesOf('full'), device: ctx }));
  assert.match(wrong, /pass \{ model: 'full' \} to use this file, or \{ file: <face_detection_short_range\.tflite> \} for the short range model/);
  const wrongViaModel = await message(makeDetector('short', nodePlatform, ctx, bytesOf('full')));
  assert.match(wrongViaModel, /pass \{ detector: 'full' \} to use this file, or \{ detectorFile: <face_detection_short_range\.tflite> \}/);
});

test.run();

// BlazeFace post-processing (src/detect/postprocess.ts) on hand-made tensors: MediaPipe's anchor
// layout, decoding, weighted NMS, the letterbox undone on non-square images, and no face -> [].
// Pure CPU: no adapter needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLAZEFACE, NUM_COORDS, anchorsFor, decodeDetections, decodeFaces, iou, weightedNms, type FaceModel, type RelativeDetection } from '../src/detect/postprocess.ts';
import { letterbox } from '../src/detect/letterbox.ts';

const near = (a: number, b: number, tol: number, label: string) => assert.ok(Math.abs(a - b) <= tol, `${label}: got ${a}, expected ${b} (tol ${tol})`);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Empty raw outputs: every logit far below any threshold. */
function blank(model: FaceModel) {
  const n = BLAZEFACE[model].numBoxes;
  return { regressors: new Float32Array(n * NUM_COORDS), scores: new Float32Array(n).fill(-20) };
}

/**
 * Writes anchor i's raw outputs so that it decodes to the given tensor-relative box centre/size and
 * keypoints: the inverse of MediaPipe's decoding (regressor = (value - anchor) * scale / anchorSize).
 */
function plant(raw: ReturnType<typeof blank>, model: FaceModel, i: number, logit: number, cx: number, cy: number, w: number, h: number, kps: number[]) {
  const s = BLAZEFACE[model].coordScale;
  const a = anchorsFor(model);
  const r = raw.regressors;
  const o = i * NUM_COORDS;
  r[o] = (cx - a[i * 4]) * s; r[o + 1] = (cy - a[i * 4 + 1]) * s; r[o + 2] = w * s; r[o + 3] = h * s;
  for (let k = 0; k < 6; k++) { r[o + 4 + 2 * k] = (kps[2 * k] - a[i * 4]) * s; r[o + 5 + 2 * k] = (kps[2 * k + 1] - a[i * 4 + 1]) * s; }
  raw.scores[i] = logit;
}

const KPS = [0.4, 0.45, 0.6, 0.45, 0.5, 0.55, 0.5, 0.65, 0.3, 0.5, 0.7, 0.5];

test('anchors: short range 896 (16x16x2 then 8x8x6), full range 2304 (48x48x1), MediaPipe order', () => {
  const s = anchorsFor('short');
  assert.is(s.length / 4, 896);
  // First feature map: stride 8 -> 16x16, two anchors per cell (aspect 1 and the interpolated scale).
  assert.equal(Array.from(s.slice(0, 8)), [0.5 / 16, 0.5 / 16, 1, 1, 0.5 / 16, 0.5 / 16, 1, 1]);
  near(s[2 * 4], 1.5 / 16, 1e-7, 'third anchor x (second cell)');
  near(s[32 * 4 + 1], 1.5 / 16, 1e-7, 'anchor 32 y (second row)');
  // The three stride-16 layers share one 8x8 map: 6 anchors per cell, starting at 512.
  for (let k = 0; k < 6; k++) { near(s[(512 + k) * 4], 0.5 / 8, 1e-7, `anchor ${512 + k} x`); near(s[(512 + k) * 4 + 1], 0.5 / 8, 1e-7, 'y'); }
  near(s[518 * 4], 1.5 / 8, 1e-7, 'anchor 518 x (next cell)');
  near(s[895 * 4], 7.5 / 8, 1e-7, 'last x'); near(s[895 * 4 + 1], 7.5 / 8, 1e-7, 'last y');
  const f = anchorsFor('full');
  assert.is(f.length / 4, 2304);
  near(f[0], 0.5 / 48, 1e-7, 'full first x'); near(f[4], 1.5 / 48, 1e-7, 'full second x (one anchor per cell)');
  near(f[48 * 4 + 1], 1.5 / 48, 1e-7, 'full anchor 48 y'); near(f[2303 * 4], 47.5 / 48, 1e-7, 'full last x');
  for (let i = 0; i < f.length; i += 4) assert.ok(f[i + 2] === 1 && f[i + 3] === 1, 'fixed anchor size');
});

test('decoding: a hand-made raw tensor gives the box, the 6 keypoints and the sigmoid score', () => {
  const raw = blank('short');
  const i = 600; // an 8x8-map anchor
  const a = anchorsFor('short');
  const r = raw.regressors, o = i * NUM_COORDS;
  r[o] = 6.4; r[o + 1] = -12.8; r[o + 2] = 32; r[o + 3] = 38.4; // x, y, w, h in tensor pixels (reverse_output_order)
  for (let k = 0; k < 12; k++) r[o + 4 + k] = k - 6;
  raw.scores[i] = 1.5;
  const dets = decodeDetections(raw.regressors, raw.scores, 'short', 0.5);
  assert.is(dets.length, 1);
  const d = dets[0];
  const cx = a[i * 4] + 6.4 / 128, cy = a[i * 4 + 1] - 12.8 / 128;
  near(d.xmin, cx - 0.125, 1e-6, 'xmin'); near(d.ymin, cy - 0.15, 1e-6, 'ymin');
  near(d.width, 0.25, 1e-6, 'width'); near(d.height, 0.3, 1e-6, 'height');
  for (let k = 0; k < 6; k++) {
    near(d.keypoints[2 * k], a[i * 4] + (2 * k - 6) / 128, 1e-6, `keypoint ${k} x`);
    near(d.keypoints[2 * k + 1], a[i * 4 + 1] + (2 * k - 5) / 128, 1e-6, `keypoint ${k} y`);
  }
  near(d.score, sigmoid(1.5), 1e-7, 'score');
});

test('decoding: threshold is >= min score, logits clipped at +-100, negative sizes dropped', () => {
  const raw = blank('short');
  raw.scores[10] = 0; // sigmoid 0.5 exactly: kept at 0.5
  raw.scores[11] = 1e6; // clipped to 100: score 1, not NaN
  raw.scores[12] = 3; raw.regressors[12 * NUM_COORDS + 2] = -5; // negative width: dropped
  raw.scores[13] = -0.01; // just under 0.5
  const dets = decodeDetections(raw.regressors, raw.scores, 'short', 0.5);
  assert.equal(dets.map((d) => d.score), [0.5, 1]);
  assert.is(decodeDetections(raw.regressors, raw.scores, 'short', 0.6).length, 1);
});

const det = (xmin: number, ymin: number, width: number, height: number, score: number, kp = 0): RelativeDetection =>
  ({ xmin, ymin, width, height, score, keypoints: new Float32Array(12).fill(kp) });

test('weighted NMS: overlapping boxes merge into the score-weighted mean, keeping the best score', () => {
  const a = det(0.1, 0.1, 0.4, 0.4, 0.9, 0.2);
  const b = det(0.15, 0.12, 0.4, 0.42, 0.6, 0.5);
  assert.ok(iou(a, b) > 0.3);
  const out = weightedNms([b, a], 0.3);
  assert.is(out.length, 1);
  const wmean = (x: number, y: number) => (x * 0.9 + y * 0.6) / 1.5;
  near(out[0].xmin, wmean(0.1, 0.15), 1e-7, 'xmin');
  near(out[0].ymin, wmean(0.1, 0.12), 1e-7, 'ymin');
  near(out[0].xmin + out[0].width, wmean(0.5, 0.55), 1e-7, 'xmax');
  near(out[0].ymin + out[0].height, wmean(0.5, 0.54), 1e-7, 'ymax');
  near(out[0].keypoints[7], wmean(0.2, 0.5), 1e-7, 'keypoint');
  assert.is(out[0].score, 0.9);
});

test('weighted NMS: IoU <= 0.3 keeps both; clusters form around the best remaining box; sorted by score', () => {
  // IoU of two 0.4-wide squares offset by dx: (0.4 - dx) * 0.4 / (0.32 - (0.4 - dx) * 0.4).
  const a = det(0.0, 0.0, 0.4, 0.4, 0.7);
  const far = det(0.25, 0.0, 0.4, 0.4, 0.8); // IoU 0.06/0.26 = 0.23
  assert.ok(iou(a, far) < 0.3);
  assert.equal(weightedNms([a, far], 0.3).map((d) => d.score), [0.8, 0.7]);
  assert.equal(weightedNms([a, far], 0.2).map((d) => d.score), [0.8], 'merged under a lower threshold');
  // A chain: B overlaps A and D, A and D do not overlap. Clusters form around the best remaining
  // box only: A takes B, and D stays alone although it overlaps B.
  const A = det(0.0, 0.0, 0.4, 0.4, 0.9), B = det(0.1, 0.0, 0.4, 0.4, 0.8), D = det(0.3, 0.0, 0.4, 0.4, 0.7);
  assert.ok(iou(A, D) < 0.3 && iou(B, D) > 0.3);
  const out = weightedNms([D, B, A], 0.3);
  assert.equal(out.map((d) => d.score), [0.9, 0.7]);
  near(out[1].xmin, 0.3, 1e-7, 'D alone keeps its box');
  // Disjoint boxes: IoU 0.
  assert.is(iou(det(0, 0, 0.1, 0.1, 1), det(0.5, 0.5, 0.1, 0.1, 1)), 0);
  assert.equal(weightedNms([], 0.3), []);
});

test('letterbox round trip: faces planted in image pixels come back in image pixels (non-square, both models)', () => {
  for (const model of ['short', 'full'] as const) {
    const size = BLAZEFACE[model].inputSize;
    for (const [W, H] of [[640, 360], [300, 900], [128, 128], [1000, 999]]) {
      const lb = letterbox(W, H, size);
      // Faces in image pixels (box x, y, w, h) -> tensor-relative, planted on an anchor near them.
      const want = [[0.1 * W, 0.2 * H, 0.25 * Math.min(W, H), 0.3 * Math.min(W, H)], [0.6 * W, 0.5 * H, 0.2 * Math.min(W, H), 0.2 * Math.min(W, H)]];
      const raw = blank(model);
      const anchors = anchorsFor(model);
      const toRel = (x: number, y: number) => [(x * lb.scale + lb.padX) / size, (y * lb.scale + lb.padY) / size];
      want.forEach(([x, y, w, h], f) => {
        const [cx, cy] = toRel(x + w / 2, y + h / 2);
        let best = 0;
        for (let i = 0; i < anchors.length / 4; i++) if (Math.hypot(anchors[i * 4] - cx, anchors[i * 4 + 1] - cy) < Math.hypot(anchors[best * 4] - cx, anchors[best * 4 + 1] - cy)) best = i;
        const kps = KPS.flatMap((v, k) => k % 2 ? [] : toRel(x + KPS[k] * w, y + KPS[k + 1] * h));
        plant(raw, model, best, 2 - f, cx, cy, w * lb.scale / size, h * lb.scale / size, kps);
      });
      const faces = decodeFaces(raw, { model, imageWidth: W, imageHeight: H });
      assert.is(faces.length, 2, `${model} ${W}x${H}`);
      faces.forEach((face, f) => {
        const [x, y, w, h] = want[f];
        const tol = 1e-3 * Math.max(W, H);
        near(face.box.x, x, tol, `${model} ${W}x${H} face ${f} x`); near(face.box.y, y, tol, 'y');
        near(face.box.width, w, tol, 'width'); near(face.box.height, h, tol, 'height');
        for (let k = 0; k < 6; k++) {
          near(face.keypoints[2 * k], x + KPS[2 * k] * w, tol, `keypoint ${k} x`);
          near(face.keypoints[2 * k + 1], y + KPS[2 * k + 1] * h, tol, `keypoint ${k} y`);
        }
        near(face.score, sigmoid(2 - f), 1e-6, 'score');
      });
    }
  }
});

test('letterbox: scale and centred padding', () => {
  assert.equal(letterbox(256, 128, 128), { scale: 0.5, padX: 0, padY: 32 });
  assert.equal(letterbox(100, 400, 192), { scale: 0.48, padX: 72, padY: 0 });
  assert.throws(() => letterbox(0, 10, 128), /positive/);
});

test('no face: no detection gives [], not an error', () => {
  for (const model of ['short', 'full'] as const) {
    assert.equal(decodeFaces(blank(model), { model, imageWidth: 640, imageHeight: 480 }), []);
    // Scores under the model's own threshold (0.5 short, 0.6 full) are not faces either.
    const raw = blank(model);
    raw.scores.fill(model === 'short' ? -0.01 : 0.4);
    raw.regressors.fill(10);
    assert.equal(decodeFaces(raw, { model, imageWidth: 64, imageHeight: 48 }), []);
  }
});

test('bad input: wrong tensor sizes, unknown model, bad minScore -> clear errors', () => {
  const raw = blank('short');
  assert.throws(() => decodeFaces(raw, { model: 'full', imageWidth: 10, imageHeight: 10 }), /expected 36864 and 2304.*full range model/);
  assert.throws(() => decodeFaces(raw, { model: 'long' as FaceModel, imageWidth: 10, imageHeight: 10 }), /unknown face detector model "long"/);
  assert.throws(() => decodeFaces(raw, { model: 'short', imageWidth: 10, imageHeight: 10, minScore: 2 }), /minScore must be in 0..1/);
});

test.run();

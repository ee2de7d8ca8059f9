// The head-box rule (src/detect/headbox.ts) on hand-made faces, and the one-euro filter
// (src/detect/smoothing.ts). Pure TS, no GPU.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clampBox, faceFrame, headBox, headBoxFromLandmarks, headBoxOfFrame, HEAD_RULE, landmarkFrame, rollFromEyes } from '../src/detect/headbox.ts';
import { OneEuroFilter } from '../src/detect/smoothing.ts';
import type { Face } from '../src/detect/types.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

/** An upright face of size s centred at (cx, cy), rolled by `deg` about its centre. */
function face(cx: number, cy: number, s: number, deg = 0): Face {
  const r = (deg * Math.PI) / 180, c = Math.cos(r), si = Math.sin(r);
  // Keypoints of an upright face, relative to the box centre (subject's right eye on the image's left).
  const rel = [[-0.2, -0.1], [0.2, -0.1], [0, 0.05], [0, 0.25], [-0.45, 0], [0.45, 0]];
  const kp = new Float32Array(12);
  rel.forEach(([u, v], i) => { kp[2 * i] = cx + s * (c * u - si * v); kp[2 * i + 1] = cy + s * (si * u + c * v); });
  return { box: { x: cx - s / 2, y: cy - s / 2, width: s, height: s }, keypoints: kp, score: 0.9 };
}

test('roll from the eye line: 0 upright, +-90 and 180 when turned', () => {
  close(rollFromEyes([0, 0], [1, 0]), 0, 1e-12, 'upright');
  close(rollFromEyes([0, 0], [0, 1]), Math.PI / 2, 1e-12, 'clockwise 90');
  close(rollFromEyes([0, 0], [0, -1]), -Math.PI / 2, 1e-12, 'counter-clockwise 90');
  close(Math.abs(rollFromEyes([1, 0], [0, 0])), Math.PI, 1e-12, 'upside down');
  for (const deg of [0, 30, 45, 90, -45]) close(faceFrame(face(100, 100, 50, deg)).roll, (deg * Math.PI) / 180, 1e-6, `face rolled ${deg}`);
});

test('upright: the head ellipse plus the 10 % margin, centred above the face box', () => {
  const s = 100, b = headBox(face(500, 500, s), 1000, 1000)!;
  const m = 1 + 2 * HEAD_RULE.margin;
  // width 1.4 s x 1.2 = 168, height 1.5 s x 1.2 = 180, centre 30 px above the face's (rounded outwards).
  close(b.width, HEAD_RULE.width * s * m, 1.01, 'width');
  close(b.height, HEAD_RULE.height * s * m, 1.01, 'height');
  close(b.x + b.width / 2, 500, 0.51, 'centre x');
  close(b.y + b.height / 2, 500 - HEAD_RULE.up * s, 0.51, 'centre y');
  // It contains the face box, the chin (box bottom) and a skull above the box.
  assert.ok(b.y < 450 - 0.3 * s && b.y + b.height > 550 && b.x < 450 && b.x + b.width > 550, JSON.stringify(b));
  // Integer pixels.
  for (const v of [b.x, b.y, b.width, b.height]) assert.ok(Number.isInteger(v));
});

test('rolled 90 degrees: the box turns with the head (wide, centre moves to the head top side)', () => {
  const s = 100;
  // Rolled +90: the face's up axis points to image +x.
  const f = headBoxOfFrame(faceFrame(face(500, 500, s, 90)));
  const m = 1 + 2 * HEAD_RULE.margin;
  close(f.width, HEAD_RULE.height * s * m, 1e-3, 'width = head height');
  close(f.height, HEAD_RULE.width * s * m, 1e-3, 'height = head width');
  close(f.x + f.width / 2, 500 + HEAD_RULE.up * s, 1e-3, 'centre shifted to +x');
  close(f.y + f.height / 2, 500, 1e-3, 'centre y');
  const g = headBoxOfFrame(faceFrame(face(500, 500, s, -90)));
  close(g.x + g.width / 2, 500 - HEAD_RULE.up * s, 1e-3, '-90: centre shifted to -x');
});

test('rolled 45 degrees: the axis-aligned box covers the rolled head ellipse', () => {
  const s = 100, f = faceFrame(face(500, 500, s, 45)), b = headBoxOfFrame(f);
  const m = 1 + 2 * HEAD_RULE.margin;
  const half = (Math.hypot(HEAD_RULE.width, HEAD_RULE.height) / Math.SQRT2) * (s / 2) * m;
  close(b.width / 2, half, 1e-3, 'half width'); close(b.height / 2, half, 1e-3, 'half height');
  // Every point of the rotated ellipse lies inside the box, and the box touches it (tight).
  const c = Math.cos(f.roll), si = Math.sin(f.roll);
  const cx = f.cx + si * HEAD_RULE.up * s, cy = f.cy - c * HEAD_RULE.up * s;
  let maxX = -Infinity;
  for (let k = 0; k < 3600; k++) {
    const t = (k / 3600) * 2 * Math.PI;
    const u = (HEAD_RULE.width * s / 2) * Math.cos(t), v = (HEAD_RULE.height * s / 2) * Math.sin(t);
    const x = cx + c * u - si * v, y = cy + si * u + c * v;
    assert.ok(x >= b.x && x <= b.x + b.width && y >= b.y && y <= b.y + b.height, `ellipse point ${x},${y} outside`);
    maxX = Math.max(maxX, x);
  }
  close((maxX - cx) * m, b.x + b.width - cx, 0.05, 'tight');
  // It is larger than the upright box's width (the head turned) and smaller than its height.
  const up = headBoxOfFrame(faceFrame(face(500, 500, s)));
  assert.ok(b.width > up.width && b.height < up.height);
});

test('a rolled face whose box shrank: the size comes from the eye-to-mouth distance', () => {
  // BlazeFace's box of a face rolled 45 degrees is smaller than upright (measured 81 vs 104 px on
  // the sample photo); the keypoints keep their distances.
  const f = face(200, 200, 100, 45);
  const em = Math.hypot((f.keypoints[0] + f.keypoints[2]) / 2 - f.keypoints[6], (f.keypoints[1] + f.keypoints[3]) / 2 - f.keypoints[7]);
  close(faceFrame(f).size, 100, 1e-3, 'the box dominates when it is the larger');
  const shrunk = { ...f, box: { x: 165, y: 165, width: 70, height: 70 } };
  close(faceFrame(shrunk).size, HEAD_RULE.eyeMouth * em, 1e-3, 'size from the keypoints');
  assert.ok(HEAD_RULE.eyeMouth * em > 70);
});

test('a face cut by the border: the box is clamped to the image (DAD-3DHeads crops what it sees)', () => {
  const b = headBox(face(10, 480, 100), 640, 480)!;
  assert.equal([b.x, b.y], [0, b.y]);
  assert.is(b.x, 0);
  assert.is(b.y + b.height, 480);
  assert.ok(b.width < 100 && b.width > 50, `width ${b.width}`);
  // Entirely outside (or a sliver under 2 px): no box.
  assert.is(headBox(face(-200, 100, 100), 640, 480), null);
  assert.is(clampBox({ x: 639, y: 0, width: 50, height: 50 }, 640, 480), null);
  assert.equal(clampBox({ x: 0.5, y: 0.5, width: 9, height: 9 }, 640, 480), { x: 0, y: 0, width: 10, height: 10 });
});

test('from 68 landmarks: roll from the eyes, centre and size from their extent; NaN gives no box', () => {
  // A 68-point face: jaw 0-16 across, brows 17-26, nose, eyes 36-41 (image left) and 42-47, mouth.
  const up = new Float32Array(136);
  for (let i = 0; i < 68; i++) {
    let u = 0, v = 0;
    if (i < 17) { const t = (i / 16) * Math.PI; u = -0.5 * Math.cos(t); v = 0.5 * Math.sin(t); }
    else if (i < 27) { u = -0.4 + ((i - 17) / 9) * 0.8; v = -0.5; }
    else if (i < 36) { u = 0; v = -0.3 + ((i - 27) / 8) * 0.4; }
    else if (i < 42) { u = -0.2 + 0.05 * Math.cos(i); v = -0.25; }
    else if (i < 48) { u = 0.2 + 0.05 * Math.cos(i); v = -0.25; }
    else { u = 0.15 * Math.cos(i); v = 0.3; }
    up[2 * i] = u * HEAD_RULE.landmarksWidth; up[2 * i + 1] = v * HEAD_RULE.landmarksHeight; // a face of size 1
  }
  const place = (cx: number, cy: number, s: number, deg: number) => {
    const r = (deg * Math.PI) / 180, out = new Float32Array(136);
    for (let i = 0; i < 68; i++) {
      const u = up[2 * i] * s, v = up[2 * i + 1] * s;
      out[2 * i] = cx + Math.cos(r) * u - Math.sin(r) * v; out[2 * i + 1] = cy + Math.sin(r) * u + Math.cos(r) * v;
    }
    return out;
  };
  const f0 = landmarkFrame(place(300, 200, 100, 0))!;
  close(f0.roll, 0, 1e-6, 'roll'); close(f0.size, 100, 1e-3, 'size'); close(f0.cx, 300, 1e-3, 'cx'); close(f0.cy, 200, 1e-3, 'cy');
  const f1 = landmarkFrame(place(300, 200, 100, 30))!;
  close(f1.roll, Math.PI / 6, 1e-5, 'roll 30'); close(f1.size, 100, 1e-3, 'size 30'); close(f1.cx, 300, 1e-3, 'cx 30'); close(f1.cy, 200, 1e-3, 'cy 30');
  const b = headBoxFromLandmarks(place(300, 200, 100, 0), 640, 480)!;
  close(b.width, HEAD_RULE.width * 100 * 1.2, 1.01, 'box width');
  const bad: Float32Array = place(300, 200, 100, 0); bad[7] = NaN;
  assert.is(headBoxFromLandmarks(bad, 640, 480), null);
  assert.is(headBoxFromLandmarks(new Float32Array(10), 640, 480), null);
});

test('one-euro filter: passes the first value, smooths jitter, follows fast moves, resets on NaN, refuses old timestamps', () => {
  const f = new OneEuroFilter({ minCutoff: 1, beta: 0 });
  assert.equal([...f.filter([10, 20], 0)], [10, 20]);
  // Still signal with +-1 jitter at 30 fps: the output stays well inside the jitter.
  let maxDev = 0;
  for (let i = 1; i < 60; i++) {
    const v = f.filter([10 + (i % 2 ? 1 : -1), 20], (i * 1000) / 30);
    if (i > 10) maxDev = Math.max(maxDev, Math.abs(v[0] - 10));
  }
  assert.ok(maxDev < 0.3, `jitter through: ${maxDev}`);
  // With beta > 0 a fast ramp lags less than with beta = 0.
  const lag = (beta: number) => {
    const g = new OneEuroFilter({ minCutoff: 1, beta });
    let v: Float32Array = new Float32Array(1);
    for (let i = 0; i <= 30; i++) v = g.filter([i * 10], (i * 1000) / 30);
    return 300 - v[0];
  };
  assert.ok(lag(0.05) < lag(0) / 2, `lag beta 0.05 ${lag(0.05)} vs beta 0 ${lag(0)}`);
  assert.ok(lag(0) > 0);
  // NaN passes through and resets: the next finite value is taken as is.
  const h = new OneEuroFilter();
  h.filter([1], 0); h.filter([2], 33);
  assert.ok(Number.isNaN(h.filter([NaN], 66)[0]));
  assert.equal([...h.filter([5], 99)], [5]);
  assert.throws(() => h.filter([5], 99), /not after the previous one/);
  assert.throws(() => new OneEuroFilter({ minCutoff: 0 }), /minCutoff/);
  assert.throws(() => new OneEuroFilter({ beta: -1 }), /beta/);
});

test.run();

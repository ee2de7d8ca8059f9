// Several heads per image and video (issue 15): detect/run without a box on a fake detector (0, 1,
// 3, 4 heads, maxHeads, ordering, one batched run equal to single runs), runVideo's tracking,
// re-detection and timestamp rules (with a fake network where the landmarks must be controlled),
// bad options. The small model (test/fixtures/small) on the unit group's adapter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodePlatform } from '../src/platform/node.ts';
import { Trans3DHead, nextTrack, type HeadResult } from '../src/model/trans3dhead.ts';
import { InputError } from '../src/model/image.ts';
import { headBox, HEAD_RULE } from '../src/detect/headbox.ts';
import type { Box } from '../src/kernels/preprocess.ts';
import type { Face, FaceDetector } from '../src/detect/types.ts';
import type { Pixels } from '../src/model/image.ts';
import { config } from './model-helpers.ts';
import { gpu, rng } from './helpers.ts';

const DIR = 'test/fixtures/small';
const W = 320, H = 240;
const IMAGE = (() => {
  const r = rng(7), data = new Uint8Array(W * H * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i & 3) === 3 ? 255 : Math.floor(r() * 256);
  return { data, width: W, height: H };
})();

/** An upright face of size s centred at (cx, cy): box and MediaPipe's 6 keypoints. */
function face(cx: number, cy: number, s: number, score = 0.9): Face {
  const rel = [[-0.2, -0.1], [0.2, -0.1], [0, 0.05], [0, 0.25], [-0.45, 0], [0.45, 0]];
  return { box: { x: cx - s / 2, y: cy - s / 2, width: s, height: s }, keypoints: Float32Array.from(rel.flatMap(([u, v]) => [cx + s * u, cy + s * v])), score };
}

/** A detector that returns `faces` (changeable), counting its calls. */
class FakeDetector implements FaceDetector {
  calls = 0;
  disposed = false;
  constructor(public faces: Face[]) {}
  async detect(): Promise<Face[]> { this.calls++; return this.faces.map((f) => ({ ...f })); }
  async dispose(): Promise<void> { this.disposed = true; }
}

const create = async (detector: Face[] | FaceDetector | false | 'short' | 'full' | 'tiny') => Trans3DHead.create(nodePlatform, {
  weights: `${DIR}/model.pth`, config: config(DIR), device: await gpu(), warmUp: false,
  detector: Array.isArray(detector) ? new FakeDetector(detector) : (detector as FaceDetector),
});

let model: Trans3DHead;
let det: FakeDetector;
test.before(async () => {
  await gpu();
  det = new FakeDetector([]);
  model = await Trans3DHead.create(nodePlatform, { weights: `${DIR}/model.pth`, config: config(DIR), device: await gpu(), warmUp: false, detector: det });
});
test.after(async () => { await model.dispose(); });

/** Counts Trans3DHead graph runs and their batch sizes (runOn is where a batch goes to the GPU). */
function spyRuns(m: Trans3DHead): { batches: number[]; restore(): void } {
  const o = m as unknown as { runOn: (...a: unknown[]) => Promise<unknown> };
  const orig = o.runOn;
  const batches: number[] = [];
  o.runOn = function (this: unknown, ...a: unknown[]) { batches.push((a[1] as unknown[]).length); return orig.apply(this, a); };
  return { batches, restore: () => { o.runOn = orig; } };
}

test('no face: detect and run give empty lists, nothing runs', async () => {
  det.faces = [];
  assert.equal(await model.detect(IMAGE), []);
  const spy = spyRuns(model);
  try { assert.equal(await model.run(IMAGE), []); } finally { spy.restore(); }
  assert.equal(spy.batches, []);
});

test('one face: one head, its crop the head-box rule, the detection attached', async () => {
  det.faces = [face(160, 130, 60)];
  const faces = await model.detect(IMAGE);
  assert.is(faces.length, 1);
  const [r] = await model.run(IMAGE);
  assert.equal(r.crop.box, headBox(det.faces[0], W, H));
  assert.is(r.face!.score, 0.9);
  // The same as asking for that box.
  const single = await model.run(IMAGE, { box: r.crop.box });
  assert.equal(Array.from(single.landmarks), Array.from(r.landmarks));
});

test('four faces: one batched run of 4, largest first, each equal to its single run; maxHeads keeps the largest', async () => {
  det.faces = [face(60, 60, 30, 0.99), face(250, 80, 70, 0.6), face(80, 180, 50, 0.8), face(230, 190, 40, 0.7)];
  const spy = spyRuns(model);
  let all: HeadResult[];
  try { all = await model.run(IMAGE); } finally { spy.restore(); }
  assert.equal(spy.batches, [4], 'one run, batch 4');
  assert.equal(all.map((r) => r.face!.box.width), [70, 50, 40, 30], 'ordered by size');
  for (const r of all) {
    const single = await model.run(IMAGE, { box: r.crop.box });
    assert.equal(Array.from(single.params), Array.from(r.params), 'batched == single');
  }
  const two = await model.run(IMAGE, { maxHeads: 2 });
  assert.equal(two.map((r) => r.face!.box.width), [70, 50]);
  // Three heads: batch rounded up to 4 (a graph reused), three results.
  det.faces = det.faces.slice(0, 3);
  const spy3 = spyRuns(model);
  try { assert.is((await model.run(IMAGE)).length, 3); } finally { spy3.restore(); }
  assert.equal(spy3.batches, [4]);
});

test('nine faces: runs of 8 and 1 (batches of at most 8), nine results largest first, each drawable', async () => {
  det.faces = Array.from({ length: 9 }, (_, i) => face(30 + (i % 5) * 65, 60 + Math.floor(i / 5) * 120, 20 + i));
  const spy = spyRuns(model);
  let all: HeadResult[];
  try { all = await model.run(IMAGE); } finally { spy.restore(); }
  assert.equal(spy.batches, [8, 1]);
  assert.equal(all.map((r) => r.face!.box.width), [28, 27, 26, 25, 24, 23, 22, 21, 20]);
  // Both graphs' buffers still hold their outputs: every head can be drawn.
  assert.equal(all.map((r) => model.renderSource(r)?.batch), [0, 1, 2, 3, 4, 5, 6, 7, 0]);
});

test('bad options: maxHeads, maxHeads with a box, a face outside the image', async () => {
  det.faces = [face(160, 120, 60)];
  for (const maxHeads of [0, -1, 1.5, NaN]) {
    try { await model.run(IMAGE, { maxHeads }); assert.unreachable(`maxHeads ${maxHeads}`); } catch (e) { assert.instance(e, InputError); assert.match((e as Error).message, /maxHeads/); }
  }
  try { await model.run(IMAGE, { box: 'image', maxHeads: 1 } as never); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /either a box or maxHeads/); }
  det.faces = [face(-500, 100, 60)];
  assert.equal(await model.run(IMAGE), [], 'a face entirely outside gives no head');
});

test('detector choices: false needs a box, unknown is an InputError, the caller\'s detector is not disposed', async () => {
  const none = await create(false);
  try {
    try { await none.run(IMAGE); assert.unreachable(); } catch (e) { assert.instance(e, InputError); assert.match((e as Error).message, /detector: false: pass a head box/); }
    assert.is((await none.run(IMAGE, { box: 'image' })).landmarks.length, 136);
  } finally { await none.dispose(); }
  try { await create('tiny'); assert.unreachable(); } catch (e) { assert.instance(e, InputError); assert.match((e as Error).message, /detector "tiny": expected 'short', 'full'/); }
  // The user's detector is theirs: dispose() leaves it alone.
  const mine = new FakeDetector([]);
  const m = await create(mine);
  await m.dispose();
  assert.not.ok(mine.disposed);
});

// ---- runVideo: a fake network whose landmarks sit on the true face when it is inside the crop.

/** 68 landmarks of an upright face of size s at (cx, cy) (extent 0.9 s x 0.65 s), iBUG layout. */
function landmarks68(cx: number, cy: number, s: number): Float32Array {
  const out = new Float32Array(136);
  for (let i = 0; i < 68; i++) {
    let u = 0, v = 0;
    if (i < 17) { const t = (i / 16) * Math.PI; u = -0.5 * Math.cos(t); v = 0.5 * Math.sin(t); }
    else if (i < 27) { u = -0.4 + ((i - 17) / 9) * 0.8; v = -0.5; }
    else if (i < 36) { v = -0.3 + ((i - 27) / 8) * 0.4; }
    else if (i < 48) { u = i < 42 ? -0.2 : 0.2; v = -0.25; }
    else { u = 0.15 * Math.cos(i); v = 0.3; }
    out[2 * i] = cx + s * u * HEAD_RULE.landmarksWidth; out[2 * i + 1] = cy + s * v * HEAD_RULE.landmarksHeight;
  }
  return out;
}

function fakeNetwork(m: Trans3DHead, truth: () => { cx: number; cy: number; s: number }[]) {
  const runs: Box[][] = [];
  (m as unknown as { runHeads: (p: Pixels, boxes: Box[]) => Promise<HeadResult[]> }).runHeads = async (_p, boxes) => {
    runs.push(boxes);
    return boxes.map((b) => {
      const f = truth().find((t) => t.cx > b.x && t.cx < b.x + b.width && t.cy > b.y && t.cy < b.y + b.height);
      const landmarks = f ? landmarks68(f.cx, f.cy, f.s) : new Float32Array(136).fill(NaN);
      return { landmarks, projectedVertices: landmarks.slice(), crop: { box: b } } as unknown as HeadResult;
    });
  };
  return runs;
}

test('runVideo: detects once, then tracks from the landmarks; re-detects every N frames', async () => {
  const m = await create([]);
  const d = (m as unknown as { detectorChoice: FakeDetector }).detectorChoice;
  let pos = { cx: 100, cy: 120, s: 50 };
  d.faces = [face(pos.cx, pos.cy, pos.s)];
  const runs = fakeNetwork(m, () => [pos]);
  try {
    for (let i = 0; i < 7; i++) {
      pos = { cx: 100 + 8 * i, cy: 120, s: 50 }; // moves 8 px a frame
      d.faces = [face(pos.cx, pos.cy, pos.s)];
      const res = await m.runVideo(IMAGE, i * 33, { redetectEvery: 5 });
      assert.is(res.length, 1);
      assert.is(res[0].trackId, 1, 'the same head keeps its id');
      if (i > 0) {
        // The crop follows the previous frame's landmarks (head-box rule on a face of size 50 at the previous x).
        const cx = res[0].crop.box.x + res[0].crop.box.width / 2;
        if (i !== 5) assert.ok(Math.abs(cx - (100 + 8 * (i - 1))) <= 1, `frame ${i}: crop centre ${cx}`);
      }
    }
    assert.is(d.calls, 2, 'frame 0 and frame 5 (redetectEvery 5)');
    assert.is(runs.length, 7, 'one network run a frame');
    // Tracking frames carry no detection; detection frames do.
    const r = await m.runVideo(IMAGE, 1000, { redetectEvery: 5 });
    assert.is(r[0].face, undefined);
  } finally { await m.dispose(); }
});

test('runVideo: a lost track re-detects on the same frame; heads appear and keep ids; maxHeads', async () => {
  const m = await create([]);
  const d = (m as unknown as { detectorChoice: FakeDetector }).detectorChoice;
  let truth = [{ cx: 80, cy: 120, s: 50 }];
  const sync = () => { d.faces = truth.map((t) => face(t.cx, t.cy, t.s)); };
  sync();
  const runs = fakeNetwork(m, () => truth);
  try {
    await m.runVideo(IMAGE, 0);
    await m.runVideo(IMAGE, 33);
    assert.is(d.calls, 1);
    // The head jumps across the image: its landmarks leave the crop, the track is lost, and the
    // same frame is detected and run again.
    truth = [{ cx: 250, cy: 120, s: 50 }]; sync();
    const n = runs.length;
    const r = await m.runVideo(IMAGE, 66);
    assert.is(d.calls, 2);
    assert.is(runs.length, n + 2, 'tracked run, then the run on the new detection');
    assert.ok(Math.abs(r[0].landmarks[0] - landmarks68(250, 120, 50)[0]) < 1e-4, 'result at the new place');
    assert.is(r[0].trackId, 2, 'a new head: a new id');
    // A second, larger head appears: found at the next periodic detection, listed first (largest).
    truth = [{ cx: 250, cy: 120, s: 50 }, { cx: 80, cy: 110, s: 70 }]; sync();
    let out: HeadResult[] = [];
    for (let i = 0; i < 31 && out.length < 2; i++) out = await m.runVideo(IMAGE, 100 + i * 33);
    assert.is(out.length, 2);
    assert.equal(out.map((h) => h.trackId), [3, 2]);
    const limited = await (async () => { m.resetVideo(); return m.runVideo(IMAGE, 0, { maxHeads: 1 }); })();
    assert.is(limited.length, 1);
    assert.ok(Math.abs(limited[0].landmarks[0] - landmarks68(80, 110, 70)[0]) < 1e-4, 'maxHeads keeps the largest');
  } finally { await m.dispose(); }
});

test('runVideo: a head keeps its id through re-detections even when its landmarks never track (untrained network)', async () => {
  const m = await create([face(100, 120, 50), face(240, 120, 60)]);
  const runs = fakeNetwork(m, () => []); // NaN landmarks: every track is lost every frame
  try {
    const ids: number[][] = [];
    for (let i = 0; i < 4; i++) ids.push((await m.runVideo(IMAGE, i * 33)).map((r) => r.trackId!));
    assert.equal(ids, [[1, 2], [1, 2], [1, 2], [1, 2]], 'largest first; ids kept');
    assert.is(runs.length, 4, 'a lost track makes the next frame detect: one run a frame');
    const d = (m as unknown as { detectorChoice: FakeDetector }).detectorChoice;
    assert.is(d.calls, 4);
  } finally { await m.dispose(); }
});

test('runVideo: timestamps must increase; bad options; resetVideo starts over', async () => {
  const m = await create([face(100, 120, 50)]);
  fakeNetwork(m, () => [{ cx: 100, cy: 120, s: 50 }]);
  try {
    await m.runVideo(IMAGE, 100);
    for (const t of [100, 99, NaN, Infinity, '200' as unknown as number]) {
      try { await m.runVideo(IMAGE, t); assert.unreachable(`timestamp ${t}`); } catch (e) {
        assert.instance(e, InputError);
        assert.match((e as Error).message, /timestamp/);
      }
    }
    try { await m.runVideo(IMAGE, 200, { redetectEvery: 0 }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /redetectEvery 0/); }
    try { await m.runVideo(IMAGE, 200, { smoothing: { minCutoff: -1 } }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /minCutoff/); }
    m.resetVideo();
    assert.is((await m.runVideo(IMAGE, 0)).length, 1, 'after resetVideo, time starts again');
  } finally { await m.dispose(); }
});

test('runVideo smoothing: jittering landmarks come out steadier', async () => {
  const m = await create([face(150, 120, 60)]);
  let k = 0;
  fakeNetwork(m, () => [{ cx: 150 + (k % 2 ? 2 : -2), cy: 120, s: 60 }]);
  try {
    // Raw landmarks alternate by 4 px frame to frame; smoothed ones must step far less (the
    // one-euro filter at 0.5 Hz, beta 0: ~0.1 of each step gets through at 30 fps).
    let prev = NaN, maxStep = 0;
    for (k = 0; k < 20; k++) {
      const [r] = await m.runVideo(IMAGE, k * 33, { smoothing: { minCutoff: 0.5, beta: 0 } });
      if (k > 3) maxStep = Math.max(maxStep, Math.abs(r.landmarks[0] - prev));
      prev = r.landmarks[0];
      assert.is(r.trackId, 1);
    }
    assert.ok(maxStep < 1, `smoothed steps ${maxStep} px vs raw 4 px`);
  } finally { await m.dispose(); }
});

test('nextTrack: keeps a plausible track, loses moved, rescaled or missing landmarks', () => {
  const expected = { cx: 160, cy: 120, size: 60, roll: 0 };
  const ok = nextTrack(landmarks68(165, 120, 60), expected, W, H);
  assert.ok(ok && Math.abs(ok.box.width - HEAD_RULE.width * 60 * 1.2) <= 2, JSON.stringify(ok)); // whole pixels, rounded outwards
  assert.ok(Math.abs(ok!.frame.cx - 165) < 1e-3 && Math.abs(ok!.frame.size - 60) < 1e-3);
  assert.ok(nextTrack(landmarks68(160 + 18, 120, 60), expected, W, H), 'moved 0.3 face sizes: kept');
  assert.is(nextTrack(landmarks68(160 + 24, 120, 60), expected, W, H), null, 'moved 0.4 face sizes');
  assert.is(nextTrack(landmarks68(160, 120, 40), expected, W, H), null, 'shrunk 1.5x');
  assert.is(nextTrack(landmarks68(160, 120, 90), expected, W, H), null, 'grown 1.5x');
  assert.ok(nextTrack(landmarks68(160, 120, 75), expected, W, H), 'grown 1.25x: kept');
  assert.is(nextTrack(new Float32Array(136).fill(NaN), expected, W, H), null, 'NaN');
});

test('runVideo on the real network: one head, a track id, tracking frames run too', async () => {
  det.faces = [face(160, 120, 60)];
  model.resetVideo();
  const a = await model.runVideo(IMAGE, 0);
  const b = await model.runVideo(IMAGE, 40);
  assert.is(a.length, 1); assert.is(b.length, 1);
  assert.is(a[0].trackId, 1);
  assert.is(a[0].landmarks.length, 136);
});

test.run();

// `trans3dhead eval` (issue 14): the benchmark metrics on hand-computed cases, the DAD-3DHeads
// reader on the committed mini fixture (a 70-vertex toy mesh, landmark i on vertex i), the
// evaluation with known predictions giving known metrics, and bad input. The agreement with
// python/trans3dhead_train/metrics.py is eval.torch.test.ts. One model start (the CLI run).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { DadDataset, DatasetError, gtRotation, groundTruth, pyRound } from '../src/eval/dataset.ts';
import { evaluateDataset, findSubsets, formatReport, loadIndices, padToCanvas, plan, type Prediction } from '../src/eval/evaluate.ts';
import {
  chamfer, embedPoints, eulerAngles, nme, poseError, poseMae, procrustes, summarize, svd3, wrapDegrees, znAccuracy, z5,
  type LandmarkEmbedding,
} from '../src/eval/metrics.ts';
import { decodeImage } from '../src/platform/node-io.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';
import { rng } from './helpers.ts';

const MINI = 'test/fixtures/dad3dheads-mini';
const mini = JSON.parse(readFileSync(`${MINI}/mini_embedding.json`, 'utf8'));
const EMB: LandmarkEmbedding = { faces: mini.faces.flat(), faceIdx: mini.lmk_faces_idx, bary: mini.lmk_bary_coords.flat() };
const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/trans3dhead.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });

/** Image-frame R with eulerAngles(R) = (pitch, yaw, roll): synthetic.py's rotation_from_angles. */
function rotationFromAngles(pitch: number, yaw: number, roll: number): Float64Array {
  const [a, b, c] = [pitch + 180, yaw, roll].map((d) => (d * Math.PI) / 180);
  const mul = (A: number[], B: number[]) => A.map((_, i) => [0, 1, 2].reduce((s, k) => s + A[3 * Math.floor(i / 3) + k] * B[3 * k + (i % 3)], 0));
  const Rx = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
  const Ry = [Math.cos(b), 0, Math.sin(b), 0, 1, 0, -Math.sin(b), 0, Math.cos(b)];
  const Rz = [Math.cos(c), -Math.sin(c), 0, Math.sin(c), Math.cos(c), 0, 0, 0, 1];
  const M = mul(mul(Rz, Ry), Rx);
  return Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => M[3 * (i % 3) + Math.floor(i / 3)])); // transpose
}

test('NME: every landmark off by (3, 4) px is 5 / sqrt(w h) * 100', () => {
  const gt = Array.from({ length: 136 }, (_, i) => i * 1.5);
  const pred = gt.map((v, i) => v + (i % 2 ? 4 : 3));
  close(nme(pred, gt, [0, 0, 24, 20]), (5 / Math.sqrt(480)) * 100, 1e-12, 'nme');
  close(nme(gt, gt, [3, 4, 24, 20]), 0, 0, 'nme of the truth');
});

test('pose error: 0 for the truth, sqrt(4 (1 - cos t)) for a rotation by t, 2 sqrt(2) for a half turn', () => {
  const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  close(poseError(I, I), 0, 0, 'I');
  for (const t of [0.1, Math.PI / 2, 2]) {
    const R = [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
    close(poseError(R, I), Math.sqrt(4 * (1 - Math.cos(t))), 1e-12, `t=${t}`);
    close(poseError(R, R), 0, 1e-12, 'R vs R');
  }
  close(poseError([1, 0, 0, 0, -1, 0, 0, 0, -1], I), 2 * Math.SQRT2, 1e-12, 'half turn');
});

test('Z_n: 1 for the same depths, 0 for depths reversed, and the fraction of agreeing pairs in between', () => {
  // Points in the x-z plane with distinct depths; neighbours by brute force (3D distance).
  const K = 12, gt: number[] = [];
  for (let i = 0; i < K; i++) gt.push(i, 0, (i * 7) % K);
  close(znAccuracy(gt, gt), 1, 0, 'same');
  close(znAccuracy(gt.map((v, i) => (i % 3 === 2 ? -v : v)), gt), 0, 0, 'reversed');
  // Only point 0's depth changed to the largest: count the pairs whose order flips by hand.
  const pred = gt.slice();
  pred[2] = 100;
  let flipped = 0, pairs = 0;
  for (let i = 0; i < K; i++) {
    const d = (j: number) => Math.hypot(gt[3 * j] - gt[3 * i], gt[3 * j + 2] - gt[3 * i + 2]);
    const nb = [...Array(K).keys()].filter((j) => j !== i).sort((a, b) => d(a) - d(b) || a - b).slice(0, 5);
    for (const j of nb) { pairs++; if ((gt[3 * i + 2] >= gt[3 * j + 2]) !== (pred[3 * i + 2] >= pred[3 * j + 2])) flipped++; }
  }
  assert.ok(flipped > 0);
  close(znAccuracy(pred, gt), 1 - flipped / pairs, 1e-12, 'one point moved');
  // z5: the truth is negated (world frame, camera looks down -z), the prediction is not.
  close(z5(gt.map((v) => v), gt.map((v) => -v), [...Array(K).keys()]), 1, 0, 'z5 frames');
});

test('SVD and Procrustes: a scaled, rotated (or reflected), shifted copy is recovered exactly', () => {
  const r = rng(3);
  for (let t = 0; t < 20; t++) {
    const A = Array.from({ length: 9 }, () => r() * 2 - 1);
    const { U, s, V } = svd3(A);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let m = 0;
      for (let k = 0; k < 3; k++) m += U[3 * i + k] * s[k] * V[3 * j + k];
      close(m, A[3 * i + j], 1e-12, 'U S V^T');
    }
  }
  const R = rotationFromAngles(20, -35, 10);
  for (const reflect of [false, true]) {
    const T = Float64Array.from(R);
    if (reflect) for (let i = 0; i < 3; i++) T[3 * i + 2] *= -1;
    const Y = Array.from({ length: 21 }, () => r() * 2 - 1), X: number[] = [];
    for (let i = 0; i < 7; i++) for (let k = 0; k < 3; k++) X.push(2.5 * [0, 1, 2].reduce((s, j) => s + Y[3 * i + j] * T[3 * j + k], 0) + [1, -2, 3][k]);
    const p = procrustes(X, Y);
    close(p.b, 2.5, 1e-12, 'scale');
    for (let i = 0; i < 9; i++) close(p.T[i], T[i], 1e-12, 'T');
    for (let k = 0; k < 3; k++) close(p.c[k], [1, -2, 3][k], 1e-12, 'c');
  }
});

test('Chamfer: 0 for the truth under any similarity; the squared offset at the benchmark scale for a shifted face', () => {
  const a = readAnn('turned');
  const world = a.world;
  const all = [...Array(70).keys()];
  const seven = (v: ArrayLike<number>) => { const lm = embedPoints(v, EMB); return [36, 39, 42, 45, 33, 48, 54].flatMap((l) => [lm[3 * l], lm[3 * l + 1], lm[3 * l + 2]]); };
  // The prediction in the image frame at another scale: the alignment takes it back.
  const pred = world.map((v, i) => (i % 3 === 0 ? 3 * v : -3 * v) + 0.5);
  close(chamfer(pred, seven(pred), world, EMB, all), 0, 1e-18, 'similar copy');
  // Landmarks 39 and 42 (vertices (0.45, 0) and (-0.25, 0.1)) are sqrt(0.5) apart, so the truth
  // is scaled by 20 / sqrt(0.5). Vertices 68/69 (0.2 off the plane) moved by 0.05 each: the
  // nearest predicted vertex of each is still itself (the plane is >= 0.2 away), the 7 keypoints
  // on the plane keep the alignment the identity: d^2 = (0.05 * scale)^2 twice, averaged over 70.
  const moved = Float64Array.from(world);
  moved[3 * 68 + 2] -= 0.05; moved[3 * 69 + 2] += 0.05;
  const expectMoved = (2 * (0.05 * 20 / Math.sqrt(0.5)) ** 2) / 70;
  // The fixture's matrices are rounded to 6 digits (cos 30 deg): 1e-5 relative.
  close(chamfer(moved, seven(moved), world, EMB, all), expectMoved, 1e-5 * expectMoved, 'two vertices moved');
});

test('Euler angles and pose MAE: the angles a rotation was made from; differences wrap to (-180, 180]', () => {
  for (const [p, y, r] of [[10, 20, 30], [-40, 5, -170], [0, -60, 0], [170, 0, 45]]) {
    const e = eulerAngles(rotationFromAngles(p, y, r));
    close(wrapDegrees(e[0] - p), 0, 1e-9, 'pitch'); close(e[1], y, 1e-9, 'yaw'); close(wrapDegrees(e[2] - r), 0, 1e-9, 'roll');
  }
  close(wrapDegrees(180), 180, 0, '180'); close(wrapDegrees(-180), 180, 0, '-180'); close(wrapDegrees(190), -170, 1e-12, '190');
  const m = poseMae([[179, 10, 0], [0, 0, 5]], [[-179, 0, 0], [0, 2, -5]]);
  assert.equal([m.pitch, m.yaw, m.roll], [1, 6, 5]);
  close(m.mean, 4, 1e-12, 'mean');
});

test('summarize: means overall and per attribute value, as metrics.py (Python str() of values)', () => {
  const s = summarize([{ nme: 1, z5: 0.5 }, { nme: 3 }, { nme: 5, z5: 1 }], [{ pose: 'front', occluded: true }, { pose: 'front' }, { pose: 'sided', occluded: false }]);
  assert.equal(s.overall, { nme: 3, z5: 0.75 });
  assert.equal(s.attributes.nme, { pose: { front: 2, sided: 5 }, occluded: { True: 1, False: 5 } });
  assert.equal(s.attributes.z5, { pose: { front: 0.5, sided: 1 }, occluded: { True: 0.5, False: 1 } });
});

function readAnn(id: string) {
  const ds = DadDataset.open(MINI, 'train');
  const i = ds.items.findIndex((it) => it.item_id === id);
  return groundTruth(ds.annotation(i), 40, EMB);
}

test('reader: the mini fixture\'s items, paths, evaluation box and ground truth (hand-computed projection)', () => {
  const ds = DadDataset.open(MINI, 'train');
  assert.is(ds.length, 2);
  assert.ok(ds.imagePath(0).endsWith('images/frontal.png'));
  assert.ok(ds.imagePath(1).endsWith('images/turned.png'), 'no img_path: images/<item_id>.png');
  // bbox [10, 8, 24, 20] + 10 %: x0 = 7.6 -> 7, y0 = 6 -> 6, w = round(36.4 - 7) = 29, h = round(30 - 6) = 24.
  assert.equal(ds.evalBox(0), [7, 6, 29, 24]);
  assert.equal([pyRound(2.5), pyRound(3.5), pyRound(-0.5), pyRound(2.4)], [2, 4, -0, 2]);
  // Also opened from the split's json, or the DAD-3DHeadsDataset folder.
  assert.is(DadDataset.open(`${MINI}/DAD-3DHeadsDataset/train/train.json`).imagePath(0), ds.imagePath(0));
  assert.is(DadDataset.open(`${MINI}/DAD-3DHeadsDataset`, 'train').length, 2);
  // Frontal: world = v + (0, 0, -2), focal 100 on a 48 x 40 image: x = 50 X + 24, y = 20 - 50 Y.
  const gt = groundTruth(ds.annotation(0), 40, EMB);
  for (const l of [0, 33, 67]) {
    const X = ((l % 10) - 4.5) / 10, Y = (Math.floor(l / 10) - 3) / 10;
    close(gt.landmarks[2 * l], 50 * X + 24, 1e-9, `x${l}`); close(gt.landmarks[2 * l + 1], 20 - 50 * Y, 1e-9, `y${l}`);
  }
  assert.equal(Array.from(gt.rotation), [1, 0, 0, -0, -1, -0, -0, -0, -1]);
  const turned = eulerAngles(gtRotation(ds.annotation(1).modelView));
  close(Math.abs(turned[1]), 30, 1e-4, 'turned item yaw');
});

/** The truth as a perfect prediction: landmarks, R_gt, vertices in the image frame (diag(1,-1,-1) world). */
function truthPrediction(ds: DadDataset, i: number, shift = [0, 0]): Prediction {
  const gt = groundTruth(ds.annotation(i), 40, EMB);
  return { landmarks: gt.landmarks.map((v, k) => v + shift[k % 2]), rotation: gt.rotation, vertices: gt.world.map((v, k) => (k % 3 ? -v : v)) };
}

test('evaluation with known predictions: the truth scores perfectly, shifted landmarks give the NME by hand', async () => {
  const ds = DadDataset.open(MINI, 'train');
  const subsets = { headZ5: Int32Array.from(Array(70).keys()), face: Int32Array.from(Array(70).keys()) };
  const boxes: number[][] = [];
  const perfect = await evaluateDataset(ds, async (img, box, i) => { boxes.push(box); assert.is(img.height, 40); return truthPrediction(ds, i); }, decodeImage, EMB, subsets, 70);
  assert.equal(boxes, [[7, 6, 29, 24], [7, 6, 29, 24]]);
  assert.is(perfect.count, 2);
  // 1e-5: the fixture's model-view is rounded to 6 digits, so R_gt is orthonormal to ~1e-6 only.
  for (const [k, v] of Object.entries({ nme: 0, pose_error: 0, z5: 1, chamfer: 0, mae_mean: 0 })) close(perfect.overall[k], v, 1e-5, k);
  assert.equal(Object.keys(perfect.attributes.nme.pose), ['front', 'sided']);
  // The turned item's landmarks off by (3, 4) px, its rotation by 90 degrees about the image z axis.
  const r = await evaluateDataset(ds, async (_img, _box, i) => {
    const p = truthPrediction(ds, i, i === 1 ? [3, 4] : [0, 0]);
    if (i === 1) {
      // R' = R Rz(90)^T: R'^T = Rz(90) R^T, i.e. roll + 90 (metrics' Euler convention R^T = Rz Ry Rx).
      const Zt = [0, 1, 0, -1, 0, 0, 0, 0, 1], R = p.rotation;
      p.rotation = Zt.map((_, k) => [0, 1, 2].reduce((s, j) => s + R[3 * Math.floor(k / 3) + j] * Zt[3 * j + (k % 3)], 0));
    }
    return p;
  }, decodeImage, EMB, subsets, 70, { limit: 2 });
  const nmeTurned = (5 / Math.sqrt(24 * 20)) * 100;
  close(r.overall.nme, nmeTurned / 2, 1e-9, 'mean NME');
  close(r.attributes.nme.pose.sided, nmeTurned, 1e-9, 'NME of the sided item');
  close(r.attributes.pose_error.pose.sided, 2, 1e-5, 'pose error of a 90 degree turn');
  close(r.overall.mae_roll, 45, 1e-6, 'roll MAE: 90 degrees on one of two items');
  assert.match(formatReport(r), /by pose:/);
  // --limit
  assert.is((await evaluateDataset(ds, async (_im, _b, i) => truthPrediction(ds, i), decodeImage, EMB, subsets, 70, { limit: 1 })).count, 1);
});

test('missing FLAME-licensed files: the affected metrics are skipped, each saying which file it needs', async () => {
  const ds = DadDataset.open(MINI, 'train');
  const r = await evaluateDataset(ds, async (_im, _b, i) => truthPrediction(ds, i), decodeImage, EMB, {}, 70);
  assert.equal(Object.keys(r.overall).sort(), ['mae_mean', 'mae_pitch', 'mae_roll', 'mae_yaw', 'nme', 'pose_error']);
  assert.match(r.skipped.z5, /head_indices\.npy; pass --head-indices/);
  assert.match(r.skipped.chamfer, /face\.npy; pass --face-indices/);
  assert.match(formatReport(r), /Z5 accuracy \(head\)\s+skipped/);
  const none = plan(null, {}).skipped;
  assert.match(none.nme, /landmark embedding/);
  assert.match(none.chamfer, /landmark embedding/);
});

test('bad input: missing or foreign dataset, malformed items and annotations, bad subsets, each a clear DatasetError', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-eval-'));
  const throwsDs = (fn: () => unknown, re: RegExp) => {
    try { fn(); } catch (e) { assert.instance(e, DatasetError); assert.match((e as Error).message, re); return; }
    assert.unreachable(`expected ${re}`);
  };
  throwsDs(() => DadDataset.open(join(dir, 'nope')), /does not exist: pass the folder that holds DAD-3DHeadsDataset/);
  throwsDs(() => DadDataset.open(dir), /no val\/val\.json under .*choose the split with --split/);
  throwsDs(() => DadDataset.open('package.json'), /package\.json: expected a non-empty list of items/);
  throwsDs(() => DadDataset.open('README.md'), /expected a folder holding DAD-3DHeadsDataset/);
  mkdirSync(join(dir, 'val'));
  writeFileSync(join(dir, 'val', 'val.json'), JSON.stringify([{ item_id: 'a', bbox: [1, 2, 3] }]));
  throwsDs(() => DadDataset.open(dir), /item 0: needs item_id and bbox \[x, y, w, h\]/);
  writeFileSync(join(dir, 'val', 'val.json'), '[{"item_id": "a", "bbox": [1, 2, 3, 4]}');
  throwsDs(() => DadDataset.open(dir), /not a readable JSON annotation list/);
  writeFileSync(join(dir, 'val', 'val.json'), JSON.stringify([{ item_id: 'a', bbox: [1, 2, 3, 4] }]));
  const ds = DadDataset.open(dir);
  throwsDs(() => ds.imagePath(0), /images\/a\.png/);
  mkdirSync(join(dir, 'val', 'annotations'));
  writeFileSync(join(dir, 'val', 'annotations', 'a.json'), JSON.stringify({ vertices: [[0, 0, 0]], model_view_matrix: [] }));
  throwsDs(() => ds.annotation(0), /no 'projection_matrix'/);
  writeFileSync(join(dir, 'val', 'annotations', 'a.json'), JSON.stringify({ vertices: [[0, 0, 0]], model_view_matrix: [[1, 0], [0, 1]], projection_matrix: [] }));
  throwsDs(() => ds.annotation(0), /'model_view_matrix' must be 16 finite numbers, found 4/);
  writeFileSync(join(dir, 'idx.json'), JSON.stringify([0, 1, 2, 3, 4, 5, 70]));
  throwsDs(() => loadIndices(join(dir, 'idx.json'), 70, 'face'), /'face' vertex subset .* has index 70: the mesh has 70 vertices/);
  throwsDs(() => findSubsets(70, { dir: join(dir, 'nodir') }), /--subsets .* does not exist/);
  writeFileSync(join(dir, 'idx.txt'), '0 1 2 3 4 5 6');
  assert.equal(Array.from(loadIndices(join(dir, 'idx.txt'), 70, 'head')), [0, 1, 2, 3, 4, 5, 6]);
});

test('padToCanvas: the image at the top-left of a zero canvas in 256-pixel steps', () => {
  const img = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 2, height: 1, channels: 3 };
  const p = padToCanvas(img);
  assert.equal([p.width, p.height, p.channels], [256, 256, 4]);
  assert.equal(Array.from((p.data as Uint8Array).subarray(0, 9)), [1, 2, 3, 255, 4, 5, 6, 255, 0]);
});

test('CLI eval: usage errors and a missing dataset fail before the model starts', () => {
  const cases: [string[], RegExp, number][] = [
    [['eval'], /eval: give one dataset folder/, 2],
    [['eval', MINI, '--wieghts', 'w.pth'], /eval: Unknown option '--wieghts'/, 2],
    [['eval', MINI, '--limit', '0'], /--limit 0: expected a positive integer/, 2],
    [['eval', 'no/such/dir'], /no\/such\/dir does not exist: pass the folder that holds DAD-3DHeadsDataset/, 1],
    [['eval', MINI], /no val\/val\.json under/, 1],
  ];
  for (const [args, re, code] of cases) {
    const r = cli(...args);
    assert.is(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('CLI eval on a synthetic-FLAME item: the table, the JSON report, and the same numbers as the metrics on the model\'s output', () => {
  // One item in the DAD-3DHeads layout whose annotation is the synthetic FLAME's template,
  // frontal, 2 units in front of the camera; the image is the astronaut photo.
  const dir = mkdtempSync(join(tmpdir(), 't3dh-eval-cli-'));
  const split = join(dir, 'DAD-3DHeadsDataset', 'val');
  mkdirSync(join(split, 'images'), { recursive: true }); mkdirSync(join(split, 'annotations'));
  const png = PNG.sync.read(readFileSync('test/fixtures/astronaut-head.png'));
  writeFileSync(join(split, 'images', 'one.png'), PNG.sync.write(png));
  const f = syntheticFlame(0), W = png.width, H = png.height;
  const v: number[][] = [];
  for (let i = 0; i < f.V; i++) v.push([f.vTemplate[3 * i], f.vTemplate[3 * i + 1], f.vTemplate[3 * i + 2]]);
  const P = [[400, 0, -W / 2, 0], [0, 400, -H / 2, 0], [0, 0, -1.002, -0.2002], [0, 0, -1, 0]];
  writeFileSync(join(split, 'annotations', 'one.json'), JSON.stringify({ vertices: v, model_view_matrix: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -2], [0, 0, 0, 1]], projection_matrix: P }));
  writeFileSync(join(split, 'val.json'), JSON.stringify([{ item_id: 'one', bbox: [40, 60, 100, 120], attributes: { light: 'day' } }]));
  const sub = join(dir, 'subsets');
  mkdirSync(sub);
  writeFileSync(join(sub, 'face.json'), JSON.stringify([...Array(200).keys()].map((k) => k * 20)));
  const out = join(dir, 'report.json');
  const r = cli('eval', dir, '--weights', 'test/fixtures/small/model.pth', '--nhead', '4', '--face-indices', join(sub, 'face.json'), '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 items of val/);
  assert.match(r.stdout, /NME \(% of sqrt\(bbox w\*h\)\)\s+\d+\.\d\d/);
  assert.match(r.stdout, /Z5 accuracy \(head\)\s+skipped/);
  assert.match(r.stderr, /z5 skipped: needs the 'head' vertex subset/);
  assert.match(r.stdout, /by light:/);
  const rep = JSON.parse(readFileSync(out, 'utf8'));
  assert.is(rep.count, 1);
  for (const k of ['nme', 'pose_error', 'chamfer', 'mae_mean']) assert.ok(Number.isFinite(rep.overall[k]), k);
  assert.is(rep.items[0].item_id, 'one');
  assert.match(rep.adapter, /\w/);
  // The report's per-item pose angles are the metric's own Euler angles of the model's rotation.
  close(rep.items[0].gt_yaw, 0, 1e-9, 'frontal truth yaw');
});

test.run();

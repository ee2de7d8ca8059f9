// Parity with MediaPipe's face detection: the recorded reference (test/fixtures/detect/
// mediapipe.json, made by scripts/make-detect-fixtures.ts with MediaPipe's own WASM runtime) and
// the comparison rule of issue 15: the same number of faces, boxes and keypoints within 1% of the
// box size, scores within 0.02.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { Face } from '../src/detect/types.ts';
import type { FaceModel } from '../src/detect/postprocess.ts';
import { detectImages, type RgbaImage } from './detect-images.ts';

export interface FixtureFace { box: number[]; keypoints: number[]; score: number | null }
export interface DetectFixture {
  package: string;
  /** By variant (below): the graph's threshold and the .tflite file. */
  minScore: Record<string, number>;
  models: Record<string, string>;
  images: { name: string; width: number; height: number }[];
  /** Variant -> image name -> faces. */
  detections: Record<string, Record<string, FixtureFace[]>>;
}

/**
 * The recorded MediaPipe runs: 'short'; 'full', the solution's full range graph on the dense
 * face_detection_full_range.tflite (the file our detector loads by default); 'full-sparse', the
 * solution as shipped, on face_detection_full_range_sparse.tflite (another set of weights).
 */
export interface Variant { name: string; model: FaceModel }
export const VARIANTS: Variant[] = [{ name: 'short', model: 'short' }, { name: 'full', model: 'full' }, { name: 'full-sparse', model: 'full' }];

export const FIXTURE = 'test/fixtures/detect/mediapipe.json';
export const BOX_TOL = 0.01; // of the box size
export const SCORE_TOL = 0.02;

export function loadFixture(): DetectFixture {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as DetectFixture;
}

/** The test images, checked against the ones the fixture was made from (same names and sizes). */
export function fixtureImages(fx: DetectFixture): RgbaImage[] {
  const images = detectImages();
  const got = images.map((im) => `${im.name} ${im.width}x${im.height}`).join(', ');
  const want = fx.images.map((im) => `${im.name} ${im.width}x${im.height}`).join(', ');
  if (got !== want) throw new Error(`the detection test images changed (${got}) since ${FIXTURE} was made (${want}): rerun scripts/make-detect-fixtures.ts`);
  return images;
}

const iou = (a: number[], b: number[]) => {
  const ix = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const iy = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (ix <= 0 || iy <= 0) return 0;
  return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy);
};

export const faceToFixture = (f: Face): FixtureFace =>
  ({ box: [f.box.x, f.box.y, f.box.width, f.box.height], keypoints: Array.from(f.keypoints), score: f.score });

/**
 * Compares our faces with MediaPipe's for one image; returns the problems (empty: parity holds)
 * and the worst deviations seen. Faces are paired by best IoU (orders may differ on near ties).
 */
export function compareFaces(label: string, ours: FixtureFace[], theirs: FixtureFace[]): { problems: string[]; worstBox: number; worstScore: number } {
  const problems: string[] = [];
  let worstBox = 0, worstScore = 0;
  if (ours.length !== theirs.length) {
    problems.push(`${label}: ${ours.length} faces, MediaPipe ${theirs.length} (ours: ${ours.map((f) => f.score?.toFixed(3)).join(', ')})`);
    return { problems, worstBox, worstScore };
  }
  const used = new Set<number>();
  theirs.forEach((t, ti) => {
    let best = -1, bestIou = 0;
    ours.forEach((o, oi) => { const v = iou(o.box, t.box); if (!used.has(oi) && v > bestIou) { bestIou = v; best = oi; } });
    if (best < 0) { problems.push(`${label} face ${ti}: no overlapping face of ours`); return; }
    used.add(best);
    const o = ours[best];
    const size = Math.max(t.box[2], t.box[3]);
    const dev = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / size;
    const dBox = dev(o.box, t.box), dKp = dev(o.keypoints, t.keypoints);
    worstBox = Math.max(worstBox, dBox, dKp);
    if (dBox > BOX_TOL) problems.push(`${label} face ${ti}: box [${o.box.map((v) => v.toFixed(2))}] vs MediaPipe [${t.box}] (${(dBox * 100).toFixed(2)}% of the box)`);
    if (dKp > BOX_TOL) problems.push(`${label} face ${ti}: keypoints off by ${(dKp * 100).toFixed(2)}% of the box`);
    if (t.score !== null && o.score !== null) {
      const dS = Math.abs(o.score - t.score);
      worstScore = Math.max(worstScore, dS);
      if (dS > SCORE_TOL) problems.push(`${label} face ${ti}: score ${o.score.toFixed(4)} vs MediaPipe ${t.score}`);
    }
  });
  return { problems, worstBox, worstScore };
}

/** Compares a whole run (image name -> faces) of one variant; the summary names the worst deviations. */
export function compareRun(variant: string, ours: Record<string, FixtureFace[]>, fx: DetectFixture): { problems: string[]; summary: string } {
  const problems: string[] = [];
  let worstBox = 0, worstScore = 0, faces = 0;
  for (const im of fx.images) {
    const r = compareFaces(`${variant} ${im.name}`, ours[im.name] ?? [], fx.detections[variant][im.name]);
    problems.push(...r.problems);
    worstBox = Math.max(worstBox, r.worstBox); worstScore = Math.max(worstScore, r.worstScore);
    faces += fx.detections[variant][im.name].length;
  }
  return { problems, summary: `${variant}: ${fx.images.length} images, ${faces} faces; worst box/keypoint ${(worstBox * 100).toFixed(3)}% of the box, worst score ${worstScore.toFixed(4)}` };
}

/** The unpacked @mediapipe/face_detection: MediaPipe's runtime and the .tflite files it runs. */
export function findPackage(): string {
  const candidates = [process.env.MEDIAPIPE_FACE_DETECTION, 'node_modules/@mediapipe/face_detection'].filter(Boolean) as string[];
  const dir = candidates.find((d) => existsSync(join(d, 'face_detection.js')));
  if (!dir) {
    throw new Error('MediaPipe\'s face detection package is missing: npm install @mediapipe/face_detection ' +
      '(or set MEDIAPIPE_FACE_DETECTION to its unpacked folder)');
  }
  return dir;
}

/** The .tflite file of a variant, in the package. */
export function modelFile(fx: DetectFixture, variant: string): string {
  return join(findPackage(), fx.models[variant]);
}

/** Asserts parity for one variant's run and prints the worst deviations. */
export function checkRun(fx: DetectFixture, variant: string, ours: Record<string, FixtureFace[]>, who: string): void {
  const { problems, summary } = compareRun(variant, ours, fx);
  console.log(`  ${who} vs MediaPipe, ${summary}`);
  assert.equal(problems, [], `${who} vs MediaPipe (${fx.package}):\n${problems.join('\n')}`);
}

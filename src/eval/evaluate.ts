// Evaluation on data in the DAD-3DHeads format: the model runs on every item's evaluation crop
// (the annotation's bbox + 10 % per side, as python/trans3dhead_train/train.py's evaluate), and
// the benchmark metrics (metrics.ts) compare its outputs with the annotated mesh.
import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FlameArrays } from '../io/flame.ts';
import { parseNpy, ndarrayToFloat64 } from '../io/numpy.ts';
import type { RawImage } from '../platform/types.ts';
import { DadDataset, DatasetError, groundTruth } from './dataset.ts';
import {
  chamfer, embedPoints, eulerAngles, nme, poseError, poseMae, SEVEN_OF_68, summarize, z5,
  type Attributes, type LandmarkEmbedding, type MetricRecord, type Summary,
} from './metrics.ts';

/** What the metrics need from a prediction (HeadResult has these fields). */
export interface Prediction {
  /** 68 x (x, y) image pixels. */
  landmarks: ArrayLike<number>;
  /** Row-major 3x3, image frame. */
  rotation: ArrayLike<number>;
  /** V x 3 FLAME vertices in the image frame (the model's `vertices`). */
  vertices: ArrayLike<number>;
}

export interface Subsets {
  /** DAD-3DHeads' head_indices.npy (Z5). */
  headZ5?: Int32Array;
  /** DAD-3DHeads' flame_indices/face.npy (Chamfer). */
  face?: Int32Array;
}

export const SUBSET_HELP = {
  headZ5: "the 'head' vertex subset for Z5 (DAD-3DHeads' model_training/model/static/head_indices.npy; pass --head-indices FILE)",
  face: "the 'face' vertex subset for Chamfer (DAD-3DHeads' model_training/model/static/flame_indices/face.npy; pass --face-indices FILE)",
  embedding: 'the 68-landmark embedding of the FLAME (pass --flame-landmarks: landmark_embedding.pkl, or DAD-3DHeads\' flame_static_embedding.pkl with flame_dynamic_embedding.npy)',
};
const LICENSE_NOTE = 'these files are FLAME-licensed and not shipped; for the synthetic FLAME, python/make_synthetic_dad.py writes stand-ins to <out>/subsets/';

/** A vertex subset from .npy, .json (a list) or text (whitespace-separated integers). */
export function loadIndices(path: string, V: number, name: string): Int32Array {
  if (!existsSync(path)) throw new DatasetError(`'${name}' vertex subset ${path} does not exist`);
  const bytes = new Uint8Array(readFileSync(path));
  let vals: ArrayLike<number>;
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.npy') vals = ndarrayToFloat64(parseNpy(bytes, path), path).data;
    else if (ext === '.json') vals = (JSON.parse(new TextDecoder().decode(bytes)) as unknown[]).flat(3) as number[];
    else vals = new TextDecoder().decode(bytes).trim().split(/\s+/).map(Number);
  } catch (e) {
    throw new DatasetError(`'${name}' vertex subset ${path}: cannot read it (${(e as Error).message}); expected .npy, a JSON list or whitespace-separated integers`);
  }
  const out = Int32Array.from(vals as ArrayLike<number>);
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (!Number.isInteger(v) || v < 0 || v >= V) throw new DatasetError(`'${name}' vertex subset ${path} has index ${v}: the mesh has ${V} vertices (is it for this FLAME?)`);
  }
  if (out.length < 6) throw new DatasetError(`'${name}' vertex subset ${path} has ${out.length} indices; expected a vertex list`);
  return out;
}

/** The subsets named by --subsets DIR (head_z5.npy or head_indices.npy; face.npy) and the single-file flags. */
export function findSubsets(V: number, opts: { dir?: string; headZ5?: string; face?: string }): Subsets {
  const pick = (file: string | undefined, names: string[]) => file ?? (opts.dir ? names.map((n) => join(opts.dir!, n)).find((p) => existsSync(p)) : undefined);
  if (opts.dir && !existsSync(opts.dir)) throw new DatasetError(`--subsets ${opts.dir} does not exist`);
  const hz = pick(opts.headZ5, ['head_z5.npy', 'head_indices.npy']), face = pick(opts.face, ['face.npy']);
  return { headZ5: hz ? loadIndices(hz, V, 'head (Z5)') : undefined, face: face ? loadIndices(face, V, 'face') : undefined };
}

/** The FLAME's 68-landmark embedding, or null when the FLAME file has none. */
export function flameEmbedding(f: FlameArrays): LandmarkEmbedding | null {
  if (!f.lmkFacesIdx || !f.lmkBaryCoords) return null;
  return { faces: f.faces, faceIdx: f.lmkFacesIdx, bary: f.lmkBaryCoords };
}

/** Which metrics can be computed, and for each skipped one the file it needs. */
export function plan(embedding: LandmarkEmbedding | null, subsets: Subsets): { skipped: Record<string, string> } {
  const skipped: Record<string, string> = {};
  if (!embedding) {
    skipped.nme = `needs ${SUBSET_HELP.embedding}`;
    skipped.chamfer = `needs ${SUBSET_HELP.embedding}`;
  }
  if (!subsets.headZ5) skipped.z5 = `needs ${SUBSET_HELP.headZ5}; ${LICENSE_NOTE}`;
  if (!subsets.face && !skipped.chamfer) skipped.chamfer = `needs ${SUBSET_HELP.face}; ${LICENSE_NOTE}`;
  return { skipped };
}

/** One item's metrics (metrics.py's per-record dict in train.py's evaluate). */
export function itemMetrics(pred: Prediction, gt: ReturnType<typeof groundTruth>, bbox: ArrayLike<number>, embedding: LandmarkEmbedding | null, subsets: Subsets): MetricRecord {
  const rec: MetricRecord = {};
  if (embedding) rec.nme = nme(pred.landmarks, gt.landmarks, bbox);
  rec.pose_error = poseError(pred.rotation, gt.rotation);
  if (subsets.headZ5) rec.z5 = z5(pred.vertices, gt.world, subsets.headZ5);
  if (embedding && subsets.face) {
    const lm = embedPoints(pred.vertices, embedding);
    const seven = new Float64Array(21);
    SEVEN_OF_68.forEach((l, i) => { for (let k = 0; k < 3; k++) seven[3 * i + k] = lm[3 * l + k]; });
    rec.chamfer = chamfer(pred.vertices, seven, gt.world, embedding, subsets.face);
  }
  return rec;
}

export interface EvalReport {
  dataset: string;
  split: string;
  count: number;
  /** Means over the items (nme %, pose_error, z5, chamfer, mae_pitch/yaw/roll/mean degrees). */
  overall: Record<string, number>;
  /** metric -> attribute -> value -> mean, when the annotations carry attributes. */
  attributes: Summary['attributes'];
  skipped: Record<string, string>;
  /** Per item: item_id, its metrics, and predicted and true pitch/yaw/roll (degrees). */
  items: Record<string, string | number>[];
}

/** A predictor: the engine (via evalModel) or known predictions in tests. */
export type Predict = (image: RawImage, box: [number, number, number, number], index: number) => Promise<Prediction>;

/**
 * Evaluates `predict` on the first `limit` items of the dataset. Images are decoded by `decode`
 * and handed to `predict` with the evaluation crop box.
 */
export async function evaluateDataset(ds: DadDataset, predict: Predict, decode: (path: string) => Promise<RawImage>,
  embedding: LandmarkEmbedding | null, subsets: Subsets, V: number, opts: { limit?: number; onItem?: (i: number, n: number) => void } = {}): Promise<EvalReport> {
  const n = Math.min(ds.length, opts.limit ?? Infinity);
  const records: MetricRecord[] = [], attrs: Attributes[] = [], pa: number[][] = [], ga: number[][] = [];
  const items: EvalReport['items'] = [];
  for (let i = 0; i < n; i++) {
    const img = await decode(ds.imagePath(i));
    const ann = ds.annotation(i);
    if (ann.vertices.length !== V * 3) {
      throw new DatasetError(`${ann.file}: the annotated mesh has ${ann.vertices.length / 3} vertices, the FLAME has ${V}: pass the FLAME the dataset was annotated with (--flame)`);
    }
    const gt = groundTruth(ann, img.height, embedding);
    const pred = await predict(img, ds.evalBox(i), i);
    const rec = itemMetrics(pred, gt, ds.items[i].bbox, embedding, subsets);
    records.push(rec);
    attrs.push(ds.items[i].attributes);
    const pe = eulerAngles(pred.rotation), ge = eulerAngles(gt.rotation);
    pa.push(pe); ga.push(ge);
    items.push({ item_id: ds.items[i].item_id, ...rec, pitch: pe[0], yaw: pe[1], roll: pe[2], gt_pitch: ge[0], gt_yaw: ge[1], gt_roll: ge[2] });
    opts.onItem?.(i, n);
  }
  const s = summarize(records, attrs);
  const mae = poseMae(pa, ga);
  for (const [k, v] of Object.entries(mae)) s.overall[`mae_${k}`] = v;
  return { dataset: ds.root, split: ds.split, count: n, overall: s.overall, attributes: s.attributes, skipped: plan(embedding, subsets).skipped, items };
}

const ROWS: [string, string, number][] = [
  ['nme', 'NME (% of sqrt(bbox w*h))', 2], ['z5', 'Z5 accuracy (head)', 4], ['chamfer', 'Chamfer (face, squared)', 3],
  ['pose_error', 'pose error ||I - R R_gt^T||_F', 4], ['mae_mean', 'pose MAE (deg, mean)', 2],
  ['mae_yaw', '  yaw', 2], ['mae_pitch', '  pitch', 2], ['mae_roll', '  roll', 2],
];

/** The metrics table (and per-attribute tables) as text. */
export function formatReport(r: EvalReport): string {
  const lines = [`${r.count} items of ${r.split} in ${r.dataset}`, ''];
  for (const [k, name, d] of ROWS) {
    if (k in r.overall) lines.push(`  ${name.padEnd(32)}${r.overall[k].toFixed(d).padStart(10)}`);
    else if (k in r.skipped) lines.push(`  ${name.padEnd(32)}${'skipped'.padStart(10)}  (${r.skipped[k]})`);
  }
  const metrics = Object.keys(r.attributes).filter((k) => Object.keys(r.attributes[k]).length);
  if (metrics.length) {
    const names = [...new Set(metrics.flatMap((m) => Object.keys(r.attributes[m])))].sort();
    for (const an of names) {
      const values = [...new Set(metrics.flatMap((m) => Object.keys(r.attributes[m][an] ?? {})))].sort();
      lines.push('', `  by ${an}:`, `  ${'value'.padEnd(16)}${metrics.map((m) => m.padStart(12)).join('')}`);
      for (const v of values) lines.push(`  ${v.padEnd(16)}${metrics.map((m) => (r.attributes[m][an]?.[v]?.toFixed(4) ?? '-').padStart(12)).join('')}`);
    }
  }
  return lines.join('\n');
}

/**
 * Places an image at the top-left of a zero canvas rounded up to multiples of `step`: the crop
 * of any box is unchanged (outside the image is zeros either way, SPEC sec. 1), and items of
 * similar sizes share one compiled graph instead of one per image size.
 */
export function padToCanvas(img: RawImage, step = 256): RawImage {
  const W = Math.ceil(img.width / step) * step, H = Math.ceil(img.height / step) * step;
  const c = img.channels ?? 4;
  if (W === img.width && H === img.height) return img;
  const out = new Uint8Array(W * H * 4);
  const src = img.data;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * c, d = (y * W + x) * 4;
      out[d] = src[s]; out[d + 1] = src[s + 1]; out[d + 2] = src[s + 2]; out[d + 3] = 255;
    }
  }
  return { data: out, width: W, height: H, channels: 4 };
}

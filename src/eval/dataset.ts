// A reader for data in the DAD-3DHeads format, matching python/trans3dhead_train/dataset.py:
//   <root>/DAD-3DHeadsDataset/<split>/<split>.json   [{item_id, img_path, annotation_path, bbox: [x, y, w, h], attributes}]
//   <root>/DAD-3DHeadsDataset/<split>/images/<item_id>.png
//   <root>/DAD-3DHeadsDataset/<split>/annotations/<item_id>.json  {vertices (V, 3), model_view_matrix, projection_matrix}
// img_path/annotation_path are relative to <root> (as DAD-3DNet joins them); the DAD-3DHeadsDataset
// or split folder are tried too, then images/<item_id>.png and annotations/<item_id>.json.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { embedPoints, type LandmarkEmbedding } from './metrics.ts';

export const DATASET_DIR = 'DAD-3DHeadsDataset';
/** Evaluation crop: the head box extended by 10 % on each side (dataset.py's EVAL_EXTEND). */
export const EVAL_EXTEND = 0.1;

/** A missing, foreign or malformed dataset: the message says which file and what to do. */
export class DatasetError extends Error {
  constructor(message: string) { super(message); this.name = 'DatasetError'; }
}

export interface DadItem {
  item_id: string;
  bbox: [number, number, number, number];
  img_path?: string;
  annotation_path?: string;
  attributes?: Record<string, unknown>;
}

export interface Annotation {
  /** (V, 3) model-frame vertices, f64. */
  vertices: Float64Array;
  modelView: Float64Array; // 4x4 row-major
  projection: Float64Array; // 4x4 row-major
  file: string;
}

export class DadDataset {
  private constructor(readonly root: string, readonly split: string, readonly splitDir: string, readonly items: DadItem[]) {}

  /**
   * `path`: the folder holding DAD-3DHeadsDataset/ (or that folder itself), with `split`; or a
   * split's annotation list `<split>.json` (the split is then its name).
   */
  static open(path: string, split = 'val'): DadDataset {
    if (!existsSync(path)) throw new DatasetError(`${path} does not exist: pass the folder that holds ${DATASET_DIR}/ (or a split's <split>.json)`);
    let root: string, splitDir: string;
    if (statSync(path).isFile()) {
      if (!path.endsWith('.json')) throw new DatasetError(`${path}: expected a folder holding ${DATASET_DIR}/ or a split's <split>.json annotation list`);
      split = basename(path, '.json');
      splitDir = dirname(path);
      const up = dirname(splitDir);
      root = basename(up) === DATASET_DIR ? dirname(up) : up;
    } else {
      root = path;
      const cands = [join(path, DATASET_DIR, split), join(path, split)];
      const found = cands.find((d) => existsSync(join(d, `${split}.json`)));
      if (!found) {
        throw new DatasetError(`no ${split}/${split}.json under ${path} (or ${path}/${DATASET_DIR}): point at the folder that holds ${DATASET_DIR}/ ` +
          `(DAD-3DHeads' layout: ${DATASET_DIR}/<split>/<split>.json, images/, annotations/), or choose the split with --split`);
      }
      splitDir = found;
    }
    const file = join(splitDir, `${split}.json`);
    let items: unknown;
    try { items = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
      throw new DatasetError(`${file}: not a readable JSON annotation list (${(e as Error).message})`);
    }
    if (!Array.isArray(items) || items.length === 0) throw new DatasetError(`${file}: expected a non-empty list of items (DAD-3DHeads' <split>.json)`);
    items.forEach((it, i) => {
      const b = (it as DadItem)?.bbox;
      if (typeof it !== 'object' || it === null || typeof (it as DadItem).item_id !== 'string' || !Array.isArray(b) || b.length !== 4 || b.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
        throw new DatasetError(`${file} item ${i}: needs item_id and bbox [x, y, w, h] (is this a DAD-3DHeads annotation list?)`);
      }
      if (b[2] <= 0 || b[3] <= 0) throw new DatasetError(`${file} item ${i} (${(it as DadItem).item_id}): bbox width and height must be positive, got ${JSON.stringify(b)}`);
    });
    return new DadDataset(root, split, splitDir, items as DadItem[]);
  }

  get length(): number { return this.items.length; }

  private resolve(rel: string | undefined, fallback: string): string {
    const cands = rel ? (isAbsolute(rel) ? [rel] : [this.root, dirname(this.splitDir), this.splitDir].map((b) => join(b, rel))) : [];
    cands.push(fallback);
    const hit = cands.find((c) => existsSync(c) && statSync(c).isFile());
    if (!hit) throw new DatasetError(`none of ${cands.join(', ')} exists`);
    return hit;
  }

  imagePath(i: number): string {
    const it = this.items[i];
    return this.resolve(it.img_path, join(this.splitDir, 'images', `${it.item_id}.png`));
  }

  annotation(i: number): Annotation {
    const it = this.items[i];
    const file = this.resolve(it.annotation_path, join(this.splitDir, 'annotations', `${it.item_id}.json`));
    let a: Record<string, unknown>;
    try { a = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
      throw new DatasetError(`${file}: not a readable JSON annotation (${(e as Error).message})`);
    }
    for (const k of ['vertices', 'model_view_matrix', 'projection_matrix']) {
      if (!(k in a)) throw new DatasetError(`${file}: no '${k}' (a DAD-3DHeads annotation has vertices, model_view_matrix, projection_matrix)`);
    }
    const flat = (k: string, n?: number) => {
      const v = Float64Array.from((a[k] as unknown[]).flat(2) as number[]);
      if ((n !== undefined ? v.length !== n : v.length % 3 !== 0) || v.some((x) => !Number.isFinite(x))) {
        throw new DatasetError(`${file}: '${k}' must be ${n === undefined ? '(V, 3)' : n} finite numbers, found ${v.length}`);
      }
      return v;
    };
    return { vertices: flat('vertices'), modelView: flat('model_view_matrix', 16), projection: flat('projection_matrix', 16), file };
  }

  /** The evaluation crop box (dataset.py's _box without augmentation): bbox + 10 % per side, integer origin. */
  evalBox(i: number): [number, number, number, number] {
    const [x, y, w, h] = this.items[i].bbox;
    const e = EVAL_EXTEND;
    const x0 = x - w * e, y0 = y - h * e, x1 = x + w * (1 + e), y1 = y + h * (1 + e);
    const bx = Math.floor(x0), by = Math.floor(y0);
    return [bx, by, Math.max(1, pyRound(x1 - bx)), Math.max(1, pyRound(y1 - by))];
  }
}

/** Python's round(): halves to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** (V, 3) model frame -> world (camera) frame: MV[:3,:3] v + MV[:3,3]. */
export function toWorld(v: ArrayLike<number>, mv: ArrayLike<number>): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i += 3) {
    for (let r = 0; r < 3; r++) out[i + r] = mv[4 * r] * v[i] + mv[4 * r + 1] * v[i + 1] + mv[4 * r + 2] * v[i + 2] + mv[4 * r + 3];
  }
  return out;
}

/** (N, 3) world points -> (N, 2) image pixels (x right, y down): projection, divide by w, y flipped. */
export function projectToPixels(world: ArrayLike<number>, P: ArrayLike<number>, height: number): Float64Array {
  const n = world.length / 3, out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    const [x, y, z] = [world[3 * i], world[3 * i + 1], world[3 * i + 2]];
    const h = (r: number) => P[4 * r] * x + P[4 * r + 1] * y + P[4 * r + 2] * z + P[4 * r + 3];
    const w = h(3);
    out[2 * i] = h(0) / w;
    out[2 * i + 1] = height - h(1) / w;
  }
  return out;
}

/** The benchmark's R_gt: (diag(1,-1,-1) model_view)[:3,:3], row-major 3x3. */
export function gtRotation(mv: ArrayLike<number>): Float64Array {
  const R = new Float64Array(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) R[3 * r + c] = (r === 0 ? 1 : -1) * mv[4 * r + c];
  return R;
}

export interface GroundTruth { landmarks: Float64Array; world: Float64Array; rotation: Float64Array }

/** Truth in the original image (dataset.py's gt_image_space): 68 landmarks (pixels), world vertices, R_gt. */
export function groundTruth(a: Annotation, height: number, embedding: LandmarkEmbedding | null): GroundTruth {
  const world = toWorld(a.vertices, a.modelView);
  const landmarks = embedding ? projectToPixels(embedPoints(world, embedding), a.projection, height) : new Float64Array(0);
  return { landmarks, world, rotation: gtRotation(a.modelView) };
}

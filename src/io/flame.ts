// FLAME model arrays (SPEC section 6): reading the published generic_model.pkl (pickle protocol 2
// with numpy arrays, chumpy Ch wrappers and a scipy.sparse J_regressor), .npz exports, and our
// own canonical safetensors file, plus the optional 68-point landmark embedding.
import { describe, fail } from './errors.ts';
import { NdArray, PyObject, unpickle } from './pickle.ts';
import { isNpy, ndarrayToFloat64, parseNpy, readNpz } from './numpy.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import type { WritableTensor } from './safetensors.ts';
import { formatShape } from './tensor.ts';
import type { HostTensor } from './tensor.ts';
import { isZip } from './zip.ts';

export interface FlameArrays {
  vTemplate: Float32Array; // (V, 3)
  shapedirs: Float32Array; // (V, 3, K)
  nShapedirs: number; // K
  posedirs: Float32Array; // (P, V*3), P = 9 * (J - 1)
  jRegressor: Float32Array; // (J, V)
  weights: Float32Array; // (V, J)
  parents: Int32Array; // (J), parents[0] = -1
  faces: Uint32Array; // (F, 3)
  V: number;
  F: number;
  J: number;
  lmkFacesIdx?: Uint32Array; // (68)
  lmkBaryCoords?: Float32Array; // (68, 3)
  /**
   * The yaw-dependent face contour (flame_dynamic_embedding.npy): (79, 17) face indices and
   * (79, 17, 3) barycentric weights, one row per yaw bin (row k: k degrees for k = 0..39, then
   * rows 40..78: -1..-39 degrees). When present, landmarks 0..16 are taken from the row of the
   * head's yaw (FLAME's dynamic lookup) instead of lmkFacesIdx/lmkBaryCoords' rows 0..16.
   */
  dynLmkFacesIdx?: Uint32Array;
  dynLmkBaryCoords?: Float32Array;
  synthetic: boolean;
}

export interface LandmarkSource {
  bytes: Uint8Array;
  file: string;
}

export interface FlameReadOptions {
  /** Landmark embedding files: flame_static_embedding.pkl, flame_dynamic_embedding.npy, or a file with 68 points. */
  landmarks?: LandmarkSource[];
}

export const FLAME_FORMAT = 'trans3dhead-flame';
const N_LANDMARKS = 68;
/** FLAME's dynamic contour: 17 points, one row per whole degree of yaw in [-39, 39]. */
export const N_CONTOUR = 17;
export const N_YAW_BINS = 79;

interface Arr {
  shape: number[];
  data: Float64Array;
}

/** Reads FLAME from a published .pkl, an .npz, or our safetensors (format detected from content). */
export function readFlame(bytes: Uint8Array, file = '<memory>', opts: FlameReadOptions = {}): FlameArrays {
  const { dict, synthetic } = readDict(bytes, file);
  const need = (...keys: string[]): [string, Arr] => {
    for (const k of keys) if (dict.has(k)) return [k, toArr(dict.get(k), file, k)];
    const present = [...dict.keys()].filter((k) => typeof k === 'string').slice(0, 20).join(', ');
    return fail(file, 'missing FLAME array', { key: keys.join(' or '), found: `keys ${present || '(none)'}` });
  };
  const shapeErr = (key: string, expected: string, a: Arr): never =>
    fail(file, 'FLAME array has the wrong shape', { key, expected, found: formatShape(a.shape) });

  const [, vt] = need('v_template');
  if (vt.shape.length !== 2 || vt.shape[1] !== 3 || vt.shape[0]! < 1) shapeErr('v_template', '(V, 3)', vt);
  const V = vt.shape[0]!;
  const [, jr] = need('J_regressor');
  if (jr.shape.length !== 2 || jr.shape[1] !== V || jr.shape[0]! < 1) shapeErr('J_regressor', `(J, V) with V = ${V}`, jr);
  const J = jr.shape[0]!;
  const P = 9 * (J - 1);
  const [, sd] = need('shapedirs');
  if (sd.shape.length !== 3 || sd.shape[0] !== V || sd.shape[1] !== 3) shapeErr('shapedirs', `(V, 3, K) with V = ${V}`, sd);
  const K = sd.shape[2]!;
  const [, pd] = need('posedirs');
  let posedirs: Float64Array;
  if (pd.shape.length === 3 && pd.shape[0] === V && pd.shape[1] === 3 && pd.shape[2] === P) {
    // Published layout (V, 3, P): reshape to (V*3, P) and transpose to (P, V*3).
    posedirs = new Float64Array(P * V * 3);
    for (let r = 0; r < V * 3; r++) for (let p = 0; p < P; p++) posedirs[p * V * 3 + r] = pd.data[r * P + p]!;
  } else if (pd.shape.length === 2 && pd.shape[0] === P && pd.shape[1] === V * 3) {
    posedirs = pd.data;
  } else {
    return shapeErr('posedirs', `(V, 3, ${P}) = [${V}, 3, ${P}] or (${P}, V*3) = [${P}, ${V * 3}]`, pd);
  }
  const [, w] = need('weights');
  if (w.shape.length !== 2 || w.shape[0] !== V || w.shape[1] !== J) shapeErr('weights', `(V, J) = [${V}, ${J}]`, w);

  let parents: Int32Array;
  if (dict.has('parents')) {
    const [, p] = need('parents');
    if (p.shape.length !== 1 || p.shape[0] !== J) shapeErr('parents', `(J) = [${J}]`, p);
    parents = toParents(p.data, file, 'parents');
  } else {
    const [, kt] = need('kintree_table');
    if (kt.shape.length !== 2 || kt.shape[0] !== 2 || kt.shape[1] !== J) shapeErr('kintree_table', `(2, J) = [2, ${J}]`, kt);
    parents = toParents(kt.data.subarray(0, J), file, 'kintree_table');
  }
  const [fkey, f] = need('f', 'faces');
  if (f.shape.length !== 2 || f.shape[1] !== 3) shapeErr(fkey, '(F, 3)', f);
  const F = f.shape[0]!;
  const faces = toIndices(f.data, V, file, fkey, 'vertex');

  for (const [key, a] of [['v_template', vt], ['shapedirs', sd], ['J_regressor', jr], ['weights', w]] as const) checkFinite(a.data, file, key);
  checkFinite(posedirs, file, 'posedirs');

  const out: FlameArrays = {
    vTemplate: Float32Array.from(vt.data), shapedirs: Float32Array.from(sd.data), nShapedirs: K,
    posedirs: Float32Array.from(posedirs), jRegressor: Float32Array.from(jr.data), weights: Float32Array.from(w.data),
    parents, faces, V, F, J, synthetic,
  };
  const sets = landmarkSets(dict, file, F);
  for (const src of opts.landmarks ?? []) {
    const d = readDict(src.bytes, src.file).dict;
    const found = landmarkSets(d, src.file, F);
    if (found.length === 0) {
      const keys = [...d.keys()].slice(0, 10).map((k) => describe(k)).join(', ');
      fail(src.file, 'no landmark embedding found', { expected: 'lmk_face_idx + lmk_b_coords (or lmk_faces_idx + lmk_bary_coords)', found: `keys ${keys}` });
    }
    sets.push(...found);
  }
  if (sets.length) {
    const lm = combineLandmarks(sets, opts.landmarks?.map((s) => s.file).join(' + ') || file);
    out.lmkFacesIdx = lm.idx;
    out.lmkBaryCoords = lm.bary;
    if (lm.dynIdx) {
      out.dynLmkFacesIdx = lm.dynIdx;
      out.dynLmkBaryCoords = lm.dynBary;
    }
  }
  return out;
}

/** Writes FLAME arrays as our canonical safetensors file (SPEC section 6 layouts). */
export function flameToSafetensors(a: FlameArrays): Uint8Array {
  const file = '<flameToSafetensors>';
  const { V, F, J } = a;
  const K = a.nShapedirs, P = 9 * (J - 1);
  const check = (key: string, data: ArrayLike<number>, n: number) => {
    if (data.length !== n) fail(file, 'FLAME array has the wrong length', { key, expected: `${n}`, found: `${data.length}` });
  };
  check('vTemplate', a.vTemplate, V * 3);
  check('shapedirs', a.shapedirs, V * 3 * K);
  check('posedirs', a.posedirs, P * V * 3);
  check('jRegressor', a.jRegressor, J * V);
  check('weights', a.weights, V * J);
  check('parents', a.parents, J);
  check('faces', a.faces, F * 3);
  const t = new Map<string, WritableTensor>([
    ['v_template', { shape: [V, 3], data: a.vTemplate }],
    ['shapedirs', { shape: [V, 3, K], data: a.shapedirs }],
    ['posedirs', { shape: [P, V * 3], data: a.posedirs }],
    ['J_regressor', { shape: [J, V], data: a.jRegressor }],
    ['weights', { shape: [V, J], data: a.weights }],
    ['parents', { shape: [J], data: Int32Array.from(a.parents) }],
    ['faces', { shape: [F, 3], data: Int32Array.from(a.faces) }],
  ]);
  if (a.lmkFacesIdx || a.lmkBaryCoords) {
    if (!a.lmkFacesIdx || !a.lmkBaryCoords) fail(file, 'landmark embedding needs both lmkFacesIdx and lmkBaryCoords');
    const n = a.lmkFacesIdx.length;
    check('lmkBaryCoords', a.lmkBaryCoords, n * 3);
    t.set('lmk_faces_idx', { shape: [n], data: Int32Array.from(a.lmkFacesIdx) });
    t.set('lmk_bary_coords', { shape: [n, 3], data: a.lmkBaryCoords });
  }
  if (a.dynLmkFacesIdx || a.dynLmkBaryCoords) {
    if (!a.dynLmkFacesIdx || !a.dynLmkBaryCoords || !a.lmkFacesIdx) fail(file, 'the dynamic contour needs dynLmkFacesIdx, dynLmkBaryCoords and the 68-point embedding');
    check('dynLmkFacesIdx', a.dynLmkFacesIdx, N_YAW_BINS * N_CONTOUR);
    check('dynLmkBaryCoords', a.dynLmkBaryCoords, N_YAW_BINS * N_CONTOUR * 3);
    t.set('dynamic_lmk_faces_idx', { shape: [N_YAW_BINS, N_CONTOUR], data: Int32Array.from(a.dynLmkFacesIdx) });
    t.set('dynamic_lmk_bary_coords', { shape: [N_YAW_BINS, N_CONTOUR, 3], data: a.dynLmkBaryCoords });
  }
  return writeSafetensors(t, { format: FLAME_FORMAT, synthetic: a.synthetic ? 'true' : 'false' });
}

/** Loads any supported container into a key -> value dict. */
function readDict(bytes: Uint8Array, file: string): { dict: Map<unknown, unknown>; synthetic: boolean } {
  if (looksLikeSafetensors(bytes)) {
    const { tensors, metadata } = readSafetensors(bytes, file);
    if (metadata.format !== undefined && metadata.format !== FLAME_FORMAT) {
      fail(file, 'safetensors file is not a FLAME file', { key: '__metadata__.format', expected: FLAME_FORMAT, found: describe(metadata.format) });
    }
    return { dict: new Map<unknown, unknown>(tensors), synthetic: metadata.synthetic === 'true' };
  }
  if (isZip(bytes)) return { dict: new Map<unknown, unknown>(readNpz(bytes, file)), synthetic: false };
  let root: unknown;
  if (isNpy(bytes)) {
    const a = parseNpy(bytes, file);
    root = a.objects && a.objects.length === 1 ? a.objects[0] : a;
  } else if (bytes.length > 0 && (bytes[0] === 0x80 || bytes[0] === 0x28 || bytes[0] === 0x7d)) {
    root = unpickle(bytes, { file });
  } else {
    return fail(file, 'unrecognised FLAME file format', { expected: 'a .pkl, .npz, .npy or safetensors file' });
  }
  if (!(root instanceof Map)) return fail(file, 'FLAME file does not hold a dict', { found: describe(root) });
  return { dict: root, synthetic: false };
}

function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10 || bytes[8] !== 0x7b) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n <= BigInt(bytes.length - 8);
}

/** numpy arrays, chumpy Ch (array in `x`), scipy csc/csr matrices (densified), host tensors. */
function toArr(v: unknown, file: string, key: string, depth = 0): Arr {
  if (v instanceof NdArray) {
    if (v.objects) return fail(file, 'expected a numeric array', { key, found: 'numpy object array' });
    return ndarrayToFloat64(v, file, key);
  }
  if (v instanceof PyObject && v.cls === 'chumpy.ch.Ch') {
    if (!v.state.has('x') || depth > 4) {
      return fail(file, 'chumpy object without a plain array', { key, hint: 'only plain Ch arrays are supported; in Python, replace it with np.array(value) and re-save' });
    }
    return toArr(v.state.get('x'), file, key, depth + 1);
  }
  if (v instanceof PyObject && /^scipy\.sparse\._?cs[cr]\.cs[cr]_matrix$/.test(v.cls)) return sparseToDense(v, file, key);
  if (isHostTensor(v)) return { shape: v.shape.slice(), data: Float64Array.from(v.data) };
  return fail(file, 'expected an array', { key, found: describe(v) });
}

function isHostTensor(v: unknown): v is HostTensor {
  return typeof v === 'object' && v !== null && (v as HostTensor).data instanceof Float32Array && Array.isArray((v as HostTensor).shape);
}

function sparseToDense(m: PyObject, file: string, key: string): Arr {
  const csc = m.cls.includes('csc');
  const part = (name: string): Float64Array => {
    const x = m.state.get(name);
    if (!(x instanceof NdArray)) return fail(file, `sparse matrix lacks ${name}`, { key, found: describe(x) });
    const a = ndarrayToFloat64(x, file, key);
    if (a.shape.length !== 1) fail(file, `sparse matrix ${name} is not 1-D`, { key, found: formatShape(a.shape) });
    return a.data;
  };
  const shape = m.state.get('_shape') ?? m.state.get('shape');
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail(file, 'sparse matrix has an invalid shape', { key, found: describe(shape) });
  }
  const [rows, cols] = shape as [number, number];
  // Dense FLAME J_regressor is (5, V); anything near this cap is not a FLAME model.
  if (rows * cols > 1 << 26) fail(file, 'sparse matrix too large to densify', { key, expected: `at most ${1 << 26} elements`, found: formatShape([rows, cols]) });
  const data = part('data'), indices = part('indices'), indptr = part('indptr');
  const major = csc ? cols : rows, minor = csc ? rows : cols;
  if (indptr.length !== major + 1 || indptr[0] !== 0 || indptr[major] !== data.length || indices.length !== data.length) {
    fail(file, 'sparse matrix index arrays are inconsistent', { key, found: `indptr ${indptr.length}, indices ${indices.length}, data ${data.length}` });
  }
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < major; j++) {
    const a = indptr[j]!, b = indptr[j + 1]!;
    if (!(a <= b && b <= data.length)) fail(file, 'sparse matrix indptr is not monotonic', { key });
    for (let p = a; p < b; p++) {
      const i = indices[p]!;
      if (!Number.isInteger(i) || i < 0 || i >= minor) fail(file, 'sparse matrix index out of range', { key, found: `${i}` });
      out[csc ? i * cols + j : j * cols + i] += data[p]!;
    }
  }
  return { shape: [rows, cols], data: out };
}

function checkFinite(d: Float64Array, file: string, key: string): void {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) fail(file, 'FLAME array holds NaN or infinity', { key, found: `element ${i}` });
}

function toIndices(d: Float64Array, limit: number, file: string, key: string, what: string): Uint32Array {
  const out = new Uint32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const x = d[i]!;
    if (!Number.isInteger(x) || x < 0 || x >= limit) fail(file, `${what} index out of range`, { key, expected: `integers in [0, ${limit})`, found: `${x} at element ${i}` });
    out[i] = x;
  }
  return out;
}

/** Parent of each joint; the root's parent is stored as -1 or as a huge uint (2^32 - 1). */
function toParents(d: Float64Array, file: string, key: string): Int32Array {
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const p = d[i]!;
    if (i === 0) {
      if (p !== -1 && p < 2 ** 31) fail(file, 'the first joint must be the root', { key, expected: '-1 (or 4294967295)', found: `${p}` });
      out[0] = -1;
    } else {
      // LBS composes transforms in joint order, so a parent must come before its child.
      if (!Number.isInteger(p) || p < 0 || p >= i) fail(file, 'invalid joint parent', { key, expected: `an earlier joint (0..${i - 1}) for joint ${i}`, found: `${p}` });
      out[i] = p;
    }
  }
  return out;
}

interface LandmarkSet {
  idx: Uint32Array; // (N), or (R, N) for a dynamic table
  bary: Float32Array; // (N, 3), or (R, N, 3)
  n: number;
  rows: number; // 1 for static points; yaw bins for the dynamic contour
  dynamic: boolean;
  key: string;
}

const LANDMARK_KEYS: [string, string][] = [
  ['lmk_faces_idx', 'lmk_bary_coords'],
  ['lmk_face_idx', 'lmk_b_coords'],
  ['full_lmk_faces_idx', 'full_lmk_bary_coords'],
  ['static_lmk_faces_idx', 'static_lmk_bary_coords'],
  ['dynamic_lmk_faces_idx', 'dynamic_lmk_bary_coords'],
];

/**
 * An embedding array: a numeric array, or (the published flame_dynamic_embedding.npy) a Python
 * list of equally shaped arrays, one per yaw bin, stacked here on a new first axis.
 */
function embeddingArr(v: unknown, file: string, key: string): Arr {
  if (!Array.isArray(v)) return toArr(v, file, key);
  if (v.length === 0 || v.length > 4096) return fail(file, 'landmark embedding list has a bad length', { key, expected: '1 to 4096 rows', found: `${v.length}` });
  const rows = v.map((r, i) => toArr(r, file, `${key}[${i}]`));
  const shape = rows[0]!.shape;
  const per = rows[0]!.data.length;
  rows.forEach((r, i) => {
    if (formatShape(r.shape) !== formatShape(shape)) fail(file, 'landmark embedding rows differ in shape', { key: `${key}[${i}]`, expected: formatShape(shape), found: formatShape(r.shape) });
  });
  const data = new Float64Array(rows.length * per);
  rows.forEach((r, i) => data.set(r.data, i * per));
  return { shape: [rows.length, ...shape], data };
}

function landmarkSets(dict: Map<unknown, unknown>, file: string, F: number): LandmarkSet[] {
  const sets: LandmarkSet[] = [];
  for (const [ik, bk] of LANDMARK_KEYS) {
    if (!dict.has(ik) && !dict.has(bk)) continue;
    if (!dict.has(ik) || !dict.has(bk)) fail(file, 'landmark embedding is incomplete', { key: dict.has(ik) ? bk : ik, expected: `both ${ik} and ${bk}` });
    const ia = embeddingArr(dict.get(ik), file, ik), ba = embeddingArr(dict.get(bk), file, bk);
    // Static: idx (N) or (1, N), bary (N, 3) or (1, N, 3). Dynamic (FLAME's contour):
    // idx (R, N), bary (R, N, 3), one row per yaw bin: row k for k degrees (0..39), rows 40..78
    // for -1..-39 degrees, so row 0 is the frontal contour.
    const is = ia.shape.filter((d, i) => !(i === 0 && d === 1 && ia.shape.length > 1));
    const bs = ba.shape.filter((d, i) => !(i === 0 && d === 1 && ba.shape.length > 2));
    const dynamic = is.length === 2 && bs.length === 3 && bs[0] === is[0] && bs[1] === is[1] && bs[2] === 3;
    if (!dynamic && !(is.length === 1 && bs.length === 2 && bs[0] === is[0] && bs[1] === 3)) {
      fail(file, 'landmark embedding has the wrong shape', { key: `${ik}, ${bk}`, expected: '(N) and (N, 3), or (R, N) and (R, N, 3)', found: `${formatShape(ia.shape)} and ${formatShape(ba.shape)}` });
    }
    const n = is[is.length - 1]!;
    const rows = dynamic ? is[0]! : 1;
    if (dynamic && rows !== N_YAW_BINS) {
      fail(file, 'dynamic contour embedding has the wrong number of yaw rows', {
        key: ik, expected: `${N_YAW_BINS} rows (0..39 degrees, then -1..-39), as flame_dynamic_embedding.npy`, found: `${rows} rows of ${n} points`,
      });
    }
    const idx = toIndices(ia.data.subarray(0, rows * n), F, file, ik, 'face');
    const bary = ba.data.subarray(0, rows * n * 3);
    checkFinite(bary, file, bk);
    sets.push({ idx, bary: Float32Array.from(bary), n, rows, dynamic, key: ik });
  }
  return sets;
}

interface Combined { idx: Uint32Array; bary: Float32Array; dynIdx?: Uint32Array; dynBary?: Float32Array }

/**
 * 68 points directly, or the iBUG order: 17 contour points (frontal row of the dynamic table)
 * then 51 static. A 17-point dynamic table, when given, is kept whole for the yaw lookup.
 */
function combineLandmarks(sets: LandmarkSet[], file: string): Combined {
  const dyn = sets.find((s) => s.dynamic && s.n === N_CONTOUR);
  const table = dyn ? { dynIdx: dyn.idx, dynBary: dyn.bary } : {};
  const full = sets.find((s) => !s.dynamic && s.n === N_LANDMARKS);
  if (full) return { idx: full.idx, bary: full.bary, ...table };
  const stat = sets.find((s) => !s.dynamic && s.n === N_LANDMARKS - N_CONTOUR);
  if (stat && dyn) {
    const idx = new Uint32Array(N_LANDMARKS), bary = new Float32Array(N_LANDMARKS * 3);
    idx.set(dyn.idx.subarray(0, N_CONTOUR)); idx.set(stat.idx, N_CONTOUR);
    bary.set(dyn.bary.subarray(0, N_CONTOUR * 3)); bary.set(stat.bary, N_CONTOUR * 3);
    return { idx, bary, ...table };
  }
  const found = sets.map((s) => `${s.key}: ${s.n} ${s.dynamic ? 'dynamic contour' : 'static'} points`).join('; ');
  return fail(file, 'cannot form the 68-point landmark embedding', {
    expected: '68 static points, or 51 static (flame_static_embedding.pkl) plus the 17-point contour (flame_dynamic_embedding.npy)',
    found,
  });
}

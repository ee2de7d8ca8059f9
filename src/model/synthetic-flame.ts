// A seeded synthetic FLAME with the real array shapes (V = 5023, F = 9976, 400 blend shapes,
// 36 pose correctives, 5 joints, a 68-point landmark embedding). The real FLAME is licensed and
// cannot be shipped: tests and the no-FLAME default use this head-like stand-in instead.
//
// It is a port of "Synthetic FLAME v1" (python/trans3dhead_ref/synthetic_flame.py), built to
// be bit-identical: every value is computed in float64 with + - * / min max sqrt (and sin/cos
// of the grid angles) in the same order as the Python, from a 32-bit integer hash, then
// rounded once to float32. So the PyTorch fixtures made on the Python arrays apply here
// without shipping 24 MB (test/synthetic-flame checks the sha256 of every array).
import type { FlameArrays } from '../io/flame.ts';

const NUM_RINGS = 81, NUM_COLS = 62;
const V = NUM_RINGS * NUM_COLS + 1; // 5023
const F = 9976; // 62 + 80*62*2 = 9982 triangles; the last 6 are dropped (a notch in the neck's rim)
const NUM_SHAPE = 300, NUM_EXPR = 100;
const PARENTS = [-1, 0, 1, 1, 1]; // global, neck, jaw, left eye (+x), right eye (-x)
const S_JREG = 1, S_SHAPE = 2, S_POSE = 3, S_BARY = 4, S_LMKTRI = 5;

/** (ring, column) of the 68 landmark triangles' quads (frozen literals, see the Python). */
const LMK_QUADS: [number, number][] = [
  [37, 55], [40, 55], [43, 55], [46, 56], [48, 57], [50, 58], [51, 59], [52, 61], [53, 0],
  [52, 1], [51, 3], [50, 4], [48, 5], [46, 6], [43, 7], [40, 7], [37, 7],
  [31, 55], [30, 57], [30, 58], [30, 59], [31, 61], [31, 1], [30, 3], [30, 4], [30, 5], [31, 7],
  [34, 0], [36, 0], [38, 0], [40, 0], [42, 60], [42, 61], [42, 0], [42, 1], [42, 2],
  [35, 57], [34, 58], [34, 59], [35, 60], [36, 59], [36, 58],
  [35, 2], [34, 3], [34, 4], [35, 5], [36, 4], [36, 3],
  [47, 59], [46, 59], [45, 60], [45, 0], [45, 2], [46, 3], [47, 3], [48, 3], [49, 2], [49, 0],
  [49, 60], [48, 59], [47, 60], [46, 60], [46, 0], [46, 2], [47, 2], [48, 2], [48, 0], [48, 60],
];

const range = (a: number, b: number, step = 1) => Array.from({ length: Math.ceil((b - a) / step) }, (_, i) => a + i * step);
/** J_regressor supports: every (ring, column) pair, rings outer. */
const JREG_SUPPORT: [number[], number[]][] = [
  [[78, 79], range(0, 62, 4)], // global: bottom of the neck
  [[60, 61], range(0, 62, 4)], // neck
  [[40, 41, 42, 43], [14, 15, 16, 17, 45, 46, 47, 48]], // jaw: both sides at ear level
  [[34, 35, 36, 37], [2, 3, 4, 5]], // left eye (+x)
  [[34, 35, 36, 37], [57, 58, 59, 60]], // right eye (-x)
];

/** lowbias32 (C. Wellons) on uint32. */
function hash32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** A stream of hashed bits: hash32(index ^ hash32(seed ^ hash32(stream))). */
function stream(seed: number, s: number) {
  const key = hash32((seed >>> 0) ^ hash32(s));
  return {
    bits: (i: number) => hash32((i ^ key) >>> 0),
    /** [0, 1) with 24 bits: exact in f32 and f64. */
    unit: (i: number) => (hash32((i ^ key) >>> 0) >>> 8) * 2 ** -24,
  };
}

const clamp01 = (x: number) => Math.min(Math.max(x, 0), 1);

/**
 * The synthetic FLAME for `seed` (deterministic; ~0.2 s). Head: ellipsoid (x 0.078, y 0.1,
 * z 0.092 model units) with a nose bump and a neck, face towards +z, y up, subject's left eye at +x.
 */
export function syntheticFlame(seed = 0): FlameArrays {
  // Unit-sphere direction per vertex: the top pole first, then ring-major.
  const xn = new Float64Array(V), yn = new Float64Array(V), zn = new Float64Array(V);
  yn[0] = 1;
  for (let r = 0; r < NUM_RINGS; r++) {
    const th = (Math.PI * (r + 1)) / 84;
    const st = Math.sin(th), ct = Math.cos(th);
    for (let c = 0; c < NUM_COLS; c++) {
      const ph = (2 * Math.PI * c) / NUM_COLS;
      const v = 1 + r * NUM_COLS + c;
      xn[v] = st * Math.sin(ph);
      yn[v] = ct;
      zn[v] = st * Math.cos(ph);
    }
  }

  const vTemplate = new Float32Array(V * 3);
  const weights = new Float32Array(V * 5);
  const mouth = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    const x = xn[v], y = yn[v], z = zn[v];
    // Template: ellipsoid, the neck (y < -0.6) widened to a cylinder and stretched down.
    const rho = Math.sqrt(x * x + z * z);
    const neck = y < -0.6;
    const grow = neck ? Math.max(rho, 0.5) / Math.max(rho, 1e-12) : 1.0;
    const yy = neck ? 0.1 * y - 0.08 * (-0.6 - y) : 0.1 * y;
    const n = 1.0 - (x * x / 0.03 + (y + 0.05) * (y + 0.05) / 0.04);
    const nose = z > 0 ? Math.max(n, 0) : 0;
    vTemplate[v * 3] = 0.078 * x * grow;
    vTemplate[v * 3 + 1] = yy;
    vTemplate[v * 3 + 2] = 0.092 * z * grow + 0.015 * nose * nose;

    // Skinning weights: root at the neck's bottom, neck everywhere, jaw on the lower front
    // face, eyes around the eye directions; normalised rows.
    const w0 = clamp01((-0.8 - y) * 5.0);
    const w1 = 1.0 - w0;
    const w2 = clamp01((-0.05 - y) * 4.0) * clamp01((z - 0.2) * 3.0) * (1.0 - w0);
    const eye = (ex: number) => {
      const dx = x - ex, dy = y - 0.22, dz = z - 0.93;
      const e = Math.max(1.0 - (dx * dx + dy * dy + dz * dz) / 0.05, 0);
      return 2.0 * e * e;
    };
    const w3 = eye(0.3), w4 = eye(-0.3);
    const total = w0 + w1 + w2 + w3 + w4;
    weights[v * 5] = w0 / total;
    weights[v * 5 + 1] = w1 / total;
    weights[v * 5 + 2] = w2 / total;
    weights[v * 5 + 3] = w3 / total;
    weights[v * 5 + 4] = w4 / total;
    mouth[v] = clamp01((0.1 - y) * 3.0) * clamp01(z * 2.0);
  }

  // J_regressor: a few dozen vertices per joint, hashed positive weights summing to 1.
  const jRegressor = new Float32Array(5 * V);
  const jr = stream(seed, S_JREG);
  JREG_SUPPORT.forEach(([rings, cols], k) => {
    const idx = rings.flatMap((r) => cols.map((c) => 1 + r * NUM_COLS + c));
    const w = idx.map((i) => 1.0 + jr.unit(k * V + i));
    let s = 0;
    for (const x of w) s += x;
    idx.forEach((i, j) => { jRegressor[k * V + i] = w[j] / s; });
  });

  // Blend-shape fields: sum_j coef[row, c, j] * basis_j(direction), j in order.
  const field = (st: ReturnType<typeof stream>, row: number, scale: (v: number, c: number, val: number) => number, out: Float32Array, offset: (v: number, c: number) => number) => {
    for (let c = 0; c < 3; c++) {
      const coef = new Float64Array(10);
      for (let j = 0; j < 10; j++) coef[j] = st.unit((row * 3 + c) * 10 + j) * 2.0 - 1.0;
      for (let v = 0; v < V; v++) {
        const x = xn[v], y = yn[v], z = zn[v];
        let val = 0;
        val = val + coef[0] * 1;
        val = val + coef[1] * x;
        val = val + coef[2] * y;
        val = val + coef[3] * z;
        val = val + coef[4] * (x * y);
        val = val + coef[5] * (y * z);
        val = val + coef[6] * (z * x);
        val = val + coef[7] * (x * x);
        val = val + coef[8] * (y * y);
        val = val + coef[9] * (z * z);
        out[offset(v, c)] = scale(v, c, val);
      }
    }
  };

  // Shape (0..299) everywhere; expression (300..399) on the lower front face. Layout (V, 3, K).
  const K = NUM_SHAPE + NUM_EXPR;
  const shapedirs = new Float32Array(V * 3 * K);
  const sh = stream(seed, S_SHAPE);
  for (let k = 0; k < K; k++) {
    const off = (v: number, c: number) => (v * 3 + c) * K + k;
    if (k < NUM_SHAPE) {
      const a = 0.006 / (1.0 + k / 50.0);
      field(sh, k, (_v, _c, f) => f * a, shapedirs, off);
    } else {
      const a = 0.004 / (1.0 + (k - NUM_SHAPE) / 25.0);
      field(sh, k, (v, _c, f) => f * a * mouth[v], shapedirs, off);
    }
  }

  // Pose correctives: feature p belongs to joint 1 + p // 9, masked by that joint's f32 weight.
  const posedirs = new Float32Array(36 * V * 3);
  const po = stream(seed, S_POSE);
  for (let p = 0; p < 36; p++) {
    const j = 1 + Math.floor(p / 9);
    field(po, p, (v, _c, f) => f * 0.004 * weights[v * 5 + j], posedirs, (v, c) => p * V * 3 + v * 3 + c);
  }

  // Landmark embedding: one of the quad's two triangles, hashed barycentrics summing to 1.
  const tri = stream(seed, S_LMKTRI), bary = stream(seed, S_BARY);
  const lmkFacesIdx = new Uint32Array(68);
  const lmkBaryCoords = new Float32Array(68 * 3);
  LMK_QUADS.forEach(([r, c], i) => {
    lmkFacesIdx[i] = NUM_COLS + 2 * (r * NUM_COLS + c) + (tri.bits(i) & 1);
    const b = [0, 1, 2].map((j) => 1.0 + bary.unit(i * 3 + j));
    const s = b[0] + b[1] + b[2];
    for (let j = 0; j < 3; j++) lmkBaryCoords[i * 3 + j] = b[j] / s;
  });

  // Faces: a top fan, then two triangles per quad, outward-facing; the last 6 dropped.
  const faces = new Uint32Array(F * 3);
  let f = 0;
  const push = (a: number, b: number, c: number) => {
    if (f >= F) return;
    faces[3 * f] = a; faces[3 * f + 1] = b; faces[3 * f + 2] = c;
    f++;
  };
  for (let c = 0; c < NUM_COLS; c++) push(0, 1 + c, 1 + ((c + 1) % NUM_COLS));
  for (let r = 0; r < NUM_RINGS - 1; r++) {
    for (let c = 0; c < NUM_COLS; c++) {
      const a = 1 + r * NUM_COLS + c, b = 1 + r * NUM_COLS + ((c + 1) % NUM_COLS);
      push(a, a + NUM_COLS, b);
      push(b, a + NUM_COLS, b + NUM_COLS);
    }
  }

  return {
    vTemplate, shapedirs, nShapedirs: K, posedirs, jRegressor, weights,
    parents: Int32Array.from(PARENTS), faces, V, F, J: 5, lmkFacesIdx, lmkBaryCoords, synthetic: true,
  };
}

/**
 * A synthetic dynamic contour for `f` (a synthetic FLAME): FLAME's 79 yaw rows x 17 points,
 * rows 0..39 for 0..39 degrees, 40..78 for -1..-39. Row 0 is f's frontal contour (landmarks
 * 0..16); row k moves each point trunc(yaw / 5) quads around the head and blends its
 * barycentrics towards a corner by a weight distinct per row, so every row differs from its
 * neighbours. Bit-identical to synthetic_flame.dynamic_contour (float64, one rounding).
 */
export function syntheticDynamicContour(f: FlameArrays): { dynLmkFacesIdx: Uint32Array; dynLmkBaryCoords: Float32Array } {
  if (!f.lmkFacesIdx || !f.lmkBaryCoords) throw new Error('syntheticDynamicContour: the FLAME has no landmark embedding');
  const dynLmkFacesIdx = new Uint32Array(79 * 17), dynLmkBaryCoords = new Float32Array(79 * 17 * 3);
  for (let k = 0; k < 79; k++) {
    const y = k <= 39 ? k : 39 - k;
    const shift = Math.trunc(y / 5);
    const w = (y >= 0 ? y : 0.5 - y) / 40;
    for (let i = 0; i < 17; i++) {
      const [r, c] = LMK_QUADS[i];
      const base = NUM_COLS + 2 * (r * NUM_COLS + c);
      const cs = (((c + shift) % NUM_COLS) + NUM_COLS) % NUM_COLS;
      dynLmkFacesIdx[k * 17 + i] = NUM_COLS + 2 * (r * NUM_COLS + cs) + (f.lmkFacesIdx[i] - base);
      for (let j = 0; j < 3; j++) {
        const tgt = j === i % 3 ? 0.8 : 0.1;
        dynLmkBaryCoords[(k * 17 + i) * 3 + j] = (1 - w) * f.lmkBaryCoords[i * 3 + j] + w * tgt;
      }
    }
  }
  return { dynLmkFacesIdx, dynLmkBaryCoords };
}

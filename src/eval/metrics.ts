// The DAD-3DHeads benchmark metrics and AFLW2000-3D's pose MAE, per sample, in f64: a port of
// python/trans3dhead_train/metrics.py with the same conventions, units and normalisation (read
// its docstring for the derivation from DAD-3DHeads' benchmark code):
// - NME: mean 2D landmark distance (image pixels) / sqrt(bbox w * h) * 100, over the 68;
// - Z5 accuracy on the "head" subset: truth in the world frame negated (z away from the camera,
//   like the prediction's image frame); per truth vertex its 5 nearest truth vertices (3D, itself
//   excluded); the fraction of (vertex, neighbour) pairs whose order in z agrees;
// - Chamfer: truth scaled to an inner-eye (landmarks 39, 42) distance of 20; prediction aligned by
//   a similarity Procrustes on the 7 keypoints (reflection allowed, as the benchmark); mean over
//   the truth's "face" subset of the SQUARED distance to the nearest aligned predicted vertex;
// - pose error: ||I - R_pred R_gt^T||_F, R_gt = (diag(1,-1,-1) model_view)[:3,:3];
// - pose MAE: |pitch|, |yaw|, |roll| errors in degrees wrapped to (-180, 180], averaged.
// Points are flat row-major arrays: (N, 2) or (N, 3).

/** The 7 landmarks of the RingNet/NoW rigid alignment (eye corners, nose tip, mouth corners), as indices into the 68. */
export const SEVEN_OF_68 = [36, 39, 42, 45, 33, 48, 54] as const;

type Vec = ArrayLike<number>;

/** NME in percent: pred/gt (68, 2) image pixels, bbox [x, y, w, h] of the item. */
export function nme(pred: Vec, gt: Vec, bbox: ArrayLike<number>): number {
  if (pred.length !== gt.length || pred.length % 2) throw new Error(`nme: ${pred.length} vs ${gt.length} coordinates`);
  const n = pred.length / 2, norm = Math.sqrt(bbox[2] * bbox[3]);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.hypot(pred[2 * i] - gt[2 * i], pred[2 * i + 1] - gt[2 * i + 1]) / norm;
  return (s / n) * 100;
}

/** ||I - R_pred R_gt^T||_F, both row-major 3x3. */
export function poseError(Rp: Vec, Rg: Vec): number {
  let s = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let m = 0;
      for (let k = 0; k < 3; k++) m += Rp[3 * i + k] * Rg[3 * j + k];
      const d = (i === j ? 1 : 0) - m;
      s += d * d;
    }
  }
  return Math.sqrt(s);
}

/** Z_n accuracy in [0, 1]: pred/gt (K, 3) points of one topology, z growing away from the camera. */
export function znAccuracy(pred: Vec, gt: Vec, n = 5): number {
  const K = gt.length / 3;
  if (pred.length !== gt.length) throw new Error(`znAccuracy: ${pred.length / 3} vs ${K} points`);
  if (K < n + 1) throw new Error(`znAccuracy: ${K} points, need more than ${n}`);
  const bestD = new Float64Array(n + 1), bestJ = new Int32Array(n + 1);
  let agree = 0;
  for (let i = 0; i < K; i++) {
    // The n + 1 nearest (itself first, at distance 0), kept sorted by insertion.
    bestD.fill(Infinity);
    const xi = gt[3 * i], yi = gt[3 * i + 1], zi = gt[3 * i + 2];
    for (let j = 0; j < K; j++) {
      const dx = gt[3 * j] - xi, dy = gt[3 * j + 1] - yi, dz = gt[3 * j + 2] - zi;
      const d = dx * dx + dy * dy + dz * dz;
      if (d >= bestD[n]) continue;
      let p = n;
      while (p > 0 && bestD[p - 1] > d) { bestD[p] = bestD[p - 1]; bestJ[p] = bestJ[p - 1]; p--; }
      bestD[p] = d; bestJ[p] = j;
    }
    const pz = pred[3 * i + 2];
    for (let m = 1; m <= n; m++) {
      const j = bestJ[m];
      if ((zi >= gt[3 * j + 2]) === (pz >= pred[3 * j + 2])) agree++;
    }
  }
  return agree / (K * n);
}

function gather(points: Vec, idx: ArrayLike<number>, sign = 1): Float64Array {
  const out = new Float64Array(idx.length * 3);
  for (let k = 0; k < idx.length; k++) for (let c = 0; c < 3; c++) out[3 * k + c] = sign * points[3 * idx[k] + c];
  return out;
}

/** Benchmark Z5: prediction in the image frame (the model's `vertices`), truth in the world frame. */
export function z5(predVertices: Vec, gtWorld: Vec, headIdx: ArrayLike<number>): number {
  return znAccuracy(gather(predVertices, headIdx), gather(gtWorld, headIdx, -1), 5);
}

/** SVD of a row-major 3x3 matrix by one-sided Jacobi: A = U diag(s) V^T (s >= 0, unsorted). */
export function svd3(A: Vec): { U: Float64Array; s: Float64Array; V: Float64Array } {
  const W = Float64Array.from(A as ArrayLike<number>); // columns rotated in place: W = A V
  const V = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < 2; p++) {
      for (let q = p + 1; q < 3; q++) {
        let a = 0, b = 0, c = 0;
        for (let r = 0; r < 3; r++) { a += W[3 * r + p] ** 2; b += W[3 * r + q] ** 2; c += W[3 * r + p] * W[3 * r + q]; }
        if (Math.abs(c) <= 1e-300 || Math.abs(c) <= 1e-17 * Math.sqrt(a * b)) continue;
        off = Math.max(off, Math.abs(c) / Math.sqrt(a * b));
        const zeta = (b - a) / (2 * c);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t), sn = cs * t;
        for (let r = 0; r < 3; r++) {
          const wp = W[3 * r + p], wq = W[3 * r + q];
          W[3 * r + p] = cs * wp - sn * wq; W[3 * r + q] = sn * wp + cs * wq;
          const vp = V[3 * r + p], vq = V[3 * r + q];
          V[3 * r + p] = cs * vp - sn * vq; V[3 * r + q] = sn * vp + cs * vq;
        }
      }
    }
    if (off < 1e-15) break;
  }
  const s = new Float64Array(3), U = new Float64Array(9);
  for (let c = 0; c < 3; c++) {
    s[c] = Math.hypot(W[c], W[3 + c], W[6 + c]);
    for (let r = 0; r < 3; r++) U[3 * r + c] = s[c] > 1e-300 ? W[3 * r + c] / s[c] : 0;
  }
  // A zero singular value leaves a zero column: complete U to an orthonormal basis.
  for (let c = 0; c < 3; c++) {
    if (s[c] > 1e-12 * Math.max(s[0], s[1], s[2])) continue;
    const a = (c + 1) % 3, b = (c + 2) % 3;
    const x = [U[3 + a] * U[6 + b] - U[6 + a] * U[3 + b], U[6 + a] * U[b] - U[a] * U[6 + b], U[a] * U[3 + b] - U[3 + a] * U[b]];
    const nx = Math.hypot(x[0], x[1], x[2]);
    if (nx > 0) for (let r = 0; r < 3; r++) U[3 * r + c] = x[r] / nx;
  }
  return { U, s, V };
}

/**
 * Similarity Procrustes, as metrics.py's procrustes(X, Y): scale b, orthogonal T (reflection
 * allowed), translation c with b * Y T + c ~ X in least squares. X, Y (N, 3).
 */
export function procrustes(X: Vec, Y: Vec): { b: number; T: Float64Array; c: Float64Array } {
  const N = X.length / 3;
  const mx = [0, 0, 0], my = [0, 0, 0];
  for (let i = 0; i < N; i++) for (let k = 0; k < 3; k++) { mx[k] += X[3 * i + k] / N; my[k] += Y[3 * i + k] / N; }
  let nx = 0, ny = 0;
  for (let i = 0; i < N; i++) for (let k = 0; k < 3; k++) { nx += (X[3 * i + k] - mx[k]) ** 2; ny += (Y[3 * i + k] - my[k]) ** 2; }
  nx = Math.sqrt(nx); ny = Math.sqrt(ny);
  const A = new Float64Array(9); // (X0/nx)^T (Y0/ny)
  for (let i = 0; i < N; i++) {
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) A[3 * r + c] += ((X[3 * i + r] - mx[r]) / nx) * ((Y[3 * i + c] - my[c]) / ny);
  }
  const { U, s, V } = svd3(A);
  // numpy: A = U S Vt, T = Vt^T U^T = V U^T.
  const T = new Float64Array(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) T[3 * r + c] += V[3 * r + k] * U[3 * c + k];
  const b = ((s[0] + s[1] + s[2]) * nx) / ny;
  const c = new Float64Array(3);
  for (let k = 0; k < 3; k++) {
    let m = 0;
    for (let j = 0; j < 3; j++) m += my[j] * T[3 * j + k];
    c[k] = mx[k] - b * m;
  }
  return { b, T, c };
}

/** A 68-landmark embedding: a face index and barycentric coordinates per landmark. */
export interface LandmarkEmbedding { faces: ArrayLike<number>; faceIdx: ArrayLike<number>; bary: ArrayLike<number> }

/** (V, 3) vertices -> (68, 3) landmarks on the mesh. */
export function embedPoints(vertices: Vec, e: LandmarkEmbedding): Float64Array {
  const n = e.faceIdx.length, out = new Float64Array(n * 3);
  for (let l = 0; l < n; l++) {
    const f = e.faceIdx[l];
    for (let t = 0; t < 3; t++) {
      const v = e.faces[3 * f + t], w = e.bary[3 * l + t];
      for (let k = 0; k < 3; k++) out[3 * l + k] += w * vertices[3 * v + k];
    }
  }
  return out;
}

/**
 * Benchmark Chamfer distance (squared units, truth scaled to an inner-eye distance of 20).
 * predVertices (M, 3) any frame, predSeven (7, 3) the prediction's 7 keypoints in that frame,
 * gtWorld (V, 3), embedding of the truth mesh, faceIdx the truth's "face" subset.
 */
export function chamfer(predVertices: Vec, predSeven: Vec, gtWorld: Vec, embedding: LandmarkEmbedding, faceIdx: ArrayLike<number>): number {
  const lm = embedPoints(gtWorld, embedding);
  const scale = 20 / Math.hypot(lm[3 * 39] - lm[3 * 42], lm[3 * 39 + 1] - lm[3 * 42 + 1], lm[3 * 39 + 2] - lm[3 * 42 + 2]);
  const seven = new Float64Array(21);
  SEVEN_OF_68.forEach((l, i) => { for (let k = 0; k < 3; k++) seven[3 * i + k] = lm[3 * l + k] * scale; });
  const { b, T, c } = procrustes(seven, predSeven);
  const M = predVertices.length / 3, aligned = new Float64Array(M * 3);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < 3; k++) {
      let s = c[k];
      for (let j = 0; j < 3; j++) s += b * predVertices[3 * i + j] * T[3 * j + k];
      aligned[3 * i + k] = s;
    }
  }
  let sum = 0;
  for (let q = 0; q < faceIdx.length; q++) {
    const v = faceIdx[q], gx = gtWorld[3 * v] * scale, gy = gtWorld[3 * v + 1] * scale, gz = gtWorld[3 * v + 2] * scale;
    let best = Infinity;
    for (let i = 0; i < M; i++) {
      const dx = aligned[3 * i] - gx, dy = aligned[3 * i + 1] - gy, dz = aligned[3 * i + 2] - gz;
      const d = dx * dx + dy * dy + dz * dz;
      if (d < best) best = d;
    }
    sum += best;
  }
  return sum / faceIdx.length;
}

/** Degrees to (-180, 180]. */
export function wrapDegrees(d: number): number {
  return d - 360 * Math.ceil((d - 180) / 360);
}

/**
 * Image-frame rotation (row-major 3x3) -> [pitch, yaw, roll] degrees, as geometry.py's
 * euler_angles (DAD-3DNet's angles away from gimbal lock), used for both truth and prediction.
 */
export function eulerAngles(R: Vec): [number, number, number] {
  const deg = 180 / Math.PI;
  const pitch = Math.atan2(-R[5], -R[8]);
  const yaw = Math.atan2(-R[2], Math.sqrt(R[0] ** 2 + R[1] ** 2 + 1e-12));
  const roll = Math.atan2(R[1], R[0]);
  return [pitch * deg, yaw * deg, roll * deg];
}

export interface PoseMae { pitch: number; yaw: number; roll: number; mean: number }

/** pred/gt: lists of [pitch, yaw, roll] degrees -> MAE per angle and their mean. */
export function poseMae(pred: ArrayLike<number>[], gt: ArrayLike<number>[]): PoseMae {
  const m = [0, 0, 0];
  pred.forEach((p, i) => { for (let k = 0; k < 3; k++) m[k] += Math.abs(wrapDegrees(p[k] - gt[i][k])) / pred.length; });
  return { pitch: m[0], yaw: m[1], roll: m[2], mean: (m[0] + m[1] + m[2]) / 3 };
}

export type MetricRecord = Record<string, number>;
export type Attributes = Record<string, unknown> | null | undefined;

export interface Summary {
  overall: Record<string, number>;
  /** metric -> attribute name -> attribute value -> mean. */
  attributes: Record<string, Record<string, Record<string, number>>>;
}

/** Python's str() of an attribute value, so the keys match metrics.py's summarize. */
function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Means over the records that have each metric, overall and per attribute value (metrics.py's summarize). */
export function summarize(records: MetricRecord[], attributes?: Attributes[]): Summary {
  const names = [...new Set(records.flatMap((r) => Object.keys(r)))].sort();
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const out: Summary = { overall: {}, attributes: {} };
  for (const k of names) out.overall[k] = mean(records.filter((r) => k in r).map((r) => r[k]));
  if (attributes?.length) {
    for (const k of names) {
      const per: Record<string, Record<string, number[]>> = {};
      records.forEach((r, i) => {
        if (!(k in r)) return;
        for (const [an, av] of Object.entries(attributes[i] ?? {})) ((per[an] ??= {})[pyStr(av)] ??= []).push(r[k]);
      });
      out.attributes[k] = Object.fromEntries(Object.entries(per).map(([an, vals]) => [an, Object.fromEntries(Object.entries(vals).map(([av, v]) => [av, mean(v)]))]));
    }
  }
  return out;
}

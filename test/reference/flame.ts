// CPU reference for the FLAME layer and projection (SPEC section 6): standard LBS exactly as
// smplx.lbs computes it (dense J_regressor on v_shaped, Rodrigues with the +1e-8, 4x4 chain),
// in float64, written independently of the GPU kernels' packing and folding.
import * as assert from 'uvu/assert';
import { buildFlame, type FlameArrays } from '../../src/model/flame.ts';
import { poseFromRotation } from '../../src/model/pose.ts';
import type { StateDict } from '../../src/io/tensor.ts';
import { assertClose, newGraph, runGraph } from '../helpers.ts';

export interface FlameRef {
  vShaped: Float64Array; // (B, V*3)
  joints: Float64Array; // (B, 5, 3) rest joints J
  poseFeature: Float64Array; // (B, 36)
  /** Relative transforms A_j: (B, 5, 3, 4). */
  A: Float64Array;
  vPosed: Float64Array; // (B, V*3)
  rotation: Float64Array; // (B, 3, 3)
  vertices: Float64Array; // (B, V, 3)
  projected: Float64Array; // (B, V, 2)
  landmarks3d?: Float64Array; // (B, 68, 3)
  landmarks3dProjected?: Float64Array; // (B, 68, 2) crop pixels, as projected
  /** (B) FLAME's yaw row of the dynamic contour, when the FLAME carries it. */
  yawRow?: Int32Array;
  /** (B) the unrounded angle (degrees) the row comes from. */
  yawDegrees?: Float64Array;
}

/** torch.round: half to even. */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * FLAME's dynamic-contour row (FLAME_PyTorch's _find_dynamic_lmk_idx_and_bcoords) written as
 * it is there, on the head rotation in FLAME's frame: M = diag(1, -1, -1) R G_neck (R the 6D
 * rotation, image frame; G_neck = R_global R_neck); rot_mat_to_euler(M) = atan2(-M20,
 * sqrt(M00^2 + M10^2)); y = round(clamp(-angle in degrees, max 39)); y < -39 -> row 78,
 * y < 0 -> row 39 - y, else row y.
 */
export function yawRowRef(rot: M3, gNeck: M3): { row: number; degrees: number } {
  const M = mul([1, 0, 0, 0, -1, 0, 0, 0, -1], mul(rot, gNeck));
  const deg = -Math.atan2(-M[6], Math.sqrt(M[0] * M[0] + M[3] * M[3])) * 180 / Math.PI;
  const y = roundHalfEven(Math.min(deg, 39));
  const row = y < 0 ? (y < -39 ? 78 : 39 - y) : y;
  return { row, degrees: deg };
}

type M3 = number[]; // row-major 3x3

function rodrigues(r: number[]): M3 {
  const angle = Math.hypot(r[0] + 1e-8, r[1] + 1e-8, r[2] + 1e-8);
  const [x, y, z] = r.map((v) => v / angle);
  const c = Math.cos(angle), s = Math.sin(angle);
  const K = [0, -z, y, z, 0, -x, -y, x, 0];
  const KK = mul(K, K);
  return [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => (i % 4 === 0 ? 1 : 0) + s * K[i] + (1 - c) * KK[i]);
}

function mul(a: M3, b: M3): M3 {
  const o = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) o[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
  return o;
}
const mulv = (a: M3, v: number[]) => [0, 1, 2].map((r) => a[r * 3] * v[0] + a[r * 3 + 1] * v[1] + a[r * 3 + 2] * v[2]);

/** SPEC's 6D -> matrix: b1 = n(a1), b3 = n(b1 x a2), b2 = -(b1 x b3), columns [b1 b2 b3]. */
export function rot6dRef(r: ArrayLike<number>): M3 {
  const norm = (v: number[]) => { const l = Math.max(Math.hypot(v[0], v[1], v[2]), 1e-12); return v.map((x) => x / l); };
  const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const b1 = norm([r[0], r[1], r[2]]);
  const b3 = norm(cross(b1, [r[3], r[4], r[5]]));
  const b2 = cross(b1, b3).map((x) => -x);
  return [b1[0], b2[0], b3[0], b1[1], b2[1], b3[1], b1[2], b2[2], b3[2]];
}

/**
 * params: (B, nShape + nExpr + 13); poses: (B, 12) global, neck, eyes (zeros when absent).
 * Betas = [shape, expression] use shapedirs columns [0, nShape) and [300, 300 + nExpr).
 */
export function flameRef(flame: FlameArrays, params: ArrayLike<number>, B: number, poses?: ArrayLike<number>,
  opts: { nShape?: number; nExpr?: number } = {}): FlameRef {
  const nShape = opts.nShape ?? 300, nExpr = opts.nExpr ?? 100;
  const nb = nShape + nExpr, NP = nb + 13;
  const { V, nShapedirs: K } = flame;
  const N = V * 3;
  const out: FlameRef = {
    vShaped: new Float64Array(B * N), joints: new Float64Array(B * 15), poseFeature: new Float64Array(B * 36),
    A: new Float64Array(B * 60), vPosed: new Float64Array(B * N), rotation: new Float64Array(B * 9),
    vertices: new Float64Array(B * N), projected: new Float64Array(B * V * 2),
    landmarks3d: flame.lmkFacesIdx ? new Float64Array(B * 68 * 3) : undefined,
    landmarks3dProjected: flame.lmkFacesIdx ? new Float64Array(B * 68 * 2) : undefined,
    yawRow: flame.dynLmkFacesIdx ? new Int32Array(B) : undefined,
    yawDegrees: flame.dynLmkFacesIdx ? new Float64Array(B) : undefined,
  };
  for (let b = 0; b < B; b++) {
    const p = (i: number) => params[b * NP + i];
    // v_shaped = v_template + shapedirs . betas
    const beta = Float64Array.from({ length: nb }, (_, k) => p(k));
    const vs = out.vShaped.subarray(b * N, (b + 1) * N);
    for (let i = 0; i < N; i++) {
      let s = flame.vTemplate[i];
      const row = i * K;
      for (let k = 0; k < nShape; k++) s += flame.shapedirs[row + k] * beta[k];
      for (let k = nShape; k < nb; k++) s += flame.shapedirs[row + 300 + k - nShape] * beta[k];
      vs[i] = s;
    }
    // J = J_regressor . v_shaped
    const J: number[][] = [];
    for (let j = 0; j < 5; j++) {
      const q = [0, 0, 0];
      for (let v = 0; v < V; v++) {
        const w = flame.jRegressor[j * V + v];
        if (w !== 0) for (let c = 0; c < 3; c++) q[c] += w * vs[v * 3 + c];
      }
      J.push(q);
      out.joints.set(q, b * 15 + j * 3);
    }
    // Pose: global, neck, jaw (params), left eye, right eye.
    const ps = (i: number) => (poses ? poses[b * 12 + i] : 0);
    const rv = [[ps(0), ps(1), ps(2)], [ps(3), ps(4), ps(5)], [p(nb), p(nb + 1), p(nb + 2)], [ps(6), ps(7), ps(8)], [ps(9), ps(10), ps(11)]];
    const R = rv.map(rodrigues);
    const pf = out.poseFeature.subarray(b * 36, b * 36 + 36);
    for (let j = 1; j < 5; j++) for (let i = 0; i < 9; i++) pf[(j - 1) * 9 + i] = R[j][i] - (i % 4 === 0 ? 1 : 0);
    // v_posed = v_shaped + pose_feature . posedirs
    const vp = out.vPosed.subarray(b * N, (b + 1) * N);
    const po = new Float64Array(N);
    for (let f = 0; f < 36; f++) {
      const row = flame.posedirs.subarray(f * N, (f + 1) * N);
      for (let i = 0; i < N; i++) po[i] += pf[f] * row[i];
    }
    for (let i = 0; i < N; i++) vp[i] = vs[i] + po[i];
    // Kinematic chain (4x4 as rotation + translation), then A_j = G_j - [0 | G_j J_j].
    const G: M3[] = [], Gt: number[][] = [];
    for (let j = 0; j < 5; j++) {
      const pa = flame.parents[j];
      if (pa < 0) { G.push(R[j]); Gt.push(J[j]); continue; }
      G.push(mul(G[pa], R[j]));
      const rel = mulv(G[pa], [0, 1, 2].map((c) => J[j][c] - J[pa][c]));
      Gt.push(rel.map((x, c) => x + Gt[pa][c]));
    }
    const A = out.A.subarray(b * 60, b * 60 + 60);
    for (let j = 0; j < 5; j++) {
      const gj = mulv(G[j], J[j]);
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) A[j * 12 + r * 4 + c] = G[j][r * 3 + c];
        A[j * 12 + r * 4 + 3] = Gt[j][r] - gj[r];
      }
    }
    const rot = rot6dRef([p(nb + 3), p(nb + 4), p(nb + 5), p(nb + 6), p(nb + 7), p(nb + 8)]);
    out.rotation.set(rot, b * 9);
    const s = Math.max(p(nb + 12) + 1, 1e-8), tx = p(nb + 9), ty = p(nb + 10);
    for (let v = 0; v < V; v++) {
      const T = new Array<number>(12).fill(0);
      for (let j = 0; j < 5; j++) {
        const w = flame.weights[v * 5 + j];
        for (let i = 0; i < 12; i++) T[i] += w * A[j * 12 + i];
      }
      const x = vp[v * 3], y = vp[v * 3 + 1], z = vp[v * 3 + 2];
      const lv = [0, 1, 2].map((r) => T[r * 4] * x + T[r * 4 + 1] * y + T[r * 4 + 2] * z + T[r * 4 + 3]);
      lv[2] += 0.05;
      const vert = mulv(rot, lv);
      out.vertices.set(vert, b * N + v * 3);
      out.projected[(b * V + v) * 2] = ((s * vert[0] + tx) + 1) / 2 * 256;
      out.projected[(b * V + v) * 2 + 1] = ((s * vert[1] + ty) + 1) / 2 * 256;
    }
    if (out.landmarks3d && flame.lmkFacesIdx && flame.lmkBaryCoords) {
      let row = -1;
      if (flame.dynLmkFacesIdx && flame.dynLmkBaryCoords) {
        const y = yawRowRef(rot, G[1]);
        row = y.row;
        out.yawRow![b] = y.row;
        out.yawDegrees![b] = y.degrees;
      }
      for (let l = 0; l < 68; l++) {
        const dyn = row >= 0 && l < 17;
        const f = dyn ? flame.dynLmkFacesIdx![row * 17 + l] : flame.lmkFacesIdx[l];
        const bc = dyn ? flame.dynLmkBaryCoords!.subarray((row * 17 + l) * 3) : flame.lmkBaryCoords.subarray(l * 3);
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let i = 0; i < 3; i++) acc += bc[i] * out.vertices[b * N + flame.faces[f * 3 + i] * 3 + c];
          out.landmarks3d[(b * 68 + l) * 3 + c] = acc;
          if (c < 2) out.landmarks3dProjected![(b * 68 + l) * 2 + c] = ((s * acc + (c === 0 ? tx : ty)) + 1) / 2 * 256;
        }
      }
    }
  }
  return out;
}


/**
 * The FLAME layer (GPU) and pose angles vs the PyTorch reference's keys (python/README.md):
 * flame_in_* -> flame_out_*, the model path (params -> rotation, vertices, projected_crop,
 * landmarks3d, pose; batch_* too) and pose_in_rotation -> pose_out. The float64 reference
 * above is checked against PyTorch on the same inputs.
 */
export async function checkFlameParity(ex: StateDict, flame: FlameArrays, label: string): Promise<void> {
  const get = (k: string) => {
    const t = ex.get(k);
    if (!t) throw new Error(`${label}: expected.safetensors has no ${k}`);
    return t.data;
  };
  const TOL_V = { atol: 1e-5, rtol: 0 }, TOL_PX = { atol: 1e-3, rtol: 0 }, TOL_R = { atol: 1e-6, rtol: 0 };
  const run = async (params: Float32Array, poses?: Float32Array) => {
    const B = params.length / 413;
    const g = await newGraph();
    const o = buildFlame(g, g.input('params', [B, 413]), flame, { poses: poses && g.input('poses', [B, 12]) });
    g.output('vertices', o.vertices); g.output('projected', o.projected); g.output('rotation', o.rotation);
    if (o.landmarks3d) g.output('landmarks3d', o.landmarks3d);
    return runGraph(g, poses ? { params, poses } : { params });
  };
  let worst = { v: 0, px: 0, deg: 0 };
  const track = (k: keyof typeof worst, a: ArrayLike<number>, b: ArrayLike<number>) => {
    for (let i = 0; i < b.length; i++) worst[k] = Math.max(worst[k], Math.abs(a[i] - b[i]));
  };

  // FLAME alone, every pose input non-zero.
  const params = get('flame_in_params');
  const B = params.length / 413;
  const poses = new Float32Array(B * 12);
  const [gl, nk, ey] = [get('flame_in_global'), get('flame_in_neck'), get('flame_in_eyes')];
  for (let b = 0; b < B; b++) {
    poses.set(gl.subarray(b * 3, b * 3 + 3), b * 12);
    poses.set(nk.subarray(b * 3, b * 3 + 3), b * 12 + 3);
    poses.set(ey.subarray(b * 6, b * 6 + 6), b * 12 + 6);
  }
  let out = await run(params, poses);
  assertClose(out.vertices, get('flame_out_vertices'), TOL_V, `${label}: flame_out_vertices`);
  assertClose(out.projected, get('flame_out_projected'), TOL_PX, `${label}: flame_out_projected`);
  assertClose(out.landmarks3d, get('flame_out_landmarks3d'), TOL_V, `${label}: flame_out_landmarks3d`);
  track('v', out.vertices, get('flame_out_vertices'));
  track('px', out.projected, get('flame_out_projected'));
  const ref = flameRef(flame, params, B, poses);
  assertClose(ref.vertices, get('flame_out_vertices'), TOL_V, `${label}: float64 reference vs PyTorch`);

  // The model path: params -> rotation, vertices, projections, 3D landmarks, pose.
  for (const pre of ['', 'batch_']) {
    out = await run(get(`${pre}params`));
    assertClose(out.rotation, get(`${pre}rotation`), TOL_R, `${label}: ${pre}rotation`);
    assertClose(out.vertices, get(`${pre}vertices`), TOL_V, `${label}: ${pre}vertices`);
    assertClose(out.projected, get(`${pre}projected_crop`), TOL_PX, `${label}: ${pre}projected_crop`);
    assertClose(out.landmarks3d, get(`${pre}landmarks3d`), TOL_V, `${label}: ${pre}landmarks3d`);
    track('v', out.vertices, get(`${pre}vertices`));
    const pose = get(`${pre}pose`);
    for (let b = 0; b < pose.length / 3; b++) {
      const p = poseFromRotation(out.rotation, b * 9);
      assertClose([p.pitch, p.yaw, p.roll], pose.subarray(b * 3, b * 3 + 3), { atol: 1e-4, rtol: 0 }, `${label}: ${pre}pose[${b}]`);
      track('deg', [p.pitch, p.yaw, p.roll], pose.subarray(b * 3, b * 3 + 3));
    }
  }

  // Pose angles of the reference's rotations (identity, frontal, exact and near gimbal locks).
  const R = get('pose_in_rotation'), want = get('pose_out');
  for (let i = 0; i < R.length / 9; i++) {
    const p = poseFromRotation(R, i * 9);
    assert.ok([p.pitch, p.yaw, p.roll].every((x, j) => Math.abs(x - want[i * 3 + j]) <= 1e-4),
      `${label}: pose_out[${i}]: got ${[p.pitch, p.yaw, p.roll]}, expected ${[...want.subarray(i * 3, i * 3 + 3)]}`);
    track('deg', [p.pitch, p.yaw, p.roll], want.subarray(i * 3, i * 3 + 3));
  }
  console.log(`  ${label}: vs PyTorch max |dv| ${worst.v.toExponential(2)}, |dpx| ${worst.px.toExponential(2)}, |dangle| ${worst.deg.toExponential(2)} deg`);
}

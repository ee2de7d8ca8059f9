// FLAME linear blend skinning and projection on the GPU (SPEC section 6), four kernels:
//   flame_joints    per item: joints, Rodrigues, pose features, chain -> A_j, 6D rotation
//   flame_blend     v_posed = v_template + [shapedirs; posedirs] . [betas; pose features]
//   flame_skin      skinning, z += 0.05, R v, projection to crop pixels
//   flame_landmarks barycentric 3D landmarks (the 17 contour points by yaw bin when the FLAME
//                   carries the dynamic contour)
// The FLAME arrays are repacked once (packFlame, when the model is created) into the layouts the
// kernels read; graphs of any batch size share the packed arrays and so the GPU buffers.
import jointsSource from '../../shaders/flame_joints.wgsl';
import blendSource from '../../shaders/flame_blend.wgsl';
import skinSource from '../../shaders/flame_skin.wgsl';
import landmarksSource from '../../shaders/flame_landmarks.wgsl';
import { numel, type Graph, type Tensor, type Tuning } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';
import { N_CONTOUR, N_YAW_BINS, type FlameArrays } from '../io/flame.ts';

/** FLAME's shapedirs hold 300 shape components, then the expression components. */
export const FLAME_SHAPE_COMPONENTS = 300;
/** Floats per batch item in the transforms tensor: A_j (5 x 3x4), R (9), s, tx, ty. */
export const XF_STRIDE = 72;

export interface PackedFlame {
  V: number;
  /** Betas used: nShape + nExpr. */
  K: number;
  /** Coefficient rows of dirs: K + 36, padded to a multiple of 4 (zero rows). */
  KC: number;
  /** vec4 columns of the padded V*3 axis. */
  N4: number;
  /** (KC, N4*4): transposed shapedirs columns for the betas, then posedirs; zero padded. */
  dirs: Float32Array;
  /** (N4*4): v_template, zero padded. */
  base: Float32Array;
  /** 15 rest-pose joint coordinates J_regressor . v_template, then (15, K) J_regressor . shapedirs. */
  jreg: Float32Array;
  weights: Float32Array;
  parents: number[];
  /** (68, 3) vertex indices and barycentric weights of the landmarks. */
  lmkVerts?: Uint32Array;
  lmkBary?: Float32Array;
  /** (79, 17, 3) vertex indices and weights of the dynamic contour, one row per yaw bin. */
  dynVerts?: Uint32Array;
  dynBary?: Float32Array;
}

const JOINTS = kernel({
  name: 'flame_joints', source: jointsSource,
  inputs: { params: 'f32', 'poses?': 'f32', jreg: 'f32' },
  outputs: { coef: 'f32', xf: 'f32', rotation: 'f32' },
  uniforms: { K: 'u32', NP: 'u32', KC: 'u32', p1: 'u32', p2: 'u32', p3: 'u32', p4: 'u32' },
});
const BLEND = kernel({
  name: 'flame_blend', source: blendSource,
  inputs: { coef: 'vec4f', dirs: 'vec4f', base: 'vec4f' }, outputs: { out: 'vec4f' },
  uniforms: { B: 'u32', KC4: 'u32', N4: 'u32' },
});
const SKIN = kernel({
  name: 'flame_skin', source: skinSource,
  inputs: { vposed: 'f32', weights: 'f32', xf: 'vec4f' }, outputs: { vertices: 'f32', projected: 'f32' },
  uniforms: { V: 'u32', S: 'u32' },
});
const LANDMARKS = kernel({
  name: 'flame_landmarks', source: landmarksSource,
  inputs: { vertices: 'f32', lmk: 'u32', bary: 'f32', 'xf?': 'vec4f', 'dynLmk?': 'u32', 'dynBary?': 'f32' }, outputs: { out: 'f32', 'projected?': 'f32' },
  uniforms: { V: 'u32', L: 'u32' },
});

/**
 * Repacks FLAME for the kernels. Betas = [shape (nShape), expression (nExpr)] map to shapedirs
 * columns [0, nShape) and [300, 300 + nExpr). J_regressor is sparse (a few dozen vertices per
 * joint); it is applied here, in float64, to v_template and to each blend shape, so at run time
 * the joints cost a 15 x K product instead of a pass over V vertices
 * (J_regressor (v_t + S b) = J_regressor v_t + (J_regressor S) b).
 */
export function packFlame(flame: FlameArrays, nShape = 300, nExpr = 100): PackedFlame {
  const { V, nShapedirs: KS } = flame;
  const N = V * 3;
  if (flame.J !== 5 || flame.parents.length !== 5) throw new Error(`FLAME: expected 5 joints, got ${flame.J}`);
  for (let j = 1; j < 5; j++) {
    if (!(flame.parents[j] >= 0 && flame.parents[j] < j)) throw new Error(`FLAME: parent of joint ${j} is ${flame.parents[j]}; parents must precede their children`);
  }
  if (nShape < 0 || nShape > FLAME_SHAPE_COMPONENTS || nExpr < 0 || FLAME_SHAPE_COMPONENTS + nExpr > KS) {
    throw new Error(`FLAME: ${nShape} shape + ${nExpr} expression components do not fit shapedirs with ${KS} components (${FLAME_SHAPE_COMPONENTS} shape, then expression)`);
  }
  const expect = (name: string, a: ArrayLike<number>, n: number) => {
    if (a.length !== n) throw new Error(`FLAME: ${name} has ${a.length} values, expected ${n}`);
  };
  expect('v_template', flame.vTemplate, N);
  expect('shapedirs', flame.shapedirs, N * KS);
  expect('posedirs', flame.posedirs, 36 * N);
  expect('J_regressor', flame.jRegressor, 5 * V);
  expect('weights', flame.weights, V * 5);

  const K = nShape + nExpr, KC = Math.ceil((K + 36) / 4) * 4, N4 = Math.ceil(N / 4), S = N4 * 4;
  const cols = Int32Array.from({ length: K }, (_, k) => (k < nShape ? k : FLAME_SHAPE_COMPONENTS + k - nShape));
  const dirs = new Float32Array(KC * S);
  const sd = flame.shapedirs;
  for (let i = 0; i < N; i++) {
    const row = i * KS;
    for (let k = 0; k < K; k++) dirs[k * S + i] = sd[row + cols[k]];
  }
  for (let f = 0; f < 36; f++) dirs.set(flame.posedirs.subarray(f * N, (f + 1) * N), (K + f) * S);
  const base = new Float32Array(S);
  base.set(flame.vTemplate);

  const jreg = new Float32Array(15 + 15 * K);
  const acc = new Float64Array(15 + 15 * K);
  for (let j = 0; j < 5; j++) {
    for (let v = 0; v < V; v++) {
      const w = flame.jRegressor[j * V + v];
      if (w === 0) continue;
      for (let c = 0; c < 3; c++) {
        const o = j * 3 + c, i = v * 3 + c;
        acc[o] += w * flame.vTemplate[i];
        const row = i * KS, out = 15 + o * K;
        for (let k = 0; k < K; k++) acc[out + k] += w * sd[row + cols[k]];
      }
    }
  }
  jreg.set(acc);

  let lmkVerts: Uint32Array | undefined, lmkBary: Float32Array | undefined;
  if (flame.lmkFacesIdx && flame.lmkBaryCoords) {
    const L = flame.lmkFacesIdx.length;
    expect('lmk_bary_coords', flame.lmkBaryCoords, L * 3);
    lmkVerts = new Uint32Array(L * 3);
    for (let l = 0; l < L; l++) {
      const f = flame.lmkFacesIdx[l];
      if (f >= flame.F) throw new Error(`FLAME: landmark ${l} uses face ${f}, but there are ${flame.F} faces`);
      for (let i = 0; i < 3; i++) {
        const v = flame.faces[f * 3 + i];
        if (v >= V) throw new Error(`FLAME: face ${f} uses vertex ${v}, but there are ${V} vertices`);
        lmkVerts[l * 3 + i] = v;
      }
    }
    lmkBary = flame.lmkBaryCoords;
  }
  let dynVerts: Uint32Array | undefined, dynBary: Float32Array | undefined;
  if (flame.dynLmkFacesIdx || flame.dynLmkBaryCoords) {
    if (!flame.dynLmkFacesIdx || !flame.dynLmkBaryCoords || !lmkVerts || lmkVerts.length !== 68 * 3) {
      throw new Error('FLAME: the dynamic contour (dynLmkFacesIdx, dynLmkBaryCoords) needs both arrays and the 68-point landmark embedding');
    }
    expect('dynamic_lmk_faces_idx', flame.dynLmkFacesIdx, N_YAW_BINS * N_CONTOUR);
    expect('dynamic_lmk_bary_coords', flame.dynLmkBaryCoords, N_YAW_BINS * N_CONTOUR * 3);
    dynVerts = new Uint32Array(N_YAW_BINS * N_CONTOUR * 3);
    flame.dynLmkFacesIdx.forEach((f, l) => {
      if (f >= flame.F) throw new Error(`FLAME: dynamic contour point ${l % N_CONTOUR} of yaw row ${Math.floor(l / N_CONTOUR)} uses face ${f}, but there are ${flame.F} faces`);
      for (let i = 0; i < 3; i++) dynVerts![l * 3 + i] = flame.faces[f * 3 + i];
    });
    dynBary = flame.dynLmkBaryCoords;
  }
  return { V, K, KC, N4, dirs, base, jreg, weights: flame.weights, parents: [...flame.parents], lmkVerts, lmkBary, dynVerts, dynBary };
}

/** The packed arrays as graph weights (uploaded once per device, shared between graphs). */
export interface FlameWeights {
  packed: PackedFlame;
  dirs: Tensor;
  base: Tensor;
  jreg: Tensor;
  weights: Tensor;
  lmkVerts?: Tensor;
  lmkBary?: Tensor;
  dynVerts?: Tensor;
  dynBary?: Tensor;
}

export function flameWeights(g: Graph, packed: PackedFlame): FlameWeights {
  const { V, KC, N4, K } = packed;
  // Weights are shared across graphs by name: the betas count is part of the packed layout.
  const w: FlameWeights = {
    packed,
    dirs: g.weight(`flame.dirs.k${K}`, [KC, N4 * 4], packed.dirs),
    base: g.weight('flame.v_template', [N4 * 4], packed.base),
    jreg: g.weight(`flame.joint_dirs.k${K}`, [15 + 15 * K], packed.jreg),
    weights: g.weight('flame.weights', [V, 5], packed.weights),
  };
  if (packed.lmkVerts && packed.lmkBary) {
    const L = packed.lmkVerts.length / 3;
    w.lmkVerts = g.weight('flame.lmk_vertices', [L, 3], packed.lmkVerts);
    w.lmkBary = g.weight('flame.lmk_bary_coords', [L, 3], packed.lmkBary);
  }
  if (packed.dynVerts && packed.dynBary) {
    w.dynVerts = g.weight('flame.dynamic_lmk_vertices', [N_YAW_BINS, N_CONTOUR, 3], packed.dynVerts);
    w.dynBary = g.weight('flame.dynamic_lmk_bary_coords', [N_YAW_BINS, N_CONTOUR, 3], packed.dynBary);
  }
  return w;
}

/**
 * Per-item transforms. params: [B, K + 13]; poses: [B, 12] (global, neck, left eye, right eye
 * axis-angle) or none (zeros). Returns coef [B, KC] (betas, 36 pose features, zero padding),
 * xf [B, 72], rotation [B, 3, 3].
 */
export function flameJoints(g: Graph, params: Tensor, w: FlameWeights, poses?: Tensor): { coef: Tensor; xf: Tensor; rotation: Tensor } {
  const { K, KC, parents } = w.packed;
  const B = params.shape[0];
  const NP = numel(params.shape) / B;
  if (NP !== K + 13) throw new Error(`flame: params have ${NP} values per item, expected ${K + 13} (${K} betas + 13)`);
  if (poses && numel(poses.shape) !== B * 12) throw new Error(`flame: poses must be [${B}, 12] (global, neck, eyes), got [${poses.shape.join(', ')}]`);
  const coef = g.tensor('flame.coef', [B, KC]);
  const xf = g.tensor('flame.transforms', [B, XF_STRIDE]);
  const rotation = g.tensor('flame.rotation', [B, 3, 3]);
  JOINTS.add(g, 'flame.joints', {
    inputs: { params, poses, jreg: w.jreg }, outputs: { coef, xf, rotation },
    uniforms: { K, NP, KC, p1: parents[1], p2: parents[2], p3: parents[3], p4: parents[4] },
    workgroups: [B, 1, 1],
    flops: B * (30 * K + 600),
  });
  return { coef, xf, rotation };
}

export interface BlendTiles {
  /** Invocations along the vec4 columns. */
  WG_N: number;
  /** Adjacent vec4 columns per invocation. */
  CN: number;
  /** Invocations splitting the coefficient rows (1: no workgroup memory). */
  KS: number;
  /** Batch items per invocation (dirs is read once per BT items). */
  BT: number;
}

export function blendTiles(t: Tuning, B: number): BlendTiles {
  const BT = Math.min(B, 8);
  // CPU adapters run invocations as SIMD lanes: barriers cost more than they save.
  return t.cpuLike ? { WG_N: 64, CN: 2, KS: 1, BT } : { WG_N: 64, CN: 1, KS: 4, BT };
}

/** v_posed [B, N4*4] = v_template + dirs^T coef[b] (shape, expression and pose blend shapes). */
export function flameBlend(g: Graph, coef: Tensor, w: FlameWeights, tiles?: BlendTiles): Tensor {
  const { KC, N4 } = w.packed;
  const B = coef.shape[0];
  if (numel(coef.shape) !== B * KC) throw new Error(`flame blend: coef must be [${B}, ${KC}], got [${coef.shape.join(', ')}]`);
  const t = tiles ?? blendTiles(g.tuning, B);
  if (t.WG_N * t.KS > g.tuning.maxInvocations) throw new Error(`flame blend: ${t.WG_N}x${t.KS} invocations exceed the adapter's ${g.tuning.maxInvocations}`);
  const out = g.tensor('flame.v_posed', [B, N4 * 4]);
  BLEND.add(g, 'flame.blend', {
    inputs: { coef, dirs: w.dirs, base: w.base }, outputs: { out },
    uniforms: { B, KC4: KC / 4, N4 },
    flags: { SPLITK: t.KS > 1, BT: t.BT, CN: t.CN, KS: t.KS, WG_N: t.WG_N },
    workgroups: [ceilDiv(N4, t.WG_N * t.CN), ceilDiv(B, t.BT), 1],
    flops: 2 * B * KC * N4 * 4,
  });
  return out;
}

/** Skinning + projection: vertices [B, V, 3] (model units, rotated), projected [B, V, 2] (crop pixels). */
export function flameSkin(g: Graph, vPosed: Tensor, xf: Tensor, w: FlameWeights): { vertices: Tensor; projected: Tensor } {
  const { V, N4 } = w.packed;
  const B = vPosed.shape[0];
  if (numel(vPosed.shape) !== B * N4 * 4 || numel(xf.shape) !== B * XF_STRIDE) throw new Error('flame skin: v_posed/transforms shapes do not match the FLAME or the batch');
  const vertices = g.tensor('flame.vertices', [B, V, 3]);
  const projected = g.tensor('flame.projected', [B, V, 2]);
  SKIN.add(g, 'flame.skin', {
    inputs: { vposed: vPosed, weights: w.weights, xf }, outputs: { vertices, projected },
    uniforms: { V, S: N4 * 4 },
    workgroups: [ceilDiv(V, 64), B, 1],
    flops: B * V * 160,
  });
  return { vertices, projected };
}

/**
 * 3D landmarks [B, L, 3] on vertices [B, V, 3]. With the dynamic contour, xf ([B, 72], from
 * flameJoints) gives each item's head rotation and so its yaw row for landmarks 0..16.
 */
export function flameLandmarks(g: Graph, vertices: Tensor, w: FlameWeights, xf?: Tensor): Tensor {
  return addLandmarks(g, vertices, w, xf, false).landmarks3d;
}

/** The landmarks and their crop-pixel projection [B, L, 2] (the vertices' projection, from xf's s, t). */
export function flameLandmarksProjected(g: Graph, vertices: Tensor, w: FlameWeights, xf: Tensor): { landmarks3d: Tensor; projected: Tensor } {
  const { landmarks3d, projected } = addLandmarks(g, vertices, w, xf, true);
  return { landmarks3d, projected: projected! };
}

function addLandmarks(g: Graph, vertices: Tensor, w: FlameWeights, xf: Tensor | undefined, project: boolean): { landmarks3d: Tensor; projected?: Tensor } {
  if (!w.lmkVerts || !w.lmkBary) throw new Error('flame: this FLAME has no landmark embedding');
  const { V } = w.packed;
  const B = vertices.shape[0];
  const L = w.lmkVerts.shape[0];
  const dynamic = w.dynVerts && w.dynBary;
  if ((dynamic || project) && (!xf || numel(xf.shape) !== B * XF_STRIDE)) {
    throw new Error(`flame landmarks: ${dynamic ? 'the dynamic contour' : 'the projection'} needs the transforms [${B}, ${XF_STRIDE}] of flameJoints`);
  }
  const out = g.tensor('flame.landmarks3d', [B, L, 3]);
  const projected = project ? g.tensor('flame.landmarks3d_projected', [B, L, 2]) : undefined;
  const xfUsed = dynamic || project ? xf : undefined;
  LANDMARKS.add(g, 'flame.landmarks', {
    inputs: { vertices, lmk: w.lmkVerts, bary: w.lmkBary, xf: xfUsed, dynLmk: dynamic ? w.dynVerts : undefined, dynBary: dynamic ? w.dynBary : undefined },
    outputs: { out, projected },
    uniforms: { V, L },
    workgroups: [ceilDiv(L, 64), B, 1],
    flops: B * L * 18,
  });
  return { landmarks3d: out, projected };
}

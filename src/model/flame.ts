// The FLAME layer and projection (SPEC section 6) as graph nodes: params [B, 413] (+ optional
// global/neck/eye poses) -> vertices, crop-pixel projections, head rotation, 3D landmarks.
import type { Graph, Tensor } from '../graph/graph.ts';
import { flameBlend, flameJoints, flameLandmarks, flameSkin, flameWeights, packFlame, type BlendTiles } from '../kernels/flame_lbs.ts';

/**
 * FLAME arrays in the layouts of SPEC section 6 (f32, row-major). The same structural type as
 * src/io/flame.ts's (readFlame) and syntheticFlame()'s result.
 */
export interface FlameArrays {
  vTemplate: Float32Array; // (V, 3)
  shapedirs: Float32Array; // (V, 3, K)
  nShapedirs: number; // K: 300 shape, then expression
  posedirs: Float32Array; // (36, V*3)
  jRegressor: Float32Array; // (J, V)
  weights: Float32Array; // (V, J)
  parents: Int32Array; // (J): [-1, 0, 1, 1, 1]
  faces: Uint32Array; // (F, 3)
  V: number;
  F: number;
  J: number;
  lmkFacesIdx?: Uint32Array; // (68)
  lmkBaryCoords?: Float32Array; // (68, 3)
  /** True for the built-in stand-in (src/model/synthetic-flame.ts), not the licensed model. */
  synthetic: boolean;
}

export interface FlameOptions {
  /** [B, 12] axis-angle: global (3), neck (3), left eye (3), right eye (3). Zeros when absent. */
  poses?: Tensor;
  /** Betas layout of params: nShape shape then nExpr expression components (default 300, 100). */
  nShape?: number;
  nExpr?: number;
  /** Blend kernel schedule override (benchmarks). */
  blendTiles?: BlendTiles;
}

export interface FlameOutputs {
  /** [B, V, 3] model units, after z += 0.05 and the head rotation. */
  vertices: Tensor;
  /** [B, V, 2] crop pixels (x, y). */
  projected: Tensor;
  /** [B, 3, 3] head rotation from the 6D parameters. */
  rotation: Tensor;
  /** [B, 68, 3] when the FLAME carries the landmark embedding. */
  landmarks3d?: Tensor;
}

/** Adds the FLAME layer: 4 dispatches (joints, blend, skin, landmarks) in stage 'flame'. */
export function buildFlame(g: Graph, params: Tensor, flame: FlameArrays, opts: FlameOptions = {}): FlameOutputs {
  return g.stage('flame', () => {
    const w = flameWeights(g, packFlame(flame, opts.nShape, opts.nExpr));
    const { coef, xf, rotation } = flameJoints(g, params, w, opts.poses);
    const vPosed = flameBlend(g, coef, w, opts.blendTiles);
    const { vertices, projected } = flameSkin(g, vPosed, xf, w);
    const landmarks3d = w.lmkVerts ? flameLandmarks(g, vertices, w) : undefined;
    return { vertices, projected, rotation, landmarks3d };
  });
}

// The FLAME layer and projection (SPEC section 6) as graph nodes: params [B, 413] (+ optional
// global/neck/eye poses) -> vertices, crop-pixel projections, head rotation, 3D landmarks.
import type { Graph, Tensor } from '../graph/graph.ts';
import type { FlameArrays } from '../io/flame.ts';
import { flameBlend, flameJoints, flameLandmarksProjected, flameSkin, flameWeights, packFlame, type BlendTiles, type PackedFlame } from '../kernels/flame_lbs.ts';

/** FLAME arrays in SPEC section 6's layouts; defined by the reader (src/io/flame.ts). */
export type { FlameArrays } from '../io/flame.ts';

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
  /** [B, 68, 3] when the FLAME carries the landmark embedding (contour by yaw with the dynamic one). */
  landmarks3d?: Tensor;
  /** [B, 68, 2] their crop-pixel projection (as `projected`), with landmarks3d. */
  landmarks3dProjected?: Tensor;
}

/**
 * Adds the FLAME layer: 4 dispatches (joints, blend, skin, landmarks) in stage 'flame'. `flame`:
 * packed once (packFlame; the model does it at creation), or raw arrays packed here.
 */
export function buildFlame(g: Graph, params: Tensor, flame: FlameArrays | PackedFlame, opts: FlameOptions = {}): FlameOutputs {
  return g.stage('flame', () => {
    const packed = 'dirs' in flame ? flame : packFlame(flame, opts.nShape, opts.nExpr);
    const w = flameWeights(g, packed);
    const { coef, xf, rotation } = flameJoints(g, params, w, opts.poses);
    const vPosed = flameBlend(g, coef, w, opts.blendTiles);
    const { vertices, projected } = flameSkin(g, vPosed, xf, w);
    const lm = w.lmkVerts ? flameLandmarksProjected(g, vertices, w, xf) : undefined;
    return { vertices, projected, rotation, landmarks3d: lm?.landmarks3d, landmarks3dProjected: lm?.projected };
  });
}

// Batched GEMM / linear layer with fused bias, residual add and ReLU (shaders/gemm.wgsl).
import source from '../../shaders/gemm.wgsl';
import { numel, type Graph, type Tensor, type Tuning } from '../graph/graph.ts';
import { matmulTiles, type MatTiles } from '../graph/tuning.ts';
import { ceilDiv, specialize, uniforms } from './wgsl.ts';

export interface GemmOptions {
  bias?: Tensor;
  residual?: Tensor;
  relu?: boolean;
  /** Rows of A per batch item (default: A's second-to-last dim). */
  name?: string;
}

/** Tile configuration: the adapter's row of the tile table (tuning.ts), overridable for benchmarks. */
export type GemmTiles = MatTiles;

export const gemmTiles = (t: Tuning, M: number, N: number): GemmTiles => matmulTiles(t, M, N);

/**
 * C = act(A B + bias + residual). A: [..., M, K] (leading dims are the batch), B: [K, N] shared
 * or [batch, K, N]; bias [N]; residual shaped like C. Returns C: [..., M, N].
 */
export function gemm(g: Graph, A: Tensor, B: Tensor, opts: GemmOptions = {}, tiles?: GemmTiles): Tensor {
  const name = opts.name ?? `gemm${g.nodes.length}`;
  if (A.shape.length < 2 || B.shape.length < 2) throw new Error(`${name}: A and B need at least 2 dims`);
  const M = A.shape[A.shape.length - 2];
  const K = A.shape[A.shape.length - 1];
  const batch = numel(A.shape.slice(0, -2));
  const [Kb, N] = B.shape.slice(-2);
  if (Kb !== K) throw new Error(`${name}: A is [..., ${M}, ${K}] but B is [..., ${Kb}, ${N}]`);
  const bBatch = numel(B.shape.slice(0, -2));
  if (bBatch !== 1 && bBatch !== batch) throw new Error(`${name}: B batch ${bBatch} does not match A batch ${batch}`);
  if (opts.bias && numel(opts.bias.shape) !== N) throw new Error(`${name}: bias has ${numel(opts.bias.shape)} values, expected ${N}`);
  const outShape = [...A.shape.slice(0, -1), N];
  if (opts.residual && numel(opts.residual.shape) !== numel(outShape)) throw new Error(`${name}: residual shape [${opts.residual.shape}] does not match [${outShape}]`);
  const C = g.tensor(name, outShape);
  const t = tiles ?? gemmTiles(g.tuning, M, N);
  const tileM = t.TM * t.WG_Y;
  const tileN = t.TN4 * 4 * t.WG_X;
  const vec4 = t.schedule === 'registers' && K % 4 === 0 && N % 4 === 0;
  const shader = specialize(source, {
    VEC4: vec4, BIAS: !!opts.bias, RESIDUAL: !!opts.residual, RELU: !!opts.relu,
    TM: t.TM, TN4: t.TN4, BK: t.BK, TILE_M: t.schedule === 'tiled' ? tileM : 4, TILE_N: t.schedule === 'tiled' ? tileN : 4,
  });
  const inputs = [A, B, ...(opts.bias ? [opts.bias] : []), ...(opts.residual ? [opts.residual] : [])];
  g.add('gemm', name, inputs, [C], {
    shader,
    entryPoint: t.schedule === 'tiled' ? 'main_tiled' : 'main_registers',
    constants: { WG_X: t.WG_X, WG_Y: t.WG_Y },
    uniforms: uniforms(M, N, K, M * K, bBatch === 1 ? 0 : K * N, M * N),
    workgroups: [ceilDiv(N, tileN), ceilDiv(M, tileM), batch],
    flops: 2 * batch * M * N * K,
  });
  return C;
}

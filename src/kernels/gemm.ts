// Batched GEMM / linear layer with fused bias, residual add and ReLU (shaders/gemm.wgsl).
import source from '../../shaders/gemm.wgsl';
import matmul from '../../shaders/matmul.wgsl';
import { numel, type Graph, type Tensor, type Tuning } from '../graph/graph.ts';
import { f16Flag, matmulTiles, type MatmulTiles } from '../graph/tuning.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';
import { isPacked, matmulB, type MatrixWeight } from './weights.ts';

const GEMM = kernel({
  name: 'gemm', source,
  inputs: { a: 'A', b: 'BW', 'wscale?': 'E', 'bias?': 'E', 'residual?': 'E' },
  outputs: { y: 'E' },
  uniforms: { M: 'u32', N: 'u32', K: 'u32', strideB: 'u32', relu: 'u32' },
  include: { matmul },
});

export interface GemmOptions {
  bias?: Tensor;
  residual?: Tensor;
  relu?: boolean;
  /** Node and output tensor name (default `gemm<node index>`). */
  name?: string;
}

/** Tile configuration; one per adapter class (tuning.ts's table), overridable for benchmarks. */
export type GemmTiles = MatmulTiles;

export function gemmTiles(t: Tuning, M: number, N: number): GemmTiles {
  return matmulTiles(t, M, N);
}

/**
 * C = act(A B + bias + residual). A: [..., M, K] (leading dims are the batch), B: [K, N] shared
 * or [batch, K, N]; bias [N]; residual shaped like C. Returns C: [..., M, N]. B may be a compact
 * weight (weights.ts: f16 or int8, shared [K, N] only).
 */
export function gemm(g: Graph, A: Tensor, B: MatrixWeight, opts: GemmOptions = {}, tiles?: GemmTiles): Tensor {
  const name = opts.name ?? `gemm${g.nodes.length}`;
  if (A.shape.length < 2 || B.shape.length < 2) throw new Error(`${name}: A and B need at least 2 dims`);
  const M = A.shape[A.shape.length - 2];
  const K = A.shape[A.shape.length - 1];
  const batch = numel(A.shape.slice(0, -2));
  const [Kb, N] = B.shape.slice(-2);
  if (Kb !== K) throw new Error(`${name}: A is [..., ${M}, ${K}] but B is [..., ${Kb}, ${N}]`);
  const bBatch = numel(B.shape.slice(0, -2));
  if (isPacked(B) && bBatch !== 1) throw new Error(`${name}: a compact B must be one shared [K, N] matrix`);
  const bw = matmulB(B);
  if (bBatch !== 1 && bBatch !== batch) throw new Error(`${name}: B batch ${bBatch} does not match A batch ${batch}`);
  if (opts.bias && numel(opts.bias.shape) !== N) throw new Error(`${name}: bias has ${numel(opts.bias.shape)} values, expected ${N}`);
  const outShape = [...A.shape.slice(0, -1), N];
  if (opts.residual && numel(opts.residual.shape) !== numel(outShape)) throw new Error(`${name}: residual shape [${opts.residual.shape}] does not match [${outShape}]`);
  const C = g.tensor(name, outShape);
  const t = tiles ?? gemmTiles(g.tuning, M, N);
  const tileM = t.TM * t.WG_Y;
  const tileN = t.TN4 * 4 * t.WG_X;
  const vec4 = t.schedule === 'registers' && K % 4 === 0 && N % 4 === 0;
  GEMM.add(g, name, {
    inputs: { a: A, b: bw.b, wscale: bw.wscale, bias: opts.bias, residual: opts.residual },
    outputs: { y: C },
    uniforms: { M, N, K, strideB: bBatch === 1 ? 0 : K * N, relu: Number(!!opts.relu) },
    flags: {
      KVEC4: vec4, NVEC4: vec4, SPLIT: false, ...bw.flags, F16: f16Flag(g.tuning, t, name),
      TM: t.TM, TN4: t.TN4, BK: t.BK, TILE_M: t.schedule === 'tiled' ? tileM : 4, TILE_N: t.schedule === 'tiled' ? tileN : 4,
    },
    entryPoint: t.schedule === 'tiled' ? 'main_tiled' : 'main_registers',
    constants: { WG_X: t.WG_X, WG_Y: t.WG_Y },
    workgroups: [ceilDiv(N, tileN), ceilDiv(M, tileM), batch],
    flops: 2 * batch * M * N * K,
  });
  return C;
}

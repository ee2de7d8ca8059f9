// QAMem: per-query d x d linear map, the grouped 1x1 Conv1d of SPEC section 5 (shaders/qamem.wgsl).
import source from '../../shaders/qamem.wgsl';
import { numel, type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';
import { isPacked, packF16, packInt8, quantizeInt8, type CompactMatrix, type MatrixWeight } from './weights.ts';

/**
 * The compact form of qamemWeightLayout's [N][c][o] array: f16, or int8 with one scale per
 * output channel of each group (index i*d + o, like the bias: the Conv1d's output channels).
 */
export function compactQamemWeight(w: Float32Array, N: number, d: number, format: 'f16' | 'int8'): CompactMatrix {
  if (w.length !== N * d * d) throw new Error(`qamem weight: ${w.length} values, expected ${N * d * d}`);
  if (format === 'f16') return { format, K: N * d, N: d, words: packF16(w) };
  const q = new Int8Array(N * d * d), scale = new Float32Array(N * d);
  for (let i = 0; i < N; i++) {
    const b = quantizeInt8(w.subarray(i * d * d, (i + 1) * d * d), d, 'columns');
    q.set(b.q, i * d * d);
    scale.set(b.scale, i * d);
  }
  return { format, K: N * d, N: d, words: packInt8(q), scale };
}

const QAMEM = kernel({
  name: 'qamem', source,
  inputs: { x: 'f32', w: 'WT', 'wscale?': 'f32', bias: 'f32' }, outputs: { y: 'f32' },
  uniforms: { B: 'u32', N: 'u32', d: 'u32' },
});

/** PyTorch Conv1d(N*d, N*d, 1, groups=N) weight (N*d, d[, 1]) -> [N][c][o], the kernel's layout. */
export function qamemWeightLayout(weight: ArrayLike<number>, N: number, d: number): Float32Array {
  if (weight.length !== N * d * d) throw new Error(`qamem weight: ${weight.length} values, expected ${N * d * d}`);
  const out = new Float32Array(N * d * d);
  for (let i = 0; i < N; i++) for (let o = 0; o < d; o++) for (let c = 0; c < d; c++) {
    out[(i * d + c) * d + o] = weight[(i * d + o) * d + c];
  }
  return out;
}

/**
 * Y[b, i, :] = X[b, i, :] W[i] + bias[i] for X [B, N, d], W [N, d, d] in qamemWeightLayout's
 * [i][c][o] order, bias [N*d] (or [N, d]).
 */
export interface QamemTiles { TR: number; TN4: number; CK: number; WG_X: number }

export function qamem(g: Graph, X: Tensor, W: MatrixWeight, bias: Tensor, name = `qamem${g.nodes.length}`, tiles?: Partial<QamemTiles>): Tensor {
  if (X.shape.length !== 3) throw new Error(`${name}: X must be [B, N, d], got [${X.shape}]`);
  const [B, N, d] = X.shape;
  if (numel(W.shape) !== N * d * d) throw new Error(`${name}: W [${W.shape}] should hold [${N}, ${d}, ${d}]`);
  if (numel(bias.shape) !== N * d) throw new Error(`${name}: bias [${bias.shape}] should hold ${N * d} values`);
  const cpu = g.tuning.cpuLike;
  const TR = tiles?.TR ?? (B >= 4 ? 4 : B >= 2 ? 2 : 1);
  const TN4 = tiles?.TN4 ?? (cpu && d >= 8 ? 2 : 1);
  const CK = tiles?.CK ?? 4;
  const WG_X = tiles?.WG_X ?? Math.min(cpu ? 8 : 64, Math.max(1, 2 ** Math.ceil(Math.log2(ceilDiv(d, 4 * TN4)))));
  const Y = g.tensor(name, [B, N, d]);
  QAMEM.add(g, name, {
    inputs: { x: X, w: isPacked(W) ? W.words : W, wscale: isPacked(W) ? W.scale : undefined, bias }, outputs: { y: Y },
    uniforms: { B, N, d },
    flags: { TR, TN4, CK, WF16: isPacked(W) && W.format === 'f16', WI8: isPacked(W) && W.format === 'int8' }, constants: { WG_X },
    workgroups: [ceilDiv(d, 4 * TN4 * WG_X), ceilDiv(B, TR), N],
    flops: 2 * B * N * d * d,
  });
  return Y;
}

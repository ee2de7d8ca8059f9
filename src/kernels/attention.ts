// Fused multi-head attention (shaders/attention.wgsl): softmax(Q K^T * scale) V, all batch
// items, heads and queries in one dispatch, reading Q/K/V as strided views of projection outputs.
import source from '../../shaders/attention.wgsl';
import { numel, type Graph, type Tensor, type Tuning } from '../graph/graph.ts';
import { tilesFor } from '../graph/tuning.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';

const ATTENTION = kernel({
  name: 'attention', source,
  inputs: { qs: 'T', ks: 'T', vs: 'T' },
  outputs: { os: 'f32' },
  uniforms: { Lq: 'u32', Lk: 'u32', heads: 'u32', scale: 'f32', q: 'vec4u', k: 'vec4u', v: 'vec4u' },
});

/**
 * Rows of a [B, L, C] tensor seen as [B, L, d]: element (b, i, c) is at
 * offset + b*batchStride + i*rowStride + c. batchStride 0 broadcasts one item over the batch.
 */
export interface SeqView { tensor: Tensor; B: number; L: number; channels: number; offset: number; rowStride: number; batchStride: number }

/**
 * Channels [channelOffset, channelOffset + channels) of t ([B, L, C] or [L, C] = one item);
 * a packed projection output [B, L, 3d] gives Q, K, V views with channelOffset 0, d, 2d.
 */
export function seqView(t: Tensor, channelOffset = 0, channels?: number): SeqView {
  const s = t.shape;
  if (s.length < 2) throw new Error(`seqView ${t.name}: need [B, L, C] or [L, C], got [${s}]`);
  const C = s[s.length - 1];
  const L = s[s.length - 2];
  const B = numel(s.slice(0, -2));
  const n = channels ?? C - channelOffset;
  if (channelOffset < 0 || n < 1 || channelOffset + n > C) throw new Error(`seqView ${t.name}: channels [${channelOffset}, ${channelOffset + n}) outside 0..${C}`);
  return { tensor: t, B, L, channels: n, offset: channelOffset, rowStride: C, batchStride: L * C };
}

export interface AttentionOptions {
  heads: number;
  /** Channels per row, heads * headDim (default: Q's view's channels). */
  d?: number;
  /** Default 1/sqrt(headDim). */
  scale?: number;
  name?: string;
}

export interface AttentionTiles { tiled: boolean; TQ: number; KB: number; WG: number }

export function attentionTiles(t: Tuning, Lq: number, headDim: number): AttentionTiles {
  const dh4 = Math.ceil(headDim / 4);
  // CPU adapters: TQ queries per invocation share every K/V row loaded (as gemm's register
  // tile), blocks of 4 keys, one SIMD group (4 lanes on SwiftShader) per workgroup. Measured on
  // SwiftShader (413 x 413, 8 heads of 32), GFLOP per CPU-second: TQ 16 3.5, TQ 8 2.7, TQ 4 1.8
  // (gemm 2.1); but SwiftShader's compile time grows faster than the tile (dh 32: TQ 8 ~2-9 s,
  // TQ 16 ~3x that), so the tile is capped: 64 vec4 registers per array, TQ 8 for dh 32.
  // lavapipe's LLVM compiles slowest of all: one query, one key per block (tile table, tuning.ts).
  if (t.cpuLike) {
    const a = tilesFor(t).attention;
    let TQ = 1;
    while (TQ < a.maxTQ && TQ * 2 <= Lq && TQ * 2 * dh4 <= a.regs) TQ *= 2;
    return { tiled: false, TQ, KB: a.KB, WG: a.WG };
  }
  // GPUs: one query per invocation; K and V blocks of KB rows in workgroup memory. (Not yet
  // measured on a GPU: no device was available when this was written.)
  let KB = 16;
  while (KB > 4 && 2 * KB * dh4 * 16 > t.maxWorkgroupStorage) KB /= 2;
  return { tiled: true, TQ: 1, KB, WG: Lq > 32 ? 64 : 32 };
}

const asView = (x: Tensor | SeqView): SeqView => ('tensor' in x ? x : seqView(x));

/** O [B, Lq, d] = concat_h softmax(Q_h K_h^T * scale) V_h. */
export function attention(g: Graph, Q: Tensor | SeqView, K: Tensor | SeqView, V: Tensor | SeqView, opts: AttentionOptions, tiles?: AttentionTiles): Tensor {
  const name = opts.name ?? `attention${g.nodes.length}`;
  const q = asView(Q), k = asView(K), v = asView(V);
  const d = opts.d ?? q.channels;
  const heads = opts.heads;
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) throw new Error(`${name}: ${d} channels do not split into ${heads} heads`);
  const DH = d / heads;
  const B = Math.max(q.B, k.B, v.B);
  if (k.L !== v.L) throw new Error(`${name}: K has ${k.L} rows but V has ${v.L}`);
  for (const [n, x] of [['Q', q], ['K', k], ['V', v]] as const) {
    if (x.B !== B && x.B !== 1) throw new Error(`${name}: ${n} batch ${x.B} does not match ${B}`);
    const last = x.offset + (x.B - 1) * x.batchStride + (x.L - 1) * x.rowStride + d - 1;
    if (last >= numel(x.tensor.shape)) throw new Error(`${name}: ${n} view reaches element ${last} of ${x.tensor.name} [${x.tensor.shape}]`);
  }
  const Lq = q.L, Lk = k.L;
  const t = tiles ?? attentionTiles(g.tuning, Lq, DH);
  const DH4 = Math.ceil(DH / 4);
  // vec4 loads when every row start is 16-byte aligned.
  const vec4 = DH % 4 === 0 && [q, k, v].every((x) => x.offset % 4 === 0 && x.rowStride % 4 === 0 && x.batchStride % 4 === 0);
  const O = g.tensor(name, [B, Lq, d]);
  const view = (x: SeqView) => [x.offset, x.rowStride, x.B === 1 ? 0 : x.batchStride, 0] as const;
  ATTENTION.add(g, name, {
    inputs: { qs: q.tensor, ks: k.tensor, vs: v.tensor },
    outputs: { os: O },
    uniforms: { Lq, Lk, heads, scale: opts.scale ?? 1 / Math.sqrt(DH), q: view(q), k: view(k), v: view(v) },
    flags: { DH, DH4, TQ: t.TQ, KB: t.KB, TILED: t.tiled, TAIL: DH % 4 !== 0, VEC4: vec4 },
    constants: { WG: t.WG },
    workgroups: [ceilDiv(Lq, t.TQ * t.WG), heads, B],
    flops: 4 * B * Lq * Lk * d,
  });
  return O;
}

// The two transformer decoder branches (SPEC sections 3-5) as graph builders.
//
// Per DETR post-norm layer: packed [Wq|Wk] gemm on tgt + query_pos and a V gemm on tgt, fused
// attention reading Q/K/V as strided views, out_proj gemm with the residual in its epilogue,
// LayerNorm that also emits the next `tgt + query_pos`; the memory's K and V for every layer come
// from two gemms per branch ((M + pos) [Wk_0|Wk_1|...] and M [Wv_0|...]), read in place.
//
// Build-time algebra (exact in real arithmetic; differences are f32 rounding, ~1e-7):
//  - params branch, layer 0 has tgt = 0: V = bv for every key and softmax weights sum to 1, so
//    self_attn(...) = out_proj(bv) for every query and batch item, and norm1 of it is one
//    constant row c1. The cross-attention queries (c1 + query_pos) Wq + bq are then a constant
//    [N, d] computed once here (broadcast over the batch), and the cross out_proj's residual c1
//    becomes part of its bias. This removes the 413 x 413 self-attention of layer 0.
//  - MARR's 256x (crop pixels) is folded into the last Linear of each residual head (a power of
//    two: exact), and avg_face enters as the first head's residual.
import type { Graph, Tensor } from '../graph/graph.ts';
import { attention, seqView } from '../kernels/attention.ts';
import { add } from '../kernels/elementwise.ts';
import { gemm } from '../kernels/gemm.ts';
import { layerNorm, layerNormEx } from '../kernels/layernorm.ts';
import { meanTokens } from '../kernels/mean.ts';
import { qamem, qamemWeightLayout } from '../kernels/qamem.ts';
import { fail } from '../io/errors.ts';
import type { StateDict } from '../io/tensor.ts';
import type { Trans3DHeadConfig } from './config.ts';
import { sinePositionEmbedding } from './posenc.ts';

/** The config fields the decoder reads (SPEC "Config"; a full config object fits). */
export type DecoderConfig = Pick<Trans3DHeadConfig, 'd_model' | 'nhead' | 'dim_feedforward' | 'num_layers' | 'num_params' | 'num_landmarks'>
  & Partial<Pick<Trans3DHeadConfig, 'image_size'>>;

export interface BranchOptions {
  /** Memory token grid for the positional encoding (default: square, sqrt(S) x sqrt(S)). */
  grid?: readonly [number, number];
}

const LN_EPS = 1e-5;

// ---- state dict access -------------------------------------------------------------------

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Expected PyTorch shapes of one branch's state-dict keys, relative to its prefix. */
export function branchShapes(cfg: DecoderConfig, kind: 'params' | 'landmark'): Map<string, number[]> {
  const d = cfg.d_model, ff = cfg.dim_feedforward;
  const N = kind === 'params' ? cfg.num_params : cfg.num_landmarks;
  const m = new Map<string, number[]>();
  m.set('query_embed.weight', [N, d]);
  if (kind === 'landmark') { m.set('query_init.weight', [N * d, d]); m.set('query_init.bias', [N * d]); }
  for (let l = 0; l < cfg.num_layers; l++) {
    const p = `layers.${l}.`;
    for (const a of ['self_attn', 'cross_attn']) {
      m.set(`${p}${a}.in_proj_weight`, [3 * d, d]); m.set(`${p}${a}.in_proj_bias`, [3 * d]);
      m.set(`${p}${a}.out_proj.weight`, [d, d]); m.set(`${p}${a}.out_proj.bias`, [d]);
    }
    if (kind === 'landmark') { m.set(`${p}cross_attn.qamem.weight`, [N * d, d, 1]); m.set(`${p}cross_attn.qamem.bias`, [N * d]); }
    m.set(`${p}linear1.weight`, [ff, d]); m.set(`${p}linear1.bias`, [ff]);
    m.set(`${p}linear2.weight`, [d, ff]); m.set(`${p}linear2.bias`, [d]);
    for (const n of ['norm1', 'norm2', 'norm3']) { m.set(`${p}${n}.weight`, [d]); m.set(`${p}${n}.bias`, [d]); }
  }
  m.set('norm.weight', [d]); m.set('norm.bias', [d]);
  if (kind === 'params') { m.set('head.weight', [1, d]); m.set('head.bias', [1]); }
  else {
    for (let l = 0; l < cfg.num_layers; l++) {
      const p = `residual_heads.${l}.layers.`;
      m.set(`${p}0.weight`, [d, d]); m.set(`${p}0.bias`, [d]);
      m.set(`${p}1.weight`, [d, d]); m.set(`${p}1.bias`, [d]);
      m.set(`${p}2.weight`, [2, d]); m.set(`${p}2.bias`, [2]);
    }
    m.set('avg_face', [N, 2]);
  }
  return m;
}

/** Checks every key of a branch before building; returns a getter for validated data. */
function branchWeights(sd: StateDict, cfg: DecoderConfig, kind: 'params' | 'landmark', prefix: string): (key: string) => { shape: number[]; data: Float32Array } {
  const shapes = branchShapes(cfg, kind);
  for (const [k, shape] of shapes) {
    const key = prefix + k;
    const t = sd.get(key);
    if (!t) fail('state dict', 'missing weight', { key, expected: `shape ${fmt(shape)}`, found: 'nothing' });
    // The Conv1d weight (N*d, d, 1) is also accepted without its trailing 1.
    const ok = (s: readonly number[]) => s.length === t.shape.length && s.every((v, i) => v === t.shape[i]);
    if (!ok(shape) && !(shape.length === 3 && shape[2] === 1 && ok(shape.slice(0, 2)))) {
      fail('state dict', 'weight has the wrong shape', { key, expected: fmt(shape), found: fmt(t.shape) });
    }
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) fail('state dict', `weight of shape ${fmt(t.shape)} has the wrong number of values`, { key, expected: String(shape.reduce((a, b) => a * b, 1)), found: String(t.data.length) });
  }
  return (k: string) => {
    if (!shapes.has(k)) throw new Error(`internal: ${k} is not a ${kind} branch key`);
    return sd.get(prefix + k)!;
  };
}

// Derived host arrays are memoised on their source arrays, so graphs built from the same state
// dict (other batch sizes) do not compute and hold them again. (The GPU buffers are shared by
// the WeightCache, which keys on the weight's name and checks a fingerprint of its values.)
type Memo = { next: WeakMap<object, Memo>; values: Map<string, Float32Array> };
const memoRoot: Memo = { next: new WeakMap(), values: new Map() };
function derived(sources: readonly object[], tag: string, make: () => Float32Array): Float32Array {
  let node = memoRoot;
  for (const s of sources) {
    let n = node.next.get(s);
    if (!n) node.next.set(s, (n = { next: new WeakMap(), values: new Map() }));
    node = n;
  }
  let v = node.values.get(tag);
  if (!v) node.values.set(tag, (v = make()));
  return v;
}

/** Rows [r0, r0 + rows) of a PyTorch Linear weight (out, in), transposed to gemm's (in, rows). */
function transposeRows(w: Float32Array, inF: number, r0: number, rows: number, scale = 1): Float32Array {
  const out = new Float32Array(inF * rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < inF; c++) out[c * rows + r] = w[(r0 + r) * inF + c] * scale;
  return out;
}

// ---- building blocks ---------------------------------------------------------------------

interface Ctx {
  g: Graph;
  t: (key: string) => { shape: number[]; data: Float32Array };
  w: (key: string) => Float32Array;
  prefix: string;
  cfg: DecoderConfig;
  B: number;
  N: number;
  d: number;
}

/** A gemm-layout (in, out) weight from a Linear weight's rows, uploaded once. */
function linearW(c: Ctx, key: string, r0 = 0, rows?: number, scale = 1): Tensor {
  const { data: src, shape } = c.t(key);
  const inF = shape[1];
  const n = rows ?? shape[0];
  const data = derived([src], `T${r0},${n},${scale}`, () => transposeRows(src, inF, r0, n, scale));
  return c.g.weight(`${c.prefix}${key}.T${r0 ? `[${r0}:${r0 + n}]` : ''}`, [inF, n], data);
}

function vecW(c: Ctx, key: string, start = 0, len?: number, scale = 1): Tensor {
  const src = c.w(key);
  const n = len ?? src.length - start;
  const data = start === 0 && n === src.length && scale === 1 ? src : derived([src], `v${start},${n},${scale}`, () => src.slice(start, start + n).map((v) => v * scale));
  return c.g.weight(`${c.prefix}${key}${start || n !== src.length ? `[${start}:${start + n}]` : ''}`, [n], data);
}

/** [Wk_0 | Wk_1 | ...] (part 1) or the V columns (part 2) of every layer's cross_attn, (d, L*d). */
function memoryProjection(c: Ctx, part: 1 | 2): { W: Tensor; b: Tensor } {
  const { d } = c;
  const L = c.cfg.num_layers;
  const ws = Array.from({ length: L }, (_, l) => c.w(`layers.${l}.cross_attn.in_proj_weight`));
  const bs = Array.from({ length: L }, (_, l) => c.w(`layers.${l}.cross_attn.in_proj_bias`));
  const W = derived(ws, `mem${part}`, () => {
    const out = new Float32Array(d * L * d);
    ws.forEach((w, l) => {
      for (let r = 0; r < d; r++) for (let k = 0; k < d; k++) out[k * L * d + l * d + r] = w[(part * d + r) * d + k];
    });
    return out;
  });
  const b = derived(bs, `mem${part}b`, () => {
    const out = new Float32Array(L * d);
    bs.forEach((x, l) => out.set(x.subarray(part * d, (part + 1) * d), l * d));
    return out;
  });
  const name = `${c.prefix}layers.cross_attn.${part === 1 ? 'k' : 'v'}_all`;
  return { W: c.g.weight(`${name}.W`, [d, L * d], W), b: c.g.weight(`${name}.b`, [L * d], b) };
}

// memory + pos is the same for both branches: built once per memory tensor.
const memPosCache = new WeakMap<Tensor, Tensor>();

function memoryKV(c: Ctx, memory: Tensor, opts: BranchOptions): { K: Tensor; V: Tensor } {
  const { g, d } = c;
  const S = memory.shape[1];
  let memPos = memPosCache.get(memory);
  if (!memPos) {
    let [H, W] = opts.grid ?? [Math.round(Math.sqrt(S)), Math.round(Math.sqrt(S))];
    if (H * W !== S) throw new Error(`decoder: ${S} memory tokens are not a square grid; pass opts.grid = [H, W]`);
    const pos = g.weight(`pos_embed_${H}x${W}x${d}`, [S, d], sinePositionEmbedding(H, W, d));
    memPos = add(g, memory, pos, { name: 'memory_plus_pos' });
    memPosCache.set(memory, memPos);
  }
  const k = memoryProjection(c, 1), v = memoryProjection(c, 2);
  return {
    K: gemm(g, memPos, k.W, { bias: k.b, name: `${c.prefix}cross_attn.k_all` }),
    V: gemm(g, memory, v.W, { bias: v.b, name: `${c.prefix}cross_attn.v_all` }),
  };
}

/** f64 LayerNorm of one row (build-time constants). */
function layerNormRow(x: Float64Array, gamma: Float32Array, beta: Float32Array): Float64Array {
  const d = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= d;
  let q = 0;
  for (const v of x) q += (v - mean) ** 2;
  const rstd = 1 / Math.sqrt(q / d + LN_EPS);
  return x.map((v, i) => (v - mean) * rstd * gamma[i] + beta[i]);
}

/** Layer 0 of the params branch with tgt = 0: self-attention + norm1 fold to constants (header). */
function zeroTgtConstants(c: Ctx, qposData: Float32Array): { qCross: Float32Array; crossBias: Float32Array } {
  const { d, N } = c;
  const p = 'layers.0.';
  const sIn = c.w(`${p}self_attn.in_proj_bias`), sWo = c.w(`${p}self_attn.out_proj.weight`), sBo = c.w(`${p}self_attn.out_proj.bias`);
  const n1w = c.w(`${p}norm1.weight`), n1b = c.w(`${p}norm1.bias`);
  const cW = c.w(`${p}cross_attn.in_proj_weight`), cB = c.w(`${p}cross_attn.in_proj_bias`), cBo = c.w(`${p}cross_attn.out_proj.bias`);
  const sources = [sIn, sWo, sBo, n1w, n1b, cW, cB, cBo, qposData];
  const c1 = (): Float64Array => {
    const sa = new Float64Array(d);
    for (let o = 0; o < d; o++) {
      let s = sBo[o];
      for (let k = 0; k < d; k++) s += sWo[o * d + k] * sIn[2 * d + k];
      sa[o] = s;
    }
    return layerNormRow(sa, n1w, n1b);
  };
  const qCross = derived(sources, 'zeroTgt.q', () => {
    const row = c1();
    const out = new Float32Array(N * d);
    const x = new Float64Array(d);
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < d; k++) x[k] = row[k] + qposData[i * d + k];
      for (let o = 0; o < d; o++) {
        let s = cB[o];
        for (let k = 0; k < d; k++) s += cW[o * d + k] * x[k];
        out[i * d + o] = s;
      }
    }
    return out;
  });
  const crossBias = derived(sources, 'zeroTgt.bias', () => {
    const row = c1();
    return Float32Array.from(cBo, (v, i) => v + row[i]);
  });
  return { qCross, crossBias };
}

interface LayerIO { tgt: Tensor; plus?: Tensor }

/**
 * One DETR post-norm decoder layer. `input` null means tgt = 0 (params layer 0). Returns tgt
 * after norm3 and, unless last, tgt + query_pos for the next layer.
 */
function decoderLayer(c: Ctx, l: number, input: LayerIO | null, qpos: Tensor, qposData: Float32Array,
  mem: { K: Tensor; V: Tensor }, useQamem: boolean, last: boolean): LayerIO {
  const { g, d, N } = c;
  const heads = c.cfg.nhead;
  const p = `layers.${l}.`;
  const name = (s: string) => `${c.prefix}${p}${s}`;
  let qCross: Tensor;
  let t1: Tensor | undefined;
  let crossBias: Tensor;
  if (input === null) {
    const k = zeroTgtConstants(c, qposData);
    qCross = g.weight(name('cross_attn.q_const'), [1, N, d], k.qCross);
    crossBias = g.weight(name('cross_attn.out_proj.bias_plus_tgt'), [d], k.crossBias);
  } else {
    if (!input.plus) throw new Error('internal: tgt + query_pos missing');
    const wIn = `${p}self_attn.in_proj_weight`, bIn = `${p}self_attn.in_proj_bias`;
    // q = k = tgt + query_pos: one gemm for both; v = tgt.
    const qk = gemm(g, input.plus, linearW(c, wIn, 0, 2 * d), { bias: vecW(c, bIn, 0, 2 * d), name: name('self_attn.qk') });
    const v = gemm(g, input.tgt, linearW(c, wIn, 2 * d, d), { bias: vecW(c, bIn, 2 * d, d), name: name('self_attn.v') });
    const a = attention(g, seqView(qk, 0, d), seqView(qk, d, d), v, { heads, name: name('self_attn.attention') });
    const s = gemm(g, a, linearW(c, `${p}self_attn.out_proj.weight`), { bias: vecW(c, `${p}self_attn.out_proj.bias`), residual: input.tgt, name: name('self_attn.out_proj') });
    const n1 = layerNormEx(g, s, vecW(c, `${p}norm1.weight`), vecW(c, `${p}norm1.bias`), { plus: qpos, name: name('norm1') });
    t1 = n1.y;
    const wc = `${p}cross_attn.in_proj_weight`;
    qCross = gemm(g, n1.plus!, linearW(c, wc, 0, d), { bias: vecW(c, `${p}cross_attn.in_proj_bias`, 0, d), name: name('cross_attn.q') });
    crossBias = vecW(c, `${p}cross_attn.out_proj.bias`);
  }
  let a = attention(g, qCross, seqView(mem.K, l * d, d), seqView(mem.V, l * d, d), { heads, name: name('cross_attn.attention') });
  if (useQamem) {
    const wq = c.w(`${p}cross_attn.qamem.weight`);
    const Wt = g.weight(name('cross_attn.qamem.weight.T'), [N, d, d], derived([wq], 'qamem', () => qamemWeightLayout(wq, N, d)));
    a = qamem(g, a, Wt, vecW(c, `${p}cross_attn.qamem.bias`), name('cross_attn.qamem'));
  }
  const s2 = gemm(g, a, linearW(c, `${p}cross_attn.out_proj.weight`), { bias: crossBias, residual: t1, name: name('cross_attn.out_proj') });
  const t2 = layerNorm(g, s2, vecW(c, `${p}norm2.weight`), vecW(c, `${p}norm2.bias`), { name: name('norm2') });
  const h = gemm(g, t2, linearW(c, `${p}linear1.weight`), { bias: vecW(c, `${p}linear1.bias`), relu: true, name: name('linear1') });
  const s3 = gemm(g, h, linearW(c, `${p}linear2.weight`), { bias: vecW(c, `${p}linear2.bias`), residual: t2, name: name('linear2') });
  const n3 = layerNormEx(g, s3, vecW(c, `${p}norm3.weight`), vecW(c, `${p}norm3.bias`), { plus: last ? undefined : qpos, name: name('norm3') });
  return { tgt: n3.y, plus: n3.plus };
}

function context(g: Graph, memory: Tensor, sd: StateDict, cfg: DecoderConfig, kind: 'params' | 'landmark', prefix: string): Ctx {
  if (memory.shape.length !== 3 || memory.shape[2] !== cfg.d_model) {
    throw new Error(`decoder: memory must be [B, S, ${cfg.d_model}], got [${memory.shape.join(', ')}]`);
  }
  for (const k of ['d_model', 'nhead', 'dim_feedforward', 'num_layers', 'num_params', 'num_landmarks'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`decoder: config ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.d_model % 2 !== 0) throw new Error(`decoder: d_model ${cfg.d_model} must be even (sine positional encoding)`);
  if (cfg.d_model % cfg.nhead !== 0) throw new Error(`decoder: d_model ${cfg.d_model} is not a multiple of nhead ${cfg.nhead}`);
  const t = branchWeights(sd, cfg, kind, prefix);
  return { g, t, w: (k) => t(k).data, prefix, cfg, B: memory.shape[0], N: kind === 'params' ? cfg.num_params : cfg.num_landmarks, d: cfg.d_model };
}

function runLayers(c: Ctx, memory: Tensor, first: LayerIO | null, useQamem: boolean, opts: BranchOptions): Tensor[] {
  const { g } = c;
  const qposData = c.w('query_embed.weight');
  const qpos = g.weight(`${c.prefix}query_embed.weight`, [c.N, c.d], qposData);
  const mem = memoryKV(c, memory, opts);
  const normW = vecW(c, 'norm.weight'), normB = vecW(c, 'norm.bias');
  const outs: Tensor[] = [];
  let io = first;
  for (let l = 0; l < c.cfg.num_layers; l++) {
    const last = l === c.cfg.num_layers - 1;
    io = decoderLayer(c, l, io, qpos, qposData, mem, useQamem, last);
    outs.push(layerNorm(g, io.tgt, normW, normB, { name: `${c.prefix}out.${l}` }));
  }
  return outs;
}

// ---- public API --------------------------------------------------------------------------

/**
 * The 3DMM branch (SPEC section 4): N = num_params queries, zero initial tgt.
 * memory [B, S, d] -> params [B, N] (head on the last layer's normed output) and
 * outs[l] = norm(h_l), each [B, N, d].
 */
export function buildParamsBranch(g: Graph, memory: Tensor, sd: StateDict, cfg: DecoderConfig,
  prefix = 'params_branch.', opts: BranchOptions = {}): { params: Tensor; outs: Tensor[] } {
  return g.stage('params_branch', () => {
    const c = context(g, memory, sd, cfg, 'params', prefix);
    const outs = runLayers(c, memory, null, false, opts);
    const head = gemm(g, outs[outs.length - 1], linearW(c, 'head.weight'), { bias: vecW(c, 'head.bias'), name: `${prefix}head` });
    return { params: g.reshape(head, [c.B, c.N], `${prefix}params`), outs };
  });
}

/**
 * The landmark branch (SPEC section 5): MQinit, QAMem in every cross-attention, MARR.
 * memory [B, S, d] -> landmarks [B, N, 2] in crop pixels and outs[l] = norm(h_l), each [B, N, d].
 */
export function buildLandmarkBranch(g: Graph, memory: Tensor, sd: StateDict, cfg: DecoderConfig,
  prefix = 'landmark_branch.', opts: BranchOptions = {}): { landmarks: Tensor; outs: Tensor[] } {
  return g.stage('landmark_branch', () => {
    const c = context(g, memory, sd, cfg, 'landmark', prefix);
    const { B, N, d } = c;
    // MQinit: tgt0 = query_init(mean over tokens of M), query i takes outputs [i*d, (i+1)*d).
    const pooled = meanTokens(g, memory, `${prefix}memory_mean`);
    const init = gemm(g, pooled, linearW(c, 'query_init.weight'), { bias: vecW(c, 'query_init.bias'), name: `${prefix}query_init` });
    const tgt0 = g.reshape(init, [B, N, d], `${prefix}tgt0`);
    const qpos = g.weight(`${prefix}query_embed.weight`, [N, d], c.w('query_embed.weight'));
    const plus0 = add(g, tgt0, qpos, { name: `${prefix}tgt0_plus_pos` });
    const outs = runLayers(c, memory, { tgt: tgt0, plus: plus0 }, true, opts);
    // MARR: 256 * (avg_face + sum_l head_l(out[l])), 256 folded into each head's last Linear.
    const scale = cfg.image_size ?? 256;
    const avg = c.w('avg_face');
    let acc: Tensor = g.weight(`${prefix}avg_face_x${scale}_b${B}`, [B, N, 2], derived([avg], `avg${scale},${B}`, () => {
      const out = new Float32Array(B * N * 2);
      for (let b = 0; b < B; b++) for (let i = 0; i < N * 2; i++) out[b * N * 2 + i] = avg[i] * scale;
      return out;
    }));
    outs.forEach((o, l) => {
      const p = `residual_heads.${l}.layers.`;
      const h1 = gemm(g, o, linearW(c, `${p}0.weight`), { bias: vecW(c, `${p}0.bias`), relu: true, name: `${prefix}${p}0` });
      const h2 = gemm(g, h1, linearW(c, `${p}1.weight`), { bias: vecW(c, `${p}1.bias`), relu: true, name: `${prefix}${p}1` });
      acc = gemm(g, h2, linearW(c, `${p}2.weight`, 0, 2, scale), { bias: vecW(c, `${p}2.bias`, 0, 2, scale), residual: acc, name: `${prefix}${p}2` });
    });
    return { landmarks: acc, outs };
  });
}

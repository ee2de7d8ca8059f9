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
import { fail } from '../io/errors.ts';
import type { Graph, Tensor } from '../graph/graph.ts';
import { attention, seqView } from '../kernels/attention.ts';
import { add } from '../kernels/elementwise.ts';
import { gemm } from '../kernels/gemm.ts';
import { layerNorm, layerNormEx } from '../kernels/layernorm.ts';
import { meanTokens } from '../kernels/mean.ts';
import { qamem, qamemWeightLayout } from '../kernels/qamem.ts';
import { matrixWeight, type CompactMatrix, type MatrixWeight } from '../kernels/weights.ts';
import type { StateDict } from '../io/tensor.ts';
import { branchShapes, type DecoderConfig } from './config.ts';
import { sinePositionEmbedding } from './posenc.ts';

export type { DecoderConfig };
export { branchShapes };

export interface BranchOptions {
  /** Memory token grid for the positional encoding (default: square, sqrt(S) x sqrt(S)). */
  grid?: readonly [number, number];
  /** memoryPlusPos(g, memory, grid), when both branches share it (else built here). */
  memoryPlusPos?: Tensor;
}

const LN_EPS = 1e-5;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

// ---- weights, validated and packed once ----------------------------------------------------

/** A host array for the graph: the same object in every graph (so uploaded once per device). */
export interface HostWeight {
  name: string; shape: number[]; data: Float32Array;
  /** A gemm B operand in f16 or int8 for the GPU (network.ts compactNetwork); absent: f32. */
  compact?: CompactMatrix;
}
/** A Linear layer in gemm layout: W (in, out), bias (out). */
export interface LinearWeights { W: HostWeight; b: HostWeight }
export interface NormWeights { gamma: HostWeight; beta: HostWeight }

/** One decoder layer. `zeroTgt` (params layer 0, tgt = 0): self-attention folded to constants. */
export interface LayerWeights {
  self?: { qk: LinearWeights; v: LinearWeights; out: LinearWeights; norm1: NormWeights; crossQ: LinearWeights };
  /** zeroTgt: the cross-attention queries, constant [1, N, d]. */
  qConst?: HostWeight;
  /** Cross out_proj; its bias includes norm1's constant row when zeroTgt. */
  crossOut: LinearWeights;
  qamem?: { W: HostWeight; b: HostWeight };
  norm2: NormWeights; linear1: LinearWeights; linear2: LinearWeights; norm3: NormWeights;
}

/** One branch's weights, validated and packed once (packBranch); graphs of any batch share them. */
export interface BranchWeights {
  kind: 'params' | 'landmark';
  prefix: string;
  cfg: DecoderConfig;
  /** Queries. */
  N: number;
  queryEmbed: HostWeight;
  /** Every layer's cross-attention K (of memory + pos) and V (of memory) projections side by side. */
  memK: LinearWeights; memV: LinearWeights;
  layers: LayerWeights[];
  norm: NormWeights;
  /** params: the head. */
  head?: LinearWeights;
  /** landmark: MQinit, the MARR heads (image_size folded into each last Linear) and avg_face * image_size. */
  queryInit?: LinearWeights;
  residualHeads?: LinearWeights[][];
  avgFace?: Float32Array;
}

/** Checks every key of a branch; returns a getter for validated data. */
function branchTensors(sd: StateDict, cfg: DecoderConfig, kind: 'params' | 'landmark', prefix: string): (key: string) => { shape: number[]; data: Float32Array } {
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

function checkConfig(cfg: DecoderConfig): void {
  for (const k of ['d_model', 'nhead', 'dim_feedforward', 'num_layers', 'num_params', 'num_landmarks'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`decoder: config ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.d_model % 2 !== 0) throw new Error(`decoder: d_model ${cfg.d_model} must be even (sine positional encoding)`);
  if (cfg.d_model % cfg.nhead !== 0) throw new Error(`decoder: d_model ${cfg.d_model} is not a multiple of nhead ${cfg.nhead}`);
}

/** Rows [r0, r0 + rows) of a PyTorch Linear weight (out, in), transposed to gemm's (in, rows). */
function transposeRows(w: Float32Array, inF: number, r0: number, rows: number, scale = 1): Float32Array {
  const out = new Float32Array(inF * rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < inF; c++) out[c * rows + r] = w[(r0 + r) * inF + c] * scale;
  return out;
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

/** Validates a branch's state-dict keys and packs every weight the graph reads, once. */
export function packBranch(sd: StateDict, cfg: DecoderConfig, kind: 'params' | 'landmark', prefix = kind === 'params' ? 'params_branch.' : 'landmark_branch.'): BranchWeights {
  checkConfig(cfg);
  const t = branchTensors(sd, cfg, kind, prefix);
  const w = (k: string) => t(k).data;
  const d = cfg.d_model, L = cfg.num_layers;
  const N = kind === 'params' ? cfg.num_params : cfg.num_landmarks;
  const host = (name: string, shape: number[], data: Float32Array): HostWeight => ({ name: prefix + name, shape, data });
  /** A gemm-layout (in, out) weight from a Linear's rows [r0, r0 + rows), and its bias. */
  const linear = (key: string, r0 = 0, rows?: number, scale = 1, bias = key.replace(/weight$/, 'bias')): LinearWeights => {
    const { data: src, shape } = t(`${key}`);
    const inF = shape[1], n = rows ?? shape[0];
    const range = r0 || n !== shape[0] ? `[${r0}:${r0 + n}]` : '';
    const b = w(bias);
    return {
      W: host(`${key}.T${r0 ? `[${r0}:${r0 + n}]` : ''}`, [inF, n], transposeRows(src, inF, r0, n, scale)),
      b: host(`${bias}${range}`, [n], range || scale !== 1 ? b.slice(r0, r0 + n).map((v) => v * scale) : b),
    };
  };
  const norm = (key: string): NormWeights => ({ gamma: host(`${key}.weight`, [d], w(`${key}.weight`)), beta: host(`${key}.bias`, [d], w(`${key}.bias`)) });
  /** [W_0 | W_1 | ...] of every layer's cross_attn rows part*d.. (1: K, 2: V), (d, L*d). */
  const memory = (part: 1 | 2): LinearWeights => {
    const W = new Float32Array(d * L * d), b = new Float32Array(L * d);
    for (let l = 0; l < L; l++) {
      const wl = w(`layers.${l}.cross_attn.in_proj_weight`), bl = w(`layers.${l}.cross_attn.in_proj_bias`);
      for (let r = 0; r < d; r++) for (let k = 0; k < d; k++) W[k * L * d + l * d + r] = wl[(part * d + r) * d + k];
      b.set(bl.subarray(part * d, (part + 1) * d), l * d);
    }
    const name = `layers.cross_attn.${part === 1 ? 'k' : 'v'}_all`;
    return { W: host(`${name}.W`, [d, L * d], W), b: host(`${name}.b`, [L * d], b) };
  };
  const qposData = w('query_embed.weight');
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `layers.${l}.`;
    const common = {
      norm2: norm(`${p}norm2`), norm3: norm(`${p}norm3`),
      linear1: linear(`${p}linear1.weight`), linear2: linear(`${p}linear2.weight`),
      qamem: kind === 'landmark' ? {
        W: host(`${p}cross_attn.qamem.weight.T`, [N, d, d], qamemWeightLayout(w(`${p}cross_attn.qamem.weight`), N, d)),
        b: host(`${p}cross_attn.qamem.bias`, [N * d], w(`${p}cross_attn.qamem.bias`)),
      } : undefined,
    };
    if (kind === 'params' && l === 0) {
      const z = zeroTgtConstants(w, d, N, qposData);
      layers.push({
        ...common, qConst: host(`${p}cross_attn.q_const`, [1, N, d], z.qCross),
        crossOut: { W: linear(`${p}cross_attn.out_proj.weight`).W, b: host(`${p}cross_attn.out_proj.bias_plus_tgt`, [d], z.crossBias) },
      });
    } else {
      const sIn = `${p}self_attn.in_proj_weight`, sBias = `${p}self_attn.in_proj_bias`;
      layers.push({
        ...common,
        self: {
          qk: linear(sIn, 0, 2 * d, 1, sBias), v: linear(sIn, 2 * d, d, 1, sBias),
          out: linear(`${p}self_attn.out_proj.weight`), norm1: norm(`${p}norm1`),
          crossQ: linear(`${p}cross_attn.in_proj_weight`, 0, d, 1, `${p}cross_attn.in_proj_bias`),
        },
        crossOut: linear(`${p}cross_attn.out_proj.weight`),
      });
    }
  }
  const bw: BranchWeights = {
    kind, prefix, cfg, N, queryEmbed: host('query_embed.weight', [N, d], qposData),
    memK: memory(1), memV: memory(2), layers, norm: norm('norm'),
  };
  if (kind === 'params') bw.head = linear('head.weight');
  else {
    // MARR: 256 * (avg_face + sum_l head_l(out[l])), 256 (image_size) folded into each head's last Linear.
    const scale = cfg.image_size ?? 256;
    bw.queryInit = linear('query_init.weight');
    bw.residualHeads = Array.from({ length: L }, (_, l) => {
      const p = `residual_heads.${l}.layers.`;
      return [linear(`${p}0.weight`), linear(`${p}1.weight`), linear(`${p}2.weight`, 0, 2, scale)];
    });
    bw.avgFace = w('avg_face').map((v) => v * scale);
  }
  return bw;
}

/** Layer 0 of the params branch with tgt = 0: self-attention + norm1 fold to constants (header). */
function zeroTgtConstants(w: (k: string) => Float32Array, d: number, N: number, qposData: Float32Array): { qCross: Float32Array; crossBias: Float32Array } {
  const p = 'layers.0.';
  const sIn = w(`${p}self_attn.in_proj_bias`), sWo = w(`${p}self_attn.out_proj.weight`), sBo = w(`${p}self_attn.out_proj.bias`);
  const n1w = w(`${p}norm1.weight`), n1b = w(`${p}norm1.bias`);
  const cW = w(`${p}cross_attn.in_proj_weight`), cB = w(`${p}cross_attn.in_proj_bias`), cBo = w(`${p}cross_attn.out_proj.bias`);
  const sa = new Float64Array(d);
  for (let o = 0; o < d; o++) {
    let s = sBo[o];
    for (let k = 0; k < d; k++) s += sWo[o * d + k] * sIn[2 * d + k];
    sa[o] = s;
  }
  const row = layerNormRow(sa, n1w, n1b);
  const qCross = new Float32Array(N * d);
  const x = new Float64Array(d);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < d; k++) x[k] = row[k] + qposData[i * d + k];
    for (let o = 0; o < d; o++) {
      let s = cB[o];
      for (let k = 0; k < d; k++) s += cW[o * d + k] * x[k];
      qCross[i * d + o] = s;
    }
  }
  return { qCross, crossBias: Float32Array.from(cBo, (v, i) => v + row[i]) };
}

// ---- graph building ------------------------------------------------------------------------

const hw = (g: Graph, h: HostWeight): Tensor => g.weight(h.name, h.shape, h.data);
/** A gemm B operand: f32, or the compact form when the model keeps its weights compact. */
const hwB = (g: Graph, h: HostWeight): MatrixWeight => matrixWeight(g, h.name, h.shape, h.data, h.compact);

/**
 * memory + the sine positional encoding, [B, S, d]: the keys' input of both branches. Build it
 * once per graph and pass it to both (BranchOptions.memoryPlusPos).
 */
export function memoryPlusPos(g: Graph, memory: Tensor, grid?: readonly [number, number]): Tensor {
  const [, S, d] = memory.shape;
  const [H, W] = grid ?? [Math.round(Math.sqrt(S)), Math.round(Math.sqrt(S))];
  if (H * W !== S) throw new Error(`decoder: ${S} memory tokens are not a square grid; pass opts.grid = [H, W]`);
  // Depends on the grid only: owned by this graph.
  const pos = g.constant(`pos_embed_${H}x${W}x${d}`, [S, d], sinePositionEmbedding(H, W, d));
  return add(g, memory, pos, { name: 'memory_plus_pos' });
}

interface LayerIO { tgt: Tensor; plus?: Tensor }

/**
 * One DETR post-norm decoder layer. `input` null means tgt = 0 (params layer 0). Returns tgt
 * after norm3 and, unless last, tgt + query_pos for the next layer.
 */
function decoderLayer(g: Graph, bw: BranchWeights, l: number, input: LayerIO | null, qpos: Tensor,
  mem: { K: Tensor; V: Tensor }, last: boolean): LayerIO {
  const d = bw.cfg.d_model, heads = bw.cfg.nhead;
  const lw = bw.layers[l];
  const name = (s: string) => `${bw.prefix}layers.${l}.${s}`;
  const lin = (x: Tensor, w: LinearWeights, opts: { residual?: Tensor; relu?: boolean; bias?: Tensor; name: string }) =>
    gemm(g, x, hwB(g, w.W), { bias: opts.bias ?? hw(g, w.b), residual: opts.residual, relu: opts.relu, name: opts.name });
  let qCross: Tensor;
  let t1: Tensor | undefined;
  if (lw.qConst) {
    if (input !== null) throw new Error('internal: a zero-tgt layer after layer 0');
    qCross = hw(g, lw.qConst);
  } else {
    if (!input?.plus || !lw.self) throw new Error('internal: tgt + query_pos missing');
    const s = lw.self;
    // q = k = tgt + query_pos: one gemm for both; v = tgt.
    const qk = lin(input.plus, s.qk, { name: name('self_attn.qk') });
    const v = lin(input.tgt, s.v, { name: name('self_attn.v') });
    const a = attention(g, seqView(qk, 0, d), seqView(qk, d, d), v, { heads, name: name('self_attn.attention') });
    const so = lin(a, s.out, { residual: input.tgt, name: name('self_attn.out_proj') });
    const n1 = layerNormEx(g, so, hw(g, s.norm1.gamma), hw(g, s.norm1.beta), { plus: qpos, name: name('norm1') });
    t1 = n1.y;
    qCross = lin(n1.plus!, s.crossQ, { name: name('cross_attn.q') });
  }
  let a = attention(g, qCross, seqView(mem.K, l * d, d), seqView(mem.V, l * d, d), { heads, name: name('cross_attn.attention') });
  if (lw.qamem) a = qamem(g, a, hwB(g, lw.qamem.W), hw(g, lw.qamem.b), name('cross_attn.qamem'));
  const s2 = lin(a, lw.crossOut, { residual: t1, name: name('cross_attn.out_proj') });
  const t2 = layerNorm(g, s2, hw(g, lw.norm2.gamma), hw(g, lw.norm2.beta), { name: name('norm2') });
  const h = lin(t2, lw.linear1, { relu: true, name: name('linear1') });
  const s3 = lin(h, lw.linear2, { residual: t2, name: name('linear2') });
  const n3 = layerNormEx(g, s3, hw(g, lw.norm3.gamma), hw(g, lw.norm3.beta), { plus: last ? undefined : qpos, name: name('norm3') });
  return { tgt: n3.y, plus: n3.plus };
}

function branchInputs(g: Graph, memory: Tensor, weights: BranchWeights | StateDict, cfg: DecoderConfig, kind: 'params' | 'landmark', prefix: string): BranchWeights {
  if (memory.shape.length !== 3 || memory.shape[2] !== cfg.d_model) {
    throw new Error(`decoder: memory must be [B, S, ${cfg.d_model}], got [${memory.shape.join(', ')}]`);
  }
  const bw = weights instanceof Map ? packBranch(weights, cfg, kind, prefix) : weights;
  if (bw.kind !== kind) throw new Error(`decoder: ${bw.kind} branch weights given to the ${kind} branch`);
  return bw;
}

function runLayers(g: Graph, bw: BranchWeights, memory: Tensor, first: LayerIO | null, opts: BranchOptions): Tensor[] {
  const qpos = hw(g, bw.queryEmbed);
  const memPos = opts.memoryPlusPos ?? memoryPlusPos(g, memory, opts.grid);
  const mem = {
    K: gemm(g, memPos, hwB(g, bw.memK.W), { bias: hw(g, bw.memK.b), name: `${bw.prefix}cross_attn.k_all` }),
    V: gemm(g, memory, hwB(g, bw.memV.W), { bias: hw(g, bw.memV.b), name: `${bw.prefix}cross_attn.v_all` }),
  };
  const normW = hw(g, bw.norm.gamma), normB = hw(g, bw.norm.beta);
  const outs: Tensor[] = [];
  let io = first;
  for (let l = 0; l < bw.cfg.num_layers; l++) {
    io = decoderLayer(g, bw, l, io, qpos, mem, l === bw.cfg.num_layers - 1);
    outs.push(layerNorm(g, io.tgt, normW, normB, { name: `${bw.prefix}out.${l}` }));
  }
  return outs;
}

// ---- public API --------------------------------------------------------------------------

/**
 * The 3DMM branch (SPEC section 4): N = num_params queries, zero initial tgt.
 * memory [B, S, d] -> params [B, N] (head on the last layer's normed output) and
 * outs[l] = norm(h_l), each [B, N, d]. Weights: packBranch's (once per model), or a state dict
 * packed here (tests, benchmarks).
 */
export function buildParamsBranch(g: Graph, memory: Tensor, weights: BranchWeights | StateDict, cfg: DecoderConfig,
  prefix = 'params_branch.', opts: BranchOptions = {}): { params: Tensor; outs: Tensor[] } {
  return g.stage('params_branch', () => {
    const bw = branchInputs(g, memory, weights, cfg, 'params', prefix);
    const outs = runLayers(g, bw, memory, null, opts);
    const head = gemm(g, outs[outs.length - 1], hwB(g, bw.head!.W), { bias: hw(g, bw.head!.b), name: `${bw.prefix}head` });
    return { params: g.reshape(head, [memory.shape[0], bw.N], `${bw.prefix}params`), outs };
  });
}

/**
 * The landmark branch (SPEC section 5): MQinit, QAMem in every cross-attention, MARR.
 * memory [B, S, d] -> landmarks [B, N, 2] in crop pixels and outs[l] = norm(h_l), each [B, N, d].
 */
export function buildLandmarkBranch(g: Graph, memory: Tensor, weights: BranchWeights | StateDict, cfg: DecoderConfig,
  prefix = 'landmark_branch.', opts: BranchOptions = {}): { landmarks: Tensor; outs: Tensor[] } {
  return g.stage('landmark_branch', () => {
    const bw = branchInputs(g, memory, weights, cfg, 'landmark', prefix);
    const B = memory.shape[0], N = bw.N, d = bw.cfg.d_model, P = bw.prefix;
    // MQinit: tgt0 = query_init(mean over tokens of M), query i takes outputs [i*d, (i+1)*d).
    const pooled = meanTokens(g, memory, `${P}memory_mean`);
    const init = gemm(g, pooled, hwB(g, bw.queryInit!.W), { bias: hw(g, bw.queryInit!.b), name: `${P}query_init` });
    const tgt0 = g.reshape(init, [B, N, d], `${P}tgt0`);
    const plus0 = add(g, tgt0, hw(g, bw.queryEmbed), { name: `${P}tgt0_plus_pos` });
    const outs = runLayers(g, bw, memory, { tgt: tgt0, plus: plus0 }, opts);
    // avg_face (scaled) enters as the first head's residual, one copy per batch item: owned by this graph.
    const avg = bw.avgFace!;
    const avgB = new Float32Array(B * N * 2);
    for (let b = 0; b < B; b++) avgB.set(avg, b * N * 2);
    let acc: Tensor = g.constant(`${P}avg_face_scaled_b${B}`, [B, N, 2], avgB);
    outs.forEach((o, l) => {
      const [h0, h1, h2] = bw.residualHeads![l];
      const p = `${P}residual_heads.${l}.layers.`;
      const x1 = gemm(g, o, hwB(g, h0.W), { bias: hw(g, h0.b), relu: true, name: `${p}0` });
      const x2 = gemm(g, x1, hwB(g, h1.W), { bias: hw(g, h1.b), relu: true, name: `${p}1` });
      acc = gemm(g, x2, hwB(g, h2.W), { bias: hw(g, h2.b), residual: acc, name: `${p}2` });
    });
    return { landmarks: acc, outs };
  });
}

// CPU reference for the decoder branches, written straight from SPEC sections 2-5 (DETR
// post-norm layers, no build-time folding), f64 throughout, one batch item at a time.
import type { StateDict } from '../../src/io/tensor.ts';

type Mat = Float64Array; // row-major [rows, cols]

function W(sd: StateDict, key: string): Float32Array {
  const t = sd.get(key);
  if (!t) throw new Error(`reference: missing ${key}`);
  return t.data;
}

/** y = x W^T + b for a PyTorch Linear weight (out, in), rows of x from [r0, r0 + out) of W. */
function linear(x: Mat, rows: number, inF: number, w: ArrayLike<number>, b: ArrayLike<number>, outF: number, r0 = 0): Mat {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) {
    let s = b[r0 + o];
    for (let k = 0; k < inF; k++) s += x[r * inF + k] * w[(r0 + o) * inF + k];
    y[r * outF + o] = s;
  }
  return y;
}

function layerNorm(x: Mat, rows: number, d: number, g: ArrayLike<number>, b: ArrayLike<number>): Mat {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < d; c++) m += x[r * d + c];
    m /= d;
    let v = 0;
    for (let c = 0; c < d; c++) v += (x[r * d + c] - m) ** 2;
    const s = 1 / Math.sqrt(v / d + 1e-5);
    for (let c = 0; c < d; c++) y[r * d + c] = (x[r * d + c] - m) * s * g[c] + b[c];
  }
  return y;
}

const addM = (a: Mat, b: ArrayLike<number>): Mat => a.map((v, i) => v + b[i % b.length]);
const relu = (a: Mat): Mat => a.map((v) => Math.max(v, 0));

/** nn.MultiheadAttention (+ QAMem before out_proj when given). */
function mha(sd: StateDict, p: string, q: Mat, k: Mat, v: Mat, Lq: number, Lk: number, d: number, heads: number, qamem: boolean): Mat {
  const wi = W(sd, `${p}.in_proj_weight`), bi = W(sd, `${p}.in_proj_bias`);
  const Q = linear(q, Lq, d, wi, bi, d, 0), K = linear(k, Lk, d, wi, bi, d, d), V = linear(v, Lk, d, wi, bi, d, 2 * d);
  const dh = d / heads;
  let O = new Float64Array(Lq * d);
  const s = new Float64Array(Lk);
  for (let h = 0; h < heads; h++) for (let i = 0; i < Lq; i++) {
    let mx = -Infinity;
    for (let j = 0; j < Lk; j++) {
      let dot = 0;
      for (let c = 0; c < dh; c++) dot += Q[i * d + h * dh + c] * K[j * d + h * dh + c];
      s[j] = dot / Math.sqrt(dh);
      mx = Math.max(mx, s[j]);
    }
    let sum = 0;
    for (let j = 0; j < Lk; j++) { s[j] = Math.exp(s[j] - mx); sum += s[j]; }
    for (let c = 0; c < dh; c++) {
      let acc = 0;
      for (let j = 0; j < Lk; j++) acc += s[j] * V[j * d + h * dh + c];
      O[i * d + h * dh + c] = acc / sum;
    }
  }
  if (qamem) {
    const qw = W(sd, `${p}.qamem.weight`), qb = W(sd, `${p}.qamem.bias`);
    const O2 = new Float64Array(Lq * d);
    for (let i = 0; i < Lq; i++) for (let o = 0; o < d; o++) {
      let acc = qb[i * d + o];
      for (let c = 0; c < d; c++) acc += qw[(i * d + o) * d + c] * O[i * d + c];
      O2[i * d + o] = acc;
    }
    O = O2;
  }
  return linear(O, Lq, d, W(sd, `${p}.out_proj.weight`), W(sd, `${p}.out_proj.bias`), d);
}

export interface RefConfig { d_model: number; nhead: number; dim_feedforward: number; num_layers: number; num_params: number; num_landmarks: number }

/** SPEC section 2's sine encoding, f64, [H*W, d]. */
export function posEmbedRef(H: number, W_: number, d: number): Float64Array {
  const npf = d / 2;
  const pos = new Float64Array(H * W_ * d);
  for (let y = 0; y < H; y++) for (let x = 0; x < W_; x++) {
    const ye = (y + 1) / (H + 1e-6) * 2 * Math.PI, xe = (x + 1) / (W_ + 1e-6) * 2 * Math.PI;
    for (let i = 0; i < npf; i++) {
      const dt = 10000 ** (2 * Math.floor(i / 2) / npf);
      const f = i % 2 === 0 ? Math.sin : Math.cos;
      pos[(y * W_ + x) * d + i] = f(ye / dt);
      pos[(y * W_ + x) * d + npf + i] = f(xe / dt);
    }
  }
  return pos;
}

function layer(sd: StateDict, p: string, tgt: Mat, mem: Mat, pos: Mat, qpos: ArrayLike<number>, N: number, S: number, cfg: RefConfig, qamem: boolean): Mat {
  const d = cfg.d_model;
  const q = addM(tgt, qpos);
  let t = layerNorm(addM(tgt, mha(sd, `${p}.self_attn`, q, q, tgt, N, N, d, cfg.nhead, false)), N, d, W(sd, `${p}.norm1.weight`), W(sd, `${p}.norm1.bias`));
  const ca = mha(sd, `${p}.cross_attn`, addM(t, qpos), addM(mem, pos), mem, N, S, d, cfg.nhead, qamem);
  t = layerNorm(addM(t, ca), N, d, W(sd, `${p}.norm2.weight`), W(sd, `${p}.norm2.bias`));
  const ff = cfg.dim_feedforward;
  const h = relu(linear(t, N, d, W(sd, `${p}.linear1.weight`), W(sd, `${p}.linear1.bias`), ff));
  const f = linear(h, N, ff, W(sd, `${p}.linear2.weight`), W(sd, `${p}.linear2.bias`), d);
  return layerNorm(addM(t, f), N, d, W(sd, `${p}.norm3.weight`), W(sd, `${p}.norm3.bias`));
}

export interface BranchRef { outs: Float32Array; params?: Float32Array; landmarks?: Float32Array }

/** memory [B, S, d] (S = H*W, square unless grid given). outs is [L, B, N, d] like PyTorch's stack. */
export function branchRef(kind: 'params' | 'landmark', sd: StateDict, cfg: RefConfig, memory: Float32Array, B: number, S: number,
  grid?: [number, number], imageSize = 256): BranchRef {
  const d = cfg.d_model, L = cfg.num_layers;
  const N = kind === 'params' ? cfg.num_params : cfg.num_landmarks;
  const pre = kind === 'params' ? 'params_branch' : 'landmark_branch';
  const [H, Wd] = grid ?? [Math.sqrt(S), Math.sqrt(S)];
  const pos = posEmbedRef(H, Wd, d);
  const qpos = W(sd, `${pre}.query_embed.weight`);
  const outs = new Float32Array(L * B * N * d);
  const params = new Float32Array(B * N);
  const landmarks = new Float32Array(B * N * 2);
  for (let b = 0; b < B; b++) {
    const mem = Float64Array.from(memory.subarray(b * S * d, (b + 1) * S * d));
    let tgt: Mat;
    if (kind === 'params') tgt = new Float64Array(N * d);
    else {
      const mean = new Float64Array(d);
      for (let s = 0; s < S; s++) for (let c = 0; c < d; c++) mean[c] += mem[s * d + c] / S;
      tgt = linear(mean, 1, d, W(sd, `${pre}.query_init.weight`), W(sd, `${pre}.query_init.bias`), N * d);
    }
    const normed: Mat[] = [];
    for (let l = 0; l < L; l++) {
      tgt = layer(sd, `${pre}.layers.${l}`, tgt, mem, pos, qpos, N, S, cfg, kind === 'landmark');
      const o = layerNorm(tgt, N, d, W(sd, `${pre}.norm.weight`), W(sd, `${pre}.norm.bias`));
      normed.push(o);
      outs.set(o, (l * B + b) * N * d);
    }
    if (kind === 'params') {
      const p = linear(normed[L - 1], N, d, W(sd, `${pre}.head.weight`), W(sd, `${pre}.head.bias`), 1);
      params.set(p, b * N);
    } else {
      const lm = Float64Array.from(W(sd, `${pre}.avg_face`));
      normed.forEach((o, l) => {
        const hp = `${pre}.residual_heads.${l}.layers`;
        const h1 = relu(linear(o, N, d, W(sd, `${hp}.0.weight`), W(sd, `${hp}.0.bias`), d));
        const h2 = relu(linear(h1, N, d, W(sd, `${hp}.1.weight`), W(sd, `${hp}.1.bias`), d));
        const r = linear(h2, N, d, W(sd, `${hp}.2.weight`), W(sd, `${hp}.2.bias`), 2);
        for (let i = 0; i < N * 2; i++) lm[i] += r[i];
      });
      for (let i = 0; i < N * 2; i++) landmarks[b * N * 2 + i] = lm[i] * imageSize;
    }
  }
  return kind === 'params' ? { outs, params } : { outs, landmarks };
}

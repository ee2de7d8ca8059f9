// Conv2d (NHWC, implicit GEMM) with fused bias, residual add and ReLU (shaders/conv2d.wgsl).
// 1x1 stride-1 unpadded convs are plain GEMMs and go through gemm() on reshaped views.
import source from '../../shaders/conv2d.wgsl';
import matmul from '../../shaders/matmul.wgsl';
import type { Graph, Tensor, Tuning } from '../graph/graph.ts';
import { gemm } from './gemm.ts';
import { f16Flag, matmulTiles, type MatmulTiles } from '../graph/tuning.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';
import { isPacked, matmulB, reshapePacked, type MatrixWeight } from './weights.ts';

const CONV = kernel({
  name: 'conv2d', source,
  inputs: { x: 'X', b: 'BW', 'wscale?': 'E', 'bias?': 'E', 'residual?': 'E' },
  outputs: { y: 'E' },
  uniforms: {
    M: 'u32', N: 'u32', C: 'u32', H: 'u32', W: 'u32', OH: 'u32', OW: 'u32', KW: 'u32',
    stride: 'u32', pad: 'i32', K: 'u32', kChunk: 'u32', relu: 'u32',
  },
  include: { matmul },
});
/** Split-K: sums the partial products and applies the epilogue. */
const CONV_REDUCE = kernel({
  name: 'conv2d_reduce', source,
  inputs: { part: 'E', 'bias?': 'E', 'residual?': 'E' },
  outputs: { y: 'E' },
  uniforms: { M: 'u32', N: 'u32', splits: 'u32', pitch: 'u32', relu: 'u32' },
  include: { matmul },
});

export interface Conv2dOptions {
  /** [Cout]; BatchNorm is folded into weight and bias at load time (foldBatchNorm). */
  bias?: Tensor;
  stride?: number;
  /** Zero padding on every side (the leading side only when `out` is given). */
  pad?: number;
  /** Output [OH, OW] instead of the symmetric-padding size: larger outputs pad only after
   *  (TFLite's SAME padding with stride 2 on even sizes); reads past the input are zeros. */
  out?: readonly [number, number];
  /** Added before the ReLU; shaped like the output. */
  residual?: Tensor;
  relu?: boolean;
  name?: string;
  /** Input channels that carry data (a stem fed 4 channels, the 4th zero, does 3 channels of
   *  useful work): only changes the FLOP count reported for GFLOP/s. */
  usefulCin?: number;
}

/**
 * Schedule of one conv. `registers`: TM x 4*TN4 outputs per invocation in registers, no
 * workgroup memory (CPU adapters). `tiled`: workgroup-memory tiles (GPUs). `splitK` > 1 cuts K
 * into that many ranges computed by separate workgroups and summed by a small reduce node.
 */
export interface ConvTiles extends MatmulTiles { splitK?: number }

/** Default schedule for an adapter and GEMM shape (M output pixels, N channels, K = kh*kw*cin). */
export function convTiles(t: Tuning, M: number, N: number, K: number): ConvTiles {
  // The adapter's row of the tile table (tuning.ts; shared with gemm).
  const base: ConvTiles = matmulTiles(t, M, N);
  const tileM = base.TM * base.WG_Y, tileN = base.TN4 * 4 * base.WG_X;
  const groups = ceilDiv(M, tileM) * ceilDiv(N, tileN);
  // Fill the device: late ResNet stages (8x8 outputs) give a handful of tiles for K in the
  // thousands. A CPU adapter needs a few workgroups per core, a GPU a few per SM.
  const target = t.cpuLike ? 8 : 256;
  const minChunk = t.cpuLike ? 512 : 256;
  const splitK = Math.max(1, Math.min(Math.floor(target / groups), Math.floor(K / minChunk)));
  return { ...base, splitK };
}

/** Output size of a conv along one axis. */
export const convOut = (size: number, k: number, stride: number, pad: number): number => Math.floor((size + 2 * pad - k) / stride) + 1;

/**
 * y = act(conv(x, weight) + bias + residual). x: [B, H, W, C] NHWC; weight packed
 * [KH, KW, C, Cout] (packConvWeight); returns [B, OH, OW, Cout]. `tiles` forces a schedule of
 * the conv kernel (1x1 stride-1 convs then skip the gemm route, which tests use). The weight
 * may be compact (weights.ts: f16 or int8 with per-output-channel scales).
 */
export function conv2d(g: Graph, x: Tensor, weight: MatrixWeight, opts: Conv2dOptions = {}, tiles?: ConvTiles): Tensor {
  const name = opts.name ?? `conv${g.nodes.length}`;
  const stride = opts.stride ?? 1, pad = opts.pad ?? 0;
  if (x.shape.length !== 4) throw new Error(`${name}: input must be NHWC [B, H, W, C], got [${x.shape.join(', ')}]`);
  if (weight.shape.length !== 4) throw new Error(`${name}: weight must be packed [KH, KW, C, Cout], got [${weight.shape.join(', ')}]`);
  const [B, H, W, C] = x.shape;
  const [KH, KW, Cw, N] = weight.shape;
  if (Cw !== C) throw new Error(`${name}: input has ${C} channels, weight [${weight.shape.join(', ')}] expects ${Cw}`);
  if (!(Number.isInteger(stride) && stride >= 1 && Number.isInteger(pad) && pad >= 0)) throw new Error(`${name}: bad stride ${stride} / padding ${pad}`);
  const [OH, OW] = opts.out ?? [convOut(H, KH, stride, pad), convOut(W, KW, stride, pad)];
  if (opts.out && !(Number.isInteger(OH) && Number.isInteger(OW) && OH >= convOut(H, KH, stride, pad) && OW >= convOut(W, KW, stride, pad) && (OH - 1) * stride - pad < H && (OW - 1) * stride - pad < W)) throw new Error(`${name}: output ${OH}x${OW} does not fit a ${H}x${W} input`);
  if (OH < 1 || OW < 1) throw new Error(`${name}: ${KH}x${KW} kernel does not fit a ${H}x${W} input padded by ${pad}`);
  if (opts.bias && (opts.bias.shape.length !== 1 || opts.bias.shape[0] !== N)) throw new Error(`${name}: bias must be [${N}], got [${opts.bias.shape.join(', ')}]`);
  const outShape = [B, OH, OW, N];
  if (opts.residual && opts.residual.shape.join() !== outShape.join()) throw new Error(`${name}: residual [${opts.residual.shape.join(', ')}] does not match the output [${outShape.join(', ')}]`);
  const M = B * OH * OW, K = KH * KW * C;
  const flops = 2 * M * N * KH * KW * (opts.usefulCin ?? C);

  const t = tiles ?? convTiles(g.tuning, M, N, K);
  if (!tiles && KH === 1 && KW === 1 && stride === 1 && pad === 0 && (t.splitK ?? 1) === 1) {
    // A plain GEMM over the pixels (no split-K in gemm: late 1x1s that need it stay here).
    const a = g.reshape(x, [1, M, C], `${x.name}.rows`);
    const w2 = isPacked(weight) ? reshapePacked(weight, [C, N]) : g.reshape(weight, [C, N], `${weight.name}.kn`);
    const res = opts.residual && g.reshape(opts.residual, [1, M, N], `${opts.residual.name}.rows`);
    const y = gemm(g, a, w2, { bias: opts.bias, residual: res, relu: opts.relu, name }, t.schedule === 'registers' ? t : undefined);
    return g.reshape(y, outShape, `${name}.nhwc`);
  }

  const cvec4 = C % 4 === 0, nvec4 = N % 4 === 0;
  const tileM = t.TM * t.WG_Y, tileN = t.TN4 * 4 * t.WG_X;
  const threads = t.WG_X * t.WG_Y;
  const kv = cvec4 ? 4 : 1;
  let LA = 1;
  if (t.schedule === 'tiled') {
    LA = ceilDiv((t.BK / kv) * tileM, threads);
    if (t.BK % kv || threads % (t.BK / kv)) throw new Error(`${name}: tiled schedule needs BK/${kv} to divide the ${threads} threads`);
  }
  // K ranges of split-K: multiples of BK (and of 4 for vec4 channel loads).
  let splits = Math.max(1, Math.min(t.splitK ?? 1, ceilDiv(K, 4)));
  const align = Math.max(t.BK, 4);
  const kChunk = splits > 1 ? ceilDiv(ceilDiv(K, splits), align) * align : K;
  splits = ceilDiv(K, kChunk);

  const bw = matmulB(weight);
  const flags = {
    KVEC4: cvec4, NVEC4: nvec4, SPLIT: splits > 1, REDUCE: false, ...bw.flags, F16: f16Flag(g.tuning, t, name),
    TM: t.TM, TN4: t.TN4, BK: t.BK, TILE_M: tileM, TILE_N: tileN, LA,
  };
  const relu = Number(!!opts.relu);
  const y = g.tensor(name, outShape);
  const convOutT = splits > 1 ? g.tensor(`${name}.partial`, [splits, M, N]) : y;
  // With split-K the epilogue (bias, residual, ReLU) runs in the reduce node.
  const epilogue = splits > 1 ? {} : { bias: opts.bias, residual: opts.residual };
  CONV.add(g, name, {
    inputs: { x, b: bw.b, wscale: bw.wscale, ...epilogue },
    outputs: { y: convOutT },
    uniforms: { M, N, C, H, W, OH, OW, KW, stride, pad, K, kChunk, relu },
    flags,
    entryPoint: t.schedule === 'tiled' ? 'main_tiled' : 'main_registers',
    constants: { WG_X: t.WG_X, WG_Y: t.WG_Y },
    workgroups: [ceilDiv(N, tileN), ceilDiv(M, tileM), splits],
    flops,
  });
  if (splits > 1) {
    const total = (M * N) / (nvec4 ? 4 : 1);
    const groups = ceilDiv(total, 64);
    const gx = Math.min(groups, g.tuning.maxWorkgroupsPerDim);
    CONV_REDUCE.add(g, `${name}.reduce`, {
      inputs: { part: convOutT, bias: opts.bias, residual: opts.residual },
      outputs: { y },
      uniforms: { M, N, splits, pitch: gx * 64, relu },
      flags: { ...flags, SPLIT: false, REDUCE: true, WSCALE: false, F16: false },
      entryPoint: 'main_reduce',
      workgroups: [gx, ceilDiv(groups, gx), 1],
      flops: M * N * (splits - 1),
    });
  }
  return y;
}

/**
 * PyTorch conv weight [Cout, Cin, KH, KW] -> [KH][KW][cinPad][Cout], the layout the kernel reads
 * (row k = (ky, kx, ci) of a K x Cout matrix; channels cin..cinPad-1 are zero).
 */
export function packConvWeight(w: Float32Array, shape: readonly number[], cinPad = shape[1]): Float32Array {
  const [N, C, KH, KW] = shape;
  if (w.length !== N * C * KH * KW) throw new Error(`packConvWeight: ${w.length} values for [${shape.join(', ')}]`);
  if (cinPad < C) throw new Error(`packConvWeight: cinPad ${cinPad} < ${C} input channels`);
  const out = new Float32Array(KH * KW * cinPad * N);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let ky = 0; ky < KH; ky++) {
        for (let kx = 0; kx < KW; kx++) out[((ky * KW + kx) * cinPad + c) * N + n] = w[((n * C + c) * KH + ky) * KW + kx];
      }
    }
  }
  return out;
}

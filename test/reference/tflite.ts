// Plain TS CPU interpreter of a TFLite graph (the ops BlazeFace uses), following TFLite's
// reference kernels (tensorflow/lite/kernels/internal/reference/*). f64 accumulation. The
// per-op functions are the CPU references of the GPU kernels (depthwise conv, pad, concat,
// bilinear resize) and the whole interpreter is the reference of the detector graph.
import { tensorData, type TfliteModel } from '../../src/detect/tflite.ts';

export type Shape4 = readonly [number, number, number, number];

/** TFLite's SAME/VALID output size and leading pad along one axis. */
export function samePad(size: number, k: number, stride: number, dilation: number, padding: 'SAME' | 'VALID'): { out: number; before: number } {
  const eff = (k - 1) * dilation + 1;
  if (padding === 'VALID') return { out: Math.floor((size - eff) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + eff - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** x [B,H,W,C]; w [1,KH,KW,C*mult] (TFLite layout); output channel c*mult + m. */
export function depthwiseRef(x: Float32Array, xs: Shape4, w: Float32Array, KH: number, KW: number, bias: Float32Array | undefined,
  o: { strideH: number; strideW: number; padTop: number; padLeft: number; OH: number; OW: number; mult?: number; relu?: boolean }): Float32Array {
  const [B, H, W, C] = xs;
  const mult = o.mult ?? 1, N = C * mult;
  const y = new Float32Array(B * o.OH * o.OW * N);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < o.OH; oy++) for (let ox = 0; ox < o.OW; ox++) for (let n = 0; n < N; n++) {
    const c = Math.floor(n / mult);
    let s = bias ? bias[n] : 0;
    for (let ky = 0; ky < KH; ky++) {
      const iy = oy * o.strideH - o.padTop + ky;
      if (iy < 0 || iy >= H) continue;
      for (let kx = 0; kx < KW; kx++) {
        const ix = ox * o.strideW - o.padLeft + kx;
        if (ix < 0 || ix >= W) continue;
        s += x[((b * H + iy) * W + ix) * C + c] * w[(ky * KW + kx) * N + n];
      }
    }
    y[((b * o.OH + oy) * o.OW + ox) * N + n] = o.relu ? Math.max(s, 0) : s;
  }
  return y;
}

/** x [B,H,W,C], w [O,KH,KW,C] (TFLite layout). */
export function convRef(x: Float32Array, xs: Shape4, w: Float32Array, ws: Shape4, bias: Float32Array | undefined,
  o: { strideH: number; strideW: number; padTop: number; padLeft: number; OH: number; OW: number }): Float32Array {
  const [B, H, W, C] = xs;
  const [N, KH, KW] = ws;
  const y = new Float32Array(B * o.OH * o.OW * N);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < o.OH; oy++) for (let ox = 0; ox < o.OW; ox++) {
    const yo = ((b * o.OH + oy) * o.OW + ox) * N;
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let ky = 0; ky < KH; ky++) {
        const iy = oy * o.strideH - o.padTop + ky;
        if (iy < 0 || iy >= H) continue;
        for (let kx = 0; kx < KW; kx++) {
          const ix = ox * o.strideW - o.padLeft + kx;
          if (ix < 0 || ix >= W) continue;
          const xo = ((b * H + iy) * W + ix) * C, wo = ((n * KH + ky) * KW + kx) * C;
          for (let c = 0; c < C; c++) s += x[xo + c] * w[wo + c];
        }
      }
      y[yo + n] = s;
    }
  }
  return y;
}

/** Zero padding of a rank-4 tensor: pads[d] = [before, after]. */
export function padRef(x: Float32Array, xs: Shape4, pads: readonly (readonly [number, number])[]): { y: Float32Array; shape: Shape4 } {
  const os = xs.map((d, i) => d + pads[i][0] + pads[i][1]) as unknown as Shape4;
  const y = new Float32Array(os[0] * os[1] * os[2] * os[3]);
  for (let a = 0; a < xs[0]; a++) for (let b = 0; b < xs[1]; b++) for (let c = 0; c < xs[2]; c++) for (let d = 0; d < xs[3]; d++) {
    y[(((a + pads[0][0]) * os[1] + b + pads[1][0]) * os[2] + c + pads[2][0]) * os[3] + d + pads[3][0]] = x[((a * xs[1] + b) * xs[2] + c) * xs[3] + d];
  }
  return { y, shape: os };
}

/** Concatenation along an axis: each input is [outer, len_i, inner]. */
export function concatRef(xs: readonly Float32Array[], lens: readonly number[], outer: number, inner: number): Float32Array {
  const total = lens.reduce((a, b) => a + b, 0);
  const y = new Float32Array(outer * total * inner);
  for (let o = 0; o < outer; o++) {
    let off = 0;
    xs.forEach((x, i) => {
      y.set(x.subarray(o * lens[i] * inner, (o + 1) * lens[i] * inner), (o * total + off) * inner);
      off += lens[i];
    });
  }
  return y;
}

/** TFLite's reference ResizeBilinear (NHWC). */
export function resizeBilinearRef(x: Float32Array, xs: Shape4, OH: number, OW: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const [B, H, W, C] = xs;
  const scale = (i: number, o: number) => (alignCorners && o > 1 ? (i - 1) / (o - 1) : i / o);
  const sh = scale(H, OH), sw = scale(W, OW);
  const interp = (v: number, s: number, size: number) => {
    const f = halfPixelCenters ? (v + 0.5) * s - 0.5 : v * s;
    return { f, lo: Math.max(Math.floor(f), 0), hi: Math.min(Math.ceil(f), size - 1) };
  };
  const y = new Float32Array(B * OH * OW * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) {
    const Y = interp(oy, sh, H);
    for (let ox = 0; ox < OW; ox++) {
      const X = interp(ox, sw, W);
      for (let c = 0; c < C; c++) {
        const at = (iy: number, ix: number) => x[((b * H + iy) * W + ix) * C + c];
        const dy = Y.f - Y.lo, dx = X.f - X.lo;
        y[((b * OH + oy) * OW + ox) * C + c] = at(Y.lo, X.lo) * (1 - dy) * (1 - dx) + at(Y.hi, X.lo) * dy * (1 - dx) +
          at(Y.lo, X.hi) * (1 - dy) * dx + at(Y.hi, X.hi) * dy * dx;
      }
    }
  }
  return y;
}

/** DepthToSpace, NHWC: y[b, h*bs+dy, w*bs+dx, c] = x[b, h, w, (dy*bs+dx)*C + c]. */
export function depthToSpaceRef(x: Float32Array, xs: Shape4, bs: number): Float32Array {
  const [B, H, W, Cin] = xs;
  const C = Cin / (bs * bs);
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let dy = 0; dy < bs; dy++) for (let dx = 0; dx < bs; dx++) for (let c = 0; c < C; c++) {
    y[((b * H * bs + h * bs + dy) * W * bs + w * bs + dx) * C + c] = x[((b * H + h) * W + w) * Cin + (dy * bs + dx) * C + c];
  }
  return y;
}

/** Max pooling, TFLite padding (taps outside the input are skipped). */
export function maxPoolRef(x: Float32Array, xs: Shape4, k: [number, number], s: [number, number], padTop: number, padLeft: number, OH: number, OW: number): Float32Array {
  const [B, H, W, C] = xs;
  const y = new Float32Array(B * OH * OW * C);
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    let m = -Infinity;
    for (let ky = 0; ky < k[0]; ky++) for (let kx = 0; kx < k[1]; kx++) {
      const iy = oy * s[0] - padTop + ky, ix = ox * s[1] - padLeft + kx;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = Math.max(m, x[((b * H + iy) * W + ix) * C + c]);
    }
    y[((b * OH + oy) * OW + ox) * C + c] = m;
  }
  return y;
}

const shape4 = (s: readonly number[]): Shape4 => {
  if (s.length !== 4) throw new Error(`expected a rank-4 tensor, got [${s}]`);
  return s as unknown as Shape4;
};

/** Runs the model on `input` (NHWC f32); returns every subgraph output by tensor name. */
export function runTfliteRef(m: TfliteModel, input: Float32Array): Record<string, Float32Array> {
  const vals = new Map<number, Float32Array | Int32Array>();
  vals.set(m.inputs[0], input);
  const get = (i: number): Float32Array | Int32Array => {
    let v = vals.get(i);
    if (!v) { v = tensorData(m, i); vals.set(i, v); }
    return v;
  };
  const f = (i: number) => get(i) as Float32Array;
  for (const op of m.operators) {
    const ts = op.inputs.map((i) => (i >= 0 ? m.tensors[i] : undefined));
    const out = m.tensors[op.outputs[0]];
    const xs = ts[0]!.shape;
    let y: Float32Array;
    const act = (v: Float32Array, a?: string) => (a === 'RELU' ? v.map((q) => Math.max(q, 0)) : a === 'NONE' || !a ? v : (() => { throw new Error(`activation ${a}`); })());
    switch (op.op) {
      case 'DEQUANTIZE': case 'DENSIFY': y = f(op.inputs[0]); break;   // tensorData densifies and widens f16
      case 'DEPTH_TO_SPACE': y = depthToSpaceRef(f(op.inputs[0]), shape4(xs), op.blockSize!); break;
      case 'CONV_2D': case 'DEPTHWISE_CONV_2D': {
        const c = op.conv!;
        const ws = shape4(ts[1]!.shape);
        const ph = samePad(xs[1], ws[1], c.strideH, c.dilationH, c.padding), pw = samePad(xs[2], ws[2], c.strideW, c.dilationW, c.padding);
        const o = { strideH: c.strideH, strideW: c.strideW, padTop: ph.before, padLeft: pw.before, OH: ph.out, OW: pw.out };
        const bias = op.inputs[2] >= 0 ? f(op.inputs[2]) : undefined;
        y = op.op === 'CONV_2D' ? convRef(f(op.inputs[0]), shape4(xs), f(op.inputs[1]), ws, bias, o)
          : depthwiseRef(f(op.inputs[0]), shape4(xs), f(op.inputs[1]), ws[1], ws[2], bias, { ...o, mult: c.depthMultiplier });
        y = act(y, c.activation);
        break;
      }
      case 'MAX_POOL_2D': {
        const p = op.pool!;
        const ph = samePad(xs[1], p.filterH, p.strideH, 1, p.padding), pw = samePad(xs[2], p.filterW, p.strideW, 1, p.padding);
        y = act(maxPoolRef(f(op.inputs[0]), shape4(xs), [p.filterH, p.filterW], [p.strideH, p.strideW], ph.before, pw.before, ph.out, pw.out), p.activation);
        break;
      }
      case 'PAD': {
        const pads = get(op.inputs[1]);
        y = padRef(f(op.inputs[0]), shape4(xs), [0, 1, 2, 3].map((d) => [pads[2 * d], pads[2 * d + 1]] as [number, number])).y;
        break;
      }
      case 'ADD': {
        const a = f(op.inputs[0]), b = f(op.inputs[1]);
        if (a.length !== b.length) throw new Error('ADD with broadcasting');
        y = act(a.map((v, i) => v + b[i]), op.activation);
        break;
      }
      case 'RELU': y = f(op.inputs[0]).map((v) => Math.max(v, 0)); break;
      case 'RESHAPE': y = f(op.inputs[0]); break;
      case 'RESIZE_BILINEAR':
        y = resizeBilinearRef(f(op.inputs[0]), shape4(xs), out.shape[1], out.shape[2], op.resize!.alignCorners, op.resize!.halfPixelCenters);
        break;
      case 'CONCATENATION': {
        const rank = out.shape.length;
        const axis = op.axis! < 0 ? op.axis! + rank : op.axis!;
        const outer = out.shape.slice(0, axis).reduce((a, b) => a * b, 1), inner = out.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        y = act(concatRef(op.inputs.map(f), ts.map((t) => t!.shape[axis]), outer, inner), op.activation);
        break;
      }
      default: throw new Error(`reference interpreter: no ${op.op}`);
    }
    const n = out.shape.reduce((a, b) => a * b, 1);
    if (y.length !== n) throw new Error(`${op.op} -> ${out.name}: ${y.length} values for [${out.shape}]`);
    vals.set(op.outputs[0], y);
  }
  const res: Record<string, Float32Array> = {};
  for (const i of m.outputs) res[m.tensors[i].name] = f(i);
  return res;
}

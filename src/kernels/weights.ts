// Compact weight matrices on the GPU: the B operand of the matmul core (gemm, conv2d; shaders/
// matmul.wgsl) stored as f16 (two per u32 word, read with unpack2x16float, which every adapter
// has) or int8 (four per word, unpack4x8snorm, symmetric per output column with an f32 scale),
// always accumulated in f32. A K x N matrix keeps its row-major layout; only the element size
// changes, so packing code (BatchNorm folding, transposes) stays f32 and the compact form is made
// last, from the packed matrix.
import type { Graph, Tensor } from '../graph/graph.ts';
import { f16ToF32 } from '../io/tensor.ts';

/** How weights are stored: in files (`convert --dtype`) and in GPU buffers. */
export type WeightFormat = 'f32' | 'f16' | 'int8';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'int8'];

/** A K x N matrix in compact form: `words` holds the elements, `scale` the int8 column scales. */
export interface CompactMatrix {
  format: 'f16' | 'int8';
  K: number;
  N: number;
  words: Uint32Array;
  /** int8 only: per column n, w[k, n] = q[k, n] * scale[n]. */
  scale?: Float32Array;
}

/** A B operand in a graph: an f32 tensor, or compact words (+ int8 scales, times 127, for wscale). */
export interface PackedMatrix {
  readonly format: 'f16' | 'int8';
  /** Logical shape ([K, N], or conv's [KH, KW, C, N]): the last dim is N. */
  readonly shape: readonly number[];
  readonly name: string;
  readonly words: Tensor;
  readonly scale?: Tensor;
}
export type MatrixWeight = Tensor | PackedMatrix;

export function isPacked(w: MatrixWeight): w is PackedMatrix {
  return 'words' in w;
}

/** The same packed matrix seen with another logical shape of the same K*N elements (conv 1x1 -> gemm). */
export function reshapePacked(w: PackedMatrix, shape: readonly number[]): PackedMatrix {
  const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  if (n(shape) !== n(w.shape) || shape[shape.length - 1] !== w.shape[w.shape.length - 1]) {
    throw new Error(`reshape ${w.name}: [${w.shape.join(', ')}] -> [${shape.join(', ')}] must keep the elements and the column count`);
  }
  return { ...w, shape: [...shape] };
}

/** Flags and bindings a matmul-core kernel needs for B. */
export function matmulB(w: MatrixWeight): { b: Tensor; wscale?: Tensor; flags: { BF16: boolean; BI8: boolean } } {
  if (!isPacked(w)) return { b: w, flags: { BF16: false, BI8: false } };
  return { b: w.words, wscale: w.scale, flags: { BF16: w.format === 'f16', BI8: w.format === 'int8' } };
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/** f32 -> f16 bits, round to nearest even (overflow to infinity, subnormals kept). */
export function f32ToF16(x: number): number {
  f32Bits[0] = x;
  const u = u32Bits[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000; // implicit 1
    const shift = 14 - e; // 24-bit mantissa -> subnormal f16 mantissa
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent: still right
  return sign | h;
}

/** Rounds every value to f16 and packs pairs into u32 words (element 2i in the low half). */
export function packF16(data: ArrayLike<number>): Uint32Array {
  const words = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i++) words[i >> 1] |= f32ToF16(data[i]!) << ((i & 1) * 16);
  return words;
}

/**
 * Symmetric int8 quantization per output channel: `rows` groups of `per` consecutive values
 * (PyTorch's [Cout, ...] layout) or, with columns, per column of a row-major K x N matrix.
 * scale = max|w| / 127, q = round(w / scale) in [-127, 127]; an all-zero channel gets scale 0.
 */
export function quantizeInt8(data: ArrayLike<number>, channels: number, layout: 'rows' | 'columns'): { q: Int8Array; scale: Float32Array } {
  const n = data.length;
  if (n % channels) throw new Error(`quantizeInt8: ${n} values do not split into ${channels} channels`);
  const per = n / channels;
  const at = layout === 'rows' ? (c: number, i: number) => c * per + i : (c: number, i: number) => i * channels + c;
  const q = new Int8Array(n);
  const scale = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(data[at(c, i)]!));
    const s = Math.fround(m / 127);
    scale[c] = s;
    if (s === 0) continue;
    for (let i = 0; i < per; i++) q[at(c, i)] = Math.max(-127, Math.min(127, Math.round(data[at(c, i)]! / s)));
  }
  return { q, scale };
}

/** int8 values packed four per u32 word (element 4i in the low byte). */
export function packInt8(q: Int8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(q.length / 4));
  new Uint8Array(words.buffer).set(new Uint8Array(q.buffer, q.byteOffset, q.length));
  // Little-endian hosts only (every WebGPU host); a big-endian one would need a byte swap here.
  return words;
}

/** Packs a row-major K x N f32 matrix (already in the kernel's layout) into a compact form. */
export function compactMatrix(data: Float32Array, K: number, N: number, format: 'f16' | 'int8'): CompactMatrix {
  if (data.length !== K * N) throw new Error(`compactMatrix: ${data.length} values for ${K} x ${N}`);
  if (format === 'f16') return { format, K, N, words: packF16(data) };
  const { q, scale } = quantizeInt8(data, N, 'columns');
  return { format, K, N, words: packInt8(q), scale };
}

/** The f32 values a compact matrix stands for (what the kernels compute with; CPU references). */
export function expandMatrix(c: CompactMatrix): Float32Array {
  const n = c.K * c.N;
  const out = new Float32Array(n);
  if (c.format === 'f16') {
    for (let i = 0; i < n; i++) out[i] = f16ToF32((c.words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff);
  } else {
    const q = new Int8Array(c.words.buffer, c.words.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = q[i]! * c.scale![i % c.N]!;
  }
  return out;
}

/** GPU-side scale of an int8 matrix: scale * 127, since unpack4x8snorm yields q / 127. */
const gpuScales = new WeakMap<Float32Array, Float32Array>();
function gpuScale(s: Float32Array): Float32Array {
  let g = gpuScales.get(s);
  if (!g) gpuScales.set(s, (g = s.map((v) => v * 127)));
  return g;
}

/**
 * A weight matrix for the matmul core: f32 `data` as an ordinary weight, or its compact form.
 * The compact arrays are the model's own (made once at load), so graphs share their buffers.
 */
export function matrixWeight(g: Graph, name: string, shape: readonly number[], data: Float32Array, compact?: CompactMatrix): MatrixWeight {
  if (!compact) return g.weight(name, shape, data);
  const words = g.weight(`${name}.${compact.format}`, [compact.words.length], compact.words);
  const scale = compact.scale ? g.weight(`${name}.scale`, [compact.scale.length], gpuScale(compact.scale)) : undefined;
  return { format: compact.format, shape: [...shape], name, words, scale };
}

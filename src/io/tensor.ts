// Host-side tensors: what every weight reader produces. The engine computes in f32, so all
// stored dtypes are widened (f16, bf16) or narrowed (f64, ints) to f32 on load.
import { allocFloat32, fail } from './errors.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type StateDict = Map<string, HostTensor>;

/** Storage dtypes, with safetensors' spelling. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Largest element count of one tensor: beyond this a file is hostile or not for this engine. */
const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Validates an untrusted shape and returns its element count. */
export function shapeSize(shape: unknown, file: string, key?: string): number {
  if (!Array.isArray(shape) || shape.length > 16) {
    return fail(file, 'invalid shape', { key, expected: 'a list of at most 16 dimensions', found: describeShape(shape) });
  }
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      return fail(file, 'invalid shape', { key, expected: 'non-negative integer dimensions', found: describeShape(shape) });
    }
    n *= d;
    if (n > MAX_TENSOR_ELEMENTS) {
      return fail(file, 'tensor too large', { key, expected: `at most ${MAX_TENSOR_ELEMENTS} elements`, found: describeShape(shape) });
    }
  }
  return n;
}

function describeShape(shape: unknown): string {
  if (!Array.isArray(shape)) return typeof shape;
  const s = JSON.stringify(shape.slice(0, 17), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  return `shape ${s.length > 80 ? s.slice(0, 80) + '...' : s}`;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let f16Table: Float32Array | undefined;
/** f16 bit pattern -> f32 value, all 65536 patterns precomputed once (256 KB). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24; // subnormal
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = t);
}

export function f16ToF32(bits: number): number {
  return halfTable()[bits & 0xffff]!;
}

/**
 * Decodes `count` elements of `dtype` from `src` (exactly count * itemsize bytes) into a new
 * Float32Array. 64-bit integers lose precision beyond 2^24, which is harmless for the integer
 * tensors weight files carry (indices, `num_batches_tracked`).
 */
export function decodeToFloat32(
  src: Uint8Array, dtype: DType, count: number, littleEndian = true, file = '<memory>', key?: string,
): Float32Array {
  checkByteLength(src, dtype, count, file, key);
  const out = allocFloat32(file, count, key);
  if (dtype === 'F32' && littleEndian === hostLittleEndian) {
    // A fresh, aligned copy, viewed as f32 directly. new Uint8Array(src) always copies; a Node
    // Buffer's slice() would not (it is a view of the whole pooled/file buffer).
    out.set(new Float32Array(new Uint8Array(src).buffer));
  } else if (dtype === 'BF16') {
    // bf16 is the top half of an f32.
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = dv.getUint16(i * 2, littleEndian) << 16;
  } else {
    decodeInto(out, src, dtype, count, littleEndian);
  }
  return out;
}

/** Like decodeToFloat32 but exact for integers up to 2^53 (indices, faces, kinematic trees). */
export function decodeToFloat64(
  src: Uint8Array, dtype: DType, count: number, littleEndian = true, file = '<memory>', key?: string,
): Float64Array {
  checkByteLength(src, dtype, count, file, key);
  let out: Float64Array;
  try {
    out = new Float64Array(count);
  } catch {
    return fail(file, `cannot allocate ${count} doubles`, { key });
  }
  decodeInto(out, src, dtype, count, littleEndian);
  return out;
}

function checkByteLength(src: Uint8Array, dtype: DType, count: number, file: string, key?: string): void {
  const size = DTYPE_SIZE[dtype];
  if (src.length !== count * size) {
    fail(file, 'tensor byte length does not match its shape', { key, expected: `${count * size} bytes`, found: `${src.length}` });
  }
}

function decodeInto(out: Float32Array | Float64Array, src: Uint8Array, dtype: DType, count: number, le: boolean): void {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  switch (dtype) {
    case 'F32': for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, le); break;
    case 'F64': for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, le); break;
    case 'F16': {
      const t = halfTable();
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(i * 2, le)]!;
      break;
    }
    case 'BF16': {
      const f = new Float32Array(1), bits = new Uint32Array(f.buffer);
      for (let i = 0; i < count; i++) { bits[0] = dv.getUint16(i * 2, le) << 16; out[i] = f[0]!; }
      break;
    }
    case 'I64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, le)); break;
    case 'U64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigUint64(i * 8, le)); break;
    case 'I32': for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, le); break;
    case 'U32': for (let i = 0; i < count; i++) out[i] = dv.getUint32(i * 4, le); break;
    case 'I16': for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, le); break;
    case 'U16': for (let i = 0; i < count; i++) out[i] = dv.getUint16(i * 2, le); break;
    case 'I8': for (let i = 0; i < count; i++) out[i] = dv.getInt8(i); break;
    case 'U8': for (let i = 0; i < count; i++) out[i] = src[i]!; break;
    case 'BOOL': for (let i = 0; i < count; i++) out[i] = src[i] ? 1 : 0; break;
  }
}

/**
 * Validates a strided view (PyTorch's storage offset + strides, in elements) of a storage of
 * `storageLength` elements: every index it touches must lie inside the storage.
 */
export function checkView(
  storageLength: number, offset: number, shape: readonly number[], stride: readonly number[], file: string, key?: string,
): { n: number; contiguous: boolean } {
  const n = shapeSize(shape, file, key);
  if (stride.length !== shape.length) {
    fail(file, 'stride rank does not match shape rank', { key, expected: `${shape.length} strides`, found: `${stride.length}` });
  }
  if (!Number.isSafeInteger(offset) || offset < 0) fail(file, 'invalid storage offset', { key, found: String(offset) });
  let last = offset; // largest element index the view touches
  let contiguous = true;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = stride[d]!;
    if (!Number.isSafeInteger(s) || s < 0) fail(file, 'invalid stride', { key, expected: 'non-negative integers', found: formatShape(stride as number[]) });
    if (shape[d]! > 1 && s !== expect) contiguous = false;
    expect *= shape[d]!;
    if (n > 0) last += (shape[d]! - 1) * s;
  }
  if (n > 0 && last >= storageLength) {
    fail(file, 'tensor view reaches past the end of its storage', {
      key, expected: `indices < ${storageLength}`, found: `offset ${offset}, shape ${formatShape(shape as number[])}, stride ${formatShape(stride as number[])}`,
    });
  }
  // Only stride-0 (expanded) views can hold more elements than their storage; cap how far a
  // file may blow a small storage up.
  if (n > storageLength && n > 1 << 24) {
    fail(file, 'expanded tensor view is too large', { key, expected: `at most ${1 << 24} elements`, found: `${n} from a storage of ${storageLength}` });
  }
  return { n, contiguous };
}

/** Materialises a strided view of a decoded storage into a contiguous row-major array. */
export function gatherStrided<T extends Float32Array | Float64Array>(
  storage: T, offset: number, shape: readonly number[], stride: readonly number[], file: string, key?: string,
): T {
  const { n, contiguous } = checkView(storage.length, offset, shape, stride, file, key);
  if (contiguous) return storage.slice(offset, offset + n) as T;
  const out = (storage instanceof Float64Array ? new Float64Array(n) : allocFloat32(file, n, key)) as T;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = storage[src]!;
    // odometer increment over the dimensions, innermost first
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = idx[d]! + 1;
      src += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= idx[d]! * stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Accepts a Map or a plain record of tensors; records become Maps in insertion order. */
export function toStateDict(tensors: StateDict | Record<string, HostTensor>): StateDict {
  return tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
}

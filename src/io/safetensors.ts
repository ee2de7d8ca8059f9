// Hugging Face safetensors: u64 LE header length, JSON header
// `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__: { str: str } }`,
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
import { describe, fail } from './errors.ts';
import { DTYPE_SIZE, decodeToFloat32, formatShape, isDType, shapeSize, toStateDict } from './tensor.ts';
import type { DType, HostTensor, StateDict } from './tensor.ts';

/** Header size cap (the reference implementation uses the same 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
  /** Each tensor's stored dtype (the tensors themselves are widened to f32). */
  dtypes: Map<string, DType>;
}

export function readSafetensors(bytes: Uint8Array, file = '<memory>'): SafetensorsFile {
  if (bytes.length < 8) {
    fail(file, 'too short to be a safetensors file', { expected: 'at least 8 bytes (header length)', found: `${bytes.length} bytes` });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(file, 'header length points past the end of the file', {
      expected: `at most ${bytes.length - 8} bytes`, found: `${headerLen}`,
      hint: 'the file is truncated or is not a safetensors file',
    });
  }
  const n = Number(headerLen);
  if (n > MAX_HEADER_BYTES) fail(file, 'header too large', { expected: `at most ${MAX_HEADER_BYTES} bytes`, found: `${n}` });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return fail(file, 'header is not valid UTF-8 JSON', { found: (e as Error).message, hint: 'the file is corrupt or is not a safetensors file' });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail(file, 'header is not a JSON object', { found: describe(header) });
  }
  const body = bytes.subarray(8 + n);
  const metadata: Record<string, string> = Object.create(null);
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(file, '__metadata__ is not an object', { found: describe(info) });
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, 'metadata values must be strings', { key: `__metadata__.${k}`, found: describe(v) });
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (typeof info !== 'object' || info === null) fail(file, 'tensor entry is not an object', { key: name, found: describe(info) });
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDType(dtype)) {
      fail(file, 'unknown dtype', { key: name, expected: Object.keys(DTYPE_SIZE).join('/'), found: describe(dtype) });
    }
    const count = shapeSize(shape, file, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(file, 'invalid data_offsets', { key: name, expected: '[begin, end] with 0 <= begin <= end', found: describe(offsets) });
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== count * DTYPE_SIZE[dtype]) {
      fail(file, 'data_offsets do not match shape and dtype', {
        key: name, expected: `${count * DTYPE_SIZE[dtype]} bytes (${dtype} ${formatShape(shape as number[])})`, found: `${end - begin} bytes`,
      });
    }
    if (end > body.length) {
      fail(file, 'tensor data reaches past the end of the file', {
        key: name, expected: `end <= ${body.length}`, found: `end ${end}`, hint: 'the file is truncated',
      });
    }
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }
  // Tensors must not share bytes: an overlap means a corrupt or crafted header.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.begin < prev.end) {
      fail(file, 'tensor data ranges overlap', { key: cur.name, found: `[${cur.begin}, ${cur.end}) overlaps ${prev.name} [${prev.begin}, ${prev.end})` });
    }
  }
  const tensors: StateDict = new Map();
  const dtypes = new Map<string, DType>();
  for (const e of entries) {
    const data = decodeToFloat32(body.subarray(e.begin, e.end), e.dtype, (e.end - e.begin) / DTYPE_SIZE[e.dtype], true, file, e.name);
    tensors.set(e.name, { shape: e.shape, data });
    dtypes.set(e.name, e.dtype);
  }
  return { tensors, metadata: { ...metadata }, dtypes };
}

/**
 * A tensor to write: Float32Array data is written as F32, Int32Array as I32 (indices, faces),
 * Int8Array as I8 (quantized weights), Uint16Array as F16 (the bit patterns: weights.ts f32ToF16).
 */
export type WritableTensor = HostTensor | { shape: number[]; data: Int32Array | Int8Array | Uint16Array };
type WritableData = Float32Array | Int32Array | Int8Array | Uint16Array;
const WRITE_DTYPE = (d: WritableData): DType => d instanceof Int32Array ? 'I32' : d instanceof Int8Array ? 'I8' : d instanceof Uint16Array ? 'F16' : 'F32';

export function writeSafetensors(
  tensors: StateDict | Record<string, HostTensor> | Map<string, WritableTensor> | Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const file = '<writeSafetensors>';
  const map = toStateDict(tensors as Record<string, HostTensor>) as Map<string, WritableTensor>;
  const parts: string[] = [];
  if (metadata) {
    const m = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') fail(file, 'metadata values must be strings', { key: k, found: describe(v) });
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${m.join(',')}}`);
  }
  let offset = 0;
  const layout: { data: WritableData; begin: number }[] = [];
  for (const [name, t] of map) {
    if (name === '__metadata__') fail(file, 'a tensor cannot be named __metadata__', { key: name });
    const count = shapeSize(t.shape, file, name);
    if (count !== t.data.length) {
      fail(file, 'data length does not match shape', { key: name, expected: `${count} (${formatShape(t.shape)})`, found: `${t.data.length}` });
    }
    const dtype = WRITE_DTYPE(t.data);
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
    layout.push({ data: t.data, begin: offset });
    offset = end;
  }
  let header = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Pad with spaces so the data starts 8-byte aligned (8 + header length is a multiple of 8).
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }
  const out = new Uint8Array(8 + header.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  const base = 8 + header.length;
  const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (const { data, begin } of layout) {
    if (hostLittleEndian || data instanceof Int8Array) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), base + begin);
    else if (data instanceof Uint16Array) for (let i = 0; i < data.length; i++) dv.setUint16(base + begin + i * 2, data[i]!, true);
    else if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) dv.setFloat32(base + begin + i * 4, data[i]!, true);
    else for (let i = 0; i < data.length; i++) dv.setInt32(base + begin + i * 4, data[i]!, true);
  }
  return out;
}

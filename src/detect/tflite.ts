// A reader for TensorFlow Lite model files (the .tflite flatbuffer, schema "TFL3"), written
// for MediaPipe's BlazeFace detectors: the Model / SubGraph / Tensor / Operator / OperatorCode /
// Buffer tables, the builtin options of the operators those files use, and f32/f16/i32 tensor
// data. The bytes are untrusted (a file path or URL from the user), so every offset and length
// is bounds-checked and every failure is a WeightFileError that names the file and the table.
// Field numbers follow tensorflow/lite/schema/schema.fbs (a union takes two slots: type, value).
import { fail } from '../io/errors.ts';

/** Builtin operator codes we name in messages (schema.fbs BuiltinOperator; others print as numbers). */
export const BUILTIN_OPS: Record<number, string> = {
  0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 5: 'DEPTH_TO_SPACE',
  6: 'DEQUANTIZE', 124: 'DENSIFY', 8: 'FLOOR', 9: 'FULLY_CONNECTED', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU',
  21: 'RELU6', 22: 'RESHAPE', 23: 'RESIZE_BILINEAR', 25: 'SOFTMAX', 28: 'TANH', 32: 'CUSTOM', 34: 'PAD',
  39: 'TRANSPOSE', 40: 'MEAN', 41: 'SUB', 42: 'DIV', 43: 'SQUEEZE', 45: 'STRIDED_SLICE', 49: 'SPLIT', 53: 'CAST',
  54: 'PRELU', 55: 'MAXIMUM', 57: 'MINIMUM', 60: 'PADV2', 74: 'SUM', 77: 'PACK', 97: 'RESIZE_NEAREST_NEIGHBOR',
  98: 'LEAKY_RELU', 102: 'SPLIT_V', 114: 'QUANTIZE', 117: 'HARD_SWISH',
};
export const opName = (code: number): string => BUILTIN_OPS[code] ?? `builtin operator ${code}`;

/** schema.fbs TensorType. */
const TENSOR_TYPES: Record<number, string> = { 0: 'float32', 1: 'float16', 2: 'int32', 3: 'uint8', 4: 'int64', 5: 'string', 6: 'bool', 7: 'int16', 9: 'int8', 10: 'float64' };
export type TensorTypeName = 'float32' | 'float16' | 'int32' | string;

export type Padding = 'SAME' | 'VALID';
export type Activation = 'NONE' | 'RELU' | 'RELU_N1_TO_1' | 'RELU6' | 'TANH';
const ACTIVATIONS: Activation[] = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH'];

export interface ConvOptions { padding: Padding; strideW: number; strideH: number; activation: Activation; dilationW: number; dilationH: number; depthMultiplier: number }
export interface PoolOptions { padding: Padding; strideW: number; strideH: number; filterW: number; filterH: number; activation: Activation }

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: TensorTypeName;
  /** Index into the model's buffers; 0 (the empty sentinel buffer) for activations. */
  buffer: number;
  /** Sparse storage (the buffer holds only the kept values), densified at load (DENSIFY). */
  sparsity?: Sparsity;
}

/** schema.fbs SparsityParameters: levels in traversal order, DENSE or CSR each. */
export interface Sparsity {
  traversalOrder: number[];
  blockMap: number[];
  levels: { format: 'DENSE' | 'CSR'; denseSize: number; segments?: Int32Array; indices?: Int32Array }[];
}

export interface TfliteOperator {
  /** Builtin operator name (opName), 'CUSTOM:<code>' for custom operators. */
  op: string;
  code: number;
  inputs: number[];
  outputs: number[];
  conv?: ConvOptions;
  pool?: PoolOptions;
  /** ADD / CONCATENATION fused activation. */
  activation?: Activation;
  /** CONCATENATION axis (may be negative, as in the file). */
  axis?: number;
  /** RESHAPE new_shape option, when present. */
  newShape?: number[];
  /** DEPTH_TO_SPACE block size. */
  blockSize?: number;
  /** RESIZE_BILINEAR options. */
  resize?: { alignCorners: boolean; halfPixelCenters: boolean };
}

export interface TfliteModel {
  file: string;
  version: number;
  description: string;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
  /** Raw bytes of each buffer (views into the file; empty for activations). */
  buffers: Uint8Array[];
}

/** Bounds-checked flatbuffer access over one file's bytes. */
class Reader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private bad(what: string): never {
    return fail(this.file, `malformed TFLite flatbuffer: ${what}`, { hint: 'the file is truncated or corrupt; download the .tflite again' });
  }
  private check(off: number, len: number, what: string): void {
    if (!(Number.isInteger(off) && off >= 0 && off + len <= this.bytes.length)) this.bad(`${what} at byte ${off} (+${len}) is outside the ${this.bytes.length}-byte file`);
  }
  u8(off: number, what: string): number { this.check(off, 1, what); return this.view.getUint8(off); }
  i16(off: number, what: string): number { this.check(off, 2, what); return this.view.getInt16(off, true); }
  u16(off: number, what: string): number { this.check(off, 2, what); return this.view.getUint16(off, true); }
  i32(off: number, what: string): number { this.check(off, 4, what); return this.view.getInt32(off, true); }
  u32(off: number, what: string): number { this.check(off, 4, what); return this.view.getUint32(off, true); }
  u64(off: number, what: string): number {
    this.check(off, 8, what);
    const v = this.view.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.bad(`${what} is ${v}`);
    return Number(v);
  }

  /** Table at `off`: returns an accessor of its field offsets (0 when absent). */
  table(off: number, what: string): Table {
    const vt = off - this.i32(off, `${what} vtable offset`);
    const vtLen = this.u16(vt, `${what} vtable`);
    const objLen = this.u16(vt + 2, `${what} vtable`);
    if (vtLen < 4 || vtLen % 2) this.bad(`${what} vtable length ${vtLen}`);
    this.check(vt, vtLen, `${what} vtable`);
    this.check(off, objLen, `${what} object`);
    return new Table(this, off, vt, vtLen, objLen, what);
  }
}

class Table {
  constructor(private readonly r: Reader, readonly off: number, private readonly vt: number, private readonly vtLen: number,
    private readonly objLen: number, readonly what: string) {}

  /** Absolute offset of field i, or 0 when absent. */
  field(i: number, size: number): number {
    const slot = 4 + 2 * i;
    if (slot + 2 > this.vtLen) return 0;
    const rel = this.r.u16(this.vt + slot, `${this.what} vtable`);
    if (rel === 0) return 0;
    if (rel + size > this.objLen) fail(this.r.file, `malformed TFLite flatbuffer: ${this.what} field ${i} runs past its table`);
    return this.off + rel;
  }
  u8(i: number, dflt = 0): number { const o = this.field(i, 1); return o ? this.r.u8(o, this.what) : dflt; }
  i8(i: number, dflt = 0): number { const v = this.u8(i, dflt & 0xff); return v > 127 ? v - 256 : v; }
  i32(i: number, dflt = 0): number { const o = this.field(i, 4); return o ? this.r.i32(o, this.what) : dflt; }
  u32(i: number, dflt = 0): number { const o = this.field(i, 4); return o ? this.r.u32(o, this.what) : dflt; }
  u64(i: number, dflt = 0): number { const o = this.field(i, 8); return o ? this.r.u64(o, this.what) : dflt; }
  /** Offset of the object an offset field points to, or 0. */
  ref(i: number): number {
    const o = this.field(i, 4);
    if (!o) return 0;
    const target = o + this.r.u32(o, this.what);
    if (target >= this.r.bytes.length) fail(this.r.file, `malformed TFLite flatbuffer: ${this.what} field ${i} points outside the file`);
    return target;
  }
  table(i: number, what: string): Table | undefined { const o = this.ref(i); return o ? this.r.table(o, what) : undefined; }
  /** Vector field: [start of elements, length]; elements bounds-checked for `elemSize`. */
  vector(i: number, elemSize: number): [number, number] {
    const o = this.ref(i);
    if (!o) return [0, 0];
    const n = this.r.u32(o, `${this.what} vector length`);
    if (n * elemSize > this.r.bytes.length) fail(this.r.file, `malformed TFLite flatbuffer: ${this.what} field ${i} claims ${n} elements`);
    const start = o + 4;
    if (n) { this.r.u8(start + n * elemSize - 1, `${this.what} vector`); }
    return [start, n];
  }
  ints(i: number): number[] {
    const [s, n] = this.vector(i, 4);
    const out: number[] = [];
    for (let k = 0; k < n; k++) out.push(this.r.i32(s + 4 * k, this.what));
    return out;
  }
  tables(i: number, what: string): Table[] {
    const [s, n] = this.vector(i, 4);
    const out: Table[] = [];
    for (let k = 0; k < n; k++) {
      const at = s + 4 * k;
      out.push(this.r.table(at + this.r.u32(at, `${what} offset`), `${what} ${k}`));
    }
    return out;
  }
  /** Vector of u8 / u16 / i32 values as an Int32Array. */
  intVector(i: number, elemSize: 1 | 2 | 4): Int32Array {
    const [s, n] = this.vector(i, elemSize);
    const out = new Int32Array(n);
    for (let k = 0; k < n; k++) out[k] = elemSize === 4 ? this.r.i32(s + 4 * k, this.what) : elemSize === 2 ? this.r.u16(s + 2 * k, this.what) : this.r.u8(s + k, this.what);
    return out;
  }
  string(i: number): string {
    const [s, n] = this.vector(i, 1);
    return n ? new TextDecoder().decode(this.r.bytes.subarray(s, s + n)) : '';
  }
  bytes(i: number): Uint8Array {
    const [s, n] = this.vector(i, 1);
    return this.r.bytes.subarray(s, s + n);
  }
}

const PADDING: Padding[] = ['SAME', 'VALID'];

/** SparsityParameters: traversal_order, block_map, dim_metadata (format, dense_size, segments, indices). */
function readSparsity(sp: Table, file: string, where: string): Sparsity {
  const levels = sp.tables(2, `${where} dim_metadata`).map((d) => {
    const format = d.u8(0);
    if (format === 0) return { format: 'DENSE' as const, denseSize: d.i32(1) };
    if (format !== 1) fail(file, `${where}: unknown sparse dimension format ${format}`);
    // SparseIndexVector union: 1 Int32Vector, 2 Uint16Vector, 3 Uint8Vector; each { values }.
    const vec = (typeField: number, what: string): Int32Array => {
      const type = d.u8(typeField);
      const size = ({ 1: 4, 2: 2, 3: 1 } as Record<number, 1 | 2 | 4>)[type];
      const tbl = d.table(typeField + 1, `${where} ${what}`);
      if (!size || !tbl) return fail(file, `${where}: sparse ${what} missing or of unknown type ${type}`);
      return tbl.intVector(0, size);
    };
    return { format: 'CSR' as const, denseSize: d.i32(1), segments: vec(2, 'array_segments'), indices: vec(4, 'array_indices') };
  });
  return { traversalOrder: sp.ints(0), blockMap: sp.ints(1), levels };
}

/** Parses a .tflite file. `file` names it in errors. Throws WeightFileError on anything malformed. */
export function readTflite(bytes: Uint8Array, file = 'model.tflite'): TfliteModel {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('readTflite: expected the file as a Uint8Array');
  const notTflite = (found: string) => fail(file, 'not a TensorFlow Lite model', {
    expected: 'a .tflite flatbuffer (file identifier "TFL3" at byte 4)', found,
    hint: 'pass a MediaPipe face detection .tflite (e.g. face_detection_short_range.tflite from @mediapipe/face_detection)',
  });
  if (bytes.length < 8) notTflite(`${bytes.length} bytes`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== 'TFL3') notTflite(`identifier ${JSON.stringify(ident.replace(/[^\x20-\x7e]/g, '?'))}`);
  const r = new Reader(bytes, file);
  const root = r.u32(0, 'root offset');
  const model = r.table(root, 'Model');
  const version = model.u32(0);
  if (version !== 3) fail(file, `unsupported TFLite schema version ${version}`, { expected: 'version 3' });

  const opcodes = model.tables(1, 'OperatorCode').map((t) => {
    // builtin_code (field 3, int32) superseded deprecated_builtin_code (field 0, int8) at 127.
    const code = Math.max(t.i8(0), t.i32(3));
    return code === 32 ? { code, name: `CUSTOM:${t.string(1)}` } : { code, name: opName(code) };
  });
  const subgraphs = model.tables(2, 'SubGraph');
  if (subgraphs.length !== 1) fail(file, `the model has ${subgraphs.length} subgraphs`, { expected: 'exactly one (a plain feed-forward model)' });
  const buffers = model.tables(4, 'Buffer').map((t) => {
    const data = t.bytes(0);
    if (data.length === 0 && t.u64(1) > 1) fail(file, 'tensor data stored outside the flatbuffer (buffer offset/size) is not supported', { hint: 'use a .tflite under 2 GB with inline buffers' });
    return data;
  });
  const sg = subgraphs[0];
  const tensors = sg.tables(0, 'Tensor').map((t, index): TfliteTensor => {
    const typeCode = t.i8(1);
    const buffer = t.u32(2);
    if (buffer >= Math.max(1, buffers.length)) fail(file, `tensor ${index} refers to buffer ${buffer}`, { expected: `a buffer below ${buffers.length}` });
    const shape = t.ints(0);
    for (const d of shape) if (d < 0) fail(file, `tensor ${index} (${t.string(3)}) has a dynamic or negative dimension`, { found: `[${shape.join(', ')}]` });
    const sp = t.table(6, `tensor ${index} sparsity`);
    const sparsity = sp && readSparsity(sp, file, `tensor ${index} (${t.string(3)})`);
    return { index, name: t.string(3), shape, type: TENSOR_TYPES[typeCode] ?? `type ${typeCode}`, buffer, ...(sparsity ? { sparsity } : {}) };
  });
  const checkIdx = (list: number[], what: string, optional = false) => {
    for (const i of list) {
      if (optional && i === -1) continue;
      if (!(i >= 0 && i < tensors.length)) fail(file, `${what} refers to tensor ${i}`, { expected: `an index below ${tensors.length}` });
    }
    return list;
  };
  const act = (v: number, what: string): Activation => ACTIVATIONS[v] ?? fail(file, `${what}: unknown fused activation ${v}`);
  const pad = (v: number, what: string): Padding => PADDING[v] ?? fail(file, `${what}: unknown padding ${v}`);
  const operators = sg.tables(3, 'Operator').map((t, k): TfliteOperator => {
    const oc = t.u32(0);
    if (oc >= opcodes.length) fail(file, `operator ${k} has opcode index ${oc}`, { expected: `below ${opcodes.length}` });
    const { code, name } = opcodes[oc];
    const where = `operator ${k} (${name})`;
    const op: TfliteOperator = { op: name, code, inputs: checkIdx(t.ints(1), `${where} input`, true), outputs: checkIdx(t.ints(2), `${where} output`) };
    const optType = t.u8(3);
    const o = t.table(4, `${where} options`);
    if (code === 3 || code === 4) {
      const want = code === 3 ? 1 : 2;
      if (o && optType !== want) fail(file, `${where} carries options of type ${optType}`, { expected: `type ${want}` });
      // Conv2DOptions: padding, stride_w, stride_h, activation, dilation_w, dilation_h.
      // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, activation, dilation_w, dilation_h.
      const dw = code === 4 ? 1 : 0;
      op.conv = {
        padding: pad(o?.i8(0) ?? 0, where), strideW: o?.i32(1) ?? 1, strideH: o?.i32(2) ?? 1,
        depthMultiplier: dw ? o?.i32(3) ?? 1 : 1, activation: act(o?.i8(3 + dw) ?? 0, where),
        dilationW: o?.i32(4 + dw, 1) ?? 1, dilationH: o?.i32(5 + dw, 1) ?? 1,
      };
    } else if (code === 17 || code === 1) {
      if (!o || optType !== 5) fail(file, `${where} lacks its Pool2DOptions`);
      op.pool = { padding: pad(o.i8(0), where), strideW: o.i32(1), strideH: o.i32(2), filterW: o.i32(3), filterH: o.i32(4), activation: act(o.i8(5), where) };
    } else if (code === 0) {
      op.activation = act(o?.i8(0) ?? 0, where);
    } else if (code === 2) {
      if (!o || optType !== 10) fail(file, `${where} lacks its ConcatenationOptions`);
      op.axis = o.i32(0);
      op.activation = act(o.i8(1), where);
    } else if (code === 5) {
      op.blockSize = o?.i32(0) ?? 0;
    } else if (code === 23) {
      // ResizeBilinearOptions: new_height, new_width (deprecated), align_corners, half_pixel_centers.
      op.resize = { alignCorners: (o?.u8(2) ?? 0) !== 0, halfPixelCenters: (o?.u8(3) ?? 0) !== 0 };
    } else if (code === 22 && o && optType === 17) {
      const s = o.ints(0);
      if (s.length) op.newShape = s;
    }
    return op;
  });
  return {
    file, version, description: model.string(3), tensors, operators,
    inputs: checkIdx(sg.ints(1), 'subgraph input'), outputs: checkIdx(sg.ints(2), 'subgraph output'), buffers,
  };
}

/** IEEE half -> float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const MAX_DENSE = 1 << 26;

/**
 * Scatters a sparse tensor's stored values into its dense shape (TFLite's FormatConverter:
 * levels in traversal order, DENSE levels enumerate, CSR levels follow segments/indices; block
 * dims, after the original ones, refine their original dim). Every index is checked.
 */
export function densify(values: ArrayLike<number>, shape: readonly number[], sp: Sparsity, fail0: (why: string) => never): Float32Array {
  const n = shape.length, L = sp.traversalOrder.length;
  if (sp.levels.length !== L || L < n || sp.blockMap.length !== L - n) fail0(`sparsity has ${sp.levels.length} levels for traversal order [${sp.traversalOrder}] and block map [${sp.blockMap}]`);
  const seen = new Set(sp.traversalOrder);
  if (seen.size !== L || sp.traversalOrder.some((d) => !(d >= 0 && d < L))) fail0(`bad traversal order [${sp.traversalOrder}]`);
  if (sp.blockMap.some((d) => !(d >= 0 && d < n))) fail0(`bad block map [${sp.blockMap}]`);
  const blockSize = sp.blockMap.map((_, b) => sp.levels[n + b].denseSize);
  const total = shape.reduce((a, b) => a * b, 1);
  // Weights of a face detector are small; a huge declared shape is a corrupt file, not an allocation to try.
  if (!(total <= MAX_DENSE)) fail0(`dense shape [${shape}] has ${total} elements (more than ${MAX_DENSE})`);
  const dense = new Float32Array(total);
  const idx = new Array<number>(L).fill(0);
  let src = 0;
  const leaf = () => {
    const orig = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) orig[sp.traversalOrder[i]] = idx[i];
    for (let i = n; i < L; i++) {
      const b = sp.traversalOrder[i] - n;
      if (!(b >= 0 && b < blockSize.length)) fail0('block dimension out of order');
      const d = sp.blockMap[b];
      orig[d] = orig[d] * blockSize[b] + idx[i];
    }
    let flat = 0;
    for (let d = 0; d < n; d++) {
      if (!(orig[d] >= 0 && orig[d] < shape[d])) fail0(`index ${orig[d]} outside dimension ${d} of [${shape}]`);
      flat = flat * shape[d] + orig[d];
    }
    if (src >= values.length) fail0(`more positions than the ${values.length} stored values`);
    dense[flat] = values[src++];
  };
  const walk = (level: number, prev: number) => {
    if (level === L) return leaf();
    const lv = sp.levels[level];
    if (lv.format === 'DENSE') {
      if (!(lv.denseSize >= 0 && lv.denseSize <= total)) fail0(`dense level size ${lv.denseSize}`);
      for (let i = 0; i < lv.denseSize; i++) { idx[level] = i; walk(level + 1, prev * lv.denseSize + i); }
      return;
    }
    const seg = lv.segments!, ind = lv.indices!;
    if (!(prev + 1 < seg.length)) fail0(`CSR segment ${prev} missing`);
    const a = seg[prev], b = seg[prev + 1];
    if (!(a >= 0 && a <= b && b <= ind.length)) fail0(`CSR segment [${a}, ${b}) outside ${ind.length} indices`);
    for (let i = a; i < b; i++) { idx[level] = ind[i]; walk(level + 1, i); }
  };
  walk(0, 0);
  if (src !== values.length) fail0(`${values.length - src} stored values left over`);
  return dense;
}

/** A constant tensor's data as f32 (float32, float16 or int32 storage; sparse ones densified), checked against its shape. */
export function tensorData(m: TfliteModel, index: number): Float32Array | Int32Array {
  const t = m.tensors[index];
  const bytes = m.buffers[t.buffer] ?? new Uint8Array(0);
  const n = t.shape.reduce((a, b) => a * b, 1);
  const size = t.type === 'float16' ? 2 : t.type === 'float32' || t.type === 'int32' ? 4 : 0;
  if (!size) fail(m.file, `tensor ${t.name} has type ${t.type}`, { expected: 'float32, float16 or int32 data' });
  const stored = t.sparsity ? bytes.length / size : n;
  if (t.sparsity && (t.type === 'int32' || !Number.isInteger(stored))) fail(m.file, `sparse tensor ${t.name} of type ${t.type} with ${bytes.length} bytes`);
  if (bytes.length !== stored * size) fail(m.file, `tensor ${t.name} has ${bytes.length} bytes of data`, { expected: `${n * size} for ${t.type} [${t.shape.join(', ')}]` });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (t.type === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
    return out;
  }
  const out = new Float32Array(stored);
  if (t.type === 'float32') for (let i = 0; i < stored; i++) out[i] = dv.getFloat32(4 * i, true);
  else for (let i = 0; i < stored; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  if (!t.sparsity) return out;
  return densify(out, t.shape, t.sparsity, (why) => fail(m.file, `sparse tensor ${t.name}: ${why}`, { hint: 'the file is corrupt' }));
}

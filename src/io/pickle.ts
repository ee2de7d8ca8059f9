// The project's one unpickler: data only. Python's pickle is a small stack machine whose GLOBAL
// and REDUCE opcodes can call any importable function (os.system...). Here a global is looked
// up in a fixed whitelist of data constructors, each implemented in TypeScript; anything else
// is an error naming the global. Caps on memo size, nesting depth and object count bound the
// work a hostile file can cause.
//
// Python values map to: None -> null, bool, int -> number (bigint beyond 2^53), float -> number,
// str -> string, Python 2 str (BINSTRING) -> string with one char per byte (latin1, as
// pickle.load(encoding='latin1')) or, beyond 4 KB, Uint8Array (array payloads), bytes/bytearray
// -> Uint8Array, list/tuple -> Array,
// dict/OrderedDict -> Map, set/frozenset -> Set, numpy arrays -> NdArray, torch tensors ->
// TorchTensorRef, objects of whitelisted classes (chumpy, scipy.sparse) -> PyObject.
import { describe, fail } from './errors.ts';
import type { WeightFileErrorDetails } from './errors.ts';

/** A whitelisted global that is passed around as a value (a class such as torch.FloatStorage). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a whitelisted plain-data class; `state` holds its attribute dict. */
export class PyObject {
  readonly state = new Map<unknown, unknown>();
  constructor(readonly cls: string, readonly args: unknown[] = []) {}
}

/** numpy dtype: kind ('f', 'i', 'u', 'b', 'O', ...), item size, byte order. */
export class NpDtype {
  littleEndian = true;
  structured = false;
  constructor(readonly kind: string, public itemsize: number, readonly descr: string) {}
}

/** numpy ndarray: raw bytes for numeric dtypes, `objects` for dtype=object. */
export class NdArray {
  shape: number[] = [];
  dtype: NpDtype | null = null;
  fortran = false;
  data: Uint8Array | null = null;
  objects: unknown[] | null = null;
}

/** A torch tensor as pickled: a view (offset/shape/stride in elements) of a storage. */
export class TorchTensorRef {
  constructor(
    readonly storage: unknown, readonly offset: number, readonly shape: number[], readonly stride: number[],
    /** torch dtype name ('float32', ...) when it differs from the storage's (_rebuild_tensor_v3). */
    readonly dtype?: string,
  ) {}
}

export interface UnpickleOptions {
  file?: string;
  /** Resolves persistent ids (torch storages); without it a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  maxMemo?: number;
  maxDepth?: number;
  maxObjects?: number;
  /** What to tell the user when a global is refused (the reader knows the file type). */
  globalHint?: string;
}

type Impl = { call?: (args: unknown[], u: Ctx) => unknown; cls?: boolean };
interface Ctx { file: string; fail: (problem: string, details?: WeightFileErrorDetails) => never }

const STORAGES = ['Float', 'Half', 'BFloat16', 'Double', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'];

/** numpy dtype string -> kind, itemsize ('f8', '<f4', 'O', 'b1', 'i8', 'u4', 'bool', ...). */
function npDtype(spec: unknown, u: Ctx): NpDtype {
  if (typeof spec !== 'string') return u.fail('unsupported numpy dtype', { found: describe(spec) });
  let s = spec;
  let le = true;
  if ('<>|='.includes(s[0] ?? '')) { le = s[0] !== '>'; s = s.slice(1); }
  const named: Record<string, string> = { bool: 'b1', float64: 'f8', float32: 'f4', float16: 'f2', int64: 'i8', int32: 'i4', uint32: 'u4', uint8: 'u1', object: 'O8' };
  s = named[s] ?? s;
  const m = /^([a-zA-Z])(\d*)$/.exec(s);
  if (!m) return u.fail('unsupported numpy dtype', { found: describe(spec) });
  const kind = m[1]!;
  const size = kind === 'O' ? 8 : m[2] ? Number(m[2]) : 0;
  const dt = new NpDtype(kind, size, spec);
  dt.littleEndian = le;
  return dt;
}

/** Parses a numpy dtype string ('<f8', '|b1', 'O', ...), for .npy headers. */
export function parseNpDtype(spec: string, file: string): NpDtype {
  return npDtype(spec, { file, fail: (problem, details) => fail(file, problem, details) });
}

function ints(v: unknown, what: string, u: Ctx): number[] {
  if (!Array.isArray(v) || v.length > 32 || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) {
    return u.fail(`invalid ${what}`, { expected: 'a tuple of integers', found: describe(v) });
  }
  return v as number[];
}

function rebuildTensor(args: unknown[], u: Ctx): TorchTensorRef {
  const [storage, offset, size, stride] = args;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) u.fail('invalid tensor storage offset', { found: describe(offset) });
  return new TorchTensorRef(storage, offset as number, ints(size, 'tensor size', u).slice(), ints(stride, 'tensor stride', u).slice());
}

/** (storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]): a typed view of an untyped storage. */
function rebuildTensorV3(args: unknown[], u: Ctx): TorchTensorRef {
  const t = rebuildTensor(args, u);
  const dtype = args[6];
  if (!(dtype instanceof PyGlobal) || dtype.module !== 'torch') return u.fail('invalid dtype in _rebuild_tensor_v3', { found: describe(dtype) });
  return new TorchTensorRef(t.storage, t.offset, t.shape, t.stride, dtype.name);
}

/** torch dtypes appear in pickles as globals such as torch.float32. */
const TORCH_DTYPES = [
  'float32', 'float', 'float16', 'half', 'bfloat16', 'float64', 'double', 'int64', 'long', 'int32', 'int', 'int16', 'short',
  'int8', 'uint8', 'bool', 'uint16', 'uint32', 'uint64',
];

function bytesOf(v: unknown, u: Ctx): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return latin1(v, u);
  return u.fail('expected bytes', { found: describe(v) });
}

function latin1(s: string, u: Ctx): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) u.fail('string is not latin-1 encodable', { found: `char ${c}` });
    out[i] = c;
  }
  return out;
}

function toMap(items: unknown, u: Ctx): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (items === undefined || items === null) return m;
  if (items instanceof Map) return new Map(items);
  if (!Array.isArray(items)) return u.fail('OrderedDict expects a list of pairs', { found: describe(items) });
  for (const kv of items) {
    if (!Array.isArray(kv) || kv.length !== 2) u.fail('OrderedDict expects a list of pairs', { found: describe(kv) });
    m.set(kv[0], kv[1]);
  }
  return m;
}

const toSet = (args: unknown[], u: Ctx): Set<unknown> => {
  const items = args[0] ?? [];
  if (!Array.isArray(items) && !(items instanceof Set)) return u.fail('set expects a list', { found: describe(items) });
  return new Set(items);
};

const GLOBALS: Record<string, Impl> = {
  'torch._utils._rebuild_tensor_v2': { call: rebuildTensor },
  'torch._utils._rebuild_tensor': { call: rebuildTensor },
  'torch._utils._rebuild_tensor_v3': { call: rebuildTensorV3 },
  ...Object.fromEntries(TORCH_DTYPES.map((d) => [`torch.${d}`, {}])),
  'torch.UntypedStorage': {},
  'torch._utils._rebuild_parameter': { call: (a) => a[0] },
  'torch._utils._rebuild_parameter_with_state': { call: (a) => a[0] },
  // (func, new_type, args, state): tensors with Python state (e.g. Parameter subclasses).
  'torch._tensor._rebuild_from_type_v2': {
    call: (a, u) => {
      const [fn, , args] = a;
      if (!(fn instanceof PyGlobal) || !Array.isArray(args)) return u.fail('invalid _rebuild_from_type_v2 call', { found: describe(a) });
      return callGlobal(fn, args, u);
    },
  },
  'torch._tensor.Tensor': {},
  'torch.Tensor': {},
  'torch.nn.parameter.Parameter': {},
  ...Object.fromEntries(STORAGES.map((s) => [`torch.${s}Storage`, {}])),
  'collections.OrderedDict': { call: (a, u) => toMap(a[0], u), cls: true },
  '__builtin__.object': {},
  'builtins.object': {},
  '__builtin__.set': { call: toSet },
  'builtins.set': { call: toSet },
  '__builtin__.frozenset': { call: toSet },
  'builtins.frozenset': { call: toSet },
  '__builtin__.bytearray': { call: (a, u) => (a.length ? bytesOf(a[0], u).slice() : new Uint8Array(0)) },
  'builtins.bytearray': { call: (a, u) => (a.length ? bytesOf(a[0], u).slice() : new Uint8Array(0)) },
  // numpy pickles bytes under protocol 2 as _codecs.encode(latin1 str, 'latin1').
  '_codecs.encode': {
    call: (a, u) => {
      const [s, enc] = a;
      if (typeof s !== 'string' || !['latin1', 'latin-1', 'iso-8859-1', 'iso8859-1'].includes(String(enc).toLowerCase())) {
        return u.fail('_codecs.encode only supports latin1 strings', { found: describe(enc) });
      }
      return latin1(s, u);
    },
  },
  'copy_reg._reconstructor': { call: reconstructor },
  'copyreg._reconstructor': { call: reconstructor },
  'numpy.ndarray': { cls: true },
  'numpy.dtype': { call: (a, u) => npDtype(a[0], u) },
  'numpy.core.multiarray._reconstruct': { call: npReconstruct },
  'numpy._core.multiarray._reconstruct': { call: npReconstruct },
  'numpy.core.multiarray.scalar': { call: npScalar },
  'numpy._core.multiarray.scalar': { call: npScalar },
  'scipy.sparse.csc.csc_matrix': { cls: true },
  'scipy.sparse._csc.csc_matrix': { cls: true },
  'scipy.sparse.csr.csr_matrix': { cls: true },
  'scipy.sparse._csr.csr_matrix': { cls: true },
  'chumpy.ch.Ch': { cls: true },
};

/** Globals worth a specific explanation when rejected. */
const REJECT_HINTS: Record<string, string> = {
  'torch.storage._load_from_bytes': 'this pickle embeds a nested torch.save blob (legacy storage pickling); load it in Python and re-save the state_dict with torch.save',
};

function reconstructor(args: unknown[], u: Ctx): unknown {
  // copyreg._reconstructor(cls, base, state): object.__new__(cls) for plain classes.
  const [cls, base, state] = args;
  if (!(cls instanceof PyGlobal) || !(base instanceof PyGlobal) || base.name !== 'object' || state !== null) {
    return u.fail('unsupported copy_reg._reconstructor call', { found: describe(args) });
  }
  return newObject(cls, [], u);
}

function newObject(cls: unknown, args: unknown[], u: Ctx): unknown {
  if (!(cls instanceof PyGlobal) || !GLOBALS[cls.qualified]?.cls) {
    return u.fail('cannot instantiate', { found: (cls instanceof PyGlobal ? cls.qualified : describe(cls)) });
  }
  if (cls.qualified === 'collections.OrderedDict') return new Map();
  if (cls.qualified === 'numpy.ndarray') return new NdArray();
  return new PyObject(cls.qualified, args);
}

function npReconstruct(args: unknown[], u: Ctx): NdArray {
  const [cls] = args;
  if (!(cls instanceof PyGlobal) || cls.qualified !== 'numpy.ndarray') {
    return u.fail('numpy _reconstruct of an unsupported class', { found: describe(cls) });
  }
  return new NdArray();
}

function npScalar(args: unknown[], u: Ctx): number {
  const [dt, raw] = args;
  if (!(dt instanceof NpDtype)) return u.fail('numpy scalar without dtype', { found: describe(dt) });
  const b = bytesOf(raw, u);
  const a = new NdArray();
  a.dtype = dt;
  a.data = b;
  const v = scalarValue(a, u);
  return v;
}

function scalarValue(a: NdArray, u: Ctx): number {
  const dt = a.dtype!, b = a.data!;
  if (b.length !== dt.itemsize) return u.fail('numpy scalar has the wrong byte size', { found: `${b.length}` });
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dt.littleEndian;
  switch (`${dt.kind}${dt.itemsize}`) {
    case 'f8': return dv.getFloat64(0, le);
    case 'f4': return dv.getFloat32(0, le);
    case 'i8': return Number(dv.getBigInt64(0, le));
    case 'i4': return dv.getInt32(0, le);
    case 'u8': return Number(dv.getBigUint64(0, le));
    case 'u4': return dv.getUint32(0, le);
    case 'i1': return dv.getInt8(0);
    case 'u1': case 'b1': return dv.getUint8(0);
    default: return u.fail('unsupported numpy scalar dtype', { found: dt.descr });
  }
}

function callGlobal(fn: unknown, args: unknown, u: Ctx): unknown {
  if (!(fn instanceof PyGlobal)) return u.fail('REDUCE on a non-callable', { found: describe(fn) });
  if (!Array.isArray(args)) return u.fail('REDUCE arguments are not a tuple', { found: describe(args) });
  const impl = GLOBALS[fn.qualified]!;
  if (!impl.call) return u.fail('global is not callable here', { found: fn.qualified });
  return impl.call(args, u);
}

/** BUILD: applies pickled state to an object (numpy's __setstate__, instance dicts). */
function build(obj: unknown, state: unknown, u: Ctx): void {
  if (obj instanceof NdArray) {
    // (version, shape, dtype, is_fortran, rawdata); older numpy omits the version.
    const s = Array.isArray(state) && state.length === 4 ? [1, ...state] : state;
    if (!Array.isArray(s) || s.length !== 5 || !(s[2] instanceof NpDtype) || typeof s[3] !== 'boolean') {
      return u.fail('invalid numpy array state', { found: describe(state) });
    }
    obj.shape = ints(s[1], 'numpy shape', u).slice();
    obj.dtype = s[2];
    obj.fortran = s[3];
    let n = 1;
    for (const d of obj.shape) {
      if (d < 0) u.fail('negative numpy dimension');
      n *= d;
    }
    if (s[2].kind === 'O') {
      if (!Array.isArray(s[4]) || s[4].length !== n) return u.fail('numpy object array data does not match its shape', { found: describe(s[4]) });
      obj.objects = s[4];
    } else {
      const data = bytesOf(s[4], u);
      if (data.length !== n * s[2].itemsize) {
        u.fail('numpy array data does not match its shape', { expected: `${n * s[2].itemsize} bytes`, found: `${data.length}` });
      }
      obj.data = data;
    }
    return;
  }
  if (obj instanceof NpDtype) {
    // (version, endian, subarray, names, fields, elsize, alignment, flags)
    if (!Array.isArray(state) || state.length < 3) return u.fail('invalid numpy dtype state', { found: describe(state) });
    const endian = state[1];
    if (endian === '>') obj.littleEndian = false;
    else if (endian === '<' || endian === '|' || endian === '=') obj.littleEndian = true;
    else u.fail('invalid numpy byte order', { found: describe(endian) });
    if (state[2] !== null || (state.length > 3 && state[3] !== null)) obj.structured = true;
    // Flexible dtypes ('U5' is 20 bytes) carry their real item size here; others have -1.
    const elsize = state[5];
    if (typeof elsize === 'number' && Number.isSafeInteger(elsize) && elsize > 0) obj.itemsize = elsize;
    return;
  }
  if (obj instanceof PyObject) {
    // state is the instance dict, or (dict, slots dict)
    const parts = Array.isArray(state) && state.length === 2 ? state : [state];
    for (const p of parts) {
      if (p === null) continue;
      if (!(p instanceof Map)) return u.fail(`invalid state for ${obj.cls}`, { found: describe(p) });
      for (const [k, v] of p) obj.state.set(k, v);
    }
    return;
  }
  // OrderedDict / tensors carry attributes (state_dict's `_metadata`) that data readers ignore.
  if (obj instanceof Map || obj instanceof TorchTensorRef) return;
  u.fail('cannot apply state to this object', { found: describe(obj) });
}

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): unknown {
  const file = opts.file ?? '<memory>';
  const maxMemo = opts.maxMemo ?? 1 << 20;
  const maxDepth = opts.maxDepth ?? 256;
  const maxObjects = opts.maxObjects ?? 20_000_000;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let op = 0; // start of the current opcode, for messages
  const bad = (problem: string, details?: WeightFileErrorDetails): never => fail(file, `${problem} (pickle offset ${op})`, details);
  const u: Ctx = { file, fail: bad };

  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const depth = new WeakMap<object, number>();
  let objects = 0;
  const utf8 = new TextDecoder('utf-8');
  // Python 2 str is bytes. Short ones are text (keys, dtype codes) and become strings with one
  // char per byte, as pickle.load(encoding='latin1') does; long ones are array payloads and stay
  // bytes, which avoids a costly string round trip for every numpy array in a Python 2 pickle.
  const py2str = (b: Uint8Array): string | Uint8Array => (b.length > 4096 ? b.slice() : latin1Str(b));
  const latin1Str = (b: Uint8Array): string => {
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  };
  const take = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) {
      bad('pickle data ends early', { expected: `${n} more bytes`, hint: 'the file is truncated or corrupt' });
    }
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = (): number => take(1)[0]!;
  const u16 = (): number => { take(2); return dv.getUint16(pos - 2, true); };
  const i32 = (): number => { take(4); return dv.getInt32(pos - 4, true); };
  const u32 = (): number => { take(4); return dv.getUint32(pos - 4, true); };
  const u64 = (): number => {
    take(8);
    const v = dv.getBigUint64(pos - 8, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1 << 16) bad('unterminated text line in pickle');
    const s = latin1Str(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };

  const push = (v: unknown): void => {
    if (++objects > maxObjects) bad('pickle creates too many objects', { expected: `at most ${maxObjects}` });
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) bad('pickle stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) bad('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) bad('MARK expected');
    stack = prev!;
    return items;
  };
  // Nesting depth: a container is one deeper than its deepest child.
  const nest = (parent: unknown, child: unknown): void => {
    if (typeof child !== 'object' || child === null || typeof parent !== 'object' || parent === null) return;
    const d = (depth.get(child) ?? 0) + 1;
    if (d > (depth.get(parent) ?? 0)) {
      if (d > maxDepth) bad('pickle nests too deeply', { expected: `at most ${maxDepth} levels` });
      depth.set(parent, d);
    }
  };
  const makeList = (items: unknown[]): unknown[] => {
    for (const it of items) nest(items, it);
    return items;
  };
  const makeInt = (v: bigint): number | bigint =>
    v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const longBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return makeInt(v);
  };
  const setItem = (d: unknown, k: unknown, v: unknown): void => {
    if (d instanceof Map) { d.set(k, v); nest(d, v); nest(d, k); return; }
    bad('SETITEM on a non-dict', { found: describe(d) });
  };
  const append = (l: unknown, v: unknown): void => {
    if (!Array.isArray(l)) bad('APPEND on a non-list', { found: describe(l) });
    (l as unknown[]).push(v);
    nest(l, v);
  };
  const memoPut = (i: number, v: unknown): void => {
    if (!memo.has(i) && memo.size >= maxMemo) bad('pickle memo too large', { expected: `at most ${maxMemo} entries` });
    memo.set(i, v);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) bad('pickle memo key not found', { found: `${i}` });
    return memo.get(i);
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!Object.prototype.hasOwnProperty.call(GLOBALS, q)) {
      bad(`refusing to load Python global ${q}: weight files may only contain data`, {
        hint: REJECT_HINTS[q] ?? opts.globalHint ?? 'this file is not a plain tensor/array file (or it is malicious); export the state_dict / arrays with plain types',
      });
    }
    return new PyGlobal(module, name);
  };
  const decodeStringEscapes = (s: string): string => {
    // Protocol-0 STRING: a quoted Python bytes repr. Support the escapes repr() produces.
    const q = s[0];
    if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) bad('invalid STRING literal');
    const body = s.slice(1, -1);
    return body.replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt])/g, (_m, e: string) =>
      e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e);
  };

  for (;;) {
    op = pos;
    const code = u8();
    switch (code) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) bad('unsupported pickle protocol', { expected: 'at most 5', found: `${v}` });
        break;
      }
      case 0x95: { // FRAME: a length prefix only
        const n = u64();
        if (n > bytes.length - pos) bad('pickle frame runs past the end', { hint: 'the file is truncated' });
        break;
      }
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: // MARK
        if (metastack.length >= maxDepth) bad('pickle nests too deeply', { expected: `at most ${maxDepth} marks` });
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(longBytes(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > 1024) bad('integer too long', { expected: 'at most 1024 bytes', found: `${n}` });
        push(longBytes(take(n)));
        break;
      }
      case 0x49: { // INT (text); I00/I01 are protocol-0 booleans
        const s = line();
        if (s === '00' || s === '01') { push(s === '01'); break; }
        if (!/^[-+]?\d{1,300}$/.test(s)) bad('invalid INT');
        push(makeInt(BigInt(s)));
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().replace(/L$/, '');
        if (!/^[-+]?\d{1,300}$/.test(s)) bad('invalid LONG');
        push(makeInt(BigInt(s)));
        break;
      }
      case 0x46: { // FLOAT (text)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) bad('invalid FLOAT');
        push(v);
        break;
      }
      case 0x47: take(8); push(dv.getFloat64(pos - 8, false)); break; // BINFLOAT (big-endian)
      case 0x58: push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x56: push(line().replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))); break; // UNICODE
      case 0x53: push(decodeStringEscapes(line())); break; // STRING
      case 0x54: { // BINSTRING (Python 2 str)
        const n = i32();
        push(py2str(take(n)));
        break;
      }
      case 0x55: push(latin1Str(take(u8()))); break; // SHORT_BINSTRING (< 256 bytes)
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x97: bad('out-of-band pickle buffers are not supported'); break; // NEXT_BUFFER
      case 0x98: top(); break; // READONLY_BUFFER
      case 0x29: push([]); break; // EMPTY_TUPLE
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x85: push(makeList([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); push(makeList([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); push(makeList([a, b, c])); break; } // TUPLE3
      case 0x74: push(makeList(popMark())); break; // TUPLE
      case 0x6c: push(makeList(popMark())); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) bad('DICT with an odd number of items');
        const d = new Map();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        push(d);
        break;
      }
      case 0x91: { // FROZENSET
        const items = popMark();
        const s = new Set(items);
        for (const v of items) nest(s, v);
        push(s);
        break;
      }
      case 0x61: { const v = pop(); append(top(), v); break; } // APPEND
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        for (const v of items) append(l, v);
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItem(top(), k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) bad('SETITEMS with an odd number of items');
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) bad('ADDITEMS on a non-set', { found: describe(s) });
        for (const v of items) { (s as Set<unknown>).add(v); nest(s, v); }
        break;
      }
      case 0x67: push(memoGet(Number(line()))); break; // GET
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      case 0x70: { // PUT
        const s = line();
        if (!/^\d{1,10}$/.test(s)) bad('invalid PUT index');
        memoPut(Number(s), top());
        break;
      }
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line(), name = line();
        push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL needs two strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        const r = callGlobal(fn, args, u);
        nest(r, args); // results built from their arguments are at least as deep
        push(r);
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = pop(), cls = pop();
        if (!Array.isArray(args)) bad('NEWOBJ arguments are not a tuple');
        push(newObject(cls, args as unknown[], u));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(), args = pop(), cls = pop();
        if (!Array.isArray(args) || !(kwargs instanceof Map)) bad('invalid NEWOBJ_EX arguments');
        push(newObject(cls, args as unknown[], u));
        break;
      }
      case 0x69: { // INST "module\nname\n" with args since MARK
        const module = line(), name = line();
        const args = popMark();
        push(newObject(global(module, name), args, u));
        break;
      }
      case 0x6f: { // OBJ: MARK cls args...
        const items = popMark();
        if (items.length === 0) bad('OBJ without a class');
        push(newObject(items[0], items.slice(1), u));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        build(obj, state, u);
        nest(obj, state);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) bad('unexpected persistent id (only torch checkpoints use them)', { found: describe(pid) });
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (!opts.persistentLoad) bad('unexpected persistent id', { found: describe(pid) });
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x82: case 0x83: case 0x84:
        bad('pickle extension codes (copyreg registry) are not supported');
        break;
      default:
        bad('unknown pickle opcode', { found: `0x${code.toString(16).padStart(2, '0')}`, hint: 'the file is corrupt or not a pickle' });
    }
  }
}

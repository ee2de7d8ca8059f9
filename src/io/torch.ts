// PyTorch checkpoints written by torch.save (zip format, torch >= 1.6):
//   <archive>/data.pkl       the pickled object; tensors are _rebuild_tensor_v2(storage, offset, size, stride)
//                            with storages as persistent ids ('storage', torch.FloatStorage, key, device, numel)
//   <archive>/data/<key>     raw storage bytes
//   <archive>/byteorder      'little' | 'big' (newer torch; little when absent)
// The archive folder name varies (file stem, 'archive', ...).
import { describe, fail } from './errors.ts';
import { PyGlobal, TorchTensorRef, unpickle } from './pickle.ts';
import { checkView, DTYPE_SIZE, decodeToFloat32, gatherStrided } from './tensor.ts';
import type { DType, StateDict } from './tensor.ts';
import { isZip, readZip } from './zip.ts';
import type { ZipLimits } from './zip.ts';

export interface TorchReadOptions {
  file?: string;
  /** Removed from the start of keys that have it, e.g. 'module.' from DataParallel checkpoints. */
  stripPrefix?: string;
  limits?: ZipLimits;
  /** Filled with each tensor's stored dtype (tensors are widened to f32): f16/bf16 checkpoints. */
  dtypes?: Map<string, DType>;
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL', UntypedStorage: 'U8',
};

/** torch dtype names (from _rebuild_tensor_v3) -> storage dtype. */
const TENSOR_DTYPES: Record<string, DType> = {
  float32: 'F32', float: 'F32', float16: 'F16', half: 'F16', bfloat16: 'BF16', float64: 'F64', double: 'F64',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
  uint16: 'U16', uint32: 'U32', uint64: 'U64',
};

/** Wrapper keys training scripts put around the state dict, in order of preference. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model'];

/** A storage's raw bytes; decoded whole only when a non-contiguous view needs it. */
class TorchStorage {
  private decoded?: Float32Array;
  constructor(readonly key: string, readonly dtype: DType, readonly raw: Uint8Array, readonly numel: number,
    private readonly littleEndian: boolean, private readonly file: string) {}

  /** The same bytes seen as another dtype (tensors rebuilt with an explicit dtype). */
  as(dtype: DType, key: string): TorchStorage {
    if (dtype === this.dtype) return this;
    const size = DTYPE_SIZE[dtype];
    if (this.raw.length % size) fail(this.file, 'storage size is not a multiple of the tensor dtype size', { key, found: `${this.raw.length} bytes for ${dtype}` });
    return new TorchStorage(this.key, dtype, this.raw, this.raw.length / size, this.littleEndian, this.file);
  }

  view(offset: number, shape: number[], stride: number[], key: string): Float32Array {
    const { n, contiguous } = checkView(this.numel, offset, shape, stride, this.file, key);
    if (contiguous) {
      // The common case: decode just the view's bytes, no intermediate copy of the storage.
      const size = DTYPE_SIZE[this.dtype];
      return decodeToFloat32(this.raw.subarray(offset * size, (offset + n) * size), this.dtype, n, this.littleEndian, this.file, key);
    }
    this.decoded ??= decodeToFloat32(this.raw, this.dtype, this.numel, this.littleEndian, this.file, key);
    return gatherStrided(this.decoded, offset, shape, stride, this.file, key);
  }
}

function isLegacyTorch(bytes: Uint8Array): boolean {
  // Pre-1.6 torch.save: pickle protocol 2 stream starting with the LONG1 magic 0x1950a86a20f9469cfc6c.
  return bytes.length > 4 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a;
}

export function readTorchCheckpoint(bytes: Uint8Array, opts: TorchReadOptions = {}): StateDict {
  const file = opts.file ?? '<memory>';
  if (!isZip(bytes)) {
    if (isLegacyTorch(bytes)) {
      fail(file, 'legacy (pre-1.6, non-zip) torch.save format is not supported', {
        hint: 'load it in Python with a modern torch and re-save: torch.save(torch.load(path), path2)',
      });
    }
    fail(file, 'not a torch.save checkpoint (not a zip archive)', { hint: 'expected a file written by torch.save with torch >= 1.6' });
  }
  const zip = readZip(bytes, file, opts.limits);
  const pkls = zip.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkls.length !== 1) {
    const scripted = zip.entries.some((e) => /(^|\/)constants\.pkl$/.test(e.name) || /(^|\/)code\//.test(e.name));
    fail(file, pkls.length ? 'archive holds several data.pkl entries' : 'archive has no <name>/data.pkl entry', {
      hint: scripted ? 'this looks like a TorchScript archive; save model.state_dict() with torch.save instead' : 'expected a torch.save checkpoint',
    });
  }
  const prefix = pkls[0]!.name.slice(0, -'data.pkl'.length);
  let littleEndian = true;
  const bo = zip.get(`${prefix}byteorder`);
  if (bo) {
    const s = new TextDecoder().decode(zip.read(bo)).trim();
    if (s !== 'little' && s !== 'big') fail(file, 'invalid byteorder entry', { key: bo.name, expected: "'little' or 'big'", found: describe(s) });
    littleEndian = s === 'little';
  }

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage' || !(pid[1] instanceof PyGlobal) || typeof pid[2] !== 'string') {
      return fail(file, 'unsupported persistent id in data.pkl', { expected: "('storage', type, key, device, numel)", found: describe(pid) });
    }
    const [, type, key, , numel] = pid as [string, PyGlobal, string, unknown, unknown];
    const dtype = type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined;
    if (!dtype) fail(file, 'unsupported storage type', { key, expected: Object.keys(STORAGE_DTYPES).join(', '), found: type.qualified });
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== dtype) fail(file, 'storage used with two dtypes', { key, found: `${cached.dtype} and ${dtype}` });
      return cached;
    }
    const entry = zip.get(`${prefix}data/${key}`);
    if (!entry) return fail(file, 'storage referenced by data.pkl is missing from the archive', { key: `${prefix}data/${key}` });
    const raw = zip.read(entry);
    if (typeof numel !== 'number' || raw.length !== numel * DTYPE_SIZE[dtype!]) {
      fail(file, 'storage size does not match its element count', { key: entry.name, expected: `${describe(numel)} x ${DTYPE_SIZE[dtype!]} bytes`, found: `${raw.length} bytes` });
    }
    const s = new TorchStorage(key, dtype!, raw, numel as number, littleEndian, file);
    storages.set(key, s);
    return s;
  };

  let root = unpickle(zip.read(pkls[0]!), {
    file, persistentLoad,
    globalHint: 'only tensors and plain containers can be loaded; if this is a training checkpoint or a pickled model, save just the weights: torch.save(model.state_dict(), path)',
  });
  if (root instanceof TorchTensorRef) fail(file, 'checkpoint holds a single tensor, not a state dict', { hint: 'save a dict of named tensors' });
  if (!(root instanceof Map)) return fail(file, 'checkpoint is not a dict', { found: describe(root), hint: 'save model.state_dict() rather than the model object' });
  const hasTensors = (m: Map<unknown, unknown>) => [...m.values()].some((v) => v instanceof TorchTensorRef);
  // Unwrap {"state_dict": ...} / {"model": ...} (possibly nested, e.g. {"model": {"state_dict": ...}}).
  for (let level = 0; level < 3 && !hasTensors(root as Map<unknown, unknown>); level++) {
    const m = root as Map<unknown, unknown>;
    const key = WRAPPER_KEYS.find((k) => m.get(k) instanceof Map);
    if (key === undefined) break;
    root = m.get(key);
  }
  const out: StateDict = new Map();
  for (const [k, v] of root as Map<unknown, unknown>) {
    if (typeof k !== 'string' || !(v instanceof TorchTensorRef)) continue; // epochs, optimizer state, ...
    if (!(v.storage instanceof TorchStorage)) fail(file, 'tensor without a storage', { key: k, found: describe(v.storage) });
    const name = opts.stripPrefix && k.startsWith(opts.stripPrefix) ? k.slice(opts.stripPrefix.length) : k;
    if (out.has(name)) fail(file, 'two tensors have the same name after stripping the prefix', { key: name });
    let storage = v.storage as TorchStorage;
    if (v.dtype !== undefined) {
      const dt = TENSOR_DTYPES[v.dtype];
      if (!dt) fail(file, 'unsupported tensor dtype', { key: k, expected: Object.keys(TENSOR_DTYPES).join(', '), found: v.dtype });
      storage = storage.as(dt!, k);
    }
    out.set(name, { shape: v.shape.slice(), data: storage.view(v.offset, v.shape, v.stride, k) });
    opts.dtypes?.set(name, storage.dtype);
  }
  if (out.size === 0) {
    const keys = [...(root as Map<unknown, unknown>).keys()].slice(0, 8).map((k) => describe(k)).join(', ');
    fail(file, 'checkpoint contains no tensors', { found: `keys ${keys || '(none)'}`, hint: `expected a state dict, possibly wrapped in ${WRAPPER_KEYS.join('/')}` });
  }
  return out;
}

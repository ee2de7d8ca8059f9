// numpy containers: .npy (magic, version, a Python-literal header dict, raw data), .npz (a zip
// of .npy files), and conversion of NdArray (from .npy or from pickles) to flat typed arrays.
import { describe, fail } from './errors.ts';
import { NdArray, NpDtype, parseNpDtype, unpickle } from './pickle.ts';
import { decodeToFloat32, decodeToFloat64, gatherStrided, shapeSize } from './tensor.ts';
import type { DType } from './tensor.ts';
import { readZip } from './zip.ts';
import type { ZipLimits } from './zip.ts';

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 10 && bytes[0] === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY';
}

/** Parses one .npy file. Object arrays (np.save of a dict) hold a pickle, read data-only. */
export function parseNpy(bytes: Uint8Array, file = '<memory>', key?: string): NdArray {
  if (!isNpy(bytes)) fail(file, 'not a .npy file (bad magic)', { key });
  const major = bytes[6]!;
  if (major < 1 || major > 3) fail(file, 'unsupported .npy version', { key, expected: '1, 2 or 3', found: `${major}` });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenSize) fail(file, '.npy header is truncated', { key });
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenSize;
  if (start + hlen > bytes.length) fail(file, '.npy header runs past the end of the file', { key, hint: 'the file is truncated' });
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + hlen));
  const header = parseLiteral(text, file, key);
  if (!(header instanceof Map)) return fail(file, '.npy header is not a dict', { key, found: describe(header) });
  const descr = header.get('descr'), fortran = header.get('fortran_order'), shape = header.get('shape');
  if (typeof descr !== 'string') fail(file, 'unsupported .npy dtype (structured arrays are not supported)', { key, found: describe(descr) });
  if (typeof fortran !== 'boolean') fail(file, 'invalid fortran_order in .npy header', { key, found: describe(fortran) });
  const n = shapeSize(shape, file, key);
  const dtype = parseNpDtype(descr as string, file);
  const body = bytes.subarray(start + hlen);
  if (dtype.kind === 'O') {
    const arr = unpickle(body, { file });
    if (!(arr instanceof NdArray)) return fail(file, 'pickled .npy payload is not an array', { key, found: describe(arr) });
    return arr;
  }
  if (body.length < n * dtype.itemsize) {
    fail(file, '.npy data is truncated', { key, expected: `${n * dtype.itemsize} bytes`, found: `${body.length}` });
  }
  const a = new NdArray();
  a.shape = (shape as number[]).slice();
  a.dtype = dtype;
  a.fortran = fortran as boolean;
  a.data = body.subarray(0, n * dtype.itemsize);
  return a;
}

/** Reads an .npz archive into name -> array (names without the `.npy` suffix). */
export function readNpz(bytes: Uint8Array, file = '<memory>', limits?: ZipLimits): Map<string, NdArray> {
  const zip = readZip(bytes, file, limits);
  const out = new Map<string, NdArray>();
  for (const e of zip.entries) {
    if (!e.name.endsWith('.npy')) continue;
    const key = e.name.slice(0, -4);
    out.set(key, parseNpy(zip.read(e), file, key));
  }
  return out;
}

const DTYPES: Record<string, DType> = {
  f2: 'F16', f4: 'F32', f8: 'F64', i1: 'I8', i2: 'I16', i4: 'I32', i8: 'I64', u1: 'U8', u2: 'U16', u4: 'U32', u8: 'U64', b1: 'BOOL',
};

function numericDType(a: NdArray, file: string, key?: string): DType {
  const dt = a.dtype;
  if (!dt || !(dt instanceof NpDtype) || (!a.data && !a.objects)) return fail(file, 'numpy array has no data', { key });
  const d = DTYPES[`${dt.kind}${dt.itemsize}`];
  if (!d || dt.structured) {
    return fail(file, 'unsupported numpy dtype', { key, expected: 'float16/32/64, int8-64, uint8-64 or bool', found: dt.descr });
  }
  return d;
}

/** Row-major element strides of a column-major (Fortran) array. */
function fortranStrides(shape: number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (const d of shape) { s.push(acc); acc *= d; }
  return s;
}

export function ndarrayToFloat32(a: NdArray, file = '<memory>', key?: string): { shape: number[]; data: Float32Array } {
  const dtype = numericDType(a, file, key);
  const n = shapeSize(a.shape, file, key);
  const flat = decodeToFloat32(a.data!, dtype, n, a.dtype!.littleEndian, file, key);
  return { shape: a.shape.slice(), data: a.fortran && a.shape.length > 1 ? gatherStrided(flat, 0, a.shape, fortranStrides(a.shape), file, key) : flat };
}

export function ndarrayToFloat64(a: NdArray, file = '<memory>', key?: string): { shape: number[]; data: Float64Array } {
  const dtype = numericDType(a, file, key);
  const n = shapeSize(a.shape, file, key);
  const flat = decodeToFloat64(a.data!, dtype, n, a.dtype!.littleEndian, file, key);
  return { shape: a.shape.slice(), data: a.fortran && a.shape.length > 1 ? gatherStrided(flat, 0, a.shape, fortranStrides(a.shape), file, key) : flat };
}

/**
 * Parses the restricted Python literal syntax of .npy headers:
 * dicts, tuples, lists, strings, ints (with Python 2's L suffix), True/False/None.
 */
function parseLiteral(text: string, file: string, key?: string): unknown {
  let i = 0;
  const bad = (what: string): never => fail(file, `invalid .npy header: ${what}`, { key, found: JSON.stringify(text.slice(0, 120)) });
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++; };
  const value = (depth: number): unknown => {
    if (depth > 16) bad('nested too deeply');
    ws();
    const c = text[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      const map = new Map<unknown, unknown>();
      for (;;) {
        ws();
        if (text[i] === close) { i++; break; }
        const k = value(depth + 1);
        if (c === '{') {
          ws();
          if (text[i++] !== ':') bad("expected ':'");
          map.set(k, value(depth + 1));
        } else items.push(k);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) bad(`expected ',' or '${close}'`);
      }
      return c === '{' ? map : items;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) bad('unterminated string');
      const s = text.slice(i + 1, end);
      if (s.includes('\\')) bad('escapes are not supported');
      i = end + 1;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)/.exec(text.slice(i, i + 40));
    if (!m) return bad(`unexpected ${JSON.stringify(text.slice(i, i + 10))}`);
    i += m[0].length;
    if (m[2]) return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
    const v = Number(m[1]);
    if (!Number.isSafeInteger(v)) bad('integer out of range');
    return v;
  };
  const v = value(0);
  ws();
  if (i !== text.length) bad('trailing characters');
  return v;
}

import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WeightFileError } from '../src/io/errors.ts';
import { inflateRaw } from '../src/io/inflate.ts';
import { unpickle } from '../src/io/pickle.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import { crc32, readZip } from '../src/io/zip.ts';
import { throwsWFE } from './io-helpers.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/io/${name}`, import.meta.url)));
const expected = readSafetensors(fixture('torch_expected.safetensors')).tensors;


/** A stored (or deflated) zip, optionally with zip64 extra fields and the zip64 EOCD record + locator. */
function makeZip(entries: [string, Uint8Array | string][], opts: { zip64?: boolean; deflate?: boolean } = {}): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let off = 0;
  const push = (arr: Uint8Array[], b: Uint8Array) => { arr.push(b); return b.length; };
  for (const [name, content] of entries) {
    const data = typeof content === 'string' ? enc.encode(content) : content;
    const stored = opts.deflate ? new Uint8Array(zlib.deflateRawSync(data)) : data;
    const n = enc.encode(name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(8, opts.deflate ? 8 : 0, true);
    local.setUint32(14, crc, true); local.setUint32(18, stored.length, true); local.setUint32(22, data.length, true);
    local.setUint16(26, n.length, true);
    const localOff = off;
    off += push(chunks, new Uint8Array(local.buffer)) + push(chunks, n) + push(chunks, stored);
    const extra = new DataView(new ArrayBuffer(opts.zip64 ? 28 : 0));
    if (opts.zip64) {
      extra.setUint16(0, 1, true); extra.setUint16(2, 24, true);
      extra.setBigUint64(4, BigInt(data.length), true); extra.setBigUint64(12, BigInt(stored.length), true); extra.setBigUint64(20, BigInt(localOff), true);
    }
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true); c.setUint16(10, opts.deflate ? 8 : 0, true); c.setUint32(16, crc, true);
    c.setUint32(20, opts.zip64 ? 0xffffffff : stored.length, true); c.setUint32(24, opts.zip64 ? 0xffffffff : data.length, true);
    c.setUint16(28, n.length, true); c.setUint16(30, extra.byteLength, true); c.setUint32(42, opts.zip64 ? 0xffffffff : localOff, true);
    central.push(new Uint8Array(c.buffer), n, new Uint8Array(extra.buffer));
  }
  const cdOff = off;
  const cdSize = central.reduce((s, b) => s + b.length, 0);
  chunks.push(...central);
  off += cdSize;
  if (opts.zip64) {
    const r = new DataView(new ArrayBuffer(56 + 20));
    r.setUint32(0, 0x06064b50, true); r.setBigUint64(4, 44n, true);
    r.setBigUint64(24, BigInt(entries.length), true); r.setBigUint64(32, BigInt(entries.length), true);
    r.setBigUint64(40, BigInt(cdSize), true); r.setBigUint64(48, BigInt(cdOff), true);
    r.setUint32(56, 0x07064b50, true); r.setBigUint64(56 + 8, BigInt(off), true); r.setUint32(56 + 16, 1, true);
    chunks.push(new Uint8Array(r.buffer));
  }
  const e = new DataView(new ArrayBuffer(22));
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, opts.zip64 ? 0xffff : entries.length, true); e.setUint16(10, opts.zip64 ? 0xffff : entries.length, true);
  e.setUint32(12, opts.zip64 ? 0xffffffff : cdSize, true); e.setUint32(16, opts.zip64 ? 0xffffffff : cdOff, true);
  chunks.push(new Uint8Array(e.buffer));
  const out = new Uint8Array(chunks.reduce((s, b) => s + b.length, 0));
  let p = 0;
  for (const b of chunks) { out.set(b, p); p += b.length; }
  return out;
}

function close(actual: Float32Array, want: Float32Array, key: string) {
  assert.is(actual.length, want.length, `${key} length`);
  for (let i = 0; i < want.length; i++) assert.is(actual[i], want[i], `${key}[${i}]`);
}

test('wrapped {"state_dict"} checkpoint: dtypes, views, shared storage, prefix stripping', () => {
  const sd = readTorchCheckpoint(fixture('torch_wrapped.pt'), { file: 'torch_wrapped.pt', stripPrefix: 'module.' });
  const want = [...expected.keys()].filter((k) => !k.startsWith('plain.'));
  assert.equal([...sd.keys()].sort(), want.sort()); // epoch / note (non-tensors) dropped
  for (const k of want) {
    assert.equal(sd.get(k)!.shape, expected.get(k)!.shape, `${k} shape`);
    close(sd.get(k)!.data, expected.get(k)!.data, k);
  }
  assert.equal(sd.get('t_transpose')!.shape, [5, 4]);
  assert.equal(sd.get('s_slice')!.shape, [2, 3]);
  assert.equal(sd.get('e_num_batches_tracked')!.shape, []);
  // without stripPrefix the keys keep their prefix
  const raw = readTorchCheckpoint(fixture('torch_wrapped.pt'));
  assert.ok(raw.has('module.a_f32'));
});

test('plain OrderedDict state_dict saved by path (archive folder named after the file)', () => {
  const sd = readTorchCheckpoint(fixture('torch_plain.pt'), { file: 'torch_plain.pt' });
  assert.equal([...sd.keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']);
  for (const [k, t] of sd) close(t.data, expected.get(`plain.${k}`)!.data, k);
  assert.equal([...sd.get('1.num_batches_tracked')!.data], [11]);
});

test('{"model": ...} wrapper holding nn.Parameter objects', () => {
  const sd = readTorchCheckpoint(fixture('torch_model_params.pt'));
  assert.equal([...sd.keys()], ['0.weight', '0.bias']);
  close(sd.get('0.weight')!.data, expected.get('plain.0.weight')!.data, '0.weight');
});

test('big-endian archive with a byteorder entry', () => {
  const sd = readTorchCheckpoint(fixture('torch_bigendian.pt'));
  assert.equal([...sd.get('x')!.data], [1.5, -2, 3.25]);
  assert.equal([...sd.get('h')!.data], [0.5, -1]);
  assert.equal([...sd.get('n')!.data], [1, -2]);
});

test('legacy and non-torch inputs get clear errors', () => {
  throwsWFE(() => readTorchCheckpoint(fixture('torch_legacy.pt'), { file: 'old.pt' }), 'old.pt', 'legacy', 're-save');
  throwsWFE(() => readTorchCheckpoint(new TextEncoder().encode('hello'), { file: 'x.pt' }), 'x.pt', 'not a torch.save checkpoint');
  throwsWFE(() => readTorchCheckpoint(makeZip([['a/b.txt', 'x']]), { file: 'z.pt' }), 'z.pt', 'no <name>/data.pkl');
  throwsWFE(() => readTorchCheckpoint(makeZip([['m/constants.pkl', 'x'], ['m/code/m.py', 'x']]), { file: 'ts.pt' }), 'TorchScript');
  throwsWFE(() => readTorchCheckpoint(makeZip([['a/data.pkl', 'x'], ['b/data.pkl', 'x']])), 'several data.pkl');
});

test('archive consistency errors name the entry', () => {
  const src = readZip(fixture('torch_bigendian.pt'));
  const prefix = src.entries[0]!.name.split('/')[0]!;
  const entries = src.entries.map((e) => [e.name, src.read(e).slice()] as [string, Uint8Array]);
  const without = entries.filter(([n]) => n !== `${prefix}/data/0`);
  throwsWFE(() => readTorchCheckpoint(makeZip(without), { file: 'm.pt' }), 'm.pt', `[${prefix}/data/0]`, 'missing');
  const shortened = entries.map(([n, b]) => [n, n === `${prefix}/data/0` ? b.subarray(0, 4) : b] as [string, Uint8Array]);
  throwsWFE(() => readTorchCheckpoint(makeZip(shortened)), `[${prefix}/data/0]`, 'storage size does not match');
  const badOrder = entries.map(([n, b]) => [n, n.endsWith('byteorder') ? new TextEncoder().encode('middle') : b] as [string, Uint8Array]);
  throwsWFE(() => readTorchCheckpoint(makeZip(badOrder)), 'byteorder', 'middle');
  // a plain dict without tensors
  const noTensors = makeZip([['a/data.pkl', new Uint8Array([0x80, 2, 0x7d, 0x58, 1, 0, 0, 0, 0x6b, 0x4b, 1, 0x73, 0x2e])]]);
  throwsWFE(() => readTorchCheckpoint(noTensors, { file: 'n.pt' }), 'n.pt', 'no tensors', '"k"');
  // a pickled list at top level
  throwsWFE(() => readTorchCheckpoint(makeZip([['a/data.pkl', new Uint8Array([0x80, 2, 0x5d, 0x2e])]])), 'not a dict');
});

/** Hand-assembled data.pkl: {name: _rebuild_tensor_v2(storage '0' of 4 floats, offset, size, stride, False, OrderedDict())}. */
function viewPickle(views: [string, number, number[], number[]][], o: { storage?: string; numel?: number; dtype?: string } = {}): Uint8Array {
  const i32 = (x: number) => [0x4a, ...new Uint8Array(new Int32Array([x]).buffer)];
  const tup = (xs: number[]) => [0x28, ...xs.flatMap(i32), 0x74];
  const s = (t: string) => [0x58, ...new Uint8Array(new Uint32Array([t.length]).buffer), ...new TextEncoder().encode(t)];
  const g = (m: string, n: string) => [0x63, ...new TextEncoder().encode(`${m}\n${n}\n`)];
  const body = views.flatMap(([name, offset, size, stride]) => [
    ...s(name), ...g('torch._utils', o.dtype ? '_rebuild_tensor_v3' : '_rebuild_tensor_v2'),
    0x28, 0x28, ...s('storage'), ...g('torch', o.storage ?? 'FloatStorage'), ...s('0'), ...s('cpu'), 0x4b, o.numel ?? 4, 0x74, 0x51,
    ...i32(offset), ...tup(size), ...tup(stride), 0x89, ...g('collections', 'OrderedDict'), 0x29, 0x52,
    ...(o.dtype ? g('torch', o.dtype) : []), 0x74, 0x52, 0x73,
  ]);
  return new Uint8Array([0x80, 2, 0x7d, ...body, 0x2e]);
}
const storage4 = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);

test('stripPrefix: only keys with the prefix change; collisions are reported', () => {
  const zip = makeZip([['a/data.pkl', viewPickle([['module.x', 0, [1], [1]], ['y', 1, [1], [1]]])], ['a/data/0', storage4]]);
  assert.equal([...readTorchCheckpoint(zip, { stripPrefix: 'module.' }).keys()], ['x', 'y']);
  const clash = makeZip([['a/data.pkl', viewPickle([['module.x', 0, [1], [1]], ['x', 1, [1], [1]]])], ['a/data/0', storage4]]);
  throwsWFE(() => readTorchCheckpoint(clash, { file: 'c.pt', stripPrefix: 'module.' }), 'c.pt', '[x]', 'same name');
});

test('storage views: out-of-range views, bad strides and expanded views are rejected', () => {
  const ck = (offset: number, size: number[], stride: number[]) =>
    readTorchCheckpoint(makeZip([['a/data.pkl', viewPickle([['w', offset, size, stride]])], ['a/data/0', storage4]]), { file: 'v.pt' });
  assert.equal([...ck(0, [2, 2], [1, 2]).get('w')!.data], [1, 3, 2, 4]);
  assert.equal([...ck(1, [3], [1]).get('w')!.data], [2, 3, 4]);
  assert.equal([...ck(0, [2, 3], [0, 1]).get('w')!.data], [1, 2, 3, 1, 2, 3]); // expand()
  assert.equal([...ck(3, [0, 5], [1, 1]).get('w')!.data], []);
  throwsWFE(() => ck(2, [3], [1]), 'v.pt', '[w]', 'past the end of its storage');
  throwsWFE(() => ck(0, [2], [-1]), '[w]', 'invalid stride');
  throwsWFE(() => ck(-1, [2], [1]), '[w]', 'invalid storage offset');
  throwsWFE(() => ck(0, [2], [1, 1]), '[w]', 'stride rank');
  throwsWFE(() => ck(0, [100000, 1000], [0, 0]), '[w]', 'expanded tensor view is too large');
});

test('_rebuild_tensor_v3: an untyped storage viewed with an explicit dtype', () => {
  const raw = new Uint8Array(new Float64Array([0.25, -8]).buffer);
  const zip = (dtype: string) => makeZip([['a/data.pkl', viewPickle([['w', 0, [2], [1]]], { storage: 'UntypedStorage', numel: 16, dtype })], ['a/data/0', raw]]);
  assert.equal([...readTorchCheckpoint(zip('float64')).get('w')!.data], [0.25, -8]);
  assert.equal(readTorchCheckpoint(zip('int32')).get('w')!.data.length, 2);
  throwsWFE(() => readTorchCheckpoint(zip('float8_e4m3fn'), { file: 'f8.pt' }), 'f8.pt', 'torch.float8_e4m3fn');
});

test('nested wrappers and the hint for pickled objects', () => {
  const inner = [0x58, 10, 0, 0, 0, ...new TextEncoder().encode('state_dict')];
  const body = viewPickle([['w', 0, [2], [1]]]);
  // {'model': {'state_dict': {...}}}: splice the tensor dict into two wrapper dicts
  const pkl = new Uint8Array([0x80, 2, 0x7d, 0x58, 5, 0, 0, 0, ...new TextEncoder().encode('model'), 0x7d, ...inner, ...body.subarray(2, -1), 0x73, 0x73, 0x2e]);
  const sd = readTorchCheckpoint(makeZip([['a/data.pkl', pkl], ['a/data/0', storage4]]));
  assert.equal([...sd.get('w')!.data], [1, 2]);
  const obj = new Uint8Array([0x80, 2, 0x63, ...new TextEncoder().encode('mymodels\nNet\n'), 0x29, 0x81, 0x2e]);
  throwsWFE(() => readTorchCheckpoint(makeZip([['a/data.pkl', obj]]), { file: 'net.pt' }), 'net.pt', 'mymodels.Net', 'state_dict()');
});

test('zip reader: zip64 records, deflate entries, CRC check, limits', () => {
  const a = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
  for (const opts of [{}, { zip64: true }, { deflate: true }, { zip64: true, deflate: true }]) {
    const z = readZip(makeZip([['x/a.bin', a], ['x/b.txt', 'hello']], opts), 'z.zip');
    assert.equal(z.entries.map((e) => e.name), ['x/a.bin', 'x/b.txt']);
    assert.equal([...z.read('x/a.bin')], [...a]);
    assert.is(new TextDecoder().decode(z.read('x/b.txt')), 'hello');
  }
  const bytes = makeZip([['a.bin', a]]);
  bytes[30 + 5 + 100] ^= 1; // flip a data bit
  throwsWFE(() => readZip(bytes, 'crc.zip').read('a.bin'), 'crc.zip', '[a.bin]', 'CRC-32 mismatch');
  assert.is(readZip(bytes, 'crc.zip', { verifyCrc: false }).read('a.bin').length, 3000);
  throwsWFE(() => readZip(makeZip([['a.bin', a]]), 'l.zip', { maxEntryBytes: 100 }).read('a.bin'), '[a.bin]', 'too large');
  const z = readZip(makeZip([['a', a], ['b', a]]), 'l.zip', { maxTotalBytes: 5000 });
  z.read('a');
  throwsWFE(() => z.read('b'), '[b]', 'too many bytes');
  throwsWFE(() => readZip(makeZip([['a', a], ['b', a]]), 'l.zip', { maxEntries: 1 }), 'too many archive entries');
  throwsWFE(() => readZip(makeZip([['a', 'x'], ['a', 'y']]), 'd.zip'), '[a]', 'duplicate');
  throwsWFE(() => readZip(new Uint8Array(100), 'e.zip'), 'e.zip', 'no end of central directory');
  throwsWFE(() => z.read('missing'), '[missing]', 'missing archive entry');
  assert.is(crc32(a), zlib.crc32(a));
});

test('inflate matches zlib for stored, fixed and dynamic blocks', () => {
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const random = new Uint8Array(70000).map(() => rnd() * 256);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog '.repeat(3000));
  const zeros = new Uint8Array(200000);
  const mixed = new Uint8Array(100000).map((_, i) => (i % 1000 < 500 ? rnd() * 4 : i & 0xff));
  for (const data of [random, text, zeros, mixed, new Uint8Array(0)]) {
    for (const o of [{ level: 0 }, { level: 1 }, { level: 9 }, { strategy: zlib.constants.Z_FIXED }, { strategy: zlib.constants.Z_HUFFMAN_ONLY }, { strategy: zlib.constants.Z_RLE }]) {
      const c = new Uint8Array(zlib.deflateRawSync(data, o));
      const out = inflateRaw(c, data.length, 'i');
      assert.ok(out.length === data.length && out.every((b, i) => b === data[i]), `inflate ${JSON.stringify(o)} len ${data.length}`);
    }
  }
  const c = new Uint8Array(zlib.deflateRawSync(text));
  throwsWFE(() => inflateRaw(c, text.length - 1, 'big.zip', 'e'), 'big.zip', '[e]', 'more bytes than its declared size');
  throwsWFE(() => inflateRaw(c, text.length + 1, 'small.zip', 'e'), 'fewer bytes');
  // A lying 1 GiB declared size: output grows with the data, so this fails fast without a 1 GiB buffer.
  const before = process.memoryUsage().arrayBuffers;
  throwsWFE(() => inflateRaw(c, 1 << 30, 'lie.zip'), 'fewer bytes');
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 26);
  throwsWFE(() => inflateRaw(c.subarray(0, c.length >> 1), text.length, 'cut.zip'), 'cut.zip', 'corrupt deflate data');
  throwsWFE(() => inflateRaw(new Uint8Array([0xff, 0xff]), 10, 'bad.zip'), 'corrupt deflate data');
});

test('torch globals outside the whitelist are refused, with the nested-torch.save hint', () => {
  const p = new Uint8Array([0x80, 2, 0x63, ...new TextEncoder().encode('torch.storage\n_load_from_bytes\n'), 0x2e]);
  throwsWFE(() => unpickle(p, { file: 'p.pkl' }), 'p.pkl', 'torch.storage._load_from_bytes', 're-save');
});

test.run();

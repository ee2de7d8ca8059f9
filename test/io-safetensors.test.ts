import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WeightFileError } from '../src/io/errors.ts';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.ts';
import { f16ToF32 } from '../src/io/tensor.ts';
import { throwsWFE } from './io-helpers.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/io/${name}`, import.meta.url)));


/** A safetensors file from a header object and body bytes (no validation: for crafting bad files). */
function craft(header: unknown, body: Uint8Array | number[] = [], headerText?: string): Uint8Array {
  const h = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(body, 8 + h.length);
  return out;
}

test('round trip: shapes, metadata, f32 and i32 data, 8-byte alignment', () => {
  const a = { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-8, -0, Infinity]) };
  const scalar = { shape: [], data: new Float32Array([42]) };
  const empty = { shape: [0, 4], data: new Float32Array(0) };
  const bytes = writeSafetensors({ a, scalar, empty }, { config: '{"d_model":256}', 'k y': 'ü' });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + hlen) % 8, 0);
  const { tensors, metadata } = readSafetensors(bytes, 'rt.safetensors');
  assert.equal([...tensors.keys()], ['a', 'scalar', 'empty']);
  assert.equal(tensors.get('a')!.shape, [2, 3]);
  assert.equal([...tensors.get('a')!.data], [...a.data]);
  assert.equal(tensors.get('scalar')!.shape, []);
  assert.equal([...tensors.get('scalar')!.data], [42]);
  assert.equal(tensors.get('empty')!.shape, [0, 4]);
  assert.equal(metadata, { config: '{"d_model":256}', 'k y': 'ü' });

  const ints = writeSafetensors(new Map([['faces', { shape: [2], data: new Int32Array([7, -1]) }]]));
  const back = readSafetensors(ints);
  assert.equal([...back.tensors.get('faces')!.data], [7, -1]);
  assert.equal(back.metadata, {});
});

test('a key named __proto__ is data, not a prototype', () => {
  const bytes = writeSafetensors(new Map([['__proto__', { shape: [1], data: new Float32Array([1]) }]]), { __proto__x: 'a' });
  const { tensors } = readSafetensors(bytes);
  assert.ok(tensors.has('__proto__'));
  const meta = readSafetensors(craft({ __metadata__: JSON.parse('{"__proto__": "x"}') })).metadata;
  assert.is(Object.getPrototypeOf(meta), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(meta, '__proto__')?.value, 'x');
});

test('dtypes: f16 (incl. subnormal/inf), bf16, f64, i64, i32, u8, bool widen to f32', () => {
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]).buffer);
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x4049]).buffer);
  const f64 = new Uint8Array(new Float64Array([Math.PI, -1e300]).buffer);
  const i64 = new Uint8Array(new BigInt64Array([-5n, 1n << 40n]).buffer);
  const i32 = new Uint8Array(new Int32Array([-7, 2147483647]).buffer);
  const parts = [f16, bf16, f64, i64, i32, new Uint8Array([255, 0]), new Uint8Array([1, 0])];
  const names = ['F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL'];
  const counts = [6, 3, 2, 2, 2, 2, 2];
  const header: Record<string, unknown> = {};
  let off = 0;
  parts.forEach((p, i) => {
    header[names[i]!] = { dtype: names[i], shape: [counts[i]], data_offsets: [off, off + p.length] };
    off += p.length;
  });
  const body = new Uint8Array(off);
  off = 0;
  for (const p of parts) { body.set(p, off); off += p.length; }
  const t = readSafetensors(craft(header, body), 'dtypes.safetensors').tensors;
  assert.equal([...t.get('F16')!.data], [1, -2, 65504, 2 ** -24, Infinity, -0]);
  assert.equal([...t.get('BF16')!.data], [1, -3, 3.140625]);
  assert.equal([...t.get('F64')!.data], [Math.fround(Math.PI), -Infinity]);
  assert.equal([...t.get('I64')!.data], [-5, 2 ** 40]);
  assert.equal([...t.get('I32')!.data], [-7, 2147483648]);
  assert.equal([...t.get('U8')!.data], [255, 0]);
  assert.equal([...t.get('BOOL')!.data], [1, 0]);
  assert.is(f16ToF32(0x3555), 0.333251953125);
});

test('reads the file written by the independent Python writer', () => {
  const { tensors, metadata } = readSafetensors(fixture('torch_expected.safetensors'), 'torch_expected.safetensors');
  assert.is(metadata.source, 'make_io_fixtures.py');
  assert.equal(tensors.get('t_transpose')!.shape, [5, 4]);
  assert.equal(tensors.get('e_num_batches_tracked')!.shape, []);
  assert.equal([...tensors.get('e_num_batches_tracked')!.data], [7]);
  assert.equal([...tensors.get('f_i64')!.data], [-3, -2, -1, 0, 1, 2]);
});

test('validation: every malformed header is a WeightFileError naming file and key', () => {
  const f = 'bad.safetensors';
  throwsWFE(() => readSafetensors(new Uint8Array(5), f), f, 'too short');
  const past = craft({});
  new DataView(past.buffer).setBigUint64(0, 1000n, true);
  throwsWFE(() => readSafetensors(past, f), f, 'header length points past the end', 'truncated');
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  throwsWFE(() => readSafetensors(huge, f), f, 'past the end');
  throwsWFE(() => readSafetensors(craft(null, [], '{"a": '), f), f, 'not valid UTF-8 JSON');
  throwsWFE(() => readSafetensors(craft(null, [], '\xff\xfe'), f), f, 'JSON');
  throwsWFE(() => readSafetensors(craft([1, 2]), f), f, 'not a JSON object');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 1] } }, [0]), f), f, '[w]', 'unknown dtype', 'Q4_K');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), f), '[w]', 'invalid shape');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: 'x', data_offsets: [0, 4] } }, [0, 0, 0, 0]), f), '[w]', 'invalid shape');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]), f), '[w]', 'do not match shape', 'expected 8 bytes', 'found 4');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0]), f), '[w]', 'past the end of the file', 'truncated');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, [0, 0, 0, 0]), f), '[w]', 'invalid data_offsets');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, [0, 0, 0, 0]), f), '[w]', 'invalid data_offsets');
  throwsWFE(() => readSafetensors(craft({ w: 5 }), f), '[w]', 'not an object');
  throwsWFE(
    () => readSafetensors(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), f),
    f, 'overlap',
  );
  throwsWFE(() => readSafetensors(craft({ __metadata__: { config: 5 } }), f), '[__metadata__.config]', 'must be strings');
  throwsWFE(() => readSafetensors(craft({ __metadata__: [] }), f), '__metadata__ is not an object');
  throwsWFE(() => readSafetensors(craft({ w: { dtype: 'F32', shape: [1e6, 1e6, 1e6], data_offsets: [0, 4] } }, [0, 0, 0, 0]), f), '[w]', 'too large');
});

test('truncating a valid file anywhere gives a WeightFileError', () => {
  const bytes = writeSafetensors({ a: { shape: [3], data: new Float32Array([1, 2, 3]) } }, { k: 'v' });
  for (let n = 0; n < bytes.length; n++) throwsWFE(() => readSafetensors(bytes.subarray(0, n), 'cut.safetensors'), 'cut.safetensors');
});

test('writeSafetensors rejects inconsistent input', () => {
  throwsWFE(() => writeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), '[a]', 'does not match shape');
  throwsWFE(() => writeSafetensors({ a: { shape: [-2], data: new Float32Array(0) } }), '[a]', 'invalid shape');
  throwsWFE(() => writeSafetensors(new Map([['__metadata__', { shape: [0], data: new Float32Array(0) }]])), '__metadata__');
});

test.run();

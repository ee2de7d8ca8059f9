// Hostile inputs: code-executing pickles, resource exhaustion (nesting, memo, zip bombs), and a
// seeded fuzz test over the committed fixtures asserting every outcome is a result or a
// WeightFileError (never a TypeError/RangeError from deep inside, never a hang).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WeightFileError } from '../src/io/errors.ts';
import { readFlame } from '../src/io/flame.ts';
import { parseNpy, readNpz } from '../src/io/numpy.ts';
import { unpickle } from '../src/io/pickle.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import { readZip } from '../src/io/zip.ts';
import { throwsWFE } from './io-helpers.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/io/${name}`, import.meta.url)));
const enc = (s: string) => new TextEncoder().encode(s);


/** protocol 2: GLOBAL module.name, one string argument, REDUCE. */
const callPickle = (module: string, name: string) =>
  new Uint8Array([0x80, 2, 0x63, ...enc(`${module}\n${name}\n`), 0x58, 2, 0, 0, 0, ...enc('id'), 0x85, 0x52, 0x2e]);

test('code-executing globals are refused and named (fixtures written by Python)', () => {
  throwsWFE(() => unpickle(fixture('hostile_os_system.pkl'), { file: 'evil.pkl' }), 'evil.pkl', 'refusing to load Python global', 'system');
  throwsWFE(() => unpickle(fixture('hostile_os_system_global.pkl'), { file: 'evil.pkl' }), 'os.system');
  throwsWFE(() => unpickle(fixture('hostile_eval.pkl')), 'builtins.eval');
  throwsWFE(() => unpickle(fixture('hostile_popen.pkl')), 'subprocess.Popen');
  throwsWFE(() => unpickle(fixture('hostile_popen_py2name.pkl')), 'commands.Popen'); // protocol 2 maps names to Python 2's
  throwsWFE(() => readTorchCheckpoint(fixture('hostile_torch.pt'), { file: 'evil.pt' }), 'evil.pt', 'system');
  throwsWFE(() => readFlame(fixture('hostile_popen.pkl'), 'generic_model.pkl'), 'generic_model.pkl', 'subprocess.Popen');
});

test('a list of dangerous globals, via GLOBAL and STACK_GLOBAL', () => {
  const bad = [
    ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['__builtin__', 'eval'],
    ['builtins', '__import__'], ['builtins', 'getattr'], ['builtins', 'open'], ['__builtin__', 'apply'], ['subprocess', 'Popen'],
    ['subprocess', 'check_output'], ['torch', 'load'], ['numpy', 'load'], ['pickle', 'loads'], ['runpy', '_run_code'],
    ['collections', '__builtins__'], ['builtins', 'object.__subclasses__'], ['torch._utils', '__dict__'], ['copyreg', '__newobj__'],
    ['numpy.core.multiarray', '_reconstruct.__globals__'], ['constructor', ''], ['__proto__', ''], ['torch.storage', '_load_from_bytes'],
  ];
  for (const [m, n] of bad) {
    throwsWFE(() => unpickle(callPickle(m!, n!)), `${m}.${n}`);
    const sg = new Uint8Array([0x80, 4, 0x8c, m!.length, ...enc(m!), 0x8c, n!.length, ...enc(n!), 0x93, 0x2e]);
    throwsWFE(() => unpickle(sg), `${m}.${n}`);
  }
});

test('whitelisted names cannot be misused', () => {
  // storage classes and object are values, not callables
  throwsWFE(() => unpickle(callPickle('torch', 'FloatStorage')), 'not callable');
  throwsWFE(() => unpickle(callPickle('builtins', 'object')), 'not callable');
  // REDUCE on something that is not a global
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x5d, 0x29, 0x52, 0x2e])), 'non-callable');
  // _codecs.encode only for latin1
  const codec = new Uint8Array([0x80, 2, 0x63, ...enc('_codecs\nencode\n'), 0x58, 1, 0, 0, 0, 0x41, 0x58, 5, 0, 0, 0, ...enc('rot13'), 0x86, 0x52, 0x2e]);
  throwsWFE(() => unpickle(codec), 'latin1');
  // copyreg._reconstructor(cls, base, state) needs object as base and a whitelisted class
  const recon = (cls: string) => new Uint8Array([0x80, 2, 0x63, ...enc('copy_reg\n_reconstructor\n'), 0x63, ...enc(cls), 0x63, ...enc('__builtin__\nobject\n'), 0x4e, 0x87, 0x52, 0x2e]);
  assert.ok(unpickle(recon('chumpy.ch\nCh\n')));
  throwsWFE(() => unpickle(recon('torch\nFloatStorage\n')), 'cannot instantiate', 'torch.FloatStorage');
  // NEWOBJ of a non-class
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x63, ...enc('_codecs\nencode\n'), 0x29, 0x81, 0x2e])), 'cannot instantiate');
  // numpy _reconstruct of something that is not ndarray
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x63, ...enc('numpy.core.multiarray\n_reconstruct\n'), 0x63, ...enc('chumpy.ch\nCh\n'), 0x85, 0x52, 0x2e])), 'numpy _reconstruct');
});

test('other unsupported or malformed opcodes', () => {
  throwsWFE(() => unpickle(new Uint8Array([0x80, 6, 0x4e, 0x2e]), { file: 'p.pkl' }), 'p.pkl', 'unsupported pickle protocol');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x82, 1, 0x2e])), 'extension');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 5, 0x97, 0x2e])), 'out-of-band');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0xff])), 'unknown pickle opcode', '0xff');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x4e, 0x51, 0x2e])), 'persistent id');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x2e])), 'stack underflow');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x4e])), 'ends early');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x68, 7, 0x2e])), 'memo key not found');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x74, 0x2e])), 'MARK expected');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x4e, 0x4e, 0x61, 0x2e])), 'APPEND on a non-list');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e])), 'SETITEM on a non-dict');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x5d, 0x7d, 0x62, 0x2e])), 'cannot apply state');
  // lengths beyond the input, absurd ints
  throwsWFE(() => unpickle(new Uint8Array([0x80, 4, 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x2e])), 'ends early');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x42, 0xff, 0xff, 0xff, 0xff, 0x2e])), 'ends early');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x8b, 0, 0, 0, 0x40, 0x2e])), 'integer too long');
  throwsWFE(() => unpickle(new Uint8Array([0x80, 2, 0x54, 0xff, 0xff, 0xff, 0xff, 0x2e])), 'ends early');
  // Values that do work: big ints become bigint, protocol-0 text opcodes
  assert.is(unpickle(new Uint8Array([0x80, 2, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x2e])), 1n << 64n);
  assert.is(unpickle(new Uint8Array([0x80, 2, 0x8a, 1, 0xff, 0x2e])), -1);
  assert.equal(unpickle(enc("(lp0\nI1\naI01\naF0.5\naS'a\\'b'\naVx\\u00e9\naL12345678901234567890L\na.")), [1, true, 0.5, "a'b", 'xé', 12345678901234567890n]);
});

test('resource caps: nesting, memo, object count', () => {
  throwsWFE(() => unpickle(fixture('hostile_nested_lists.pkl'), { file: 'deep.pkl' }), 'deep.pkl', 'nests too deeply');
  throwsWFE(() => unpickle(fixture('hostile_nested_marks.pkl')), 'nests too deeply');
  throwsWFE(() => unpickle(fixture('hostile_memo.pkl'), { maxMemo: 1000 }), 'memo too large', '1000');
  assert.is(unpickle(fixture('hostile_memo.pkl')), null); // 5000 entries are fine by default
  // A memo past the default cap (2^20 entries), built here to keep fixtures small.
  const n = (1 << 20) + 10;
  const big = new Uint8Array(3 + n * 5 + 1);
  big.set([0x80, 2, 0x4e]);
  const dv = new DataView(big.buffer);
  for (let i = 0; i < n; i++) { big[3 + i * 5] = 0x72; dv.setUint32(4 + i * 5, i, true); }
  big[big.length - 1] = 0x2e;
  const t0 = performance.now();
  throwsWFE(() => unpickle(big), 'memo too large');
  assert.ok(performance.now() - t0 < 5000);
  // Object count: 2000 pushes against a cap of 1000.
  const many = new Uint8Array([0x80, 2, ...new Array(2000).fill([0x4e, 0x30]).flat(), 0x4e, 0x2e]);
  throwsWFE(() => unpickle(many, { maxObjects: 1000 }), 'too many objects');
  // Nesting via dict values counts too.
  const dicts = new Uint8Array([0x80, 2, ...new Array(300).fill(0x7d), ...new Array(299).fill([0x4e, 0x86, 0x4e, 0x73]).flat(), 0x2e]);
  void dicts;
  const nestedDicts = new Uint8Array([0x80, 2, 0x7d, ...new Array(300).fill([0x4b, 1, 0x7d]).flat(), ...new Array(300).fill(0x73), 0x2e]);
  throwsWFE(() => unpickle(nestedDicts), 'nests too deeply');
});

test('zip bombs and lying archives', () => {
  throwsWFE(() => readNpz(fixture('bomb_declared.zip'), 'bomb.npz'), 'bomb.npz', '[a.npy]', 'more bytes than its declared size');
  throwsWFE(() => readNpz(fixture('bomb_ratio.zip'), 'bomb.npz'), '[a.npy]', 'impossible for deflate');
  throwsWFE(() => readZip(fixture('bomb_overlap.zip'), 'bomb.zip'), 'bomb.zip', 'overlap');
  throwsWFE(() => readFlame(fixture('bomb_declared.zip'), 'bomb.npz'), 'bomb.npz', 'declared size');
  // A central directory that points outside the file.
  const z = fixture('bomb_declared.zip').slice();
  new DataView(z.buffer).setUint32(z.length - 22 + 16, 0x7fffffff, true);
  throwsWFE(() => readZip(z, 'cd.zip'), 'cd.zip', 'central directory lies outside the file');
  // torch writes zip64 end records; a locator pointing nowhere is reported as such.
  const t = fixture('torch_plain.pt').slice();
  new DataView(t.buffer).setUint32(t.length - 22 - 20 + 8, 0x7ffffff0, true);
  throwsWFE(() => readZip(t, 't.pt'), 't.pt', 'zip64 end of central directory record');
});

// ---------------------------------------------------------------- fuzz

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: mutated fixtures give a result or a WeightFileError', () => {
  const targets: [string, (b: Uint8Array, i: number) => unknown][] = [
    ['torch_wrapped.pt', (b, i) => readTorchCheckpoint(b, { stripPrefix: 'module.', limits: { verifyCrc: i % 2 === 0 } })],
    ['torch_plain.pt', (b, i) => readTorchCheckpoint(b, { limits: { verifyCrc: i % 2 === 0 } })],
    ['torch_bigendian.pt', (b, i) => readTorchCheckpoint(b, { limits: { verifyCrc: i % 2 === 0 } })],
    ['torch_expected.safetensors', (b) => readSafetensors(b)],
    ['flame_fake.pkl', (b) => readFlame(b)],
    ['flame_fake_py3.pkl', (b) => readFlame(b)],
    ['flame_fake.npz', (b) => readFlame(b)],
    ['flame_static_embedding.pkl', (b) => unpickle(b)],
    ['flame_dynamic_embedding.npy', (b) => parseNpy(b)],
    ['hostile_nested_lists.pkl', (b) => unpickle(b)],
  ];
  const files = targets.map(([name]) => fixture(name));
  const rnd = mulberry32(20240611);
  const int = (n: number) => Math.floor(rnd() * n);
  const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x28, 0x2e, 0x4e, 0x52, 0x81, 0x62];
  const mutate = (src: Uint8Array): [Uint8Array, string] => {
    const kind = int(6);
    let b = src.slice();
    if (kind === 0) { // flip a few bytes
      const k = 1 + int(8);
      for (let j = 0; j < k; j++) b[int(b.length)] = int(256);
      return [b, `flip ${k}`];
    }
    if (kind === 1) { // interesting values
      const k = 1 + int(4);
      for (let j = 0; j < k; j++) b[int(b.length)] = interesting[int(interesting.length)]!;
      return [b, `interesting ${k}`];
    }
    if (kind === 2) { const n = int(b.length); return [b.subarray(0, n), `truncate ${n}`]; }
    if (kind === 3) { // overwrite with a chunk from any fixture
      const other = files[int(files.length)]!;
      const len = 1 + int(64), from = int(Math.max(1, other.length - len)), to = int(b.length);
      b.set(other.subarray(from, from + Math.min(len, b.length - to)), to);
      return [b, `overwrite ${len}@${to}`];
    }
    if (kind === 4) { // insert a chunk
      const other = files[int(files.length)]!;
      const len = 1 + int(64), from = int(Math.max(1, other.length - len)), to = int(b.length);
      const out = new Uint8Array(b.length + len);
      out.set(b.subarray(0, to)); out.set(other.subarray(from, from + len), to); out.set(b.subarray(to), to + len);
      b = out.subarray(0, to + Math.min(len, other.length - from) + (b.length - to));
      return [b, `insert ${len}@${to}`];
    }
    // little-endian 32-bit field set to an extreme value
    const at = int(Math.max(1, b.length - 4));
    new DataView(b.buffer).setUint32(at, [0xffffffff, 0x7fffffff, 0x80000000, 1 << 20][int(4)]!, true);
    return [b, `u32@${at}`];
  };
  const t0 = performance.now();
  let runs = 0, ok = 0, rejected = 0;
  const failures: string[] = [];
  while (runs < 4000 && performance.now() - t0 < 9000) {
    const ti = runs % targets.length;
    const [name, read] = targets[ti]!;
    const [bytes, how] = mutate(files[ti]!);
    try {
      read(bytes, runs);
      ok++;
    } catch (e) {
      if (e instanceof WeightFileError) rejected++;
      else failures.push(`${name} run ${runs} (${how}): ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? e}`);
    }
    runs++;
  }
  assert.equal(failures.slice(0, 5), [], `${failures.length} non-WeightFileError outcomes`);
  assert.ok(runs >= 1000, `only ${runs} runs in the time budget`);
  console.log(`  fuzz: ${runs} runs, ${ok} read, ${rejected} rejected, ${Math.round(performance.now() - t0)} ms`);
});

test.run();

// Compact weight files (`trans3dhead convert --dtype f16|int8`): round trips through the loader,
// BatchNorm folded first, int8 re-quantization is lossless, and every malformed compact file is
// a WeightFileError naming the key. CPU only (the kernels' compact paths: compact.test.ts; the
// full model's drift: dtype.torch.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeightFileError } from '../src/io/errors.ts';
import { readSafetensors, writeSafetensors, type WritableTensor } from '../src/io/safetensors.ts';
import { f16ToF32, type StateDict } from '../src/io/tensor.ts';
import { f32ToF16 } from '../src/kernels/weights.ts';
import { BN_EPS, foldBatchNorm } from '../src/model/backbone.ts';
import { resolveConfig } from '../src/model/config.ts';
import { backboneConvBn, compactWeightsToSafetensors, INT8_KEEP_F16_DEFAULT, isMatrixKey, parseWeights, SCALE_SUFFIX, weightsToSafetensors } from '../src/model/weights.ts';
import { packNetwork } from '../src/model/network.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';

const PTH = 'test/fixtures/small/model.pth';
const cfg = resolveConfig(JSON.parse(readFileSync('test/fixtures/small/config.json', 'utf8')));
const src = parseWeights(new Uint8Array(readFileSync(PTH)), PTH, { config: cfg });
const f16 = (v: number) => f16ToF32(f32ToF16(v));

/** The state dict with BatchNorm folded into the backbone convs (what compact files store). */
function folded(sd: StateDict): StateDict {
  const out: StateDict = new Map(sd);
  for (const [conv, bn] of backboneConvBn()) {
    const w = sd.get(`${conv}.weight`)!, g = (k: string) => sd.get(`${bn}.${k}`)!.data;
    const f = foldBatchNorm(w.data, w.shape[0]!, { weight: g('weight'), bias: g('bias'), running_mean: g('running_mean'), running_var: g('running_var') });
    out.set(`${conv}.weight`, { shape: w.shape, data: f.weight });
    out.set(`${bn}.bias`, { shape: [w.shape[0]!], data: f.bias });
  }
  return out;
}
const ref = folded(src.sd);

function expectError(fn: () => unknown, re: RegExp, key?: string) {
  try { fn(); assert.unreachable('accepted'); } catch (e) {
    assert.instance(e, WeightFileError, String(e));
    assert.match((e as Error).message, re);
    if (key) assert.is((e as WeightFileError).key, key);
  }
}

/** Reads a compact file back as writable tensors in their stored dtypes, edits, rewrites. */
function rewrite(bytes: Uint8Array, edit: (m: Map<string, WritableTensor>, meta: Record<string, string>) => void): Uint8Array {
  const f = readSafetensors(bytes);
  const m = new Map<string, WritableTensor>();
  for (const [k, t] of f.tensors) {
    const dt = f.dtypes.get(k);
    m.set(k, dt === 'I8' ? { shape: t.shape, data: Int8Array.from(t.data) } : dt === 'F16' ? { shape: t.shape, data: Uint16Array.from(t.data, f32ToF16) } : t);
  }
  const meta = { ...f.metadata };
  edit(m, meta);
  return writeSafetensors(m, meta);
}

test('f16 file: BatchNorm folded, matrices rounded to f16 exactly once, the rest f32; loads as f16', () => {
  const bytes = compactWeightsToSafetensors(src.sd, src.config, 'f16');
  const f = readSafetensors(bytes);
  assert.is(f.metadata.dtype, 'f16');
  assert.is(f.metadata.bn_folded, 'true');
  const w = parseWeights(bytes, 'm.safetensors');
  assert.is(w.dtype, 'f16');
  assert.equal(w.config, src.config);
  let matrices = 0;
  for (const [k, t] of ref) {
    if (k.endsWith('num_batches_tracked')) continue;
    const got = w.sd.get(k)!;
    assert.ok(got, k);
    const isM = isMatrixKey(k, t.shape);
    matrices += Number(isM);
    assert.is(f.dtypes.get(k), isM ? 'F16' : 'F32', k);
    if (/running_mean$/.test(k) && k.startsWith('backbone.')) { assert.ok(got.data.every((v) => v === 0), k); continue; }
    if (/running_var$/.test(k) && k.startsWith('backbone.')) { assert.ok(got.data.every((v) => v === Math.fround(1 - BN_EPS)), k); continue; }
    if (/(bn\d|downsample\.1)\.weight$/.test(k)) { assert.ok(got.data.every((v) => v === 1), k); continue; }
    for (let i = 0; i < t.data.length; i++) if (got.data[i] !== (isM ? f16(t.data[i]!) : t.data[i])) assert.unreachable(`${k}[${i}]: ${got.data[i]} vs ${t.data[i]}`);
  }
  assert.ok(matrices > 20, `${matrices} matrices`);
  // The identity BatchNorm folds to the stored weights unchanged.
  const again = parseWeights(compactWeightsToSafetensors(w.sd, w.config, 'f16'), 'again');
  for (const [k, t] of w.sd) { const a = again.sd.get(k)!.data; for (let i = 0; i < a.length; i++) if (a[i] !== t.data[i]) assert.unreachable(`${k}[${i}]`); }
});

test('int8 file: per-output-channel codes within half a step, scales F32, smaller; re-quantizing is lossless', () => {
  const bytes = compactWeightsToSafetensors(src.sd, src.config, 'int8');
  const f = readSafetensors(bytes);
  assert.is(f.metadata.dtype, 'int8');
  const w = parseWeights(bytes, 'm.safetensors');
  assert.is(w.dtype, 'int8');
  let n = 0;
  for (const [k, dt] of f.dtypes) {
    if (dt !== 'I8') continue;
    n++;
    const scale = f.tensors.get(k + SCALE_SUFFIX)!;
    assert.is(f.dtypes.get(k + SCALE_SUFFIX), 'F32');
    const t = ref.get(k)!, got = w.sd.get(k)!, per = t.data.length / t.shape[0]!;
    assert.equal(scale.shape, [t.shape[0]]);
    for (let i = 0; i < t.data.length; i++) {
      const s = scale.data[Math.floor(i / per)]!;
      if (Math.abs(got.data[i]! - t.data[i]!) > s / 2 + 1e-7) assert.unreachable(`${k}[${i}]`);
    }
    assert.ok(!w.sd.has(k + SCALE_SUFFIX), 'scales are not weights');
  }
  assert.ok(n > 20, `${n} int8 tensors`);
  assert.is(f.dtypes.get('landmark_branch.query_embed.weight'), 'F16', 'embeddings stay f16');
  const f32 = weightsToSafetensors(src.sd, src.config).length;
  assert.ok(bytes.length < 0.4 * f32, `${bytes.length} vs f32 ${f32}`);
  // An int8 file converted again keeps its codes (they survive load + fold + quantize); the
  // scales may move by an f32 ulp (m / 127 rounded twice). Compared element by element: uvu's
  // diff of a failing equal on megabytes would not finish.
  const again = readSafetensors(compactWeightsToSafetensors(w.sd, w.config, 'int8'));
  for (const [k, dt] of f.dtypes) {
    if (dt !== 'I8') continue;
    const a = again.tensors.get(k)!.data, b = f.tensors.get(k)!.data;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.unreachable(`${k}[${i}]: code ${a[i]} vs ${b[i]}`);
    const sa = again.tensors.get(k + SCALE_SUFFIX)!.data, sb = f.tensors.get(k + SCALE_SUFFIX)!.data;
    for (let i = 0; i < sa.length; i++) if (Math.abs(sa[i]! - sb[i]!) > 2.5e-7 * sb[i]!) assert.unreachable(`${k} scale ${i}`);
  }
});

test('int8 weights packed for the GPU quantize back to the file\'s codes', () => {
  const w = parseWeights(compactWeightsToSafetensors(src.sd, src.config, 'int8'), 'm');
  const net = packNetwork(w.sd, w.config, syntheticFlame(0), 'int8');
  const c = net.backbone.stages[3]![0]!.conv2;
  assert.ok(c.compact && c.compact.format === 'int8');
  // Packed [KH, KW, C, N]: column n is output channel n; codes times the scale give the loaded weights.
  const q = new Int8Array(c.compact.words.buffer, 0, c.weight.length);
  const N = c.shape[3];
  for (let i = 0; i < c.weight.length; i++) if (Math.abs(q[i]! * c.compact.scale![i % N]! - c.weight[i]!) > 2.5e-7 * Math.abs(c.weight[i]!)) assert.unreachable(`${i}: ${q[i]} * ${c.compact.scale![i % N]} vs ${c.weight[i]}`);
  assert.is(net.inputProj.W.compact?.format, 'int8', 'input_proj [256, 32]');
  assert.is(net.landmark.queryInit!.W.compact?.format, 'int8', 'query_init');
  assert.is(net.landmark.layers[0]!.linear1.W.compact, undefined, '32 x 64: below the size where compact pays');
});

test('int8 with layers kept in f16 (--keep-f16): stored f16, recorded in the metadata, kept f16 on the GPU', () => {
  const bytes = compactWeightsToSafetensors(src.sd, src.config, 'int8', { keepF16: [/^backbone\.layer4\./] });
  const f = readSafetensors(bytes);
  assert.is(f.dtypes.get('backbone.layer4.0.conv2.weight'), 'F16');
  assert.is(f.dtypes.get('backbone.layer3.0.conv2.weight'), 'I8');
  assert.is(f.metadata.keep_f16, JSON.stringify(['^backbone\\.layer4\\.']));
  const w = parseWeights(bytes, 'm');
  assert.is(w.dtype, 'int8');
  const net = packNetwork(w.sd, w.config, syntheticFlame(0), w.dtype, w.keepF16);
  assert.is(net.backbone.stages[3]![0]!.conv2.compact?.format, 'f16');
  assert.is(net.backbone.stages[2]![0]!.conv2.compact?.format, 'int8');
  expectError(() => parseWeights(rewrite(bytes, (_m, meta) => { meta.keep_f16 = '[('; }), 'x'), /keep_f16/, '__metadata__.keep_f16');
  // The default keeps the stem and the first two stages in f16; [] makes every matrix int8.
  const def = readSafetensors(compactWeightsToSafetensors(src.sd, src.config, 'int8'));
  assert.is(def.dtypes.get('backbone.layer2.0.conv2.weight'), 'F16');
  assert.is(def.dtypes.get('backbone.layer3.0.conv2.weight'), 'I8');
  assert.is(def.metadata.keep_f16, JSON.stringify(INT8_KEEP_F16_DEFAULT.map((r) => r.source)));
  const none = readSafetensors(compactWeightsToSafetensors(src.sd, src.config, 'int8', { keepF16: [] }));
  assert.is(none.dtypes.get('backbone.layer2.0.conv2.weight'), 'I8');
});

test('malformed compact files: missing or misshapen scale, orphan scale, int8 where it cannot be, integer weights, bad dtype, truncated', () => {
  const bytes = compactWeightsToSafetensors(src.sd, src.config, 'int8');
  const key = 'backbone.layer4.0.conv2.weight';
  expectError(() => parseWeights(rewrite(bytes, (m) => m.delete(key + SCALE_SUFFIX)), 'x'), /int8 weight without its scale/, key);
  expectError(() => parseWeights(rewrite(bytes, (m) => m.set(key + SCALE_SUFFIX, { shape: [3], data: new Float32Array(3) })), 'x'), /int8 scale has the wrong shape/, key + SCALE_SUFFIX);
  expectError(() => parseWeights(rewrite(bytes, (m) => m.set(key + SCALE_SUFFIX, { shape: [m.get(key)!.shape[0]!], data: new Int32Array(m.get(key)!.shape[0]!) })), 'x'), /wrong dtype for an int8 scale/, key + SCALE_SUFFIX);
  expectError(() => parseWeights(rewrite(bytes, (m) => { const t = m.get(key)!; m.set(key, { shape: t.shape, data: new Float32Array(t.data.length) }); }), 'x'), /int8 scale without an int8 weight/, key + SCALE_SUFFIX);
  const bnKey = 'backbone.bn1.bias';
  expectError(() => parseWeights(rewrite(bytes, (m) => { m.set(bnKey, { shape: m.get(bnKey)!.shape, data: new Int8Array(m.get(bnKey)!.shape[0]!) }); m.set(bnKey + SCALE_SUFFIX, { shape: m.get(bnKey)!.shape, data: new Float32Array(m.get(bnKey)!.shape[0]!) }); }), 'x'), /wrong dtype for this weight/, bnKey);
  expectError(() => parseWeights(rewrite(bytes, (m) => m.set(bnKey, { shape: m.get(bnKey)!.shape, data: new Int32Array(m.get(bnKey)!.shape[0]!) })), 'x'), /wrong dtype for this weight/, bnKey);
  expectError(() => parseWeights(rewrite(bytes, (_m, meta) => { meta.dtype = 'int4'; }), 'x'), /unknown weight dtype/, '__metadata__.dtype');
  expectError(() => parseWeights(bytes.subarray(0, bytes.length - 1000), 'cut.safetensors'), /truncated|past the end/);
});

test('CLI: convert --dtype f16 and int8 write loadable files; a bad --dtype is a usage error', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-dtype-'));
  for (const d of ['f16', 'int8']) {
    const out = join(dir, `m-${d}.safetensors`);
    const r = spawnSync(process.execPath, ['bin/trans3dhead.mjs', 'convert', PTH, out, '--dtype', d, '--nhead', String(cfg.nhead)], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`, ${d}, `));
    assert.is(parseWeights(new Uint8Array(readFileSync(out)), out).dtype, d);
  }
  const r = spawnSync(process.execPath, ['bin/trans3dhead.mjs', 'convert', PTH, join(dir, 'x'), '--dtype', 'int4'], { encoding: 'utf8' });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /--dtype must be one of f32, f16, int8/);
});

test.run();

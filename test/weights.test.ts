// Model weight files: config from metadata or shapes, and every state-dict problem reported
// (file, key, expected shape) before any GPU work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { WeightFileError } from '../src/io/errors.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import type { StateDict } from '../src/io/tensor.ts';
import { DEFAULT_CONFIG, expectedShapes, resolveConfig } from '../src/model/config.ts';
import { defaultWeights } from '../src/model/default-weights.ts';
import { inferConfig, parseWeights, weightsToSafetensors } from '../src/model/weights.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { nodePlatform } from '../src/platform/node.ts';

const PTH = 'test/fixtures/small/model.pth';
const cfg = resolveConfig(JSON.parse(readFileSync('test/fixtures/small/config.json', 'utf8')));
const bytes = new Uint8Array(readFileSync(PTH));
const sd = readTorchCheckpoint(bytes, { file: PTH });

function expectError(fn: () => unknown, re: RegExp, key?: string) {
  try { fn(); assert.unreachable('accepted'); } catch (e) {
    assert.instance(e, WeightFileError, String(e));
    assert.match((e as Error).message, re);
    if (key) assert.is((e as WeightFileError).key, key);
  }
}

const asFile = (d: StateDict, meta: Record<string, string> = { config: JSON.stringify(cfg) }) => writeSafetensors(d, meta);

test('the .pth and its safetensors conversion load with the same tensors; config inferred from shapes', () => {
  const a = parseWeights(bytes, PTH, { config: { nhead: 4 } });
  assert.equal(a.config, cfg);
  const b = parseWeights(weightsToSafetensors(a.sd, a.config), 'converted.safetensors');
  assert.equal(b.config, cfg, 'config travels in the metadata');
  for (const [k, v] of b.sd) assert.equal(Array.from(v.data.slice(0, 5)), Array.from(a.sd.get(k)!.data.slice(0, 5)), k);
  const inferred = inferConfig(sd, 4);
  assert.equal(resolveConfig(inferred), cfg);
});

test('missing, unexpected and wrongly shaped weights name the file and the key', () => {
  const missing = new Map(sd); missing.delete('landmark_branch.layers.1.cross_attn.qamem.weight');
  expectError(() => parseWeights(asFile(missing), 'm.safetensors'), /m\.safetensors \[landmark_branch\.layers\.1\.cross_attn\.qamem\.weight\]: missing weight; expected shape \[2176, 32, 1\]/, 'landmark_branch.layers.1.cross_attn.qamem.weight');
  const extra = new Map(sd); extra.set('backbone.fc.weight', { shape: [10, 2], data: new Float32Array(20) });
  expectError(() => parseWeights(asFile(extra), 'x.safetensors'), /unexpected weight/, 'backbone.fc.weight');
  const wrong = new Map(sd); wrong.set('params_branch.head.weight', { shape: [2, 32], data: new Float32Array(64) });
  expectError(() => parseWeights(asFile(wrong), 'w.safetensors'), /wrong shape; expected \[1, 32\], found \[2, 32\]/, 'params_branch.head.weight');
  const prefixed = new Map([...sd].map(([k, v]) => [`module.${k}`, v]));
  expectError(() => parseWeights(asFile(prefixed), 'p.safetensors'), /strip its prefix/);
  assert.ok(parseWeights(asFile(prefixed), 'p.safetensors', { stripPrefix: 'module.' }).sd.size > 0, 'stripPrefix fixes it');
  expectError(() => parseWeights(asFile(sd, { config: '{not json' }), 'c.safetensors'), /metadata config is not JSON/);
  expectError(() => parseWeights(asFile(sd, { config: JSON.stringify({ ...cfg, d_model: 30 }) }), 'd.safetensors'), /d_model/);
  expectError(() => parseWeights(new Uint8Array(3), 'tiny.bin'), /not a weight file/);
});

test('bad weights fail before any GPU work (no device is asked for)', async () => {
  const platform = { ...nodePlatform, getDevice: () => { throw new Error('the GPU was touched'); } };
  const missing = new Map(sd); missing.delete('input_proj.bias');
  try { await Trans3DHead.create(platform, { weights: asFile(missing) }); assert.unreachable(); } catch (e) {
    assert.instance(e, WeightFileError, String(e));
  }
});

test('the built-in default weights have every key of the full config, with the right shapes', () => {
  const d = defaultWeights(DEFAULT_CONFIG);
  const want = expectedShapes(DEFAULT_CONFIG);
  assert.is(d.size, want.size);
  for (const [k, s] of want) assert.equal(d.get(k)!.shape, s, k);
  let n = 0;
  for (const v of d.values()) { n += v.data.length; assert.ok(v.data.every(Number.isFinite)); }
  assert.ok(n > 25e6 && n < 60e6, `${n} parameters`);
});

test.run();

// The public API over a Platform: runModel keeps the last model only for the same weights, FLAME,
// landmark files, config and device; model files that cannot be read or do not fit are
// WeightFileErrors (issue 13).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindApi } from '../src/model/api.ts';
import { InputError } from '../src/model/image.ts';
import { WeightFileError } from '../src/io/errors.ts';
import { flameToSafetensors } from '../src/io/flame.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';
import { createDevice, nodePlatform } from '../src/platform/node.ts';
import type { Platform } from '../src/platform/types.ts';
import { config } from './model-helpers.ts';
import { gpu } from './helpers.ts';

const DIR = 'test/fixtures/small';

test('runModel reuses its model only for the same files, landmark files, config and device', async () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-api-'));
  const flame = join(dir, 'flame.safetensors');
  writeFileSync(flame, flameToSafetensors(syntheticFlame(0)));
  const loads: string[] = [];
  const platform: Platform = { ...nodePlatform, loadBytes: (src, p) => { loads.push(String(src)); return nodePlatform.loadBytes(src, p); } };
  const { runModel } = bindApi(platform);
  // A bad image fails in run() after the model was made (or reused): no GPU work, only the cache.
  const bad = { data: new Uint8Array(4), width: 0, height: 1 };
  const weights = `${DIR}/model.pth`;
  const call = async (opts: Parameters<typeof runModel>[1]) => {
    const before = loads.filter((l) => l === weights).length;
    try { await runModel(bad, { weights, flame, config: config(DIR), ...opts }); assert.unreachable('bad image ran'); } catch (e) {
      assert.instance(e, InputError, String(e));
    }
    return loads.filter((l) => l === weights).length - before; // 1: a new model was made, 0: reused
  };
  const lmkA = ['test/fixtures/io/flame_static_embedding.pkl'], lmkB = ['test/fixtures/io/flame_dynamic_embedding.npy'];
  const device = await gpu();
  const other = await createDevice({ quiet: true });
  try {
    assert.is(await call({ flameLandmarks: lmkA }), 1, 'first call makes a model');
    assert.is(await call({ flameLandmarks: [...lmkA] }), 0, 'same landmark files: reused');
    assert.is(await call({ flameLandmarks: lmkB }), 1, 'other landmark files: a new model');
    assert.is(await call({ flameLandmarks: [...lmkA, ...lmkB] }), 1, 'more landmark files: a new model');
    assert.is(await call({ flameLandmarks: lmkB }), 1, 'back to fewer: a new model');
    assert.is(await call({ flameLandmarks: lmkB, device }), 1, 'an explicit device: a new model');
    assert.is(await call({ flameLandmarks: lmkB, device }), 0, 'the same device: reused');
    assert.is(await call({ flameLandmarks: lmkB, device: other }), 1, 'another device: a new model');
    const bytes = new Uint8Array(readFileSync(lmkA[0]));
    assert.is(await call({ flameLandmarks: [bytes] }), 1, 'landmarks from bytes: not cached');
    assert.is(await call({ flameLandmarks: [bytes] }), 1, 'landmarks from bytes: not cached (again)');
  } finally {
    other.release();
  }
});

test('model files: unreadable, or a FLAME that does not fit the weights, is a WeightFileError naming the file (not an InputError)', async () => {
  const { createModel } = bindApi(nodePlatform);
  const fails = async (opts: Parameters<typeof createModel>[0], ...parts: string[]) => {
    try { await createModel(opts); } catch (e) {
      assert.instance(e, WeightFileError, String(e));
      for (const p of parts) assert.ok((e as Error).message.includes(p), `"${(e as Error).message}" lacks ${p}`);
      return;
    }
    assert.unreachable('no error');
  };
  const weights = `${DIR}/model.pth`, cfg = config(DIR);
  await fails({ weights: '/nonexistent/w.pth' }, '/nonexistent/w.pth', 'cannot load the weights file', 'ENOENT');
  await fails({ weights, config: cfg, flame: '/nonexistent/f.pkl' }, '/nonexistent/f.pkl', 'cannot load the FLAME file');
  await fails({ weights, config: cfg, flame: 'test/fixtures/io/flame_fake.pkl', flameLandmarks: ['/nonexistent/l.pkl'] }, '/nonexistent/l.pkl', 'landmark');
  // The fake FLAME has 6 shape components; the model needs 300 + 100.
  await fails({ weights, config: cfg, flame: 'test/fixtures/io/flame_fake.pkl' }, 'flame_fake.pkl [shapedirs]: the FLAME model does not fit the weights', '300 + 100', 'found 6');
});

test.run();

// The one-call API: runModel keeps the last model only for the same weights, FLAME, landmark
// files, config and device (issue 13: other landmark files or another device reused it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindApi } from '../src/model/api.ts';
import { InputError } from '../src/model/image.ts';
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

test.run();

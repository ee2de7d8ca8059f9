// The FLAME layer vs the PyTorch reference (python/trans3dhead_ref/flame.py, smplx's LBS in f32)
// on the full fixture folder: the FLAME read from its published generic_model.pkl +
// landmark_embedding.pkl with readFlame, the `flame_in_*`/`flame_out_*`, model-path
// (`params` -> `rotation`, `vertices`, `projected_crop`, `landmarks3d`, `pose`) and
// `pose_in_rotation`/`pose_out` keys. `node scripts/test.mjs --torch` makes the folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { readFlame } from '../src/io/flame.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { checkFlameParity } from './reference/flame.ts';

const DIR = new URL('../.cache/torch-full/', import.meta.url);
const file = (name: string) => new URL(name, DIR);

test('FLAME layer and pose angles vs PyTorch (full fixture, FLAME from the published pickle)', async () => {
  for (const f of ['expected.safetensors', 'flame/generic_model.pkl', 'flame/landmark_embedding.pkl']) {
    assert.ok(existsSync(file(f)), `.cache/torch-full/${f} is missing: make the PyTorch reference with ` +
      '`node scripts/test.mjs --torch` (or /usr/bin/python3 python/make_fixtures.py --config full)');
  }
  const read = (f: string) => new Uint8Array(readFileSync(file(f)));
  const flame = readFlame(read('flame/generic_model.pkl'), 'generic_model.pkl', {
    landmarks: [{ bytes: read('flame/landmark_embedding.pkl'), file: 'landmark_embedding.pkl' }],
  });
  const { tensors } = readSafetensors(read('expected.safetensors'), 'expected.safetensors');
  await checkFlameParity(tensors, flame, 'full');
});

test.run();

// End-to-end parity at full size against the PyTorch reference (.cache/torch-full, made by
// `npm run test:torch`): through the API and through the CLI, on the real photo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodePlatform } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { assertMatches, config, expected, maxAbsDiff } from './model-helpers.ts';
import { gpu } from './helpers.ts';

const DIR = '.cache/torch-full';
const PHOTO = 'test/fixtures/astronaut-head.png';
const exp = expected(DIR);
const flamePkl = `${DIR}/flame/generic_model.pkl`;

test('full model, published-layout FLAME pickle: API equals PyTorch (photo, box, batch)', async () => {
  const model = await Trans3DHead.create(nodePlatform, {
    weights: `${DIR}/model.pth`, flame: flamePkl, flameLandmarks: [`${DIR}/flame/landmark_embedding.pkl`],
    config: config(DIR), device: await gpu(),
  });
  try {
    assertMatches(await model.run(PHOTO, { box: 'image' }), exp, '', 0, 'photo');
    const [x, y, w, h] = exp.get('box')!;
    assertMatches(await model.run(PHOTO, { box: [x, y, w, h] }), exp, 'box_', 0, 'box');
  } finally { await model.dispose(); }
});

test('CLI: trans3dhead run --weights model.pth --flame generic_model.pkl --out --overlay gives PyTorch\'s numbers', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-'));
  const out = join(dir, 'r.json'), overlay = join(dir, 'r.png');
  const r = spawnSync(process.execPath, ['bin/trans3dhead.mjs', 'run', PHOTO, '--weights', `${DIR}/model.pth`, '--nhead', String(config(DIR).nhead),
    '--flame', flamePkl, '--flame-landmarks', `${DIR}/flame/landmark_embedding.pkl`, '--box', 'image', '--out', out, '--overlay', overlay], { encoding: 'utf8', timeout: 300_000 });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(Object.keys(j), ['landmarks', 'params', 'rotation', 'translation', 'scale', 'pose', 'vertices', 'projectedVertices', 'landmarks3d', 'adapter', 'timeMs']);
  assert.ok(maxAbsDiff(j.landmarks.flat(), exp.get('landmarks')!) <= 0.05, 'landmarks');
  assert.ok(maxAbsDiff(j.projectedVertices.flat(), exp.get('projected')!) <= 0.05, 'projected');
  assert.ok(maxAbsDiff(j.params, exp.get('params')!) <= 1e-3, 'params');
  assert.ok(maxAbsDiff(j.rotation.flat(), exp.get('rotation')!) <= 1e-3, 'rotation');
  assert.ok(maxAbsDiff(j.vertices.flat(), exp.get('vertices')!) <= 1e-4, 'vertices');
  const pose = exp.get('pose')!;
  assert.ok(maxAbsDiff([j.pose.pitch, j.pose.yaw, j.pose.roll], pose) <= 0.05, 'pose');
  assert.ok(existsSync(overlay) && readFileSync(overlay).length > 1000, 'overlay written');
});

test.run();

// The CLI's output with heads (issue 15): --box gives one object per image (as before); without
// --box the output is an array of heads per image, each with its head box and detection. Runs the
// small model on the unit group's adapter (a process per case).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PHOTO = 'test/fixtures/astronaut-head.png';
const WEIGHTS = 'test/fixtures/small/model.pth';
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/trans3dhead.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });
const dir = mkdtempSync(join(tmpdir(), 't3dh-cli-heads-'));

test('--box x,y,w,h and --box image: one object per image, as before', () => {
  const out = join(dir, 'box.json');
  const r = cli('run', PHOTO, PHOTO, '--weights', WEIGHTS, '--nhead', '4', '--box', 'image', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const json = JSON.parse(readFileSync(out, 'utf8'));
  assert.ok(Array.isArray(json) && json.length === 2, 'two images: two entries');
  for (const h of json) { assert.is(h.landmarks.length, 68); assert.is(h.face, undefined); }
  const one = join(dir, 'one.json');
  assert.is(cli('run', PHOTO, '--weights', WEIGHTS, '--nhead', '4', '--box', '10,10,150,180', '--out', one).status, 0);
  const o = JSON.parse(readFileSync(one, 'utf8'));
  assert.not.ok(Array.isArray(o), 'one image with a box: the object itself');
  assert.is(o.landmarks.length, 68);
});

test('--max-heads: a positive integer, not with --box', () => {
  for (const [args, re] of [[['--max-heads', '0'], /--max-heads 0/], [['--max-heads', 'two'], /--max-heads two/], [['--max-heads', '1', '--box', 'image'], /either --box or --max-heads/], [['--detector', 'tiny'], /--detector tiny: expected one of short, full/]] as [string[], RegExp][]) {
    const r = cli('run', PHOTO, '--weights', WEIGHTS, '--nhead', '4', ...args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
});

test('no --box: an array of heads per image (or, without the BlazeFace detector built in, a clear error)', () => {
  const out = join(dir, 'heads.json');
  const r = cli('run', PHOTO, '--weights', WEIGHTS, '--nhead', '4', '--out', out, '--max-heads', '2');
  if (!existsSync('src/detect/detector.ts')) {
    assert.is(r.status, 1);
    assert.match(r.stderr, /no BlazeFace detector \('short'\) is built in here: pass a head box/);
    return;
  }
  assert.is(r.status, 0, r.stderr);
  const heads = JSON.parse(readFileSync(out, 'utf8'));
  assert.ok(Array.isArray(heads), 'one image: its array of heads');
  assert.ok(heads.length >= 1 && heads.length <= 2, `${heads.length} heads`);
  for (const h of heads) {
    assert.is(h.landmarks.length, 68);
    assert.ok(h.headBox.width > 0 && h.face.keypoints.length === 6 && h.face.score > 0);
  }
});

test.run();

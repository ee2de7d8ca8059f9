// The CLI's argument parsing (issue 13): util.parseArgs in strict mode, so a typo in an option,
// an option of another command, a missing value or a stray argument is a usage error (exit 2,
// the message and the usage on stderr) before anything runs. No GPU needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { readSafetensors } from '../src/io/safetensors.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PHOTO = 'test/fixtures/astronaut-head.png';
const WEIGHTS = 'test/fixtures/small/model.pth';
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/trans3dhead.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });

test('unknown options, missing values and stray arguments are usage errors; nothing runs or is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-cli-args-'));
  const overlay = join(dir, 'o.png'), out = join(dir, 'r.json'), converted = join(dir, 'w.safetensors');
  const cases: [string[], RegExp][] = [
    [['run', PHOTO, '--weights', WEIGHTS, '--nhead', '4', '--ovrlay', overlay], /run: Unknown option '--ovrlay'/],
    [['convert', WEIGHTS, converted, '--nhead', '4', '--anything'], /convert: Unknown option '--anything'/],
    [['convert', WEIGHTS, converted, '--nhead', '4', '--flame', 'f.pkl'], /convert: Unknown option '--flame'/],
    [['run', PHOTO, '--weights', WEIGHTS, '--nhead', '4', '--out'], /run: Option '--out <value>' argument missing/],
    [['run', PHOTO, '--weights', '--out', out], /run: Option '--weights' argument is ambiguous/],
    [['run', PHOTO, '-x'], /run: Unknown option '-x'/],
    [['info', 'extra'], /info: Unexpected argument 'extra'/],
    [['run', PHOTO, '--weights', WEIGHTS, '--nhead', 'four', '--out', out], /--nhead four: expected a positive integer/],
    [['convert', WEIGHTS, converted, '--nhead', '0'], /--nhead 0: expected a positive integer/],
    [['run', PHOTO, '--adapter', 'lavapip', '--out', out], /--adapter lavapip: expected one of auto, gpu, swiftshader, lavapipe/],
    [['info', '--limits', 'max'], /--limits max: expected one of adapter, default/],
    [['run', PHOTO, '--schedule', 'fast', '--out', out], /--schedule fast: expected one of auto, cpu, gpu/],
    [['run', PHOTO, '--compute', 'f64', '--out', out], /--compute f64: expected one of f32, f16/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    const label = args.join(' ');
    assert.is(r.status, 2, `${label}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, label);
    assert.match(r.stderr, /trans3dhead run <image\.\.\.>/, `${label}: the usage follows the message`);
    assert.is(r.stdout, '', `${label}: nothing ran`);
  }
  for (const f of [overlay, out, converted]) assert.not.ok(existsSync(f), `${f} was written`);
});

test('help and the usage: -h/--help exit 0, no command exits 2', () => {
  for (const args of [['--help'], ['-h'], ['run', '--help'], ['convert', '-h']]) {
    const r = cli(...args);
    assert.is(r.status, 0, args.join(' '));
    assert.match(r.stdout, /trans3dhead convert in\.pth out\.safetensors/);
  }
  const r = cli();
  assert.is(r.status, 2);
  assert.match(r.stdout, /trans3dhead run <image\.\.\.>/);
});

test('convert-flame: the published static + dynamic embeddings (dict of per-yaw lists) go into the FLAME file; a ragged contour is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-cli-flame-'));
  const out = join(dir, 'flame.safetensors');
  const io = (f: string) => `test/fixtures/io/${f}`;
  const r = cli('convert-flame', io('flame_fake.pkl'), out, '--flame-landmarks', io('flame_static_embedding.pkl'), '--flame-landmarks', io('flame_dynamic_embedding_lists.npy'));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /68 landmarks \(contour by yaw: 79 bins\)/);
  const t = readSafetensors(new Uint8Array(readFileSync(out)), out).tensors;
  assert.equal(t.get('dynamic_lmk_faces_idx')!.shape, [79, 17]);
  assert.equal(t.get('dynamic_lmk_bary_coords')!.shape, [79, 17, 3]);
  const bad = cli('convert-flame', io('flame_fake.pkl'), join(dir, 'bad.safetensors'), '--flame-landmarks', io('flame_static_embedding.pkl'), '--flame-landmarks', io('flame_dynamic_embedding_ragged.npy'));
  assert.is(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /flame_dynamic_embedding_ragged\.npy \[lmk_face_idx\[1\]\]: landmark embedding rows differ in shape/);
  assert.not.ok(existsSync(join(dir, 'bad.safetensors')));
});

test.run();

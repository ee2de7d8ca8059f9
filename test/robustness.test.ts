// Long runs, concurrency, device loss, dispose, and the CLI's failure behaviour (issue 9),
// on the committed small-config model.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice, nodePlatform } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { DeviceLostError } from '../src/graph/compile.ts';
import { decodeImageBytes } from '../src/platform/node-io.ts';
import { config } from './model-helpers.ts';
import { gpu, trackLiveBuffers } from './helpers.ts';

const DIR = 'test/fixtures/small';
const PHOTO = 'test/fixtures/astronaut-head.png';
const opts = () => ({ weights: `${DIR}/model.pth`, config: config(DIR) });
const decoded = decodeImageBytes(new Uint8Array(readFileSync(PHOTO)));
const image = { data: decoded.data as Uint8Array, width: decoded.width, height: decoded.height };
// Frames in the long run: 2000 by default; bounded in time so CI stays inside its budget.
const FRAMES = Number(process.env.LONG_RUN_FRAMES ?? 2000);
const LONG_RUN_SECONDS = Number(process.env.LONG_RUN_SECONDS ?? 720);
// Memory (JS heap + ArrayBuffers: results are typed arrays) is sampled after a full collection
// every HEAP_EVERY frames from frame HEAP_FROM on (warm-up: JIT, caches). A leak raises the floor
// of the samples; a collection that freed a little less makes an upward blip (measured: up to
// 650 KiB). So the check compares the minimum of the later half of the samples with the earlier
// half's, per frame between them, against HEAP_LIMIT. Measured over 300 frames (SwiftShader):
// 151 bytes/frame without a leak, 1071 with a leak of 1 KiB per run injected into runOn (failed).
const HEAP_FROM = 50, HEAP_EVERY = 25, HEAP_LIMIT = 512;

/** A full, synchronous collection; the test runner starts every test process with --expose-gc. */
function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('the heap check needs a full collection: run this file with node --expose-gc (scripts/test.mjs does)');
  gc();
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes per frame by which the floor of the (frame, bytes) samples rose from the first half to the second. */
function floorGrowth(samples: [number, number][]): number {
  const h = Math.floor(samples.length / 2);
  const halves = [samples.slice(0, h), samples.slice(h)];
  const [a, b] = halves.map((s) => ({ min: Math.min(...s.map((p) => p[1])), mid: (s[0][0] + s[s.length - 1][0]) / 2 }));
  return (b.min - a.min) / (b.mid - a.mid);
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

test('long run: frame 1 and the last frame are identical; no GPU buffer or heap growth after warm-up', async () => {
  const model = await Trans3DHead.create(nodePlatform, { ...opts(), device: await gpu() });
  const ctx = model.ctx;
  const dev = ctx.device as unknown as { createBuffer: (d: GPUBufferDescriptor) => GPUBuffer };
  const create = dev.createBuffer;
  let created = 0;
  dev.createBuffer = (d) => { created++; return create.call(ctx.device, d); };
  try {
    collect(); // fails now, not after the long run, when the process cannot collect
    const first = await model.run(image, { box: 'image' });
    const buffersAfterWarmup = await model.gpuBufferCount();
    const createdAfterWarmup = created;
    const t0 = performance.now();
    let last = first, frames = 1;
    const heap: [number, number][] = [];
    while (frames < FRAMES && (performance.now() - t0) / 1000 < LONG_RUN_SECONDS) {
      last = await model.run(image, { box: 'image' });
      frames++;
      if (frames >= HEAP_FROM && frames % HEAP_EVERY === 0) { collect(); heap.push([frames, memory()]); }
    }
    const s = (performance.now() - t0) / 1000;
    assert.ok(heap.length >= 4, `${frames} frames give ${heap.length} memory samples; the check needs 4 (LONG_RUN_FRAMES >= ${HEAP_FROM + 3 * HEAP_EVERY})`);
    const perFrame = floorGrowth(heap);
    const kib = (b: number) => (b / 1024).toFixed(0);
    console.log(`  long run: ${frames} frames in ${s.toFixed(1)} s; GPU buffers ${buffersAfterWarmup} -> ${await model.gpuBufferCount()}; ` +
      `memory after full GCs (KiB) ${heap.map((h) => kib(h[1])).join(' ')}; floor growth ${perFrame.toFixed(1)} bytes/frame`);
    assert.ok(frames >= Math.min(FRAMES, 200), `only ${frames} frames ran`);
    assert.is(created, createdAfterWarmup, 'no GPU buffer created after warm-up');
    assert.is(await model.gpuBufferCount(), buffersAfterWarmup);
    assert.ok(perFrame < HEAP_LIMIT, `the heap grows by ${perFrame.toFixed(0)} bytes per frame (limit ${HEAP_LIMIT}): a leak in the run path`);
    assert.ok(same(first.landmarks, last.landmarks) && same(first.params, last.params) && same(first.vertices, last.vertices), 'frame 1 == last frame');
  } finally {
    dev.createBuffer = create;
    await model.dispose();
  }
});

test('overlapping run() calls equal sequential ones; two models on one device do not interfere', async () => {
  const device = await gpu();
  const a = await Trans3DHead.create(nodePlatform, { ...opts(), device });
  const b = await Trans3DHead.create(nodePlatform, { ...opts(), device });
  try {
    const flipped = { ...image, data: new Uint8Array(image.data.length) };
    for (let i = 0; i < image.data.length; i += 4) flipped.data.set(image.data.subarray(i, i + 4), image.data.length - 4 - i);
    const box = { x: 10, y: 20, width: 150, height: 160 };
    const seq = [await a.run(image, { box: 'image' }), await a.run(flipped, { box: 'image' }), await a.run(image, { box })];
    const conc = await Promise.all([a.run(image, { box: 'image' }), a.run(flipped, { box: 'image' }), a.run(image, { box }), b.run(flipped, { box: 'image' }), b.run(image, { box: 'image' })]);
    for (let i = 0; i < 3; i++) assert.ok(same(seq[i].landmarks, conc[i].landmarks) && same(seq[i].vertices, conc[i].vertices), `concurrent run ${i}`);
    assert.ok(same(conc[3].landmarks, seq[1].landmarks) && same(conc[4].landmarks, seq[0].landmarks), 'second model');
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test('device loss: a clear DeviceLostError on the next call; a model rebuilt on a new device works', async () => {
  const ctx = await createDevice({ quiet: true });
  const model = await Trans3DHead.create(nodePlatform, { ...opts(), device: ctx });
  const before = await model.run(image, { box: 'image' });
  ctx.device.destroy();
  await ctx.device.lost;
  try { await model.run(image, { box: 'image' }); assert.unreachable('ran on a lost device'); } catch (e) {
    assert.instance(e, DeviceLostError, String(e));
    assert.match((e as Error).message, /Create the model again/);
  }
  const ctx2 = await createDevice({ quiet: true });
  const again = await Trans3DHead.create(nodePlatform, { ...opts(), device: ctx2 });
  assert.ok(same((await again.run(image, { box: 'image' })).landmarks, before.landmarks));
  await again.dispose();
  ctx2.release();
});

test('dispose() frees every GPU buffer (counted)', async () => {
  const ctx = await gpu();
  const buffers = trackLiveBuffers(ctx);
  try {
    const model = await Trans3DHead.create(nodePlatform, { ...opts(), device: ctx });
    await model.run(image, { box: 'image' });
    await model.run(image, { box: { x: 0, y: 0, width: 100, height: 100 } });
    await model.runBatch([image, image]);
    assert.ok(buffers.live() > 0);
    await model.dispose();
    assert.is(buffers.live(), 0, `${buffers.live()} GPU buffers left after dispose()`);
    try { await model.run(image, { box: 'image' }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /disposed/); }
  } finally {
    buffers.restore();
  }
});

test('CLI: exit codes, messages on stderr, nothing written to --out on failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-cli-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/trans3dhead.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });
  const out = join(dir, 'r.json');
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  let r = cli('run', PHOTO, '--weights', bad, '--out', out);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /WeightFileError: .*bad\.safetensors/);
  assert.not.ok(existsSync(out), '--out not written on failure');
  r = cli('run', '/nonexistent.png', '--weights', `${DIR}/model.pth`, '--nhead', '4', '--out', out);
  assert.is(r.status, 1);
  assert.match(r.stderr, /cannot read \/nonexistent\.png/);
  assert.not.ok(existsSync(out));
  r = cli('frobnicate');
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown command/);
  r = cli('run', PHOTO, '--box', '1,2,3');
  assert.is(r.status, 2);
  r = cli('run', PHOTO, '--weights', `${DIR}/model.pth`, '--nhead', '4', '--box', 'image', '--out', out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /synthetic FLAME: these numbers are NOT a real prediction/);
  assert.ok(JSON.parse(readFileSync(out, 'utf8')).landmarks.length === 68);
});

test.run();

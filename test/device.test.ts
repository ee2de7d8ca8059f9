import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { describeAdapter } from '../src/platform/types.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { gemm } from '../src/kernels/gemm.ts';
import { gpu } from './helpers.ts';

const realSetImmediate = setImmediate;

const child = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath,
  ['--import', './scripts/register.mjs', 'test/child/run-and-exit.ts', ...args],
  { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

test('getDevice reports the adapter, its features and limits', async () => {
  const ctx = await gpu();
  const a = ctx.adapter;
  assert.ok(a.backend === 'dawn-node');
  assert.ok(a.features.length > 0);
  assert.ok(a.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024, 'requested the adapter maximum');
  assert.ok(ctx.device.limits.maxStorageBufferBindingSize === a.limits.maxStorageBufferBindingSize);
  if (/swiftshader/i.test(a.architecture + a.description)) {
    assert.ok(a.isFallbackAdapter, 'SwiftShader is a CPU adapter');
    assert.match(describeAdapter(a), /CPU adapter/);
  }
  assert.is(ctx.timestamps, a.features.includes('timestamp-query'));
  if (a.features.includes('timestamp-query')) assert.ok(ctx.device.features.has('timestamp-query'), 'timestamp-query requested when offered');
  if (a.features.includes('subgroups')) assert.ok(ctx.device.features.has('subgroups'), 'subgroups requested when offered');
});

test('a Node process using the GPU ends by itself, cleanly, with or without releaseDevice()', () => {
  for (const args of [[], ['--release']]) {
    const r = child(args);
    assert.is(r.signal, null, `child ${args} was killed (hung?): ${r.stderr}`);
    assert.is(r.status, 0, `child ${args} exit ${r.status}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /result 16/);
  }
});

test('awaiting GPU work does not spin the main thread (Dawn polls on a 1 ms timer while we wait)', async () => {
  const ctx = await gpu();
  const g = new Graph(tuningFor(ctx));
  let t = g.input('a', [512, 512]);
  const w = g.weight('w', [512, 512], new Float32Array(512 * 512).fill(1 / 512));
  for (let i = 0; i < 4; i++) t = gemm(g, t, w, { name: `l${i}` });
  g.output('c', t);
  const cg = await CompiledGraph.create(ctx, g);
  const x = new Float32Array(512 * 512).fill(1);
  await cg.run({ a: x });
  // Count the immediates scheduled while the GPU works: a spinning poll schedules thousands.
  let immediates = 0;
  const counting = ((fn: (...a: unknown[]) => void, ...args: unknown[]) => { immediates++; return realSetImmediate(fn, ...args); }) as unknown as typeof setImmediate;
  globalThis.setImmediate = counting;
  const t0 = performance.now();
  let c: Float32Array;
  try { ({ c } = await cg.run({ a: x })); } finally { globalThis.setImmediate = realSetImmediate; }
  const wall = performance.now() - t0;
  assert.ok(Math.abs(c[0] - 1) < 1e-4, 'computed');
  assert.ok(wall > 20, `the run took ${wall.toFixed(0)} ms: too short to tell`);
  assert.ok(immediates < 20, `${immediates} setImmediate calls during a ${wall.toFixed(0)} ms GPU wait: the main thread was polling`);
  await cg.dispose();
});

test('no adapter at all: a clear NoAdapterError saying what to install', () => {
  const r = child([], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
  assert.is(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /NoAdapterError: No WebGPU adapter found/);
  assert.match(r.stdout, /Vulkan|VK_ICD_FILENAMES/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { describeAdapter } from '../src/platform/types.ts';
import { createDevice } from '../src/platform/node.ts';
import { Graph } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { gemm } from '../src/kernels/gemm.ts';
import { gpu } from './helpers.ts';

const realSetImmediate = setImmediate;

const child = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath,
  ['--import', './scripts/register.mjs', 'test/child/run-and-exit.ts', ...args],
  { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

test('getDevice reports the adapter, its kind, features and the DEVICE limits', async () => {
  const ctx = await gpu();
  const a = ctx.adapter;
  assert.ok(a.backend === 'dawn-node');
  assert.ok(a.features.length > 0);
  // What kernels may use is the device's: the report must be that, not the adapter's maxima.
  for (const [k, v] of Object.entries(a.limits)) assert.is(v, (ctx.device.limits as unknown as Record<string, number>)[k], k);
  assert.ok(a.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024);
  const want = process.env.TRANS3DHEAD_ADAPTER;
  if (want === 'swiftshader' || want === 'lavapipe') assert.is(a.kind, want, `TRANS3DHEAD_ADAPTER=${want} gave ${describeAdapter(a)}`);
  if (a.kind === 'swiftshader' || a.kind === 'lavapipe') {
    assert.ok(a.cpu, `${a.kind} is a CPU adapter`);
    assert.match(describeAdapter(a), /CPU adapter/);
    assert.ok(tuningFor(ctx, 'auto').cpuLike, 'tuningFor agrees with describeAdapter on what a CPU adapter is');
  }
  assert.is(ctx.timestamps, a.features.includes('timestamp-query'));
  if (a.features.includes('timestamp-query')) assert.ok(ctx.device.features.has('timestamp-query'), 'timestamp-query requested when offered');
});

test("limits: 'default' gives a device with the WebGPU spec's default limits, nothing more", async () => {
  const ctx = await createDevice({ quiet: true, limits: 'default' });
  try {
    const l = ctx.device.limits;
    assert.is(l.maxStorageBuffersPerShaderStage, 8);
    assert.is(l.maxStorageBufferBindingSize, 128 * 1024 * 1024);
    assert.is(l.maxBufferSize, 256 * 1024 * 1024);
    assert.is(l.maxComputeWorkgroupStorageSize, 16384);
    assert.is(l.maxComputeInvocationsPerWorkgroup, 256);
    assert.is(l.minUniformBufferOffsetAlignment, 256);
    assert.is(l.minStorageBufferOffsetAlignment, 256);
    assert.is(ctx.adapter.limitsMode, 'default');
    assert.match(describeAdapter(ctx.adapter), /spec-default limits/);
    // A graph that needs more than the device has fails at build with a message saying so.
    const g = new Graph(tuningFor(ctx));
    const big = g.input('a', [40 * 1024 * 1024]); // 160 MiB > 128 MiB per binding
    const w = g.weight('w', [1, 1], new Float32Array([1]));
    g.output('c', gemm(g, g.reshape(big, [40, 1024 * 1024, 1]), w, { name: 'too_big' }));
    let err: Error | null = null;
    try { await CompiledGraph.create(ctx, g); } catch (e) { err = e as Error; }
    assert.ok(err, 'over-limit graph built');
    assert.match(err!.message, /maxStorageBufferBindingSize \(134217728\)/);
  } finally { ctx.release(); }
});

test('a bad TRANS3DHEAD_ADAPTER / TRANS3DHEAD_LIMITS / TRANS3DHEAD_SCHEDULE is a clear error', async () => {
  let err: Error | null = null;
  try { await createDevice({ quiet: true, adapter: 'voodoo' as never }); } catch (e) { err = e as Error; }
  assert.match(String(err?.message), /adapter option must be one of auto, gpu, swiftshader, lavapipe \(got 'voodoo'\)/);
  err = null;
  try { await createDevice({ quiet: true, limits: 'max' as never }); } catch (e) { err = e as Error; }
  assert.match(String(err?.message), /limits option must be one of adapter, default/);
  const r = child([], { TRANS3DHEAD_ADAPTER: 'swiftshder' });
  assert.is(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /TRANS3DHEAD_ADAPTER must be one of auto, gpu, swiftshader, lavapipe \(got 'swiftshder'\)/);
  err = null;
  try { tuningFor(await gpu(), 'fast' as never); } catch (e) { err = e as Error; }
  assert.match(String(err?.message), /schedule option must be one of auto, cpu, gpu/);
});

test('TRANS3DHEAD_ADAPTER=gpu on a machine without a GPU says so, and how to choose a CPU adapter', () => {
  const r = child([], { TRANS3DHEAD_ADAPTER: 'gpu' });
  if (r.status === 0) return; // a machine with a GPU: nothing to check
  assert.is(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /No hardware GPU adapter found \(TRANS3DHEAD_ADAPTER=gpu\)/);
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
  const r = child([], { TRANS3DHEAD_ADAPTER: 'auto', VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
  assert.is(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /NoAdapterError: No WebGPU adapter from VK_ICD_FILENAMES/);
  assert.match(r.stdout, /working Vulkan driver, or unset it/);
});

test.run();

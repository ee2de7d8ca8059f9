// "Works on every adapter", tested: the full-size model on both CPU adapters, and on a device
// with only the WebGPU spec-default limits, gives the same numbers. (The GPU schedules under
// spec-default limits are checked suite by suite, small golden included, in the --gpu-schedules
// group of scripts/test.mjs: at full size they take minutes per frame on a CPU adapter.)
// Each configuration runs in its own process (the Vulkan driver is chosen when Dawn starts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxAbsDiff } from './model-helpers.ts';

interface Out {
  adapter: { kind: string; limitsMode: string; limits: Record<string, number> }; tuning: { cpuLike: boolean }; firstMs: number;
  landmarks: number[]; params: number[]; rotation: number[]; pose: { pitch: number; yaw: number; roll: number }; vertices: number[]; projected: number[];
}

const dir = mkdtempSync(join(tmpdir(), 't3dh-adapters-'));
function runChild(env: Record<string, string>): Out {
  const file = join(dir, `${Object.values(env).join('-')}.json`);
  const r = spawnSync(process.execPath, ['--import', './scripts/register.mjs', 'test/child/full-model.ts', file],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
  assert.is(r.status, 0, `${JSON.stringify(env)}: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  const out = JSON.parse(readFileSync(file, 'utf8')) as Out;
  console.log(`  ${JSON.stringify(env)}: ${out.adapter.kind}, ${out.adapter.limitsMode} limits, ${out.tuning.cpuLike ? 'cpu' : 'gpu'} schedules, create + first result ${(out.firstMs / 1000).toFixed(1)} s`);
  return out;
}

// Two f32 implementations that sum in different orders (tile shapes, split-K, SIMD width) agree
// to ~1e-6 relative per op; through ResNet-50, two decoders and FLAME that is what the PyTorch
// parity tests allow (0.05 px, params 1e-3, pose 0.05 deg, vertices 1e-4 model units).
const TOL = { px: 0.05, params: 1e-3, rotation: 1e-3, poseDeg: 0.05, vertices: 1e-4 };

function assertSame(a: Out, b: Out, label: string): void {
  const d = {
    landmarks: maxAbsDiff(a.landmarks, b.landmarks), params: maxAbsDiff(a.params, b.params), rotation: maxAbsDiff(a.rotation, b.rotation),
    vertices: maxAbsDiff(a.vertices, b.vertices), projected: maxAbsDiff(a.projected, b.projected),
    pose: Math.max(Math.abs(a.pose.pitch - b.pose.pitch), Math.abs(a.pose.yaw - b.pose.yaw), Math.abs(a.pose.roll - b.pose.roll)),
  };
  console.log(`  ${label}: max |diff| ${Object.entries(d).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  assert.ok(d.landmarks <= TOL.px, `${label}: landmarks ${d.landmarks} px`);
  assert.ok(d.projected <= TOL.px, `${label}: projected ${d.projected} px`);
  assert.ok(d.params <= TOL.params, `${label}: params ${d.params}`);
  assert.ok(d.rotation <= TOL.rotation, `${label}: rotation ${d.rotation}`);
  assert.ok(d.vertices <= TOL.vertices, `${label}: vertices ${d.vertices}`);
  assert.ok(d.pose <= TOL.poseDeg, `${label}: pose ${d.pose} deg`);
}

const runs: Record<string, Out> = {};
const reference = () => runs.swift ?? (runs.swift = runChild({ TRANS3DHEAD_ADAPTER: 'swiftshader', TRANS3DHEAD_LIMITS: 'adapter', TRANS3DHEAD_SCHEDULE: 'auto' }));

test('full model: SwiftShader and lavapipe agree', () => {
  assert.is(reference().adapter.kind, 'swiftshader');
  const lava = runChild({ TRANS3DHEAD_ADAPTER: 'lavapipe', TRANS3DHEAD_LIMITS: 'adapter', TRANS3DHEAD_SCHEDULE: 'auto' });
  assert.is(lava.adapter.kind, 'lavapipe');
  assertSame(reference(), lava, 'swiftshader vs lavapipe');
});

test('full model under the spec-default limits, CPU schedules: the same numbers', () => {
  const def = runChild({ TRANS3DHEAD_ADAPTER: 'lavapipe', TRANS3DHEAD_LIMITS: 'default', TRANS3DHEAD_SCHEDULE: 'cpu' });
  assert.is(def.adapter.limitsMode, 'default');
  assert.is(def.adapter.limits.maxStorageBuffersPerShaderStage, 8);
  assert.is(def.adapter.limits.maxStorageBufferBindingSize, 128 * 1024 * 1024);
  assert.is(def.adapter.limits.maxComputeWorkgroupStorageSize, 16384);
  assertSame(reference(), def, 'spec-default limits, cpu schedules');
});

test.run();

// Shared by the end-to-end tests: expected outputs from the PyTorch reference and comparisons
// with the tolerances of the end-to-end issue (px for 2D points, model units for vertices).
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { readSafetensors } from '../src/io/safetensors.ts';
import type { HeadResult } from '../src/model/trans3dhead.ts';

export function expected(dir: string): Map<string, Float32Array> {
  const file = `${dir}/expected.safetensors`;
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(readFileSync(file)); } catch {
    throw new Error(`${file} is missing. Make it with: /usr/bin/python3 python/make_fixtures.py --config full --out ${dir} (needs Debian's python3-torch; npm run test:torch does this)`);
  }
  const m = new Map<string, Float32Array>();
  for (const [k, v] of readSafetensors(bytes, file).tensors) m.set(k, v.data);
  return m;
}

export function config(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The end-to-end tolerances: landmarks/projected 0.05 px, params 1e-3, rotation 1e-3, pose 0.05 deg, vertices 1e-4. */
export function assertMatches(r: HeadResult, exp: Map<string, Float32Array>, prefix: string, b: number, label: string): void {
  const sl = (k: string, n: number) => exp.get(prefix + k)!.subarray(b * n, (b + 1) * n);
  const V = r.vertices.length / 3;
  const checks: [string, ArrayLike<number>, string, number, number][] = [
    ['landmarks (px)', r.landmarks, 'landmarks', 136, 0.05],
    ['landmarks crop (px)', r.landmarksCrop, 'landmarks_crop', 136, 0.05],
    ['params', r.params, 'params', 413, 1e-3],
  ];
  if (exp.has(prefix + 'rotation')) checks.push(['rotation', r.rotation, 'rotation', 9, 1e-3]);
  if (exp.has(prefix + 'vertices')) checks.push(['vertices', r.vertices, 'vertices', V * 3, 1e-4]);
  if (exp.has(prefix + 'projected')) checks.push(['projected (px)', r.projectedVertices, 'projected', V * 2, 0.05]);
  if (exp.has(prefix + 'landmarks3d') && r.landmarks3d) checks.push(['landmarks3d', r.landmarks3d, 'landmarks3d', 204, 1e-4]);
  for (const [name, got, key, n, tol] of checks) {
    const d = maxAbsDiff(got, sl(key, n));
    assert.ok(d <= tol, `${label}: ${name} max |diff| ${d.toExponential(3)} > ${tol}`);
  }
  if (exp.has(prefix + 'pose')) {
    const p = sl('pose', 3);
    const d = Math.max(Math.abs(r.pose.pitch - p[0]), Math.abs(r.pose.yaw - p[1]), Math.abs(r.pose.roll - p[2]));
    assert.ok(d <= 0.05, `${label}: pose max |diff| ${d} deg > 0.05`);
  }
}

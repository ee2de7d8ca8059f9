// Shared by the end-to-end tests: expected outputs from the PyTorch reference and comparisons
// with the tolerances of the end-to-end issue (px for 2D points, model units for vertices).
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { readSafetensors } from '../src/io/safetensors.ts';
import type { HeadResult } from '../src/model/trans3dhead.ts';
import { cropToImage } from '../src/kernels/preprocess.ts';

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

export interface Tolerances { px: number; projectedPx: number; params: number; rotation: number; poseDeg: number; vertices: number }

/** The end-to-end issue's tolerances: landmarks/projected 0.05 px, params 1e-3, rotation 1e-3, pose 0.05 deg, vertices 1e-4. */
export const E2E_TOLERANCES: Tolerances = { px: 0.05, projectedPx: 0.05, params: 1e-3, rotation: 1e-3, poseDeg: 0.05, vertices: 1e-4 };

export function assertMatches(r: HeadResult, exp: Map<string, Float32Array>, prefix: string, b: number, label: string, tol: Tolerances = E2E_TOLERANCES): void {
  const sl = (k: string, n: number) => exp.get(prefix + k)!.subarray(b * n, (b + 1) * n);
  const V = r.vertices.length / 3;
  const checks: [string, ArrayLike<number>, string, number, number][] = [
    ['landmarks (px)', r.landmarks, 'landmarks', 136, tol.px],
    ['landmarks crop (px)', r.landmarksCrop, 'landmarks_crop', 136, tol.px],
    ['params', r.params, 'params', 413, tol.params],
  ];
  if (exp.has(prefix + 'rotation')) checks.push(['rotation', r.rotation, 'rotation', 9, tol.rotation]);
  if (exp.has(prefix + 'vertices')) checks.push(['vertices', r.vertices, 'vertices', V * 3, tol.vertices]);
  if (exp.has(prefix + 'projected')) checks.push(['projected (px)', r.projectedVertices, 'projected', V * 2, tol.projectedPx]);
  if (exp.has(prefix + 'landmarks3d') && r.landmarks3d) checks.push(['landmarks3d', r.landmarks3d, 'landmarks3d', 204, tol.vertices]);
  for (const [name, got, key, n, tol] of checks) {
    const d = maxAbsDiff(got, sl(key, n));
    assert.ok(d <= tol, `${label}: ${name} max |diff| ${d.toExponential(3)} > ${tol}`);
  }
  const lm3 = r.landmarks3d;
  if (lm3) {
    // Their projection is the vertices' (SPEC section 6), then the crop's map to the image.
    const got = r.projectedLandmarks3dCrop!, img = r.projectedLandmarks3d!, s = Math.max(r.scale + 1, 1e-8);
    assert.ok(got && img && got.length === 136 && img.length === 136, `${label}: projectedLandmarks3d with landmarks3d`);
    for (let l = 0; l < 68; l++) {
      const want = [0, 1].map((c) => ((s * lm3[l * 3 + c] + r.translation[c]) + 1) / 2 * 256);
      const wantImg = cropToImage(r.crop, got[l * 2], got[l * 2 + 1]);
      assert.ok(maxAbsDiff(got.subarray(l * 2, l * 2 + 2), want) <= 1e-3, `${label}: projectedLandmarks3dCrop ${l}`);
      assert.ok(maxAbsDiff(img.subarray(l * 2, l * 2 + 2), wantImg) <= 1e-3, `${label}: projectedLandmarks3d ${l}`);
    }
  }
  if (exp.has(prefix + 'pose')) {
    const p = sl('pose', 3);
    const d = Math.max(Math.abs(r.pose.pitch - p[0]), Math.abs(r.pose.yaw - p[1]), Math.abs(r.pose.roll - p[2]));
    assert.ok(d <= tol.poseDeg, `${label}: pose max |diff| ${d} deg > ${tol.poseDeg}`);
  }
}

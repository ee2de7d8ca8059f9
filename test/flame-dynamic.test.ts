// FLAME's dynamic face contour on the GPU: landmarks 0..16 from the yaw row of the 79-row table
// (FLAME_PyTorch's lookup), per batch item, against the float64 reference (test/reference/flame.ts),
// on the synthetic FLAME with its synthetic contour. Angles sit at bin edges (x.5 degrees +- 0.02)
// and beyond the +-39 degree clamp.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { buildFlame, type FlameArrays } from '../src/model/flame.ts';
import { syntheticDynamicContour, syntheticFlame } from '../src/model/synthetic-flame.ts';
import { flameLandmarks, flameLandmarksProjected, flameWeights, packFlame, XF_STRIDE } from '../src/kernels/flame_lbs.ts';
import { flameRef, type FlameRef } from './reference/flame.ts';
import { assertClose, newGraph, rng, runGraph } from './helpers.ts';

const NP = 413;
// Vertices O(0.1) model units, f32 sums of ~440 terms: ~1e-7 errors; SPEC budget 1e-5.
const TOL_V = { atol: 1e-5, rtol: 0 };
const TOL_PX = { atol: 1e-3, rtol: 0 }; // SPEC's crop-pixel budget
// WGSL's atan2 may be off by 4096 ulp (~6e-5 rad at these angles, 0.004 degrees): angles stay
// 0.02 degrees away from a rounding edge so the GPU and the reference pick the same row.
const EDGE_MARGIN = 0.02;

const staticFlame = syntheticFlame(0);
const flame: FlameArrays = { ...staticFlame, ...syntheticDynamicContour(staticFlame) };

/** params with neutral shape and a pure yaw: FLAME's bin angle y (degrees) = -(yaw about FLAME's y axis). */
function yawParams(binDegrees: number[], seed = 1): Float32Array {
  const r = rng(seed);
  const p = new Float32Array(binDegrees.length * NP);
  binDegrees.forEach((y, b) => {
    const o = b * NP;
    for (let k = 0; k < 400; k++) p[o + k] = (r() * 2 - 1) * 0.5;
    const t = (y * Math.PI) / 180;
    // R = diag(1, -1, -1) Ry(-y): 6D = its first two columns.
    p.set([Math.cos(t), 0, -Math.sin(t), 0, -1, 0], o + 403);
    p[o + 412] = 1;
  });
  return p;
}

/** FLAME's expected row for a bin angle well away from the rounding edges. */
function expectedRow(y: number): number {
  const v = Math.round(Math.min(y, 39));
  return v < 0 ? (v < -39 ? 78 : 39 - v) : v;
}

async function run(f: FlameArrays, params: Float32Array, poses?: Float32Array) {
  const B = params.length / NP;
  const g = await newGraph();
  const o = buildFlame(g, g.input('params', [B, NP]), f, { poses: poses && g.input('poses', [B, 12]) });
  g.output('landmarks3d', o.landmarks3d!);
  g.output('landmarks3dProjected', o.landmarks3dProjected!);
  g.output('vertices', o.vertices);
  return runGraph(g, poses ? { params, poses } : { params });
}

function awayFromEdges(ref: FlameRef) {
  for (const d of ref.yawDegrees!) {
    const frac = Math.abs(Math.min(d, 39) % 1);
    assert.ok(Math.abs(frac - 0.5) > EDGE_MARGIN / 2, `test angle ${d} is within ${EDGE_MARGIN / 2} degrees of a rounding edge`);
  }
}

test('synthetic dynamic contour: row 0 is the frontal contour, every row differs from its neighbours, bit-identical to Python', () => {
  const { dynLmkFacesIdx: idx, dynLmkBaryCoords: bary } = flame;
  assert.equal([...idx!.subarray(0, 17)], [...staticFlame.lmkFacesIdx!.subarray(0, 17)]);
  assert.equal([...bary!.subarray(0, 51)], [...staticFlame.lmkBaryCoords!.subarray(0, 51)]);
  for (let k = 1; k < 79; k++) {
    let d = 0;
    for (let i = 0; i < 51; i++) d = Math.max(d, Math.abs(bary![k * 51 + i] - bary![(k - 1) * 51 + i]));
    assert.ok(d > 0.01, `row ${k} vs ${k - 1}`);
  }
  for (let i = 0; i < idx!.length; i++) assert.ok(idx![i] < flame.F);
  // sha256 of python/trans3dhead_ref/synthetic_flame.py's dynamic_contour(generate(0)).
  const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
  assert.is(sha(new Int32Array(idx!)), '1098e3ffd8b2812f');
  assert.is(sha(bary!), '4e6276405fe9bf3b');
});

test('flame landmarks: contour row per item from the 6D rotation, across bins, at the edges and the +-39 clamp', async () => {
  const e = EDGE_MARGIN;
  const angles = [0, 0.5 - e, 0.5 + e, 1, 7.3, 12.5 - e, 12.5 + e, 38.5 - e, 38.5 + e, 39.4, 39.6, 55, 89,
    -(0.5 - e), -(0.5 + e), -1, -20, -38.5 + e, -38.5 - e, -39.4, -39.6, -70, -89];
  const params = yawParams(angles);
  const ref = flameRef(flame, params, angles.length);
  awayFromEdges(ref);
  assert.equal([...ref.yawRow!], angles.map(expectedRow), 'reference rows');
  assert.equal(angles.map(expectedRow), [0, 0, 1, 1, 7, 12, 13, 38, 39, 39, 39, 39, 39, 0, 40, 40, 59, 77, 78, 78, 78, 78, 78]);
  const out = await run(flame, params);
  assertClose(out.vertices, ref.vertices, TOL_V, 'vertices');
  assertClose(out.landmarks3d, ref.landmarks3d!, TOL_V, 'landmarks3d');
  assertClose(out.landmarks3dProjected, ref.landmarks3dProjected!, TOL_PX, 'landmarks3d projected');
  // The contour really moved: a static FLAME's contour differs wherever the row is not 0.
  const stat = flameRef(staticFlame, params, angles.length).landmarks3d!;
  angles.forEach((y, b) => {
    let d = 0;
    for (let i = 0; i < 51; i++) d = Math.max(d, Math.abs(ref.landmarks3d![b * 204 + i] - stat[b * 204 + i]));
    if (expectedRow(y) === 0) assert.is(d, 0, `item ${b} (row 0) equals the static contour`);
    // A wrong row (even a neighbour) is then caught by TOL_V: rows differ by > 5 TOL_V.
    else assert.ok(d > 5 * TOL_V.atol, `item ${b}: contour of row ${expectedRow(y)} differs from the frontal one (${d})`);
    for (let i = 51; i < 204; i++) assert.is(ref.landmarks3d![b * 204 + i], stat[b * 204 + i]);
  });
});

test('flame landmarks: global and neck poses turn the contour as FLAME does; pitch and roll mixed in', async () => {
  const B = 6;
  const params = yawParams([0, 0, 0, 0, 10, -10], 3);
  const poses = new Float32Array(B * 12);
  poses.set([0, 0.2, 0], 0); // global yaw only
  poses.set([0, 0.1, 0, 0, 0.25, 0], 12); // global + neck
  poses.set([0, -0.9, 0], 24); // beyond the clamp, the other way
  const r = rng(9);
  for (let b = 3; b < B; b++) for (let i = 0; i < 12; i++) poses[b * 12 + i] = (r() * 2 - 1) * 0.5;
  const ref = flameRef(flame, params, B, poses);
  awayFromEdges(ref);
  assert.is(ref.yawRow![0], expectedRow(-0.2 * 180 / Math.PI), 'global yaw 0.2 rad');
  assert.is(ref.yawRow![1], expectedRow(-0.35 * 180 / Math.PI), 'global + neck');
  assert.is(ref.yawRow![2], 39);
  const out = await run(flame, params, poses);
  assertClose(out.landmarks3d, ref.landmarks3d!, TOL_V, 'landmarks3d with poses');
  assertClose(out.landmarks3dProjected, ref.landmarks3dProjected!, TOL_PX, 'landmarks3d projected, with poses');
});

test('flame_landmarks kernel on reference vertices and transforms; static FLAMEs unchanged; clear errors', async () => {
  const angles = [3, -25, 60];
  const B = angles.length;
  const params = yawParams(angles, 5);
  const ref = flameRef(flame, params, B);
  const xf = new Float32Array(B * XF_STRIDE);
  for (let b = 0; b < B; b++) {
    xf.set(ref.A.subarray(b * 60, b * 60 + 60), b * XF_STRIDE);
    xf.set(ref.rotation.subarray(b * 9, b * 9 + 9), b * XF_STRIDE + 60);
    xf.set([Math.max(params[b * NP + 412] + 1, 1e-8), params[b * NP + 409], params[b * NP + 410]], b * XF_STRIDE + 69);
  }
  const g = await newGraph();
  const verts = g.input('verts', [B, flame.V, 3]);
  const w = flameWeights(g, packFlame(flame));
  const xfIn = g.input('xf', [B, XF_STRIDE]);
  g.output('dyn', flameLandmarks(g, verts, w, xfIn));
  const sw = flameWeights(g, packFlame(staticFlame));
  g.output('static', flameLandmarks(g, verts, sw));
  const sp = flameLandmarksProjected(g, verts, sw, xfIn); // xf bound for the projection only
  g.output('staticProjected', sp.projected);
  assert.throws(() => flameLandmarks(g, verts, w), /dynamic contour needs the transforms/);
  const out = await runGraph(g, { verts: Float32Array.from(ref.vertices), xf });
  assertClose(out.dyn, ref.landmarks3d!, { atol: 1e-7, rtol: 0 }, 'dynamic landmarks');
  const sref = flameRef(staticFlame, params, B);
  assertClose(out.static, sref.landmarks3d!, { atol: 1e-7, rtol: 0 }, 'static landmarks');
  assertClose(out.staticProjected, sref.landmarks3dProjected!, { atol: 1e-4, rtol: 0 }, 'static landmarks projected');
  assert.throws(() => packFlame({ ...flame, lmkFacesIdx: undefined, lmkBaryCoords: undefined }), /needs both arrays and the 68-point/);
  assert.throws(() => packFlame({ ...flame, dynLmkFacesIdx: flame.dynLmkFacesIdx!.subarray(17) }), /dynamic_lmk_faces_idx has 1326 values, expected 1343/);
});

test.run();

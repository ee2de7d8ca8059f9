import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { buildFlame, type FlameArrays } from '../src/model/flame.ts';
import { syntheticFlame } from '../src/model/synthetic-flame.ts';
import { flameBlend, flameJoints, flameLandmarks, flameSkin, flameWeights, packFlame, XF_STRIDE, type BlendTiles } from '../src/kernels/flame_lbs.ts';
import { checkFlameParity, flameRef, type FlameRef } from './reference/flame.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { assertClose, newGraph, rng, runGraph } from './helpers.ts';

// Vertices are O(0.1) model units, sums of ~440 f32 terms of O(1e-2): errors ~1e-7; SPEC
// budget: 1e-5 model units, 1e-3 crop pixels.
const TOL_V = { atol: 1e-5, rtol: 0 };
const TOL_PX = { atol: 1e-3, rtol: 0 };
const TOL_SMALL = { atol: 2e-6, rtol: 1e-5 };

const flame = syntheticFlame(0);
const NP = 413;

/** Random params like a trained head's: betas ~ +-2, jaw ~ 0.3 rad, a rotated 6D, scale 0.5..8. */
function randomParams(B: number, seed: number): Float32Array {
  const r = rng(seed);
  const u = (a: number) => (r() * 2 - 1) * a;
  const p = new Float32Array(B * NP);
  for (let b = 0; b < B; b++) {
    const o = b * NP;
    for (let k = 0; k < 400; k++) p[o + k] = u(k < 300 ? 2 : 1.5);
    for (let k = 400; k < 403; k++) p[o + k] = u(0.3);
    const r6 = [1 + u(0.4), u(0.4), u(0.4), u(0.4), -1 + u(0.4), u(0.4)];
    p.set(r6, o + 403);
    p[o + 409] = u(0.2); p[o + 410] = u(0.2); p[o + 411] = u(0.2);
    p[o + 412] = -0.5 + r() * 7.5;
  }
  return p;
}

function randomPoses(B: number, seed: number, scale = 0.4): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: B * 12 }, () => (r() * 2 - 1) * scale);
}

function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Reference v_posed padded to the kernels' row stride. */
function padRows(x: Float64Array, B: number, n: number, stride: number): Float32Array {
  const o = new Float32Array(B * stride);
  for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) o[b * stride + i] = x[b * n + i];
  return o;
}

function refXf(ref: FlameRef, params: Float32Array, B: number): Float32Array {
  const xf = new Float32Array(B * XF_STRIDE);
  for (let b = 0; b < B; b++) {
    xf.set(ref.A.subarray(b * 60, b * 60 + 60), b * XF_STRIDE);
    xf.set(ref.rotation.subarray(b * 9, b * 9 + 9), b * XF_STRIDE + 60);
    xf[b * XF_STRIDE + 69] = Math.max(params[b * NP + 412] + 1, 1e-8);
    xf[b * XF_STRIDE + 70] = params[b * NP + 409];
    xf[b * XF_STRIDE + 71] = params[b * NP + 410];
  }
  return xf;
}

test('synthetic FLAME: shapes, normalised rows, closed-ish outward mesh, deterministic', () => {
  const f = syntheticFlame(0);
  assert.is(f.synthetic, true);
  assert.equal([f.V, f.F, f.J, f.nShapedirs], [5023, 9976, 5, 400]);
  assert.is(f.vTemplate.length, 5023 * 3);
  assert.is(f.shapedirs.length, 5023 * 3 * 400);
  assert.is(f.posedirs.length, 36 * 5023 * 3);
  assert.equal([...f.parents], [-1, 0, 1, 1, 1]);
  for (let v = 0; v < f.V; v++) {
    let s = 0;
    for (let j = 0; j < 5; j++) { assert.ok(f.weights[v * 5 + j] >= 0); s += f.weights[v * 5 + j]; }
    assert.ok(Math.abs(s - 1) < 1e-6, `weights row ${v} sums to ${s}`);
  }
  for (let j = 0; j < 5; j++) {
    let s = 0, nnz = 0;
    for (let v = 0; v < f.V; v++) { const w = f.jRegressor[j * f.V + v]; if (w) { nnz++; s += w; } }
    assert.ok(nnz >= 16 && nnz <= 64, `J_regressor row ${j}: ${nnz} non-zeros`);
    assert.ok(Math.abs(s - 1) < 1e-6, `J_regressor row ${j} sums to ${s}`);
  }
  // Head-sized, magnitudes of the blend shapes as in FLAME.
  let ext = 0;
  for (const x of f.vTemplate) ext = Math.max(ext, Math.abs(x));
  assert.ok(ext > 0.08 && ext < 0.2, `template extent ${ext}`);
  let sd = 0, pd = 0;
  for (const x of f.shapedirs) sd = Math.max(sd, Math.abs(x));
  for (const x of f.posedirs) pd = Math.max(pd, Math.abs(x));
  assert.ok(sd > 1e-3 && sd < 5e-2 && pd > 1e-3 && pd < 5e-2, `max |shapedirs| ${sd}, |posedirs| ${pd}`);
  // Faces valid, outward (positive signed volume), every edge used at most twice.
  const edges = new Map<number, number>();
  let vol = 0;
  const P = (i: number) => [f.vTemplate[i * 3], f.vTemplate[i * 3 + 1], f.vTemplate[i * 3 + 2]];
  for (let t = 0; t < f.F; t++) {
    const [a, b, c] = [f.faces[t * 3], f.faces[t * 3 + 1], f.faces[t * 3 + 2]];
    assert.ok(a < f.V && b < f.V && c < f.V && a !== b && b !== c && a !== c);
    const [pa, pb, pc] = [P(a), P(b), P(c)];
    vol += pa[0] * (pb[1] * pc[2] - pb[2] * pc[1]) - pa[1] * (pb[0] * pc[2] - pb[2] * pc[0]) + pa[2] * (pb[0] * pc[1] - pb[1] * pc[0]);
    for (const [x, y] of [[a, b], [b, c], [c, a]]) {
      const k = Math.min(x, y) * 8192 + Math.max(x, y);
      edges.set(k, (edges.get(k) ?? 0) + 1);
    }
  }
  assert.ok(vol > 0, 'faces wind outward');
  assert.ok([...edges.values()].every((n) => n <= 2), 'manifold edges');
  assert.is(f.lmkFacesIdx!.length, 68);
  for (let l = 0; l < 68; l++) {
    assert.ok(f.lmkFacesIdx![l] < f.F);
    const b = f.lmkBaryCoords!.subarray(l * 3, l * 3 + 3);
    assert.ok(Math.abs(b[0] + b[1] + b[2] - 1) < 1e-6 && b[0] > 0 && b[1] > 0 && b[2] > 0);
  }
  // Landmarks sit on the front of the face (+z).
  for (let l = 0; l < 68; l++) assert.ok(f.vTemplate[f.faces[f.lmkFacesIdx![l] * 3] * 3 + 2] > 0.02, `landmark ${l} on the face`);
  const g = syntheticFlame(0);
  assert.ok(Buffer.from(g.shapedirs.buffer).equals(Buffer.from(f.shapedirs.buffer)), 'deterministic');
  const h = syntheticFlame(1);
  assert.not.ok(Buffer.from(h.shapedirs.buffer).equals(Buffer.from(f.shapedirs.buffer)), 'seeded');
});

test('synthetic FLAME: bit-identical to the Python generator (Synthetic FLAME v1)', () => {
  const path = new URL('./fixtures/flame_fixtures.json', import.meta.url);
  assert.ok(existsSync(path), 'test/fixtures/flame_fixtures.json missing: run /usr/bin/python3 test/fixtures/make_flame_fixtures.py');
  const fx = JSON.parse(readFileSync(path, 'utf8')) as { synthetic_flame_sha256: Record<string, Record<string, string>> };
  const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
  for (const [seed, want] of Object.entries(fx.synthetic_flame_sha256)) {
    const f = syntheticFlame(Number(seed));
    const got: Record<string, string> = {
      v_template: sha(f.vTemplate), shapedirs: sha(f.shapedirs), posedirs: sha(f.posedirs), J_regressor: sha(f.jRegressor),
      weights: sha(f.weights), parents: sha(f.parents), faces: sha(new Int32Array(f.faces)),
      lmk_faces_idx: sha(new Int32Array(f.lmkFacesIdx!)), lmk_bary_coords: sha(f.lmkBaryCoords!),
    };
    for (const k of Object.keys(want)) assert.is(got[k], want[k], `seed ${seed}: ${k}`);
  }
});

async function runLayer(f: FlameArrays, params: Float32Array, B: number, poses?: Float32Array, tiles?: BlendTiles) {
  const g = await newGraph();
  const p = g.input('params', [B, NP]);
  const ps = poses ? g.input('poses', [B, 12]) : undefined;
  const o = buildFlame(g, p, f, { poses: ps, blendTiles: tiles });
  g.output('vertices', o.vertices);
  g.output('projected', o.projected);
  g.output('rotation', o.rotation);
  if (o.landmarks3d) g.output('landmarks3d', o.landmarks3d);
  assert.ok(g.nodes.every((n) => n.stage === 'flame'));
  return runGraph(g, poses ? { params, poses } : { params });
}

function checkLayer(out: Record<string, Float32Array>, ref: FlameRef, label: string) {
  assertClose(out.vertices, ref.vertices, TOL_V, `${label} vertices`);
  assertClose(out.projected, ref.projected, TOL_PX, `${label} projected`);
  assertClose(out.rotation, ref.rotation, TOL_SMALL, `${label} rotation`);
  assertClose(out.landmarks3d, ref.landmarks3d!, TOL_V, `${label} landmarks3d`);
}

test('flame layer: batch 1 and 3 vs float64 LBS, with and without poses', async () => {
  for (const [B, withPoses, seed] of [[1, false, 1], [1, true, 2], [3, true, 3]] as [number, boolean, number][]) {
    const params = randomParams(B, seed);
    const poses = withPoses ? randomPoses(B, seed + 100) : undefined;
    const ref = flameRef(flame, params, B, poses);
    const out = await runLayer(flame, params, B, poses);
    checkLayer(out, ref, `B=${B} poses=${withPoses}`);
    if (B === 3) console.log(`  flame B=3: max |dv| ${maxErr(out.vertices, ref.vertices).toExponential(2)}, max |dpx| ${maxErr(out.projected, ref.projected).toExponential(2)}`);
  }
});

test('flame layer: neutral params give the rotated template; frontal face is R = diag(1, -1, -1)', async () => {
  const params = new Float32Array(NP);
  params.set([1, 0, 0, 0, -1, 0], 403);
  const out = await runLayer(flame, params, 1);
  assertClose(out.rotation, [1, 0, 0, 0, -1, 0, 0, 0, -1], { atol: 0, rtol: 0 }, 'frontal rotation');
  const want = new Float64Array(flame.V * 3);
  for (let v = 0; v < flame.V; v++) {
    want[v * 3] = flame.vTemplate[v * 3];
    want[v * 3 + 1] = -flame.vTemplate[v * 3 + 1];
    want[v * 3 + 2] = -(flame.vTemplate[v * 3 + 2] + 0.05);
  }
  assertClose(out.vertices, want, { atol: 1e-6, rtol: 0 }, 'neutral vertices');
  for (let v = 0; v < flame.V; v++) assertClose(out.projected.subarray(v * 2, v * 2 + 2), [(want[v * 3] + 1) * 128, (want[v * 3 + 1] + 1) * 128], TOL_PX, `neutral projection ${v}`);
});

test('flame_joints: joints, pose features, chain, 6D rotation (large angles too)', async () => {
  const B = 4;
  const params = randomParams(B, 11);
  const poses = randomPoses(B, 12, 1.2);
  // Large and tiny rotations exercise the sin/cos range reduction and the +1e-8 of Rodrigues.
  params.set([2.5, -1.9, 1.1], 1 * NP + 400);
  params.set([0, 0, 0], 2 * NP + 400);
  poses.set([5.5, -7.0, 2.0], 3 * 12);
  poses.set([1e-9, 0, -1e-9], 3 * 12 + 3);
  const ref = flameRef(flame, params, B, poses);
  const g = await newGraph();
  const w = flameWeights(g, packFlame(flame));
  const { coef, xf, rotation } = flameJoints(g, g.input('params', [B, NP]), w, g.input('poses', [B, 12]));
  g.output('coef', coef); g.output('xf', xf); g.output('rotation', rotation);
  const out = await runGraph(g, { params, poses });
  const wantCoef = new Float32Array(B * 436);
  for (let b = 0; b < B; b++) {
    wantCoef.set(params.subarray(b * NP, b * NP + 400), b * 436);
    wantCoef.set(ref.poseFeature.subarray(b * 36, b * 36 + 36), b * 436 + 400);
  }
  assertClose(out.coef, wantCoef, TOL_SMALL, 'betas and pose features');
  assertClose(out.xf, refXf(ref, params, B), TOL_SMALL, 'transforms');
  assertClose(out.rotation, ref.rotation, TOL_SMALL, 'rotation');
});

test('flame_blend: both schedules, ragged batch tiles', async () => {
  const packed = packFlame(flame);
  for (const [B, tiles] of [
    [1, { WG_N: 64, CN: 1, KS: 1, BT: 1 }], [3, { WG_N: 64, CN: 1, KS: 4, BT: 2 }], [5, { WG_N: 32, CN: 2, KS: 8, BT: 4 }],
    [2, { WG_N: 64, CN: 4, KS: 1, BT: 8 }], [6, { WG_N: 16, CN: 3, KS: 2, BT: 4 }],
  ] as [number, BlendTiles][]) {
    const params = randomParams(B, 20 + B);
    const poses = randomPoses(B, 30 + B);
    const ref = flameRef(flame, params, B, poses);
    const coefIn = new Float32Array(B * 436);
    for (let b = 0; b < B; b++) {
      coefIn.set(params.subarray(b * NP, b * NP + 400), b * 436);
      coefIn.set(ref.poseFeature.subarray(b * 36, b * 36 + 36), b * 436 + 400);
    }
    const g = await newGraph();
    const w = flameWeights(g, packed);
    g.output('vposed', flameBlend(g, g.input('coef', [B, 436]), w, tiles));
    const out = await runGraph(g, { coef: coefIn });
    const S = packed.N4 * 4;
    assertClose(out.vposed, padRows(ref.vPosed, B, flame.V * 3, S), TOL_SMALL, `blend B=${B} ${JSON.stringify(tiles)}`);
  }
});

test('flame_skin and flame_landmarks on reference inputs', async () => {
  const B = 2;
  const packed = packFlame(flame);
  const params = randomParams(B, 40);
  const poses = randomPoses(B, 41, 0.8);
  const ref = flameRef(flame, params, B, poses);
  const S = packed.N4 * 4;
  const g = await newGraph();
  const w = flameWeights(g, packed);
  const { vertices, projected } = flameSkin(g, g.input('vposed', [B, S]), g.input('xf', [B, XF_STRIDE]), w);
  g.output('vertices', vertices);
  g.output('projected', projected);
  g.output('landmarks3d', flameLandmarks(g, g.input('verts', [B, flame.V, 3]), w));
  const out = await runGraph(g, { vposed: padRows(ref.vPosed, B, flame.V * 3, S), xf: refXf(ref, params, B), verts: Float32Array.from(ref.vertices) });
  assertClose(out.vertices, ref.vertices, { atol: 1e-6, rtol: 0 }, 'skinned vertices');
  assertClose(out.projected, ref.projected, { atol: 2e-4, rtol: 0 }, 'projection');
  assertClose(out.landmarks3d, ref.landmarks3d!, { atol: 1e-7, rtol: 0 }, 'landmarks');
});

test('flame: another seed, fewer components (nShape 100, nExpr 50), no landmark embedding', async () => {
  const f = { ...syntheticFlame(7), lmkFacesIdx: undefined, lmkBaryCoords: undefined };
  const B = 2, np = 163;
  const r = rng(5);
  const params = new Float32Array(B * np);
  for (let i = 0; i < params.length; i++) params[i] = (r() * 2 - 1) * 1.5;
  for (let b = 0; b < B; b++) params[b * np + 162] = 2;
  const ref = flameRef(f, params, B, undefined, { nShape: 100, nExpr: 50 });
  const g = await newGraph();
  const o = buildFlame(g, g.input('params', [B, np]), f, { nShape: 100, nExpr: 50 });
  assert.is(o.landmarks3d, undefined);
  g.output('vertices', o.vertices);
  g.output('projected', o.projected);
  const out = await runGraph(g, { params });
  assertClose(out.vertices, ref.vertices, TOL_V, 'vertices');
  assertClose(out.projected, ref.projected, TOL_PX, 'projected');
});

test('flame: clear errors for a wrong params width or poses shape', async () => {
  const g = await newGraph();
  assert.throws(() => buildFlame(g, g.input('p', [2, 400]), flame), /400 values per item, expected 413/);
  assert.throws(() => buildFlame(g, g.input('q', [2, 413]), flame, { poses: g.input('r', [2, 9]) }), /poses must be \[2, 12\]/);
  assert.throws(() => packFlame(flame, 300, 200), /do not fit shapedirs/);
});

test('flame layer vs PyTorch: committed small fixture (synthetic FLAME rebuilt from its seed)', async () => {
  const dir = new URL('./fixtures/small/', import.meta.url);
  const meta = JSON.parse(readFileSync(new URL('flame.json', dir), 'utf8')) as { seed: number; sha256: Record<string, string> };
  const f = syntheticFlame(meta.seed);
  assert.is(createHash('sha256').update(new Uint8Array(f.shapedirs.buffer)).digest('hex'), meta.sha256.shapedirs, 'the fixture\'s FLAME');
  const { tensors } = readSafetensors(new Uint8Array(readFileSync(new URL('expected.safetensors', dir))), 'small/expected.safetensors');
  await checkFlameParity(tensors, f, 'small');
});

test.run();

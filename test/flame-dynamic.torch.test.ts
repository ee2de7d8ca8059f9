// landmarks3d with FLAME's dynamic contour vs PyTorch (python/trans3dhead_ref/flame.py's
// FlameLayer, which follows FLAME_PyTorch's lookup literally), on the synthetic FLAME with its
// synthetic contour (bit-identical in both languages), across yaw bins, the bin edges, the
// +-39 degree clamp, and global/neck poses. Tolerance: 1e-5 model units (SPEC's FLAME budget;
// landmarks are ~0.15 units, f32 errors here ~1e-7), and the same contour row per item.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { buildFlame } from '../src/model/flame.ts';
import { syntheticDynamicContour, syntheticFlame } from '../src/model/synthetic-flame.ts';
import { flameRef } from './reference/flame.ts';
import { assertClose, newGraph, rng, runGraph } from './helpers.ts';

const PY = '/usr/bin/python3';
const NP = 413;
const TOL = { atol: 1e-5, rtol: 0 };

const SCRIPT = `
import json, sys, numpy as np, torch
from trans3dhead_ref import synthetic_flame as sf
from trans3dhead_ref.flame import FlameLayer
a = json.load(sys.stdin)
f = sf.generate(0)
layer = FlameLayer(dict(f, **sf.dynamic_contour(f)))
p = torch.tensor(a["params"], dtype=torch.float32).view(-1, 413)
poses = torch.tensor(a["poses"], dtype=torch.float32).view(-1, 12)
with torch.no_grad():
    o = layer(p, global_pose=poses[:, 0:3], neck_pose=poses[:, 3:6], eye_pose=poses[:, 6:12])
json.dump({"landmarks3d": o["landmarks3d"].reshape(-1).tolist(), "rows": o["contour_rows"].tolist()}, sys.stdout)
`;

test('landmarks3d with the dynamic contour: engine == PyTorch FlameLayer across yaw bins, edges, clamp and poses', async () => {
  const s = syntheticFlame(0);
  const flame = { ...s, ...syntheticDynamicContour(s) };
  // FLAME's bin angle y (degrees) from the 6D rotation R = diag(1, -1, -1) Ry(-y); edges +-0.02.
  const angles = [0, 0.48, 0.52, 12.48, 12.52, 38.48, 38.52, 39.6, 75, -0.48, -0.52, -17, -38.52, -39.6, -80, 0, 0, 5, -5];
  const B = angles.length;
  const r = rng(4);
  const params = new Float32Array(B * NP), poses = new Float32Array(B * 12);
  angles.forEach((y, b) => {
    for (let k = 0; k < 403; k++) params[b * NP + k] = (r() * 2 - 1) * (k < 400 ? 0.8 : 0.2);
    const t = (y * Math.PI) / 180;
    params.set([Math.cos(t), 0, -Math.sin(t), 0, -1, 0], b * NP + 403);
    params[b * NP + 412] = 1;
  });
  poses.set([0, 0.3, 0, 0, 0.2, 0], 15 * 12); // global + neck yaw: -28.6 degrees
  poses.set([0.1, -0.4, 0.05, 0.2, -0.3, 0.1], 16 * 12); // the other way, past the clamp
  for (let b = 17; b < B; b++) for (let i = 0; i < 6; i++) poses[b * 12 + i] = (r() * 2 - 1) * 0.4; // pitch and roll too

  const py = spawnSync(PY, ['-c', SCRIPT], {
    cwd: 'python', input: JSON.stringify({ params: [...params], poses: [...poses] }), encoding: 'utf8', timeout: 300_000,
    env: { ...process.env, PYTHONWARNINGS: 'ignore' }, maxBuffer: 64 << 20,
  });
  assert.ok(!py.error, `could not run ${PY} (${py.error?.message}): the parity tests need Debian's PyTorch (apt-get install python3-torch python3-scipy)`);
  assert.is(py.status, 0, py.stderr.slice(-4000));
  const want = JSON.parse(py.stdout) as { landmarks3d: number[]; rows: number[] };

  const ref = flameRef(flame, params, B, poses);
  assert.equal([...ref.yawRow!], want.rows, 'float64 reference picks PyTorch\'s rows');
  assert.equal(want.rows.slice(0, 15), [0, 0, 1, 12, 13, 38, 39, 39, 39, 0, 40, 56, 78, 78, 78]);
  assert.is(want.rows[15], 39 + 29, 'global + neck yaw');
  assert.is(want.rows[16], 39);

  const g = await newGraph();
  const o = buildFlame(g, g.input('params', [B, NP]), flame, { poses: g.input('poses', [B, 12]) });
  g.output('landmarks3d', o.landmarks3d!);
  const out = await runGraph(g, { params, poses });
  assertClose(out.landmarks3d, want.landmarks3d, TOL, 'engine vs PyTorch landmarks3d');
  let worst = 0;
  for (let i = 0; i < want.landmarks3d.length; i++) worst = Math.max(worst, Math.abs(out.landmarks3d[i] - want.landmarks3d[i]));
  console.log(`  dynamic landmarks3d: max |engine - PyTorch| ${worst.toExponential(2)} model units (B=${B})`);
});

test.run();

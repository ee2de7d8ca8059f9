// Compact weights on the full model (.cache/torch-full: the PyTorch reference's BatchNorm-
// calibrated weights, made by `node scripts/test.mjs --torch`), on the real photo:
//  - `convert --dtype f16 / int8` sizes: <= 97 MiB and <= 50 MiB (issue 16);
//  - the GPU's compact weights compute exactly what the file stores: the f16 file run with f16
//    weights on the GPU equals the same file widened to f32 on the GPU (f32 accumulation in both);
//  - drift against PyTorch's f32 outputs, bounded.
// The drift budgets (f16 <= 0.5 px / 0.2 deg, int8 <= 2 px / 1 deg) are NOT met by this
// fixture, for a reason of the fixture (bench/README "Compact weights"): its 3DMM head is a ridge
// fit on this photo's exact features (python/trans3dhead_ref/init.py), a sum of +-100-sized terms
// that cancel to ~1, so it amplifies any feature change about 100x; rounding the backbone alone
// to f16 moves the pose 4.4 deg (input_proj 0.02, params branch 0.13, landmark branch 0). The
// bounds below are the measured drift with margin (regression guards), except landmarks, which
// meet the budgets (f16 0.5 px, int8 2 px) on this photo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f16ToF32 } from '../src/io/tensor.ts';
import { f32ToF16 } from '../src/kernels/weights.ts';
import { nodePlatform } from '../src/platform/node.ts';
import { Trans3DHead, type HeadResult } from '../src/model/trans3dhead.ts';
import { compactWeightsToSafetensors, parseWeights } from '../src/model/weights.ts';
import type { WeightFormat } from '../src/kernels/weights.ts';
import { config, expected, maxAbsDiff } from './model-helpers.ts';
import { gpu } from './helpers.ts';

const DIR = '.cache/torch-full';
const PHOTO = 'test/fixtures/astronaut-head.png';
const exp = expected(DIR);
const cfg = config(DIR);
const flame = `${DIR}/flame/generic_model.pkl`;
const src = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'model.pth', { config: cfg });
const files = { f16: compactWeightsToSafetensors(src.sd, src.config, 'f16'), int8: compactWeightsToSafetensors(src.sd, src.config, 'int8') };
const MiB = 2 ** 20;

/** Largest distance between corresponding 2D points, px. */
function maxDist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i += 2) m = Math.max(m, Math.hypot(a[i]! - b[i]!, a[i + 1]! - b[i + 1]!));
  return m;
}

async function run(weights: Uint8Array, weightFormat: WeightFormat): Promise<{ r: HeadResult; gpuMiB: number }> {
  const model = await Trans3DHead.create(nodePlatform, { weights, flame, config: cfg, device: await gpu(), weightFormat, warmUp: false });
  try { return { r: await model.run(PHOTO, { box: 'image' }), gpuMiB: model.weightBytes / MiB }; } finally { await model.dispose(); }
}

function drift(r: HeadResult) {
  const pose = exp.get('pose')!;
  return {
    landmarks: maxDist(r.landmarks, exp.get('landmarks')!), projected: maxDist(r.projectedVertices, exp.get('projected')!),
    params: maxAbsDiff(r.params, exp.get('params')!), pose: maxAbsDiff([r.pose.pitch, r.pose.yaw, r.pose.roll], pose),
  };
}

test('f16 and bf16 .pth checkpoints (PyTorch .half() / .bfloat16()) load as f16, values exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 't3dh-half-'));
  const small = 'test/fixtures/small';
  const py = `import torch, sys
sd = torch.load(sys.argv[1])['state_dict']
for name, dt in (('f16', torch.float16), ('bf16', torch.bfloat16)):
    torch.save({k: (v.to(dt) if v.is_floating_point() else v) for k, v in sd.items()}, f'{sys.argv[2]}/{name}.pth')`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, `${small}/model.pth`, dir], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const ref = parseWeights(new Uint8Array(readFileSync(`${small}/model.pth`)), 'model.pth', { config: config(small) });
  const bf16 = (v: number) => { const f = new Float32Array([v]), u = new Uint32Array(f.buffer); u[0] = (u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000; return f[0]!; };
  for (const [name, round] of [['f16', (v: number) => f16ToF32(f32ToF16(v))], ['bf16', bf16]] as const) {
    const w = parseWeights(new Uint8Array(readFileSync(join(dir, `${name}.pth`))), `${name}.pth`, { config: config(small) });
    assert.is(w.dtype, 'f16', name);
    for (const [k, t] of ref.sd) {
      if (k.endsWith('num_batches_tracked')) continue;
      const got = w.sd.get(k)!.data;
      for (let i = 0; i < got.length; i++) if (got[i] !== round(t.data[i]!)) assert.unreachable(`${name} ${k}[${i}]: ${got[i]} vs ${t.data[i]}`);
    }
  }
});

test('convert --dtype sizes on the full model: f16 <= 97 MiB, int8 <= 50 MiB', () => {
  assert.ok(files.f16.length <= 97 * MiB, `f16 ${(files.f16.length / MiB).toFixed(1)} MiB`);
  assert.ok(files.int8.length <= 50 * MiB, `int8 ${(files.int8.length / MiB).toFixed(1)} MiB`);
});

test('f16 on the GPU computes what the f16 file stores; drift against PyTorch f32 within the measured bounds', async () => {
  const gpuF16 = await run(files.f16, 'f16');
  const gpuF32 = await run(files.f16, 'f32');
  const same = maxAbsDiff(gpuF16.r.params, gpuF32.r.params), sameLm = maxAbsDiff(gpuF16.r.landmarks, gpuF32.r.landmarks);
  assert.ok(same <= 1e-4 && sameLm <= 1e-3, `f16 weights on the GPU vs the same values in f32: params ${same}, landmarks ${sameLm}`);
  assert.ok(gpuF16.gpuMiB < 0.6 * gpuF32.gpuMiB, `GPU weights ${gpuF16.gpuMiB.toFixed(1)} vs ${gpuF32.gpuMiB.toFixed(1)} MiB`);
  const d = drift(gpuF16.r);
  console.log(`  f16 drift vs PyTorch f32: ${JSON.stringify(d)}; GPU weights ${gpuF16.gpuMiB.toFixed(1)} MiB`);
  // Landmarks meet the f16 budget (0.36 px measured); projection and pose do not (above).
  assert.ok(d.landmarks <= 0.5, `landmarks ${d.landmarks} px`);
  assert.ok(d.projected <= 15, `projected ${d.projected} px (9.1 measured)`);
  assert.ok(d.pose <= 6, `pose ${d.pose} deg (4.5 measured)`);
});

test('int8 on the GPU (default per-layer choice): smaller on the GPU, landmarks within the 2 px budget, drift bounded', async () => {
  const { r, gpuMiB } = await run(files.int8, 'int8');
  const d = drift(r);
  console.log(`  int8 drift vs PyTorch f32: ${JSON.stringify(d)}; GPU weights ${gpuMiB.toFixed(1)} MiB`);
  assert.ok(r.params.every(Number.isFinite));
  assert.ok(gpuMiB < 80, `GPU weights ${gpuMiB.toFixed(1)} MiB (71 measured; f32 193)`);
  // The default int8 file (stem, layer1, layer2 kept f16): landmarks meet the 2 px budget
  // (1.25 measured); projection (4.7 px) and pose (8 deg) do not. All-int8 measured 4.4 px, 52 deg.
  assert.ok(d.landmarks <= 2, `landmarks ${d.landmarks} px`);
  assert.ok(d.projected <= 10, `projected ${d.projected} px`);
  assert.ok(d.pose <= 12, `pose ${d.pose} deg`);
});

test.run();

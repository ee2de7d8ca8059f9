// int8 files with layers kept in f16 (--keep-f16): file size, GPU weights, drift against
// PyTorch's f32 outputs (.cache/torch-full) on the sample crop. Edit the list of choices below.
//   node --import ./scripts/register.mjs bench/dtype-layers.ts   (bench/README "Compact weights")
import { nodePlatform, getDevice, releaseDevice } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { compactWeightsToSafetensors, parseWeights } from '../src/model/weights.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readFileSync } from 'node:fs';
const DIR = '.cache/torch-full';
const config = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
const ctx = await getDevice();
const flame = `${DIR}/flame/generic_model.pkl`;
const exp = readSafetensors(new Uint8Array(readFileSync(`${DIR}/expected.safetensors`))).tensors;
const src = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'm', { config });
const maxDist = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i += 2) m = Math.max(m, Math.hypot(a[i]! - b[i]!, a[i + 1]! - b[i + 1]!)); return m; };
for (const keep of [['^backbone\\.(conv1|layer1|layer2)\\.', '^params_branch\\.', '^input_proj\\.'], ['^backbone\\.(conv1|layer1|layer2)\\.', '^backbone\\.layer3\\.[01]\\.', '^params_branch\\.', '^input_proj\\.']]) {
  const bytes = compactWeightsToSafetensors(src.sd, src.config, 'int8', { keepF16: keep.map((r) => new RegExp(r)) });
  const m = await Trans3DHead.create(nodePlatform, { weights: bytes, flame, config, device: ctx, warmUp: false });
  const r = await m.run('test/fixtures/astronaut-head.png', { box: 'image' });
  const pose = exp.get('pose')!.data;
  console.log(keep.join(), (bytes.length / 2 ** 20).toFixed(1), 'MiB', 'lm', maxDist(r.landmarks, exp.get('landmarks')!.data).toFixed(3), 'proj', maxDist(r.projectedVertices, exp.get('projected')!.data).toFixed(2), 'pose', Math.max(...[r.pose.pitch, r.pose.yaw, r.pose.roll].map((v, i) => Math.abs(v - pose[i]!))).toFixed(2), 'gpu MiB', (m.weightBytes / 2 ** 20).toFixed(1));
  await m.dispose();
}
await releaseDevice();

// Which weights is the full model's output sensitive to? Rounds one part (backbone, input_proj,
// params branch, landmark branch) to f16 or int8 on the host (taken from .cache/model-<dtype>.safetensors,
// made by bench/dtype.ts), runs in f32 on the GPU, and prints the drift against the all-f32 run.
//   node --import ./scripts/register.mjs bench/dtype-parts.ts f16|int8   (bench/README "Compact weights")
import { nodePlatform, getDevice, releaseDevice } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { parseWeights, weightsToSafetensors, compactWeightsToSafetensors } from '../src/model/weights.ts';
import { readFileSync } from 'node:fs';
const DIR = '.cache/torch-full';
const config = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
const ctx = await getDevice();
const flame = `${DIR}/flame/generic_model.pkl`;
const f32 = parseWeights(new Uint8Array(readFileSync(`${DIR}/model.pth`)), 'm', { config });
const mode = process.argv[2] as 'f16' | 'int8';
const q = parseWeights(new Uint8Array(readFileSync(`.cache/model-${mode}.safetensors`)), 'q');
// folded f32 reference (identity BN): compact file converted to f32 with BN folded = convert f16 path but without rounding
const variants: Record<string, RegExp> = { backbone: /^backbone\./, input_proj: /^input_proj/, params_branch: /^params_branch\./, landmark_branch: /^landmark_branch\./ };
const run = async (sd: Map<string, any>) => {
  const m = await Trans3DHead.create(nodePlatform, { weights: weightsToSafetensors(sd, f32.config), flame, config, device: ctx, weightFormat: 'f32', warmUp: false });
  const r = await m.run('test/fixtures/astronaut-head.png', { box: 'image' });
  await m.dispose();
  return r;
};
const base = await run(f32.sd);
const d = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
for (const [name, re] of Object.entries(variants)) {
  const sd = new Map(f32.sd);
  // backbone: take the whole folded block (weights + identity BN) from the compact file
  for (const [k, v] of q.sd) if (re.test(k)) sd.set(k, v);
  const r = await run(sd);
  console.log(mode, name, 'lm', d(r.landmarks, base.landmarks).toFixed(3), 'proj', d(r.projectedVertices, base.projectedVertices).toFixed(3), 'params', d(r.params, base.params).toFixed(4), 'pose', d([r.pose.pitch, r.pose.yaw, r.pose.roll], [base.pose.pitch, base.pose.yaw, base.pose.roll]).toFixed(3));
}
await releaseDevice();

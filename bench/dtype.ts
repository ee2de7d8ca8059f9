// Compact weights (issue 16): per weight dtype, file size, GPU weight memory, model build time,
// ms per frame and the drift of every output against the f32 model, on real photos.
//   node --import ./scripts/register.mjs bench/dtype.ts [--dir .cache/torch-full] [--repeats 5]
//        [--dtypes f32,f16,int8] [--compute f32,f16]
// --compute f16 adds rows with the matmul core's f16 arithmetic (adapters with shader-f16); the
// drift is always against f32 weights with f32 compute.
// The weights are the PyTorch reference's BatchNorm-calibrated ones (python/make_fixtures.py
// --config full -> .cache/torch-full/model.pth); the f16 and int8 files are made here with the
// converter (compactWeightsToSafetensors, what `trans3dhead convert --dtype` writes; cached in
// .cache/model-<dtype>.safetensors: REGENERATE=1 or delete them after changing the converter).
// Adapter: TRANS3DHEAD_ADAPTER (swiftshader, lavapipe, ...).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { nodePlatform, getDevice, releaseDevice } from '../src/platform/node.ts';
import { describeAdapter } from '../src/platform/types.ts';
import { Trans3DHead, type HeadResult } from '../src/model/trans3dhead.ts';
import { compactWeightsToSafetensors, parseWeights } from '../src/model/weights.ts';
import type { WeightFormat } from '../src/kernels/weights.ts';
import type { ComputePrecision } from '../src/graph/tuning.ts';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const DIR = arg('--dir') ?? '.cache/torch-full';
const repeats = Number(arg('--repeats') ?? 5);
const formats = (arg('--dtypes') ?? 'f32,f16,int8').split(',') as WeightFormat[];
const computes = (arg('--compute') ?? 'f32').split(',') as ComputePrecision[];
const SK = '/usr/lib/python3/dist-packages/skimage/data';
// Public-domain / CC0 photos (test/fixtures/ATTRIBUTION.md; skimage's camera.png is CC0).
export const PHOTOS = ['test/fixtures/astronaut-head.png', `${SK}/astronaut.png`, `${SK}/camera.png`].filter((p) => existsSync(p));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };
/** Largest distance between corresponding 2D points, px. */
const maxDist = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i += 2) m = Math.max(m, Math.hypot(a[i]! - b[i]!, a[i + 1]! - b[i + 1]!)); return m; };
const pose = (r: HeadResult) => [r.pose.pitch, r.pose.yaw, r.pose.roll];

const ctx = await getDevice();
const adapter = describeAdapter(ctx.adapter);
console.log(`adapter: ${adapter}; photos: ${PHOTOS.join(', ')}`);
const config = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));
const flame = `${DIR}/flame/generic_model.pkl`;
const files: Record<WeightFormat, string> = { f32: `${DIR}/model.pth`, f16: '.cache/model-f16.safetensors', int8: '.cache/model-int8.safetensors' };
const src = parseWeights(readFileSync(files.f32), files.f32, { config });
for (const f of ['f16', 'int8'] as const) if (!existsSync(files[f]) || process.env.REGENERATE) writeFileSync(files[f], compactWeightsToSafetensors(src.sd, src.config, f));

const rows: string[] = [];
let ref: HeadResult[] | undefined;
for (const compute of computes) for (const f of formats) {
  const t0 = performance.now();
  const model = await Trans3DHead.create(nodePlatform, { weights: files[f], flame, config, device: ctx, compute });
  const build = performance.now() - t0;
  const out: HeadResult[] = [];
  for (const p of PHOTOS) out.push(await model.run(p, { box: 'image' }));
  const img = PHOTOS[0]!;
  await model.run(img, { box: 'image' });
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) { const t = performance.now(); await model.run(img, { box: 'image' }); times.push(performance.now() - t); }
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  let drift = '—';
  if (f === 'f32' && compute === 'f32') ref = out;
  else if (ref) {
    const d = { lm: 0, proj: 0, params: 0, pose: 0 };
    out.forEach((r, i) => {
      console.log(`  ${f}/${compute} ${PHOTOS[i]}: landmarks ${maxDist(r.landmarks, ref![i]!.landmarks).toFixed(3)} px, projected ${maxDist(r.projectedVertices, ref![i]!.projectedVertices).toFixed(3)} px, params ${maxDiff(r.params, ref![i]!.params).toFixed(4)}, pose ${maxDiff(pose(r), pose(ref![i]!)).toFixed(3)} deg`);
      d.lm = Math.max(d.lm, maxDist(r.landmarks, ref![i]!.landmarks));
      d.proj = Math.max(d.proj, maxDist(r.projectedVertices, ref![i]!.projectedVertices));
      d.params = Math.max(d.params, maxDiff(r.params, ref![i]!.params));
      d.pose = Math.max(d.pose, maxDiff(pose(r), pose(ref![i]!)));
    });
    drift = `${d.lm.toFixed(3)} | ${d.proj.toFixed(3)} | ${d.params.toFixed(4)} | ${d.pose.toFixed(3)}`;
  }
  const size = statSync(files[f]).size;
  rows.push(`| ${f} | ${compute} | ${mib(size)} | ${mib(model.weightBytes)} | ${(build / 1000).toFixed(1)} | ${median(times).toFixed(0)} | ${drift} |`);
  console.log(rows[rows.length - 1]);
  await model.dispose();
}
console.log(`\n${adapter}, ${PHOTOS.length} photos, median of ${repeats} runs\n`);
console.log('| dtype | compute | file MiB | GPU weights MiB | build s | ms/frame | landmarks px | projected px | params | pose deg |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
await releaseDevice();

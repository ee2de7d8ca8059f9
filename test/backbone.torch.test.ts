// Full-size parity: ResNet-50 (width 64) at 256x256 against PyTorch's c5 on the fixture photo
// (.cache/torch-full, made by `npm run test:torch`, or by hand:
// /usr/bin/python3 python/make_fixtures.py --config full --out .cache/torch-full).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { Graph } from '../src/graph/graph.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import { BACKBONE_INPUT_CHANNELS, buildBackbone, type BackboneConfig } from '../src/model/backbone.ts';
import { gpu, runGraph } from './helpers.ts';

const DIR = '.cache/torch-full';

test('ResNet-50 backbone at 256x256 equals PyTorch c5 (relative L2 <= 1e-4, max abs <= 1e-3 max|ref|)', async () => {
  for (const f of ['model.pth', 'expected.safetensors', 'config.json']) {
    if (!existsSync(`${DIR}/${f}`)) {
      throw new Error(`${DIR}/${f} is missing: the full-size PyTorch reference is generated, not committed. ` +
        `Make it with \`npm run test:torch\` or /usr/bin/python3 python/make_fixtures.py --config full --out ${DIR} (needs Debian's python3-torch).`);
    }
  }
  const cfg = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')).backbone as BackboneConfig;
  const sd = readTorchCheckpoint(new Uint8Array(readFileSync(`${DIR}/model.pth`)), { file: `${DIR}/model.pth` });
  const exp = readSafetensors(new Uint8Array(readFileSync(`${DIR}/expected.safetensors`)), `${DIR}/expected.safetensors`).tensors;
  const inp = exp.get('input')!, c5 = exp.get('c5')!;
  const [B, , H, W] = inp.shape;
  const C = BACKBONE_INPUT_CHANNELS;
  const x = new Float32Array(B * H * W * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) x[(b * H * W + i) * C + c] = inp.data[(b * 3 + c) * H * W + i];
  const g = new Graph(tuningFor(await gpu()));
  const y = buildBackbone(g, g.input('x', [B, H, W, C]), sd, cfg);
  g.output('c5', y);
  const [, h, w, N] = y.shape;
  assert.equal([B, N, h, w], c5.shape, 'c5 shape (NCHW)');
  const got = (await runGraph(g, { x })).c5;
  let d2 = 0, r2 = 0, dmax = 0, rmax = 0;
  for (let b = 0; b < B; b++) for (let c = 0; c < N; c++) for (let i = 0; i < h * w; i++) {
    const r = c5.data[(b * N + c) * h * w + i], v = got[(b * h * w + i) * N + c];
    d2 += (v - r) ** 2; r2 += r * r; dmax = Math.max(dmax, Math.abs(v - r)); rmax = Math.max(rmax, Math.abs(r));
  }
  const rel = Math.sqrt(d2 / r2);
  console.log(`c5 vs PyTorch: relative L2 ${rel.toExponential(2)}, max abs ${dmax.toExponential(2)} (max|ref| ${rmax.toFixed(3)})`);
  assert.ok(rel <= 1e-4, `relative L2 error ${rel.toExponential(3)} > 1e-4`);
  assert.ok(dmax <= 1e-3 * rmax, `max abs error ${dmax.toExponential(3)} > 1e-3 * max|ref| (${(1e-3 * rmax).toExponential(3)})`);
});

test.run();

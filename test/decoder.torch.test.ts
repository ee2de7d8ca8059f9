// Full-size parity of the decoder branches (d 256, 8 heads, FFN 2048, 413 / 68 queries) against
// PyTorch, from the reference's own memory (.cache/torch-full, made by `npm run test:torch`, or
// by hand: /usr/bin/python3 python/make_fixtures.py --config full --out .cache/torch-full).
import { test } from 'uvu';
import { existsSync, readFileSync } from 'node:fs';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import type { DecoderConfig } from '../src/model/decoder.ts';
import { sinePositionEmbedding } from '../src/model/posenc.ts';
import { assertClose } from './helpers.ts';
import { runBranches } from './decoder-helpers.ts';

const DIR = '.cache/torch-full';
// LayerNorm-scale outputs (out[l], O(1)) and the params head: max abs error 1e-4.
const TOL = { atol: 1e-4, rtol: 0 };
// Landmarks are 256 * (normalised coordinates): the same relative accuracy in crop pixels.
const TOL_PIXELS = { atol: 256 * 1e-5, rtol: 0 };

function load() {
  for (const f of ['model.pth', 'expected.safetensors', 'config.json']) {
    if (!existsSync(`${DIR}/${f}`)) {
      throw new Error(`${DIR}/${f} is missing: the full-size PyTorch reference is generated, not committed. ` +
        `Make it with \`npm run test:torch\` or /usr/bin/python3 python/make_fixtures.py --config full --out ${DIR} (needs Debian's python3-torch).`);
    }
  }
  const cfg = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')) as DecoderConfig;
  const sd = readTorchCheckpoint(new Uint8Array(readFileSync(`${DIR}/model.pth`)), { file: `${DIR}/model.pth` });
  const ex = readSafetensors(new Uint8Array(readFileSync(`${DIR}/expected.safetensors`)), `${DIR}/expected.safetensors`).tensors;
  const get = (k: string) => {
    const t = ex.get(k);
    if (!t) throw new Error(`${DIR}/expected.safetensors has no "${k}": regenerate it with python/make_fixtures.py --config full`);
    return t;
  };
  return { cfg, sd, get };
}

const maxAbsErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('decoder branches at full size equal PyTorch (params_out, landmark_out, params, landmarks_crop; batch 1 and 2)', async () => {
  const { cfg, sd, get } = load();
  const S = get('memory').shape[1];
  assertClose(sinePositionEmbedding(Math.sqrt(S), Math.sqrt(S), cfg.d_model), get('pos').data, { atol: 1e-6, rtol: 0 }, 'pos vs PyTorch');
  for (const [mk, pk, lk] of [['memory', 'params', 'landmarks_crop'], ['batch_memory', 'batch_params', 'batch_landmarks_crop']]) {
    const mem = get(mk);
    const out = await runBranches(sd, cfg, mem);
    const report: string[] = [];
    if (mk === 'memory') {
      for (const [key, pre] of [['params_out', 'p'], ['landmark_out', 'l']]) {
        const e = get(key);
        const per = e.data.length / cfg.num_layers;
        for (let l = 0; l < cfg.num_layers; l++) {
          const ref = e.data.subarray(l * per, (l + 1) * per);
          report.push(`${key}[${l}] ${maxAbsErr(out[`${pre}${l}`], ref).toExponential(2)}`);
          assertClose(out[`${pre}${l}`], ref, TOL, `${key}[${l}]`);
        }
      }
    }
    report.push(`${pk} ${maxAbsErr(out.params, get(pk).data).toExponential(2)}`, `${lk} ${maxAbsErr(out.landmarks, get(lk).data).toExponential(2)} px`);
    console.log(`${mk} (B${mem.shape[0]}) max abs errors: ${report.join(', ')}`);
    assertClose(out.params, get(pk).data, TOL, pk);
    assertClose(out.landmarks, get(lk).data, TOL_PIXELS, lk);
  }
});

test.run();

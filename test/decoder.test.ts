import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { buildLandmarkBranch, buildParamsBranch, branchShapes, type DecoderConfig } from '../src/model/decoder.ts';
import { sinePositionEmbedding } from '../src/model/posenc.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import type { StateDict } from '../src/io/tensor.ts';
import { branchRef, posEmbedRef } from './reference/decoder.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';
import { runBranches } from './decoder-helpers.ts';
import { throwsWFE } from './io-helpers.ts';

// LayerNorm-scale outputs (O(1)) after ~10 f32 ops of K <= 2048 terms each.
const TOL_OUT = { atol: 1e-4, rtol: 1e-4 };
const TOL_PIXELS = { atol: 256 * 1e-5, rtol: 1e-5 };   // landmarks in crop pixels

/** Seeded random weights with trained-like scales for one branch (SPEC key names). */
function randomBranch(cfg: DecoderConfig, kind: 'params' | 'landmark', seed: number): StateDict {
  const sd: StateDict = new Map();
  const prefix = kind === 'params' ? 'params_branch.' : 'landmark_branch.';
  let k = 0;
  for (const [key, shape] of branchShapes(cfg, kind)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? shape[1] : 1;
    let data: Float32Array;
    if (key === 'avg_face') data = randomArray(n, seed + k, 0.5).map((v) => v + 0.5);
    else if (/norm\d?\.weight$/.test(key)) data = randomArray(n, seed + k, 0.3).map((v) => v + 1);
    else if (key === 'query_embed.weight') data = randomArray(n, seed + k, 1.5);
    else if (shape.length > 1) data = randomArray(n, seed + k, Math.sqrt(3 / fanIn));
    else data = randomArray(n, seed + k, 0.2);
    k++;
    sd.set(prefix + key, { shape: [...shape], data });
  }
  return sd;
}

async function check(cfg: DecoderConfig, B: number, S: number, seed: number, grid?: [number, number]) {
  const sd = new Map([...randomBranch(cfg, 'params', seed), ...randomBranch(cfg, 'landmark', seed + 1000)]);
  const memory = randomArray(B * S * cfg.d_model, seed + 2000, 1.5);
  const g = await newGraph();
  const m = g.input('memory', [B, S, cfg.d_model]);
  const pb = buildParamsBranch(g, m, sd, cfg, undefined, { grid });
  const lb = buildLandmarkBranch(g, m, sd, cfg, undefined, { grid });
  assert.equal(pb.params.shape, [B, cfg.num_params]);
  assert.equal(lb.landmarks.shape, [B, cfg.num_landmarks, 2]);
  g.output('params', pb.params);
  g.output('landmarks', lb.landmarks);
  pb.outs.forEach((t, l) => g.output(`p${l}`, t));
  lb.outs.forEach((t, l) => g.output(`l${l}`, t));
  const out = await runGraph(g, { memory });
  const label = `${JSON.stringify(cfg)} B${B} S${S}`;
  for (const kind of ['params', 'landmark'] as const) {
    const ref = branchRef(kind, sd, cfg, memory, B, S, grid);
    const N = kind === 'params' ? cfg.num_params : cfg.num_landmarks;
    const per = B * N * cfg.d_model;
    for (let l = 0; l < cfg.num_layers; l++) {
      assertClose(out[`${kind[0]}${l}`], ref.outs.subarray(l * per, (l + 1) * per), TOL_OUT, `${kind} out[${l}] ${label}`);
    }
    if (ref.params) assertClose(out.params, ref.params, TOL_OUT, `params ${label}`);
    if (ref.landmarks) assertClose(out.landmarks, ref.landmarks, TOL_PIXELS, `landmarks ${label}`);
  }
}

const SMALL: DecoderConfig = { d_model: 32, nhead: 4, dim_feedforward: 64, num_layers: 2, num_params: 413, num_landmarks: 68 };

test('posenc: SPEC section 2 formula', () => {
  for (const [H, W, d] of [[8, 8, 32], [8, 8, 256], [3, 5, 6]]) {
    assertClose(sinePositionEmbedding(H, W, d), posEmbedRef(H, W, d), { atol: 2e-6, rtol: 0 }, `pos ${H}x${W}x${d}`);
  }
});

test('decoder: one layer, both branches vs the CPU reference', async () => {
  await check({ ...SMALL, num_layers: 1 }, 1, 64, 1);
});

test('decoder: whole branches at a small config, batch 1 and 3', async () => {
  await check(SMALL, 1, 64, 2);
  await check(SMALL, 3, 64, 3);
});

test('decoder: other head counts, FFN widths, query counts, non-square memory grid', async () => {
  await check({ d_model: 24, nhead: 2, dim_feedforward: 40, num_layers: 3, num_params: 37, num_landmarks: 5 }, 2, 12, 4, [3, 4]);
  await check({ d_model: 16, nhead: 1, dim_feedforward: 8, num_layers: 2, num_params: 1, num_landmarks: 1 }, 1, 1, 5);
});

test('decoder: state dict validation: WeightFileErrors naming the key and shape', async () => {
  const sd = new Map([...randomBranch(SMALL, 'params', 1), ...randomBranch(SMALL, 'landmark', 2)]);
  const g = await newGraph();
  const m = g.input('memory', [1, 64, 32]);
  const missing = new Map(sd);
  missing.delete('params_branch.layers.1.linear2.bias');
  throwsWFE(() => buildParamsBranch(g, m, missing, SMALL), '[params_branch.layers.1.linear2.bias]: missing weight; expected shape [32]');
  const wrong = new Map(sd);
  wrong.set('landmark_branch.layers.0.cross_attn.qamem.weight', { shape: [68 * 32, 16, 1], data: new Float32Array(68 * 32 * 16) });
  throwsWFE(() => buildLandmarkBranch(g, m, wrong, SMALL), '[landmark_branch.layers.0.cross_attn.qamem.weight]: weight has the wrong shape; expected [2176, 32, 1], found [2176, 16, 1]');
  assert.throws(() => buildParamsBranch(g, g.input('m2', [1, 64, 16]), sd, SMALL), /memory must be \[B, S, 32\]/);
  assert.throws(() => buildParamsBranch(g, g.input('m3', [1, 10, 32]), sd, SMALL), /not a square grid/);
});

// ---- PyTorch parity, small config (test/fixtures/small, made by python/make_fixtures.py) ----

const FIX = 'test/fixtures/small';

test('decoder: PyTorch small fixture (memory -> params_out, landmark_out, params, landmarks_crop; batch 2)', async () => {
  const cfg = JSON.parse(readFileSync(`${FIX}/config.json`, 'utf8')) as DecoderConfig;
  const sd = readTorchCheckpoint(new Uint8Array(readFileSync(`${FIX}/model.pth`)), { file: `${FIX}/model.pth` });
  const ex = readSafetensors(new Uint8Array(readFileSync(`${FIX}/expected.safetensors`)), `${FIX}/expected.safetensors`).tensors;
  const get = (k: string) => { const t = ex.get(k); if (!t) throw new Error(`${FIX}/expected.safetensors has no ${k}`); return t; };
  const S = get('memory').shape[1];
  const side = Math.sqrt(S);
  assertClose(sinePositionEmbedding(side, side, cfg.d_model), get('pos').data, { atol: 1e-6, rtol: 0 }, 'pos vs PyTorch');
  for (const [mk, pk, lk] of [['memory', 'params', 'landmarks_crop'], ['batch_memory', 'batch_params', 'batch_landmarks_crop']]) {
    const mem = get(mk);
    const B = mem.shape[0];
    const out = await runBranches(sd, cfg, mem);
    if (mk === 'memory') {
      for (const [key, pre] of [['params_out', 'p'], ['landmark_out', 'l']]) {
        const e = get(key);
        const per = e.data.length / cfg.num_layers;
        for (let l = 0; l < cfg.num_layers; l++) assertClose(out[`${pre}${l}`], e.data.subarray(l * per, (l + 1) * per), TOL_OUT, `${key}[${l}]`);
      }
    }
    assertClose(out.params, get(pk).data, TOL_OUT, `${pk} (B${B})`);
    assertClose(out.landmarks, get(lk).data, TOL_PIXELS, `${lk} (B${B})`);
  }
});

test.run();

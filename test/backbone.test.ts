// The backbone graph against a CPU ResNet-50 composed from the conv/maxpool references (BN
// applied unfolded, so the folding is tested too), at a small width, with both adapter
// schedules; and against PyTorch's c5 on the committed small fixture.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { Graph } from '../src/graph/graph.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import type { StateDict } from '../src/io/tensor.ts';
import { readTorchCheckpoint } from '../src/io/torch.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { BACKBONE_INPUT_CHANNELS, backboneShapes, buildBackbone, foldBatchNorm, RESNET50_STAGES, type BackboneConfig } from '../src/model/backbone.ts';
import { conv2dRef } from './reference/conv2d.ts';
import { maxpoolRef } from './reference/maxpool.ts';
import { gpu, randomArray, rng, runGraph } from './helpers.ts';
import { throwsWFE } from './io-helpers.ts';

/** Random weights, He-scaled convs, random BatchNorm statistics (damped bn3, as trained nets). */
export function randomBackbone(cfg: BackboneConfig, seed: number): StateDict {
  const sd: StateDict = new Map();
  const r = rng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * r();
  let k = 0;
  for (const [key, shape] of backboneShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (shape.length === 4) data = randomArray(n, seed + 1000 + k, Math.sqrt(6 / (shape[1] * shape[2] * shape[3])));
    else if (key.endsWith('.weight')) data = Float32Array.from({ length: n }, () => (/bn3|downsample/.test(key) ? u(0.1, 0.4) : u(0.5, 1.5)));
    else if (key.endsWith('running_var')) data = Float32Array.from({ length: n }, () => u(0.5, 2));
    else data = Float32Array.from({ length: n }, () => u(-0.2, 0.2));
    sd.set(key, { shape, data });
    k++;
  }
  return sd;
}

/** NCHW [B, 3, H, W] -> NHWC [B, H, W, C] with channels past 3 zero. */
export function toNhwc(x: Float32Array, B: number, H: number, W: number, C = BACKBONE_INPUT_CHANNELS): Float32Array {
  const y = new Float32Array(B * H * W * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) y[(b * H * W + i) * C + c] = x[(b * 3 + c) * H * W + i];
  return y;
}

/** NHWC [B, H, W, C] -> NCHW. */
function toNchw(x: Float32Array, B: number, H: number, W: number, C: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) y[(b * C + c) * H * W + i] = x[(b * H * W + i) * C + c];
  return y;
}

/** CPU ResNet-50: conv (reference) -> eval BatchNorm -> ReLU, NHWC, input [B, H, W, 3]. */
function backboneRef(sd: StateDict, cfg: BackboneConfig, x: Float32Array, B: number, H: number, W: number): { y: Float32Array; shape: number[] } {
  let shape = [B, H, W, 3];
  const conv = (inp: Float32Array, ishape: number[], key: string, bn: string, stride: number, pad: number, relu: boolean, residual?: Float32Array) => {
    const w = sd.get(`backbone.${key}.weight`)!;
    const y = conv2dRef(inp, ishape, w.data, w.shape, { stride, pad });
    const g = sd.get(`backbone.${bn}.weight`)!.data, b = sd.get(`backbone.${bn}.bias`)!.data;
    const m = sd.get(`backbone.${bn}.running_mean`)!.data, v = sd.get(`backbone.${bn}.running_var`)!.data;
    const N = w.shape[0];
    for (let i = 0; i < y.length; i++) {
      const c = i % N;
      let t = (y[i] - m[c]) / Math.sqrt(v[c] + 1e-5) * g[c] + b[c];
      if (residual) t += residual[i];
      y[i] = relu ? Math.max(t, 0) : t;
    }
    const OH = Math.floor((ishape[1] + 2 * pad - w.shape[2]) / stride) + 1, OW = Math.floor((ishape[2] + 2 * pad - w.shape[3]) / stride) + 1;
    return { y, shape: [ishape[0], OH, OW, N] };
  };
  let t = conv(x, shape, 'conv1', 'bn1', 2, 3, true);
  let cur = maxpoolRef(t.y, t.shape, 3, 2, 1);
  shape = [B, Math.floor((t.shape[1] - 1) / 2) + 1, Math.floor((t.shape[2] - 1) / 2) + 1, t.shape[3]];
  RESNET50_STAGES.forEach((blocks, s) => {
    for (let i = 0; i < blocks; i++) {
      const p = `layer${s + 1}.${i}`;
      const stride = s > 0 && i === 0 ? 2 : 1;
      const id = i === 0 ? conv(cur, shape, `${p}.downsample.0`, `${p}.downsample.1`, stride, 0, false).y : cur;
      const a = conv(cur, shape, `${p}.conv1`, `${p}.bn1`, 1, 0, true);
      const b = conv(a.y, a.shape, `${p}.conv2`, `${p}.bn2`, stride, 1, true);
      const c = conv(b.y, b.shape, `${p}.conv3`, `${p}.bn3`, 1, 0, true, id);
      cur = c.y; shape = c.shape;
    }
  });
  return { y: cur, shape };
}

/** Relative L2 error and max abs error relative to max |ref|. */
function errors(got: ArrayLike<number>, ref: ArrayLike<number>): { rel: number; maxRel: number } {
  let d2 = 0, r2 = 0, dmax = 0, rmax = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = got[i] - ref[i];
    d2 += d * d; r2 += ref[i] * ref[i];
    dmax = Math.max(dmax, Math.abs(d)); rmax = Math.max(rmax, Math.abs(ref[i]));
    if (!Number.isFinite(got[i])) return { rel: Infinity, maxRel: Infinity };
  }
  return { rel: Math.sqrt(d2 / r2), maxRel: dmax / rmax };
}

// f32 through 53 convs (K up to ~4.6k at width 64, ~600 here) vs f64-accumulated references:
// the same bounds as the full-size PyTorch parity test.
const REL_L2 = 1e-4, MAX_REL = 1e-3;

async function checkVsCpu(cfg: BackboneConfig, B: number, H: number, W: number, C: number, cpuLike: boolean, seed: number) {
  const ctx = await gpu();
  const g = new Graph({ ...tuningFor(ctx), cpuLike });
  const sd = randomBackbone(cfg, seed);
  const x3 = randomArray(B * 3 * H * W, seed + 1);
  const input = toNhwc(x3, B, H, W, C);
  const c5 = buildBackbone(g, g.input('x', [B, H, W, C]), sd, cfg);
  g.output('c5', c5);
  const out = await runGraph(g, { x: input });
  const ref = backboneRef(sd, cfg, toNhwc(x3, B, H, W, 3), B, H, W);
  assert.equal(c5.shape, ref.shape);
  const e = errors(out.c5, ref.y);
  const label = `width ${cfg.width} [${B}, ${H}, ${W}, ${C}] ${cpuLike ? 'registers' : 'tiled'}`;
  if (process.env.VERBOSE) console.log(label, e);
  assert.ok(e.rel <= REL_L2 && e.maxRel <= MAX_REL, `${label}: relative L2 ${e.rel.toExponential(2)} (<= ${REL_L2}), max abs / max|ref| ${e.maxRel.toExponential(2)} (<= ${MAX_REL})`);
}

test('backbone width 8, 64x64, 4-channel input, both schedules (tiled with split-K) vs CPU', async () => {
  await checkVsCpu({ depth: 50, width: 8 }, 1, 64, 64, 4, true, 1);
  await checkVsCpu({ depth: 50, width: 8 }, 1, 64, 64, 4, false, 2);
});

test('backbone width 4, batch 2, 96x80, 3-channel input vs CPU', async () => {
  await checkVsCpu({ depth: 50, width: 4 }, 2, 96, 80, 3, true, 3);
});

test('backbone width 6 (channels not multiples of 4), odd 72x40 input vs CPU', async () => {
  await checkVsCpu({ depth: 50, width: 6 }, 1, 72, 40, 4, true, 4);
});

const SMALL = 'test/fixtures/small';
test('backbone equals PyTorch c5 on the small fixture (width 8, 256x256)', async () => {
  if (!existsSync(`${SMALL}/expected.safetensors`)) throw new Error(`${SMALL} is missing: /usr/bin/python3 python/make_fixtures.py --config small`);
  const cfg = JSON.parse(readFileSync(`${SMALL}/config.json`, 'utf8')).backbone as BackboneConfig;
  const sd = readTorchCheckpoint(new Uint8Array(readFileSync(`${SMALL}/model.pth`)), { file: `${SMALL}/model.pth` });
  const exp = readSafetensors(new Uint8Array(readFileSync(`${SMALL}/expected.safetensors`)), 'expected').tensors;
  const inp = exp.get('input')!, c5 = exp.get('c5')!;
  const [B, , H, W] = inp.shape;
  const g = new Graph(tuningFor(await gpu()));
  const y = buildBackbone(g, g.input('x', [B, H, W, 4]), sd, cfg);
  g.output('c5', y);
  assert.equal([y.shape[0], y.shape[3], y.shape[1], y.shape[2]], c5.shape);
  const out = await runGraph(g, { x: toNhwc(inp.data, B, H, W) });
  const e = errors(toNchw(out.c5, B, y.shape[1], y.shape[2], y.shape[3]), c5.data);
  if (process.env.VERBOSE) console.log("vs PyTorch", e);
  assert.ok(e.rel <= REL_L2 && e.maxRel <= MAX_REL, `vs PyTorch: relative L2 ${e.rel.toExponential(2)}, max abs / max|ref| ${e.maxRel.toExponential(2)}`);
});

test('backbone: missing or misshapen weights are WeightFileErrors naming the key and the expected shape', async () => {
  const cfg: BackboneConfig = { depth: 50, width: 4 };
  const g = new Graph(tuningFor(await gpu()));
  const x = g.input('x', [1, 32, 32, 4]);
  const sd = randomBackbone(cfg, 5);
  sd.delete('backbone.layer2.0.downsample.1.running_var');
  throwsWFE(() => buildBackbone(g, x, sd, cfg), '[backbone.layer2.0.downsample.1.running_var]: missing weight; expected shape [32]');
  const sd2 = randomBackbone(cfg, 6);
  sd2.set('backbone.layer3.1.conv2.weight', { shape: [16, 16, 1, 3], data: new Float32Array(16 * 16 * 3) });
  throwsWFE(() => buildBackbone(g, x, sd2, cfg), '[backbone.layer3.1.conv2.weight]: weight has the wrong shape; expected [16, 16, 3, 3], found [16, 16, 1, 3]');
  assert.throws(() => buildBackbone(g, g.input('x2', [1, 32, 32, 5]), randomBackbone(cfg, 7), cfg), /NHWC \[B, H, W, 4\]/);
});

test('foldBatchNorm: w*gamma/sqrt(var+eps), beta - mean*gamma/sqrt(var+eps)', () => {
  const f = foldBatchNorm(Float32Array.of(1, 2, 3, 4), 2, { weight: Float32Array.of(2, 0.5), bias: Float32Array.of(1, -1), running_mean: Float32Array.of(0.5, 2), running_var: Float32Array.of(3, 0.25 - 1e-5) });
  const s0 = 2 / Math.sqrt(3 + 1e-5), s1 = 0.5 / 0.5;
  assert.ok(Math.abs(f.weight[0] - s0) < 1e-6 && Math.abs(f.weight[1] - 2 * s0) < 1e-6);
  assert.ok(Math.abs(f.weight[2] - 3 * s1) < 1e-6 && Math.abs(f.weight[3] - 4 * s1) < 1e-6);
  assert.ok(Math.abs(f.bias[0] - (1 - 0.5 * s0)) < 1e-6 && Math.abs(f.bias[1] - (-1 - 2 * s1)) < 1e-6);
});

test.run();

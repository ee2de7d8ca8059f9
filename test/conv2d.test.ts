import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d, convOut, packConvWeight, type ConvTiles } from '../src/kernels/conv2d.ts';
import { conv2dRef } from './reference/conv2d.ts';
import { assertClose, newGraph, randInt, randomArray, rng, runGraph } from './helpers.ts';

// f32 sums of K = kh*kw*cin products of O(1) values against an f64 reference: ~sqrt(K) * 6e-8
// * K absolute error; 1e-4 relative plus 2e-6*sqrt(K) absolute covers K up to several thousand.
const tol = (K: number) => ({ atol: 2e-6 * Math.sqrt(K), rtol: 1e-4 });

interface Case { B: number; H: number; W: number; C: number; N: number; k: number; stride: number; pad: number; bias?: boolean; residual?: boolean; relu?: boolean }

async function check(c: Case, seed: number, tiles?: ConvTiles) {
  const g = await newGraph();
  const OH = convOut(c.H, c.k, c.stride, c.pad), OW = convOut(c.W, c.k, c.stride, c.pad);
  const xs = [c.B, c.H, c.W, c.C], ws = [c.N, c.C, c.k, c.k], ys = [c.B, OH, OW, c.N];
  const X = randomArray(xs.reduce((a, b) => a * b), seed);
  const Wt = randomArray(ws.reduce((a, b) => a * b), seed + 1);
  const bias = c.bias ? randomArray(c.N, seed + 2) : undefined;
  const res = c.residual ? randomArray(ys.reduce((a, b) => a * b), seed + 3) : undefined;
  const x = g.input('x', xs);
  const r = res ? g.input('r', ys) : undefined;
  const w = g.weight('w', [c.k, c.k, c.C, c.N], packConvWeight(Wt, ws));
  const y = conv2d(g, x, w, { bias: bias && g.weight('bias', [c.N], bias), stride: c.stride, pad: c.pad, residual: r, relu: c.relu }, tiles);
  assert.equal(y.shape, ys);
  g.output('y', y);
  const out = await runGraph(g, res ? { x: X, r: res } : { x: X });
  const expected = conv2dRef(X, xs, Wt, ws, { stride: c.stride, pad: c.pad, bias, residual: res, relu: c.relu });
  assertClose(out.y, expected, tol(c.k * c.k * c.C), `conv ${JSON.stringify(c)} ${JSON.stringify(tiles ?? 'default')}`);
}

const REG: ConvTiles = { schedule: 'registers', TM: 8, TN4: 2, WG_X: 8, WG_Y: 8, BK: 4 };
const REG_SMALL: ConvTiles = { schedule: 'registers', TM: 4, TN4: 1, WG_X: 4, WG_Y: 8, BK: 4 };
const TILED: ConvTiles = { schedule: 'tiled', TM: 4, TN4: 1, WG_X: 16, WG_Y: 16, BK: 16 };
const TILED_SMALL: ConvTiles = { schedule: 'tiled', TM: 2, TN4: 2, WG_X: 8, WG_Y: 8, BK: 8 };

test('conv2d: kernel sizes, strides, paddings, ragged channels; every schedule', async () => {
  const cases: Case[] = [
    { B: 1, H: 1, W: 1, C: 1, N: 1, k: 1, stride: 1, pad: 0 },
    { B: 1, H: 9, W: 7, C: 5, N: 6, k: 3, stride: 1, pad: 1, bias: true, relu: true },
    { B: 2, H: 10, W: 11, C: 8, N: 12, k: 3, stride: 2, pad: 1, residual: true, relu: true },
    { B: 1, H: 19, W: 17, C: 4, N: 16, k: 7, stride: 2, pad: 3, bias: true, relu: true },
    { B: 2, H: 8, W: 6, C: 12, N: 20, k: 1, stride: 2, pad: 0, bias: true },
    { B: 1, H: 6, W: 5, C: 3, N: 7, k: 3, stride: 1, pad: 2, residual: true },
    { B: 1, H: 5, W: 5, C: 7, N: 9, k: 1, stride: 1, pad: 0, bias: true, residual: true, relu: true },
    { B: 1, H: 4, W: 4, C: 2, N: 3, k: 3, stride: 2, pad: 3 },
  ];
  // The GPU default (16x16 threads) compiles slowly on SwiftShader: a few cases suffice.
  for (const [i, c] of cases.entries()) {
    for (const tiles of i % 3 === 0 ? [REG, REG_SMALL, TILED, TILED_SMALL] : [REG, REG_SMALL, TILED_SMALL]) await check(c, 10 * i, tiles);
  }
});

test('conv2d: split-K (registers and tiled) with bias, residual, ReLU in the reduce', async () => {
  const c: Case = { B: 1, H: 6, W: 5, C: 24, N: 20, k: 3, stride: 1, pad: 1, bias: true, residual: true, relu: true };
  for (const tiles of [REG, TILED, TILED_SMALL]) {
    for (const splitK of tiles === TILED ? [5] : [2, 5]) await check(c, 300 + splitK, { ...tiles, splitK });
  }
  await check({ ...c, C: 5, N: 7 }, 310, { ...REG_SMALL, splitK: 3 });
  await check({ ...c, C: 6, N: 7 }, 311, { ...TILED, splitK: 4 });
});

// Every distinct (flags, tile) pair is a pipeline to compile, seconds each for the large
// register tiles on SwiftShader: a handful of random cases covers the default schedule.
test('conv2d: random shapes, adapter default schedule (1x1 stride 1 through gemm)', async () => {
  const r = rng(11);
  for (let i = 0; i < 8; i++) {
    const k = [1, 3, 7][randInt(r, 0, 2)];
    const c: Case = {
      B: randInt(r, 1, 2), H: randInt(r, 1, 14), W: randInt(r, 1, 14), C: randInt(r, 1, 20), N: randInt(r, 1, 40),
      k, stride: randInt(r, 1, 2), pad: randInt(r, 0, 3), bias: r() < 0.5, residual: r() < 0.5, relu: r() < 0.5,
    };
    if (i % 4 === 0) { c.stride = 1; c.pad = 0; c.k = 1; }
    if (convOut(c.H, c.k, c.stride, c.pad) < 1 || convOut(c.W, c.k, c.stride, c.pad) < 1) c.pad = 3;
    await check(c, 100 + i);
  }
});

test('conv2d: large (ResNet-like 3x3, K = 1152)', async () => {
  const c: Case = { B: 1, H: 16, W: 16, C: 128, N: 64, k: 3, stride: 1, pad: 1, bias: true, relu: true };
  await check(c, 500);
  await check({ ...c, stride: 2 }, 501, TILED);
});

test('conv2d: rejects bad shapes', async () => {
  const g = await newGraph();
  const x = g.input('x', [1, 8, 8, 4]);
  const w = g.weight('w', [3, 3, 5, 8], new Float32Array(3 * 3 * 5 * 8));
  assert.throws(() => conv2d(g, x, w), /input has 4 channels/);
  const w2 = g.weight('w2', [9, 9, 4, 8], new Float32Array(9 * 9 * 4 * 8));
  assert.throws(() => conv2d(g, x, w2), /does not fit/);
});

test.run();

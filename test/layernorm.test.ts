import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../src/graph/graph.ts';
import { layerNormEx } from '../src/kernels/layernorm.ts';
import { layerNormRef } from './reference/layernorm.ts';
import { elementwiseRef } from './reference/elementwise.ts';
import { assertClose, newGraph, randInt, randomArray, rng, runGraph } from './helpers.ts';

// Outputs are O(|gamma| + |beta|); f32 sums over d <= 1024 terms.
const tol = { atol: 3e-5, rtol: 3e-5 };

async function check(rows: number, d: number, seed: number, o: { residual?: boolean; plus?: number; offset?: number; gpuSchedule?: boolean }) {
  let g = await newGraph();
  if (o.gpuSchedule !== undefined) g = new Graph({ ...g.tuning, cpuLike: !o.gpuSchedule });
  const X = randomArray(rows * d, seed, 2);
  if (o.offset) for (let i = 0; i < X.length; i++) X[i] += o.offset;   // large mean, small spread
  const R = o.residual ? randomArray(rows * d, seed + 1) : undefined;
  const gamma = randomArray(d, seed + 2), beta = randomArray(d, seed + 3);
  const P = o.plus ? randomArray(o.plus * d, seed + 4) : undefined;
  const x = g.input('x', [rows, d]);
  const r = R ? g.input('r', [rows, d]) : undefined;
  const { y, plus } = layerNormEx(g, x, g.weight('g', [d], gamma), g.weight('b', [d], beta),
    { residual: r, plus: P && g.weight('p', [o.plus!, d], P) });
  g.output('y', y);
  if (plus) g.output('plus', plus);
  const out = await runGraph(g, R ? { x: X, r: R } : { x: X });
  const ref = layerNormRef(X, rows, d, gamma, beta, { residual: R });
  const label = `LN ${rows}x${d} ${JSON.stringify(o)}`;
  assertClose(out.y, ref, tol, label);
  if (P) assertClose(out.plus, elementwiseRef('add', ref, P), tol, label + ' plus');
}

test('layernorm: both schedules, residual, plus output, ragged widths', async () => {
  for (const gpuSchedule of [false, true]) {
    await check(1, 1, 1, { gpuSchedule });
    await check(7, 3, 2, { residual: true, gpuSchedule });
    await check(413, 32, 3, { residual: true, plus: 413, gpuSchedule });
    await check(2 * 68, 256, 4, { plus: 68, gpuSchedule });
    await check(5, 300, 5, { residual: true, gpuSchedule });
    await check(3, 1000, 6, { gpuSchedule });
  }
});

test('layernorm: large means stay exact (two-pass variance)', async () => {
  for (const gpuSchedule of [false, true]) { await check(9, 256, 7, { offset: 1e4, gpuSchedule }); await check(4, 300, 8, { offset: -3e6, residual: false, gpuSchedule }); }
});

test('layernorm: random shapes, adapter default', async () => {
  const r = rng(11);
  for (let i = 0; i < 6; i++) await check(randInt(r, 1, 200), randInt(r, 1, 300), 20 + i, { residual: r() < 0.5 });
});

test('layernorm: rejects bad shapes', async () => {
  const g = await newGraph();
  const x = g.input('x', [4, 8]);
  assert.throws(() => layerNormEx(g, x, g.input('g', [7]), g.input('b', [8])), /gamma\/beta/);
  assert.throws(() => layerNormEx(g, x, g.input('g2', [8]), g.input('b2', [8]), { plus: g.input('p', [3, 8]) }), /broadcast/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../src/graph/graph.ts';
import { qamem, qamemWeightLayout } from '../src/kernels/qamem.ts';
import { qamemRef } from './reference/qamem.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

const tol = (d: number) => ({ atol: 2e-6 * Math.sqrt(d), rtol: 1e-4 });

async function check(B: number, N: number, d: number, seed: number, gpuSchedule?: boolean) {
  let g = await newGraph();
  if (gpuSchedule !== undefined) g = new Graph({ ...g.tuning, cpuLike: !gpuSchedule });
  const X = randomArray(B * N * d, seed);
  const W = randomArray(N * d * d, seed + 1, 1 / Math.sqrt(d));
  const bias = randomArray(N * d, seed + 2);
  const y = qamem(g, g.input('x', [B, N, d]), g.weight('w', [N, d, d], qamemWeightLayout(W, N, d)), g.weight('b', [N * d], bias));
  g.output('y', y);
  const out = await runGraph(g, { x: X });
  assertClose(out.y, qamemRef(X, W, bias, B, N, d), tol(d), `qamem B${B} N${N} d${d} ${gpuSchedule ?? ''}`);
}

test('qamem: grouped 1x1 conv vs the Conv1d-layout reference', async () => {
  await check(1, 68, 32, 1);
  await check(3, 68, 32, 2);
  await check(8, 68, 16, 3);
  await check(2, 5, 7, 4);       // ragged channels
  await check(5, 3, 1, 5);
  await check(1, 68, 256, 6);    // full-size group matrices
  await check(3, 9, 33, 7, true);
  await check(3, 9, 33, 8, false);
  await check(2, 4, 37, 9, false);   // channel tail after the unrolled steps of 4
});

test('qamem: rejects bad shapes', async () => {
  const g = await newGraph();
  assert.throws(() => qamem(g, g.input('x', [1, 4, 8]), g.input('w', [4, 8, 7]), g.input('b', [32])), /should hold/);
});

test.run();

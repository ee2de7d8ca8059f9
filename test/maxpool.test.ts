import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maxpool2d } from '../src/kernels/maxpool.ts';
import { maxpoolRef } from './reference/maxpool.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

async function check(shape: number[], k: number, s: number, pad: number, seed: number) {
  const g = await newGraph();
  const X = randomArray(shape.reduce((a, b) => a * b), seed, 10);
  g.output('y', maxpool2d(g, g.input('x', shape), { kernel: k, stride: s, pad }));
  const out = await runGraph(g, { x: X });
  // A max selects an input value: exact.
  assertClose(out.y, maxpoolRef(X, shape, k, s, pad), { atol: 0, rtol: 0 }, `maxpool [${shape}] k${k} s${s} p${pad}`);
}

test('maxpool: ResNet stem 3x3/2 pad 1, vec4 and ragged channels, odd sizes, batch 2', async () => {
  await check([1, 16, 16, 8], 3, 2, 1, 1);
  await check([2, 9, 7, 5], 3, 2, 1, 2);
  await check([1, 1, 1, 4], 3, 2, 1, 3);
  await check([1, 2, 3, 3], 3, 2, 1, 4);
  await check([2, 32, 30, 64], 3, 2, 1, 5);
});

test('maxpool: other windows', async () => {
  await check([1, 8, 8, 4], 2, 2, 0, 6);
  await check([1, 7, 9, 6], 3, 1, 1, 7);
  await check([1, 10, 10, 3], 5, 3, 2, 8);
});

test('maxpool: all-negative inputs keep the true maximum at the border (-inf padding)', async () => {
  const g = await newGraph();
  const X = new Float32Array(1 * 4 * 4 * 4).map((_, i) => -1000 - i);
  g.output('y', maxpool2d(g, g.input('x', [1, 4, 4, 4])));
  const out = await runGraph(g, { x: X });
  assert.equal(Array.from(out.y), Array.from(maxpoolRef(X, [1, 4, 4, 4])));
});

test.run();

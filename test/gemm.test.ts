import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gemm, type GemmTiles } from '../src/kernels/gemm.ts';
import { gemmRef } from './reference/gemm.ts';
import { assertClose, newGraph, randInt, randomArray, rng, runGraph } from './helpers.ts';

// f32 sums of K products of O(1) values: error grows ~sqrt(K) * 6e-8 * K; 1e-4 relative plus a
// small absolute term covers K up to a few thousand with margin.
const tol = (K: number) => ({ atol: 2e-6 * Math.sqrt(K), rtol: 1e-4 });

async function check(batch: number, M: number, N: number, K: number, seed: number,
  o: { bias?: boolean; residual?: boolean; relu?: boolean; sharedB?: boolean }, tiles?: GemmTiles) {
  const g = await newGraph();
  const shared = o.sharedB !== false;
  const A = randomArray(batch * M * K, seed);
  const B = randomArray((shared ? 1 : batch) * K * N, seed + 1);
  const bias = o.bias ? randomArray(N, seed + 2) : undefined;
  const res = o.residual ? randomArray(batch * M * N, seed + 3) : undefined;
  const a = g.input('a', [batch, M, K]);
  const b = shared ? g.weight('b', [K, N], B) : g.input('b', [batch, K, N]);
  const r = res ? g.input('r', [batch, M, N]) : undefined;
  const c = gemm(g, a, b, { bias: bias && g.weight('bias', [N], bias), residual: r, relu: o.relu }, tiles);
  g.output('c', c);
  const inputs: Record<string, Float32Array> = { a: A };
  if (!shared) inputs.b = B;
  if (res) inputs.r = res;
  const out = await runGraph(g, inputs);
  const expected = gemmRef(A, B, batch, M, N, K, { bias, residual: res, relu: o.relu, sharedB: shared });
  assertClose(out.c, expected, tol(K), `gemm b${batch} ${M}x${N}x${K} ${JSON.stringify(o)} ${tiles?.schedule ?? ''}`);
}

test('gemm: tiny and ragged shapes, both schedules', async () => {
  const cases: [number, number, number, number][] = [[1, 1, 1, 1], [1, 3, 5, 7], [2, 17, 13, 9], [1, 64, 64, 64], [3, 33, 70, 129], [1, 1, 257, 31]];
  for (const [i, [b, M, N, K]] of cases.entries()) {
    for (const tiles of [
      { schedule: 'registers', TM: 8, TN4: 2, WG_X: 8, WG_Y: 8, BK: 4 },
      { schedule: 'registers', TM: 4, TN4: 1, WG_X: 4, WG_Y: 8, BK: 4 },
      { schedule: 'tiled', TM: 4, TN4: 1, WG_X: 16, WG_Y: 16, BK: 16 },
      { schedule: 'tiled', TM: 2, TN4: 2, WG_X: 8, WG_Y: 8, BK: 8 },
    ] as GemmTiles[]) {
      await check(b, M, N, K, 10 * i, { bias: i % 2 === 0, relu: i % 3 === 0, residual: i % 2 === 1 }, tiles);
    }
  }
});

test('gemm: random shapes, per-batch B, adapter default tiles', async () => {
  const r = rng(7);
  for (let i = 0; i < 12; i++) {
    const b = randInt(r, 1, 3), M = randInt(r, 1, 150), N = randInt(r, 1, 150), K = randInt(r, 1, 300);
    await check(b, M, N, K, 100 + i, { bias: r() < 0.5, residual: r() < 0.5, relu: r() < 0.5, sharedB: r() < 0.5 });
  }
});

test('gemm: large K keeps f32 accuracy', async () => {
  await check(1, 37, 41, 2304, 5, { bias: true });
});

test('gemm: rejects mismatched shapes', async () => {
  const g = await newGraph();
  const a = g.input('a', [4, 5]);
  const b = g.input('b', [6, 7]);
  assert.throws(() => gemm(g, a, b), /A is \[\.\.\., 4, 5\] but B/);
});

test.run();

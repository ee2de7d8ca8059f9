import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Graph } from '../src/graph/graph.ts';
import { attention, seqView, type AttentionTiles } from '../src/kernels/attention.ts';
import { attentionRef } from './reference/attention.ts';
import { assertClose, newGraph, randInt, randomArray, rng, runGraph } from './helpers.ts';

// Outputs are convex combinations of V rows (|V| <= 1). f32 score errors of ~1e-7*|logit| turn
// into relative weight errors of the same size, so the tolerance grows with the logit scale.
const tol = (logitScale: number) => ({ atol: 2e-6 * Math.max(1, logitScale), rtol: 1e-4 });

// Every distinct (tiles, head dim) is a pipeline compile (seconds each on SwiftShader), so the
// schedules are crossed with a few head dims only.
const TILES: AttentionTiles[] = [
  { tiled: false, TQ: 8, KB: 4, WG: 4 },                 // the CPU default for dh 32
  { tiled: false, TQ: 2, KB: 3, WG: 16 },                // ragged key blocks
  { tiled: true, TQ: 1, KB: 16, WG: 64 },                // the GPU default
  { tiled: true, TQ: 2, KB: 5, WG: 16 },
];

async function check(B: number, Lq: number, Lk: number, heads: number, dh: number, seed: number,
  o: { scale?: number; tiles?: AttentionTiles; gpuTuning?: boolean } = {}) {
  let g = await newGraph();
  if (o.gpuTuning) g = new Graph({ ...g.tuning, cpuLike: false });
  const d = heads * dh;
  // Logits q.k/sqrt(dh) ~ scale^2/3 * sqrt(dh)/3: scale 10 gives logits in the tens to hundreds.
  const s = o.scale ?? 1;
  const Q = randomArray(B * Lq * d, seed, s), K = randomArray(B * Lk * d, seed + 1, s), V = randomArray(B * Lk * d, seed + 2);
  const q = g.input('q', [B, Lq, d]), k = g.input('k', [B, Lk, d]), v = g.input('v', [B, Lk, d]);
  g.output('o', attention(g, q, k, v, { heads }, o.tiles));
  const out = await runGraph(g, { q: Q, k: K, v: V });
  assertClose(out.o, attentionRef(Q, K, V, B, Lq, Lk, heads, dh), tol(s * s * Math.sqrt(dh)),
    `attention B${B} Lq${Lq} Lk${Lk} h${heads} dh${dh} scale${s} ${JSON.stringify(o.tiles ?? (o.gpuTuning ? 'gpu' : 'default'))}`);
}

test('attention: model shapes (self 68/413, cross over 64 memory tokens), every schedule', async () => {
  for (const tiles of TILES) {
    await check(1, 68, 64, 8, 32, 1, { tiles });
    await check(2, 68, 68, 8, 32, 2, { tiles });
    await check(1, 413, 413, 8, 32, 3, { tiles });
  }
});

test('attention: tiny and ragged (1 query, 1 key, head dims not multiples of 4)', async () => {
  for (const tiles of [undefined, TILES[1], TILES[3]]) {
    await check(1, 1, 1, 1, 5, 10, { tiles });
    await check(3, 2, 1, 3, 5, 11, { tiles });
    await check(2, 9, 17, 2, 5, 12, { tiles });
  }
  await check(1, 5, 33, 1, 64, 13);
  await check(1, 3, 9, 2, 4, 14, { gpuTuning: true });
});

test('attention: random sizes (queries/keys 1..413, head dim 4..64, batch 1..3)', async () => {
  const r = rng(5);
  for (let i = 0; i < 6; i++) {
    const heads = randInt(r, 1, 4);
    await check(randInt(r, 1, 3), randInt(r, 1, 413), randInt(r, 1, 413), heads, randInt(r, 4, 64), 100 + i,
      { gpuTuning: i % 2 === 1, scale: i % 3 === 0 ? 5 : 1 });
  }
});

test('attention: large logits stay finite and exact (online softmax)', async () => {
  for (const tiles of [TILES[0], TILES[2]]) {
    await check(2, 70, 100, 2, 32, 20, { scale: 50, tiles });   // logits ~ +-5e3
    await check(1, 33, 413, 8, 32, 21, { scale: 20, tiles });
  }
});

test('attention: strided views of packed projections, broadcast batch', async () => {
  // QK packed [B, L, 2d] (self-attention q = k input) and one Q item shared by the batch.
  const B = 3, Lq = 21, Lk = 19, heads = 2, dh = 8, d = heads * dh;
  for (const gpu of [false, true]) {
    let g = await newGraph();
    if (gpu) g = new Graph({ ...g.tuning, cpuLike: false });
    const QK = randomArray(B * Lk * 2 * d, 1), Q1 = randomArray(Lq * d, 2), V = randomArray(B * Lk * 3 * d, 3);
    const qk = g.input('qk', [B, Lk, 2 * d]), q1 = g.input('q1', [1, Lq, d]), v = g.input('v', [B, Lk, 3 * d]);
    g.output('self', attention(g, seqView(qk, 0, d), seqView(qk, d, d), seqView(v, 2 * d, d), { heads }));
    g.output('bcast', attention(g, q1, seqView(qk, d, d), seqView(v, d, d), { heads }));
    const out = await runGraph(g, { qk: QK, q1: Q1, v: V });
    const cols = (x: Float32Array, L: number, C: number, off: number) => {
      const y = new Float32Array(B * L * d);
      for (let r = 0; r < B * L; r++) for (let c = 0; c < d; c++) y[r * d + c] = x[r * C + off + c];
      return y;
    };
    const Qs = cols(QK, Lk, 2 * d, 0), Ks = cols(QK, Lk, 2 * d, d);
    assertClose(out.self, attentionRef(Qs, Ks, cols(V, Lk, 3 * d, 2 * d), B, Lk, Lk, heads, dh), tol(1), 'packed self');
    const Qb = new Float32Array(B * Lq * d);
    for (let b = 0; b < B; b++) Qb.set(Q1, b * Lq * d);
    assertClose(out.bcast, attentionRef(Qb, Ks, cols(V, Lk, 3 * d, d), B, Lq, Lk, heads, dh), tol(1), 'broadcast Q');
  }
  // Unaligned views (odd row stride, offset 1): the scalar-load path with head dims of 4k.
  const g = await newGraph();
  const C = 2 * d + 3;
  const X = randomArray(B * Lk * C, 4);
  const x = g.input('x', [B, Lk, C]);
  g.output('o', attention(g, seqView(x, 1, d), seqView(x, d + 2, d), seqView(x, 1, d), { heads }));
  const out = await runGraph(g, { x: X });
  const sub = (off: number) => {
    const y = new Float32Array(B * Lk * d);
    for (let r = 0; r < B * Lk; r++) for (let c = 0; c < d; c++) y[r * d + c] = X[r * C + off + c];
    return y;
  };
  assertClose(out.o, attentionRef(sub(1), sub(d + 2), sub(1), B, Lk, Lk, heads, dh), tol(1), 'unaligned views');
});

test('attention: rejects bad shapes', async () => {
  const g = await newGraph();
  const q = g.input('q', [2, 5, 12]), k = g.input('k', [2, 6, 12]), v = g.input('v', [2, 7, 12]);
  assert.throws(() => attention(g, q, k, v, { heads: 2 }), /K has 6 rows but V has 7/);
  assert.throws(() => attention(g, q, k, k, { heads: 5 }), /do not split/);
  assert.throws(() => attention(g, q, seqView(k, 4, 12), k, { heads: 2 }), /outside/);
  assert.throws(() => attention(g, q, g.input('k3', [3, 6, 12]), g.input('v3', [3, 6, 12]), { heads: 2 }), /batch/);
});

test.run();

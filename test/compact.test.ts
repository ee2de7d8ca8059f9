// Compact weights (src/kernels/weights.ts): the f16/int8 encoders, and the matmul core's f16 and
// int8 B paths (gemm, conv2d: every schedule, split-K) against the f32 CPU references run on
// the values the compact form stands for. The kernels accumulate in f32, so the tolerance is the
// f32 one of the plain kernels: the only difference from the f32 path is how B is stored.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2d, convOut, packConvWeight, type ConvTiles } from '../src/kernels/conv2d.ts';
import { gemm, type GemmTiles } from '../src/kernels/gemm.ts';
import { compactMatrix, expandMatrix, f32ToF16, matrixWeight, packF16, quantizeInt8 } from '../src/kernels/weights.ts';
import { f16ToF32 } from '../src/io/tensor.ts';
import { compactQamemWeight, qamem, qamemWeightLayout } from '../src/kernels/qamem.ts';
import { Graph } from '../src/graph/graph.ts';
import { conv2dRef } from './reference/conv2d.ts';
import { qamemRef } from './reference/qamem.ts';
import { gemmRef } from './reference/gemm.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

const tol = (K: number) => ({ atol: 2e-6 * Math.sqrt(K), rtol: 1e-4 });

test('f32ToF16: exact values, round to nearest even, subnormals, overflow, NaN', () => {
  // Every f16 bit pattern goes back to itself (NaNs to a NaN).
  for (let h = 0; h < 65536; h++) {
    const x = f16ToF32(h);
    const back = f32ToF16(x);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToF32(back)), `NaN ${h}`);
    else assert.is(back, h, `pattern 0x${h.toString(16)}`);
  }
  assert.is(f32ToF16(1 + 2 ** -11), 0x3c00); // halfway between 1 and the next f16: ties to even (1)
  assert.is(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // halfway, odd below: rounds up
  assert.is(f32ToF16(65520), 0x7c00); // rounds past the largest f16 (65504): infinity
  assert.is(f32ToF16(2 ** -25), 0); // half the smallest subnormal: ties to even zero
  assert.is(f32ToF16(3 * 2 ** -26), 1);
  assert.is(f32ToF16(-0), 0x8000);
  // Random values: the nearest f16 (no other f16 is closer).
  const r = randomArray(2000, 3, 40);
  for (const x of r) {
    const h = f32ToF16(x), y = f16ToF32(h);
    assert.ok(Math.abs(y - x) <= Math.abs(f16ToF32(h + 1) - x) && Math.abs(y - x) <= Math.abs(f16ToF32(h - 1) - x), `${x}`);
  }
});

test('quantizeInt8: per channel, symmetric, max maps to 127, error <= scale / 2, zero channel', () => {
  const N = 5, K = 7;
  const w = randomArray(N * K, 9, 3);
  for (let k = 0; k < K; k++) w[k * N + 2] = 0; // column 2 all zero
  const { q, scale } = quantizeInt8(w, N, 'columns');
  assert.is(scale[2], 0);
  for (let n = 0; n < N; n++) {
    let maxQ = 0;
    for (let k = 0; k < K; k++) {
      const i = k * N + n;
      maxQ = Math.max(maxQ, Math.abs(q[i]!));
      assert.ok(Math.abs(q[i]! * scale[n]! - w[i]!) <= scale[n]! / 2 + 1e-7, `w[${k},${n}]`);
    }
    if (n !== 2) assert.is(maxQ, 127);
  }
  // The same matrix transposed, per row: the same numbers (a conv's [Cout, ...] vs packed [K, Cout]).
  const t = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[n * K + k] = w[k * N + n]!;
  const rows = quantizeInt8(t, N, 'rows');
  assert.equal([...rows.scale], [...scale]);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) assert.is(rows.q[n * K + k], q[k * N + n]);
  // Re-quantizing dequantized values gives the same codes (files already int8 stay exact).
  const again = quantizeInt8(expandMatrix(compactMatrix(w, K, N, 'int8')), N, 'columns');
  assert.equal([...again.q], [...q]);
  assert.equal(packF16([1, -2, 0.5]).length, 2);
});

const GEMM_TILES: GemmTiles[] = [
  { schedule: 'registers', TM: 4, TN4: 1, WG_X: 4, WG_Y: 8, BK: 4 },
  { schedule: 'tiled', TM: 2, TN4: 2, WG_X: 8, WG_Y: 8, BK: 8 },
];

async function checkGemm(M: number, N: number, K: number, format: 'f16' | 'int8', seed: number, tiles?: GemmTiles) {
  const g = await newGraph();
  const A = randomArray(M * K, seed), B = randomArray(K * N, seed + 1), bias = randomArray(N, seed + 2), res = randomArray(M * N, seed + 3);
  const c = compactMatrix(B, K, N, format);
  const a = g.input('a', [1, M, K]), r = g.input('r', [1, M, N]);
  g.output('c', gemm(g, a, matrixWeight(g, 'b', [K, N], B, c), { bias: g.weight('bias', [N], bias), residual: r, relu: true }, tiles));
  const out = await runGraph(g, { a: A, r: res });
  const expected = gemmRef(A, expandMatrix(c), 1, M, N, K, { bias, residual: res, relu: true, sharedB: true });
  assertClose(out.c, expected, tol(K), `gemm ${format} ${M}x${N}x${K} ${tiles?.schedule ?? 'default'}`);
}

test('gemm: f16 and int8 B, vec4 and ragged shapes, both schedules and the default', async () => {
  for (const format of ['f16', 'int8'] as const) {
    for (const [i, [M, N, K]] of ([[3, 8, 12], [5, 7, 9], [1, 13, 6]] as const).entries()) {
      for (const tiles of [...GEMM_TILES, undefined]) await checkGemm(M, N, K, format, 20 * i + (format === 'f16' ? 0 : 7), tiles);
    }
  }
});

const CONV_TILES: ConvTiles[] = [
  { schedule: 'registers', TM: 4, TN4: 1, WG_X: 4, WG_Y: 8, BK: 4 },
  { schedule: 'tiled', TM: 2, TN4: 2, WG_X: 8, WG_Y: 8, BK: 8 },
  { schedule: 'registers', TM: 4, TN4: 1, WG_X: 4, WG_Y: 8, BK: 4, splitK: 3 },
];

async function checkConv(c: { C: number; N: number; k: number; stride: number; pad: number }, format: 'f16' | 'int8', seed: number, tiles?: ConvTiles) {
  const g = await newGraph();
  const xs = [1, 7, 6, c.C], ws = [c.N, c.C, c.k, c.k];
  const OH = convOut(7, c.k, c.stride, c.pad), OW = convOut(6, c.k, c.stride, c.pad);
  const X = randomArray(xs.reduce((a, b) => a * b), seed), Wt = randomArray(ws.reduce((a, b) => a * b), seed + 1, 0.5);
  const bias = randomArray(c.N, seed + 2), res = randomArray(OH * OW * c.N, seed + 3);
  const K = c.k * c.k * c.C;
  const packed = packConvWeight(Wt, ws);
  // What the compact weight stands for, made in PyTorch's layout (per row = per output channel):
  // checks that quantizing the packed matrix per column is quantizing per output channel.
  let ref: Float32Array;
  if (format === 'f16') ref = Wt.map((v) => f16ToF32(f32ToF16(v)));
  else { const { q, scale } = quantizeInt8(Wt, c.N, 'rows'); ref = Float32Array.from(q, (v, i) => v * scale[Math.floor(i / K)]!); }
  const x = g.input('x', xs), r = g.input('r', [1, OH, OW, c.N]);
  const w = matrixWeight(g, 'w', [c.k, c.k, c.C, c.N], packed, compactMatrix(packed, K, c.N, format));
  g.output('y', conv2d(g, x, w, { bias: g.weight('bias', [c.N], bias), residual: r, relu: true, stride: c.stride, pad: c.pad }, tiles));
  const out = await runGraph(g, { x: X, r: res });
  const expected = conv2dRef(X, xs, ref, ws, { stride: c.stride, pad: c.pad, bias, residual: res, relu: true });
  assertClose(out.y, expected, tol(K), `conv ${format} ${JSON.stringify(c)} ${JSON.stringify(tiles ?? 'default')}`);
}

test('conv2d: f16 and int8 weights, 3x3 / strided 1x1 / 1x1 through gemm, every schedule, split-K', async () => {
  const cases = [
    { C: 8, N: 12, k: 3, stride: 1, pad: 1 },
    { C: 5, N: 7, k: 3, stride: 2, pad: 1 },
    { C: 12, N: 8, k: 1, stride: 2, pad: 0 },
  ];
  for (const format of ['f16', 'int8'] as const) {
    for (const [i, c] of cases.entries()) {
      for (const tiles of CONV_TILES) await checkConv(c, format, 40 * i + (format === 'f16' ? 0 : 3), tiles);
    }
    await checkConv({ C: 8, N: 16, k: 1, stride: 1, pad: 0 }, format, 99); // default: the gemm route
  }
});

test('qamem: f16 and int8 group matrices (int8 scale per group and output channel), both schedules', async () => {
  for (const format of ['f16', 'int8'] as const) {
    for (const [B, N, d, gpuSchedule] of [[1, 6, 32, undefined], [3, 5, 7, undefined], [2, 4, 37, true]] as const) {
      let g = await newGraph();
      if (gpuSchedule !== undefined) g = new Graph({ ...g.tuning, cpuLike: !gpuSchedule });
      const seed = B * 100 + d;
      const X = randomArray(B * N * d, seed), W = randomArray(N * d * d, seed + 1, 1 / Math.sqrt(d)), bias = randomArray(N * d, seed + 2);
      // What the compact weight stands for, quantized in the Conv1d layout (per output channel = row).
      let ref: Float32Array;
      if (format === 'f16') ref = W.map((v) => f16ToF32(f32ToF16(v)));
      else { const { q, scale } = quantizeInt8(W, N * d, 'rows'); ref = Float32Array.from(q, (v, i) => v * scale[Math.floor(i / d)]!); }
      const packed = qamemWeightLayout(W, N, d);
      const w = matrixWeight(g, 'w', [N, d, d], packed, compactQamemWeight(packed, N, d, format));
      g.output('y', qamem(g, g.input('x', [B, N, d]), w, g.weight('b', [N * d], bias)));
      const out = await runGraph(g, { x: X });
      assertClose(out.y, qamemRef(X, ref, bias, B, N, d), tol(d), `qamem ${format} B${B} N${N} d${d}`);
    }
  }
});

test.run();

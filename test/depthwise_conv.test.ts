import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { depthwiseConv2d } from '../src/kernels/depthwise_conv.ts';
import { depthwiseRef } from './reference/depthwise_conv.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

// Sums of KH*KW (<= 25) products of O(1) values plus a bias, f32 against f64: 1e-5 absolute.
const TOL = { atol: 1e-5, rtol: 1e-5 };

interface Case { B: number; H: number; W: number; C: number; k: number; stride: [number, number]; pad: [number, number]; out: [number, number]; bias?: boolean; relu?: boolean }

async function check(c: Case, seed: number, unroll?: boolean) {
  const g = await newGraph();
  const xs = [c.B, c.H, c.W, c.C] as const;
  const X = randomArray(xs.reduce((a, b) => a * b), seed);
  const Wt = randomArray(c.k * c.k * c.C, seed + 1);
  const bias = c.bias ? randomArray(c.C, seed + 2) : undefined;
  const y = depthwiseConv2d(g, g.input('x', xs), g.weight('w', [c.k, c.k, c.C], Wt), {
    bias: bias && g.weight('b', [c.C], bias), stride: c.stride, pad: c.pad, out: c.out, relu: c.relu, unroll,
  });
  assert.equal(y.shape, [c.B, ...c.out, c.C]);
  g.output('y', y);
  const out = await runGraph(g, { x: X });
  const want = depthwiseRef(X, xs, Wt, c.k, c.k, bias, { strideH: c.stride[0], strideW: c.stride[1], padTop: c.pad[0], padLeft: c.pad[1], OH: c.out[0], OW: c.out[1], relu: c.relu });
  assertClose(out.y, want, TOL, `depthwise ${JSON.stringify(c)}`);
}

test('depthwise: TFLite SAME 3x3 stride 1 and 2 (asymmetric pad), vec4 and ragged channels, bias, ReLU', async () => {
  await check({ B: 1, H: 8, W: 8, C: 24, k: 3, stride: [1, 1], pad: [1, 1], out: [8, 8], bias: true }, 1);
  // Stride 2 on an even size: SAME pads 0 before, 1 after.
  await check({ B: 1, H: 8, W: 8, C: 28, k: 3, stride: [2, 2], pad: [0, 0], out: [4, 4], bias: true }, 2);
  await check({ B: 2, H: 7, W: 5, C: 42, k: 3, stride: [1, 1], pad: [1, 1], out: [7, 5], relu: true }, 3);
  await check({ B: 1, H: 9, W: 6, C: 3, k: 5, stride: [2, 1], pad: [2, 2], out: [5, 6], bias: true, relu: true }, 4);
  await check({ B: 1, H: 1, W: 1, C: 4, k: 3, stride: [1, 1], pad: [1, 1], out: [1, 1] }, 5);
});

test('depthwise: both tap schedules (unrolled branch-free, loops), strided, 5x5, trailing-only padding', async () => {
  for (const unroll of [true, false]) {
    await check({ B: 1, H: 8, W: 8, C: 28, k: 3, stride: [2, 2], pad: [0, 0], out: [4, 4], bias: true }, 6, unroll);
    await check({ B: 1, H: 9, W: 6, C: 3, k: 5, stride: [2, 1], pad: [2, 2], out: [5, 6], relu: true }, 7, unroll);
    await check({ B: 1, H: 6, W: 6, C: 8, k: 3, stride: [1, 1], pad: [0, 0], out: [6, 6] }, 8, unroll);   // folded PAD: trailing-only
  }
});

test('depthwise: bad shapes are refused before any GPU work', async () => {
  const g = await newGraph();
  const x = g.input('x', [1, 4, 4, 8]);
  assert.throws(() => depthwiseConv2d(g, x, g.weight('w', [3, 3, 4], new Float32Array(36))), /channels/);
  assert.throws(() => depthwiseConv2d(g, x, g.weight('w2', [3, 3, 8], new Float32Array(72)), { out: [9, 9] }), /does not fit/);
});

test.run();

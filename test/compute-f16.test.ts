// The matmul core's f16 arithmetic (`compute: 'f16'`, shaders/matmul.wgsl F16): gemm and conv2d,
// both schedules, f32 / f16 / int8 weights, against the CPU references run on f16-rounded operands.
// Needs `shader-f16`: on an adapter without it (SwiftShader) this file checks the clear error
// instead; the lavapipe group (scripts/test.mjs) runs the numerics.
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { Graph } from '../src/graph/graph.ts';
import { tuningFor } from '../src/graph/tuning.ts';
import { gemm, type GemmTiles } from '../src/kernels/gemm.ts';
import { conv2d, convOut, packConvWeight, type ConvTiles } from '../src/kernels/conv2d.ts';
import { compactMatrix, expandMatrix, f32ToF16, matrixWeight, type MatrixWeight } from '../src/kernels/weights.ts';
import { f16ToF32 } from '../src/io/tensor.ts';
import { gemmRef } from './reference/gemm.ts';
import { conv2dRef } from './reference/conv2d.ts';
import { gpu, randomArray, runGraph } from './helpers.ts';
import { nodePlatform } from '../src/platform/node.ts';
import { Trans3DHead } from '../src/model/trans3dhead.ts';
import { config, expected, maxAbsDiff } from './model-helpers.ts';

const SMALL = 'test/fixtures/small';
const PHOTO = 'test/fixtures/astronaut-head.png';
const createSmall = (compute: 'f32' | 'f16') => Trans3DHead.create(nodePlatform, { weights: `${SMALL}/model.pth`, config: config(SMALL), device: ctx, compute });

const ctx = await gpu();
const hasF16 = ctx.device.features.has('shader-f16');
const f16 = (a: Float32Array) => a.map((v) => f16ToF32(f32ToF16(v)));
const abs = (a: Float32Array) => a.map(Math.abs);

// Bound per output, from the operands rounded to f16 (exact inputs of the f16 products): each
// product rounds once (u = 2^-11) and each group of 4 is summed in f16 (3 more roundings), so
// |error| <= 4u * sum|a b|; int8 weights round q/127 to f16 once more before the f32 scale (u),
// and the f32 accumulation adds ~1e-6 relative: 6u covers all three. Subnormal products (below
// 6e-5) lose at most 2^-25 each: K * 2^-25 absolute.
const U = 2 ** -11;
function assertF16Close(out: Float32Array, ref: Float32Array, absRef: Float32Array, K: number, exact: Float32Array, label: string) {
  let worst = 0, diff32 = 0;
  for (let i = 0; i < ref.length; i++) {
    const bound = 6 * U * absRef[i]! + K * 2 ** -25 + 1e-6 * Math.abs(ref[i]!);
    worst = Math.max(worst, Math.abs(out[i]! - ref[i]!) / bound);
    diff32 = Math.max(diff32, Math.abs(out[i]! - exact[i]!) / (absRef[i]! + 1e-30));
  }
  assert.ok(worst <= 1, `${label}: error ${worst.toFixed(2)} x the f16 bound`);
  // The option must change the arithmetic: f32 operands would agree with f32 to ~1e-7.
  assert.ok(diff32 > 1e-5, `${label}: identical to f32 (${diff32.toExponential(2)}): F16 not applied?`);
}

function weightOf(g: Graph, name: string, shape: number[], data: Float32Array, K: number, N: number, format: 'f32' | 'f16' | 'int8'): { w: MatrixWeight; values: Float32Array } {
  if (format === 'f32') return { w: g.weight(name, shape, data), values: data };
  const c = compactMatrix(data, K, N, format);
  // int8 on the GPU: f16(q / 127) times the f32 scale * 127; expandMatrix gives q * scale.
  return { w: matrixWeight(g, name, shape, data, c), values: expandMatrix(c) };
}

const REG: GemmTiles = { schedule: 'registers', TM: 4, TN4: 2, WG_X: 8, WG_Y: 8, BK: 4 };
const TILED: GemmTiles = { schedule: 'tiled', TM: 2, TN4: 2, WG_X: 8, WG_Y: 8, BK: 8 };

if (!hasF16) {
  test(`compute 'f16' on an adapter without shader-f16 (${ctx.adapter.kind}) is a clear error`, async () => {
    assert.throws(() => tuningFor(ctx, undefined, 'f16'), /shader-f16.*lacks.*compute 'f32'/s);
    assert.throws(() => tuningFor(ctx, undefined, 'f64' as 'f16'), /compute option must be one of f32, f16/);
    await createSmall('f16').then(() => assert.unreachable('created'), (e: Error) => assert.match(e.message, /shader-f16/));
    // The CLI says the same and exits 1 (the child inherits this group's adapter choice).
    const r = spawnSync(process.execPath, ['bin/trans3dhead.mjs', 'run', PHOTO, '--box', 'image', '--weights', `${SMALL}/model.pth`, '--nhead', '4', '--compute', 'f16'], { encoding: 'utf8', timeout: 300_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /compute 'f16' needs the WebGPU feature shader-f16/);
  });
} else {
  test('small model with f16 compute against PyTorch (f32)', async () => {
    const exp = expected(SMALL);
    const model = await createSmall('f16');
    try {
      const r = await model.run(PHOTO, { box: 'image' });
      const p = exp.get('pose')!;
      const d = {
        landmarks: maxAbsDiff(r.landmarks, exp.get('landmarks')!), projected: maxAbsDiff(r.projectedVertices, exp.get('projected')!),
        params: maxAbsDiff(r.params, exp.get('params')!), pose: Math.max(Math.abs(r.pose.pitch - p[0]!), Math.abs(r.pose.yaw - p[1]!), Math.abs(r.pose.roll - p[2]!)),
      };
      console.log(`  small model, compute f16 vs PyTorch f32: ${JSON.stringify(d)}`);
      // Measured on lavapipe: 0.55 px, projected 19 px, params 0.47, pose 7.7 deg (f16 weights
      // with f32 compute: 0.014 px, 0.92 deg). Every layer's activations are rounded to f16, and
      // this random network amplifies small feature changes like the calibrated full model does
      // (bench/README). Bounds: 3x those; a wrong f16 path (lanes, halves, scales) is far off.
      assert.ok(d.landmarks <= 1.7 && d.params <= 1.5 && d.pose <= 23, `f16 compute drift ${JSON.stringify(d)}`);
      assert.ok(d.landmarks > 0.01, 'f16 compute changed nothing: F16 not applied?');
    } finally { await model.dispose(); }
  });

  test('gemm f16 compute: registers (vec4 and scalar) and tiled, f32/f16/int8 weights', async () => {
    const cases: [number, number, number][] = [[33, 40, 64], [5, 13, 37], [64, 64, 256]];
    let seed = 1;
    for (const [M, N, K] of cases) {
      for (const tiles of [REG, TILED]) {
        for (const format of ['f32', 'f16', 'int8'] as const) {
          const g = new Graph(tuningFor(ctx, undefined, 'f16'));
          const A = randomArray(M * K, seed++), Bd = randomArray(K * N, seed++), bias = randomArray(N, seed++);
          const { w, values } = weightOf(g, 'b', [K, N], Bd, K, N, format);
          const c = gemm(g, g.input('a', [1, M, K]), w, { bias: g.weight('bias', [N], bias), relu: false }, tiles);
          g.output('c', c);
          const out = (await runGraph(g, { a: A })).c!;
          const A16 = f16(A), B16 = f16(values);
          const ref = gemmRef(A16, B16, 1, M, N, K, { bias });
          const absRef = gemmRef(abs(A16), abs(B16), 1, M, N, K);
          const exact = gemmRef(A, values, 1, M, N, K, { bias });
          assertF16Close(out, ref, absRef, K, exact, `gemm ${M}x${N}x${K} ${tiles.schedule} ${format}`);
        }
      }
    }
  });

  test('conv2d f16 compute: 3x3 and 7x7 stride 2, vec4 and ragged channels, split-K, f16 weights', async () => {
    const REGC: ConvTiles = { ...REG };
    const TILEDC: ConvTiles = { ...TILED };
    const SPLIT: ConvTiles = { ...TILED, splitK: 3 };
    const cases = [
      { H: 9, W: 11, C: 8, N: 12, k: 3, stride: 1, pad: 1, tiles: [REGC, TILEDC, SPLIT] },
      { H: 15, W: 13, C: 3, N: 8, k: 7, stride: 2, pad: 3, tiles: [REGC, TILEDC] },
    ];
    let seed = 100;
    for (const c of cases) {
      for (const tiles of c.tiles) {
        for (const format of ['f32', 'f16'] as const) {
          const g = new Graph(tuningFor(ctx, undefined, 'f16'));
          const xs = [1, c.H, c.W, c.C], ws = [c.N, c.C, c.k, c.k];
          const X = randomArray(c.H * c.W * c.C, seed++), Wt = randomArray(c.N * c.C * c.k * c.k, seed++), bias = randomArray(c.N, seed++);
          const K = c.k * c.k * c.C;
          const packed = packConvWeight(Wt, ws);
          const { w } = weightOf(g, 'w', [c.k, c.k, c.C, c.N], packConvWeight(Wt, ws), K, c.N, format);
          // Rounding is elementwise, so it commutes with the packing: the reference rounds the
          // PyTorch-layout [N, C, KH, KW] weights.
          const W16 = f16(Wt);
          const y = conv2d(g, g.input('x', xs), w, { bias: g.weight('bias', [c.N], bias), stride: c.stride, pad: c.pad }, tiles);
          g.output('y', y);
          const out = (await runGraph(g, { x: X })).y!;
          const X16 = f16(X);
          const o = { stride: c.stride, pad: c.pad };
          const ref = conv2dRef(X16, xs, W16, ws, { ...o, bias });
          const absRef = conv2dRef(abs(X16), xs, abs(W16), ws, o);
          const exact = conv2dRef(X, xs, Wt, ws, { ...o, bias });
          assert.is(out.length, 1 * convOut(c.H, c.k, c.stride, c.pad) * convOut(c.W, c.k, c.stride, c.pad) * c.N);
          assertF16Close(out, ref, absRef, K, exact, `conv ${c.k}x${c.k}/${c.stride} C${c.C} ${tiles.schedule}${tiles.splitK ? ' split' : ''} ${format}`);
        }
      }
    }
  });
}

test.run();

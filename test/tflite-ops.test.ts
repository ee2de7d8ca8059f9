// The small kernels the TFLite translation adds besides the depthwise conv: pad, concat,
// bilinear resize, letterbox preprocessing; each against its CPU reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pad } from '../src/kernels/pad.ts';
import { concat } from '../src/kernels/concat.ts';
import { resizeBilinear } from '../src/kernels/resize_bilinear.ts';
import { letterboxImage } from '../src/kernels/letterbox.ts';
import { wordsPerImage } from '../src/kernels/preprocess.ts';
import { letterbox } from '../src/detect/letterbox.ts';
import { depthToSpace } from '../src/kernels/depth_to_space.ts';
import { densify } from '../src/detect/tflite.ts';
import { concatRef, depthToSpaceRef, padRef, resizeBilinearRef } from './reference/tflite.ts';
import { letterboxRef } from './reference/letterbox.ts';
import { assertClose, newGraph, randomArray, rng, runGraph } from './helpers.ts';

const EXACT = { atol: 0, rtol: 0 };

test('pad: channel padding (BlazeFace skips) and padding on every axis', async () => {
  for (const [shape, pads] of [
    [[1, 4, 4, 24], [[0, 0], [0, 0], [0, 0], [0, 4]]],
    [[2, 3, 5, 3], [[1, 0], [0, 2], [1, 1], [2, 3]]],
  ] as [[number, number, number, number], [number, number][]][]) {
    const g = await newGraph();
    const X = randomArray(shape.reduce((a, b) => a * b), 7);
    g.output('y', pad(g, g.input('x', shape), pads));
    const out = await runGraph(g, { x: X });
    assertClose(out.y, padRef(X, shape, pads).y, EXACT, `pad [${shape}] ${JSON.stringify(pads)}`);
  }
});

test('concat: along the anchor axis, three inputs chained', async () => {
  const g = await newGraph();
  const A = randomArray(1 * 12 * 16, 1), B = randomArray(1 * 6 * 16, 2), C = randomArray(1 * 5 * 16, 3);
  const y = concat(g, [g.input('a', [1, 12, 16]), g.input('b', [1, 6, 16]), g.input('c', [1, 5, 16])], 1);
  assert.equal(y.shape, [1, 23, 16]);
  g.output('y', y);
  const out = await runGraph(g, { a: A, b: B, c: C });
  assertClose(out.y, concatRef([A, B, C], [12, 6, 5], 1, 16), EXACT, 'concat');
  assert.throws(() => concat(g, [g.input('d', [1, 2, 3]), g.input('e', [1, 2, 4])], 1), /cannot concatenate/);
});

test('resize_bilinear: 2x upsampling with half-pixel centres, align corners, plain', async () => {
  for (const [o, ac, hp] of [[[12, 12], false, true], [[7, 10], true, false], [[5, 9], false, false]] as [[number, number], boolean, boolean][]) {
    const g = await newGraph();
    const shape = [1, 6, 6, 5] as const;
    const X = randomArray(180, 4);
    g.output('y', resizeBilinear(g, g.input('x', shape), o[0], o[1], { alignCorners: ac, halfPixelCenters: hp }));
    const out = await runGraph(g, { x: X });
    assertClose(out.y, resizeBilinearRef(X, shape, o[0], o[1], ac, hp), { atol: 1e-6, rtol: 1e-6 }, `resize ${o} ${ac} ${hp}`);
  }
});

test('depth_to_space: block 2 (BlazeFace full range heads) and 3', async () => {
  for (const [shape, bs] of [[[1, 4, 3, 16], 2], [[2, 2, 2, 18], 3]] as [[number, number, number, number], number][]) {
    const g = await newGraph();
    const X = randomArray(shape.reduce((a, b) => a * b), 9);
    const y = depthToSpace(g, g.input('x', shape), bs);
    assert.equal(y.shape, [shape[0], shape[1] * bs, shape[2] * bs, shape[3] / (bs * bs)]);
    g.output('y', y);
    const out = await runGraph(g, { x: X });
    assertClose(out.y, depthToSpaceRef(X, shape, bs), EXACT, `depth_to_space [${shape}] ${bs}`);
  }
});

test('densify: CSR rows and 1x2 blocks (TFLite sparse weights), corrupt indices refused', () => {
  const no = (why: string): never => { throw new Error(why); };
  // [[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]]: rows dense, columns CSR.
  const csr = { traversalOrder: [0, 1], blockMap: [], levels: [
    { format: 'DENSE' as const, denseSize: 3 },
    { format: 'CSR' as const, denseSize: 0, segments: Int32Array.from([0, 2, 2, 3]), indices: Int32Array.from([1, 3, 0]) }] };
  assert.equal(Array.from(densify([1, 2, 3], [3, 4], csr, no)), [0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0]);
  // The same matrix's columns in 1x2 blocks: block columns CSR, then a dense block level.
  const blocked = { traversalOrder: [0, 1, 2], blockMap: [1], levels: [
    { format: 'DENSE' as const, denseSize: 3 },
    { format: 'CSR' as const, denseSize: 0, segments: Int32Array.from([0, 2, 2, 3]), indices: Int32Array.from([0, 1, 0]) },
    { format: 'DENSE' as const, denseSize: 2 }] };
  assert.equal(Array.from(densify([0, 1, 0, 2, 3, 0], [3, 4], blocked, no)), [0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0]);
  const bad = { ...csr, levels: [csr.levels[0], { ...csr.levels[1], indices: Int32Array.from([1, 9, 0]) }] };
  assert.throws(() => densify([1, 2, 3], [3, 4], bad, no), /outside dimension 1/);
  assert.throws(() => densify([1, 2], [3, 4], csr, no), /more positions/);
  assert.throws(() => densify([1], [1 << 20, 1 << 20], csr, no), /elements \(more than/);
});

test('letterbox: wide, tall and RGB images into the detector input', async () => {
  for (const [w, h, ch] of [[40, 24, 4], [17, 33, 3], [16, 16, 4]] as [number, number, 3 | 4][]) {
    const r = rng(w * h);
    const bytes = new Uint8Array(wordsPerImage(w, h, ch) * 4).map(() => Math.floor(r() * 256));
    const geo = { size: 32, ...letterbox(w, h, 32) };
    const g = await newGraph();
    g.output('y', letterboxImage(g, g.input('pixels', [wordsPerImage(w, h, ch)], 'u32'), { width: w, height: h, channels: ch }, geo));
    const out = await runGraph(g, { pixels: new Uint32Array(bytes.buffer) });
    // Bilinear weights in f32 vs f64 on 0..255 values, /127.5: ~1e-5.
    assertClose(out.y, letterboxRef(bytes, w, h, ch, geo), { atol: 2e-5, rtol: 0 }, `letterbox ${w}x${h}x${ch}`);
  }
});

test.run();

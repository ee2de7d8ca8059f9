import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { elementwise, type ElementwiseOp } from '../src/kernels/elementwise.ts';
import { elementwiseRef } from './reference/elementwise.ts';
import { assertClose, newGraph, randomArray, runGraph } from './helpers.ts';

// One f32 add (or none): exact up to the single rounding both sides share.
const tol = { atol: 0, rtol: 1e-7 };

async function check(op: ElementwiseOp, shape: number[], bShape: number[] | null, seed: number) {
  const g = await newGraph();
  const n = shape.reduce((a, b) => a * b, 1);
  const A = randomArray(n, seed, 3);
  const Bd = bShape ? randomArray(bShape.reduce((a, b) => a * b, 1), seed + 1, 3) : undefined;
  const a = g.input('a', shape);
  const b = Bd ? g.weight('b', bShape!, Bd) : undefined;
  g.output('y', elementwise(g, op, a, b));
  const out = await runGraph(g, { a: A });
  assertClose(out.y, elementwiseRef(op, A, Bd), tol, `${op} [${shape}] + [${bShape}]`);
}

test('elementwise: add, relu, add+relu, broadcast, vec4 and scalar paths', async () => {
  await check('add', [2, 68, 32], [68, 32], 1);      // tgt + query_pos, vec4
  await check('add', [3, 7, 5], [7, 5], 2);          // scalar path
  await check('add', [1, 9], [1, 9], 3);
  await check('addRelu', [4, 13, 8], [13, 8], 4);
  await check('addRelu', [2, 3, 3], [2, 3, 3], 5);
  await check('relu', [5, 11], null, 6);
  await check('relu', [1, 1], null, 7);
  await check('copy', [2, 3, 4], null, 8);
});

test('elementwise: copies with a new shape, large sizes span the y grid', async () => {
  const g = await newGraph();
  const n = 65536 * 64 * 4 + 12;   // > 65535 workgroups of 64 even as vec4: exercises the y grid
  const A = randomArray(n, 9);
  const a = g.input('a', [n]);
  const r = elementwise(g, 'copy', a, undefined, { outShape: [4, n / 4] });
  assert.equal(r.shape, [4, n / 4]);
  g.output('y', elementwise(g, 'relu', r));
  const out = await runGraph(g, { a: A });
  assertClose(out.y, elementwiseRef('relu', A), tol, 'relu large');
});

test('elementwise: rejects bad broadcasts', async () => {
  const g = await newGraph();
  const a = g.input('a', [2, 5, 3]);
  assert.throws(() => elementwise(g, 'add', a, g.input('b', [4, 3])), /cannot broadcast/);
  assert.throws(() => elementwise(g, 'add', a), /needs second operand/);
  assert.throws(() => elementwise(g, 'copy', a, undefined, { outShape: [7] }), /output shape/);
});

test.run();

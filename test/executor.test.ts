import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompiledGraph } from '../src/graph/compile.ts';
import { Graph, type Tensor } from '../src/graph/graph.ts';
import { orderNodes } from '../src/graph/plan.ts';
import { gemm } from '../src/kernels/gemm.ts';
import { elementwise } from '../src/kernels/elementwise.ts';
import { layerNorm } from '../src/kernels/layernorm.ts';
import { gemmRef } from './reference/gemm.ts';
import { layerNormRef } from './reference/layernorm.ts';
import { assertClose, gpu, newGraph, randomArray, runGraph, trackLiveBuffers } from './helpers.ts';

// linear -> relu -> linear -> layernorm, the executor's reference graph.
async function smallGraph(B: number, D: number, H: number) {
  const g = await newGraph();
  const w1 = randomArray(D * H, 1, 0.3), b1 = randomArray(H, 2), w2 = randomArray(H * D, 3, 0.3), b2 = randomArray(D, 4);
  const gamma = randomArray(D, 5), beta = randomArray(D, 6);
  const x = g.input('x', [B, D]);
  const h = gemm(g, x, g.weight('w1', [D, H], w1), { bias: g.weight('b1', [H], b1), relu: true, name: 'fc1' });
  const y = gemm(g, h, g.weight('w2', [H, D], w2), { bias: g.weight('b2', [D], b2), name: 'fc2' });
  const z = layerNorm(g, y, g.weight('gamma', [D], gamma), g.weight('beta', [D], beta), { name: 'ln' });
  g.output('z', z);
  const ref = (input: Float32Array) => {
    const hh = gemmRef(input, w1, 1, B, H, D, { bias: b1, relu: true });
    const yy = gemmRef(hh, w2, 1, B, D, H, { bias: b2 });
    return layerNormRef(yy, B, D, gamma, beta);
  };
  return { g, ref };
}

const tol = { atol: 1e-4, rtol: 1e-4 }; // LayerNorm outputs are O(1); errors come from two f32 gemms.

test('executor: warm() dispatches each pipeline once; the next run is still exact', async () => {
  const { g, ref } = await smallGraph(37, 48, 130);
  const cg = await CompiledGraph.create(await gpu(), g);
  assert.is(cg.pipelineCount, 2, 'fc1 and fc2 share one gemm pipeline (ReLU is a uniform), plus LayerNorm');
  await cg.warm();
  const x = randomArray(37 * 48, 7);
  assertClose((await cg.run({ x })).z, ref(x), tol, 'after warm');
  await cg.dispose();
  let err = '';
  try { await cg.warm(); } catch (e) { err = (e as Error).message; }
  assert.match(err, /disposed/);
  cg.weights.dispose();
});

test('executor: linear -> relu -> linear -> layernorm equals the CPU reference', async () => {
  const { g, ref } = await smallGraph(37, 48, 130);
  const cg = await CompiledGraph.create(await gpu(), g);
  for (let i = 0; i < 3; i++) {
    const x = randomArray(37 * 48, 100 + i);
    assertClose((await cg.run({ x })).z, ref(x), tol, `run ${i}`);
  }
  cg.dispose(); cg.weights.dispose();
});

test('executor: the buffer plan reuses memory (peak well below the sum)', async () => {
  const g = await newGraph();
  let t = g.input('x', [64, 64]);
  const w = g.weight('w', [64, 64], randomArray(64 * 64, 1, 0.1));
  for (let i = 0; i < 8; i++) t = gemm(g, t, w, { relu: true, name: `l${i}` });
  g.output('y', t);
  const cg = await CompiledGraph.create(await gpu(), g);
  // 7 intermediates in a chain: only two can be alive at once.
  assert.is(cg.plan.slots.length, 2);
  assert.ok(cg.plan.peakBytes * 3 < cg.plan.totalBytes, `peak ${cg.plan.peakBytes} vs total ${cg.plan.totalBytes}`);
  cg.dispose(); cg.weights.dispose();
});

test('executor: the run path creates no buffer, pipeline, bind group or shader', async () => {
  const ctx = await gpu();
  const dev = ctx.device as unknown as Record<string, (...a: unknown[]) => unknown>;
  const counted = ['createBuffer', 'createBindGroup', 'createComputePipeline', 'createComputePipelineAsync', 'createShaderModule', 'createQuerySet', 'createTexture', 'createBindGroupLayout', 'createPipelineLayout'];
  const calls: Record<string, number> = {};
  const originals = counted.map((k) => [k, dev[k]] as const);
  for (const [k, f] of originals) dev[k] = (...a: unknown[]) => { calls[k] = (calls[k] ?? 0) + 1; return f.apply(ctx.device, a); };
  try {
    const { g } = await smallGraph(5, 16, 20);
    const cg = await CompiledGraph.create(ctx, g);
    assert.ok((calls.createBuffer ?? 0) > 0, 'the counter sees build-time allocations');
    for (const k of Object.keys(calls)) delete calls[k];
    for (let i = 0; i < 5; i++) await cg.run({ x: randomArray(5 * 16, i) });
    assert.equal(calls, {}, `run() created ${JSON.stringify(calls)}`);
    cg.dispose(); cg.weights.dispose();
  } finally {
    for (const [k, f] of originals) dev[k] = f;
  }
});

test('executor: overlapping run() calls are queued and give the sequential results', async () => {
  const { g } = await smallGraph(9, 24, 40);
  const cg = await CompiledGraph.create(await gpu(), g);
  const xs = [0, 1, 2, 3].map((i) => randomArray(9 * 24, 50 + i));
  const sequential: Float32Array[] = [];
  for (const x of xs) sequential.push((await cg.run({ x })).z);
  const concurrent = await Promise.all(xs.map((x) => cg.run({ x })));
  concurrent.forEach((r, i) => assert.equal(Array.from(r.z), Array.from(sequential[i])));
  cg.dispose(); cg.weights.dispose();
});

test('executor: profile() times every node and returns the same outputs', async () => {
  const ctx = await gpu();
  if (!ctx.timestamps) throw new Error('this adapter has no timestamp-query; profile mode cannot be tested here');
  const { g, ref } = await smallGraph(8, 32, 64);
  const cg = await CompiledGraph.create(ctx, g);
  const x = randomArray(8 * 32, 9);
  const p = await cg.profile({ x });
  assert.equal(p.nodes.map((n) => n.name), ['fc1', 'fc2', 'ln']);
  for (const n of p.nodes) assert.ok(n.ms > 0 && n.ms < 10_000, `${n.name}: ${n.ms} ms`);
  assert.ok(p.nodes[0].flops === 2 * 8 * 32 * 64);
  assertClose(p.outputs.z, ref(x), tol, 'profile outputs');
  cg.dispose(); cg.weights.dispose();
});

test('executor: dispose() destroys every buffer the graph owns; weights are shared once', async () => {
  const ctx = await gpu();
  const buffers = trackLiveBuffers(ctx);
  try {
    const { g } = await smallGraph(4, 8, 12);
    const cg = await CompiledGraph.create(ctx, g);
    const cg2 = await CompiledGraph.create(ctx, g, { weights: cg.weights });
    assert.is(cg.weights.count, 6, 'six weights uploaded once for both graphs');
    await cg.run({ x: randomArray(32, 1) });
    await cg.dispose(); await cg2.dispose(); cg.weights.dispose();
    assert.is(buffers.live(), 0, `${buffers.live()} buffers left alive`);
  } finally {
    buffers.restore();
  }
});

test('executor: a graph without dispatches runs (its outputs are inputs); a run queued before dispose() completes', async () => {
  const g = await newGraph();
  const x = g.input('x', [5]);
  g.output('y', x);
  const cg = await CompiledGraph.create(await gpu(), g);
  assert.is(cg.dispatchCount, 0);
  const data = randomArray(5, 9);
  assert.equal(Array.from((await cg.run({ x: data })).y), Array.from(data), 'zero dispatches is not "disposed"');
  const queued = cg.run({ x: data });
  await cg.dispose();
  assert.equal(Array.from((await queued).y), Array.from(data));
  try { await cg.run({ x: data }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /disposed/); }
  cg.weights.dispose();
});

test('executor: a tensor over maxStorageBufferBindingSize is rejected before any buffer is made', async () => {
  const ctx = await gpu();
  const max = ctx.device.limits.maxStorageBufferBindingSize;
  const g = await newGraph();
  // relu(relu(x)) with x one vec4 over the limit: the intermediate needs a slot of that size.
  const x = g.input('x', [max / 4 + 4]);
  g.output('y', elementwise(g, 'relu', elementwise(g, 'relu', x, undefined, { name: 'r1' }), undefined, { name: 'r2' }));
  const buffers = trackLiveBuffers(ctx);
  try {
    await CompiledGraph.create(ctx, g).then(() => assert.unreachable('built'), (e: Error) => assert.match(e.message, /exceeds this device's maxStorageBufferBindingSize/));
    // Nothing left behind: no buffers, and no error scope left pushed to swallow later errors.
    assert.is(buffers.live(), 0, `${buffers.live()} buffers left alive`);
    ctx.device.pushErrorScope('validation');
    ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }).destroy();
    assert.ok(await ctx.device.popErrorScope(), 'a later validation error reaches its own scope');
    const stale = await ctx.device.popErrorScope().then(() => true, () => false);
    assert.not.ok(stale, 'no stale error scope is left on the device');
  } finally {
    buffers.restore();
  }
});

test('executor: bad inputs are rejected with the expected shape', async () => {
  const { g } = await smallGraph(2, 8, 8);
  const cg = await CompiledGraph.create(await gpu(), g);
  try { await cg.run({ x: new Float32Array(3) }); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /expected 16 for shape \[2, 8\]/); }
  try { await cg.run({}); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /missing graph input x/); }
  cg.dispose(); cg.weights.dispose();
});

test('executor: reshape views share the buffer and keep their base alive', async () => {
  const g = await newGraph();
  const w1 = randomArray(4 * 5, 1), w2 = randomArray(5 * 3, 2);
  const x = g.input('x', [2, 3, 4]);
  const h = gemm(g, g.reshape(x, [6, 4]), g.weight('w1', [4, 5], w1), { relu: true, name: 'a' });
  const hv = g.reshape(h, [2, 15]);
  const y = gemm(g, g.reshape(hv, [6, 5]), g.weight('w2', [5, 3], w2), { name: 'b' });
  g.output('y', g.reshape(y, [2, 3, 3]));
  g.output('h', hv);
  const xs = randomArray(24, 3);
  const out = await runGraph(g, { x: xs });
  const hh = gemmRef(xs, w1, 1, 6, 5, 4, { relu: true });
  assertClose(out.h, hh, tol, 'h');
  assertClose(out.y, gemmRef(hh, w2, 1, 6, 3, 5), tol, 'y');
  assert.throws(() => g.reshape(x, [5, 5]), /has 24 elements/);
});

test('graph: unused nodes are dropped; a node cannot write its own input', async () => {
  const g = new Graph();
  const x = g.input('x', [4, 4]);
  const w = g.weight('w', [4, 4], new Float32Array(16));
  const used = gemm(g, x, w, { name: 'used' });
  gemm(g, x, w, { name: 'dead' });
  g.output('y', used);
  assert.equal(orderNodes(g), [0], 'only the node the output needs');
  const cg = await CompiledGraph.create(await gpu(), g);
  assert.is(cg.dispatchCount, 1, 'the unused node is dropped');
  cg.dispose(); cg.weights.dispose();
  assert.throws(() => g.add('k', 'bad', [x], [x], { shader: '', workgroups: [1, 1, 1] }), /cannot write input/);
});

// Malformed graphs are rejected by orderNodes (CompiledGraph.create's first step) with the names
// of the nodes and tensors involved. Hand-made nodes: the kernels' builders never make these.
test('graph: cycles, double writers, self-reads and reads of nothing are errors naming the culprits', () => {
  const node = (g: Graph, name: string, inputs: Tensor[], outputs: Tensor[]) => g.add('k', name, inputs, outputs, { shader: '', workgroups: [1, 1, 1] });
  const throwsWith = (g: Graph, re: RegExp) => {
    try { orderNodes(g); } catch (e) { assert.match((e as Error).message, re); return; }
    assert.unreachable(`no error matching ${re}`);
  };
  // A -> B -> C -> A, plus a node Y that only consumes the cycle: the cycle is named, not Y.
  let g = new Graph();
  let x = g.input('x', [4]);
  const [ta, tb, tc, ty] = ['ta', 'tb', 'tc', 'ty'].map((n) => g.tensor(n, [4]));
  node(g, 'A', [x, tc], [ta]);
  node(g, 'B', [ta], [tb]);
  node(g, 'C', [tb], [tc]);
  node(g, 'Y', [tc], [ty]);
  g.output('y', ty);
  throwsWith(g, /^graph has a cycle: A -> B -> C -> A$/);
  // Two writers of one tensor.
  g = new Graph();
  x = g.input('x', [4]);
  let t = g.tensor('t', [4]);
  node(g, 'first', [x], [t]);
  node(g, 'second', [x], [t]);
  g.output('t', t);
  throwsWith(g, /tensor t is written by two nodes.*first.*second/);
  // A node reading its own output through a view (the builder catches the direct case).
  g = new Graph();
  x = g.input('x', [4]);
  t = g.tensor('t', [2, 2]);
  node(g, 'selfish', [x, g.reshape(t, [4])], [t]);
  g.output('t', t);
  throwsWith(g, /node selfish reads its own output/);
  // An output, or a needed node's input, that nothing computes.
  g = new Graph();
  g.output('ghost', g.tensor('ghost', [4]));
  throwsWith(g, /output ghost is never computed/);
  g = new Graph();
  x = g.input('x', [4]);
  t = g.tensor('t', [4]);
  node(g, 'reader', [x, g.tensor('orphan', [4])], [t]);
  g.output('t', t);
  throwsWith(g, /node reader reads orphan, which nothing computes/);
});

test('executor: the weight cache knows a weight by its array: same name, other data -> other buffer; one array -> one buffer', async () => {
  const ctx = await gpu();
  const g = new Graph();
  const x = g.input('x', [1, 4]);
  const one = new Float32Array(16).fill(1), two = new Float32Array(16).fill(2);
  const y1 = gemm(g, x, g.weight('w', [4, 4], one), { name: 'a' });
  const y2 = gemm(g, x, g.weight('w', [4, 4], two), { name: 'b' });
  const y3 = gemm(g, x, g.weight('w.again', [4, 4], one), { name: 'c' });
  g.output('y1', y1); g.output('y2', y2); g.output('y3', y3);
  const cg = await CompiledGraph.create(ctx, g);
  assert.is(cg.weights.count, 2);
  const out = await cg.run({ x: new Float32Array([1, 2, 3, 4]) });
  assert.equal([...out.y1], [10, 10, 10, 10]);
  assert.equal([...out.y2], [20, 20, 20, 20]);
  assert.equal([...out.y3], [10, 10, 10, 10]);
  await cg.dispose(); cg.weights.dispose();
});

test('executor: run(fill) fills the graph\'s own staging arrays in its turn; concurrent runs never see each other\'s inputs', async () => {
  const ctx = await gpu();
  const g = new Graph();
  const x = g.input('x', [1, 4]);
  g.output('y', gemm(g, x, g.weight('w', [4, 4], new Float32Array(16).fill(1)), { name: 'a' }));
  const cg = await CompiledGraph.create(ctx, g);
  const seen: unknown[] = [];
  const fill = (v: number) => (s: Record<string, Float32Array | Uint32Array | Int32Array>) => { seen.push(s.x); s.x.fill(v); };
  const outs = await Promise.all([1, 2, 3].map((v) => cg.run(fill(v))));
  assert.equal(outs.map((o) => o.y[0]), [4, 8, 12]);
  assert.ok(seen.length === 3 && seen.every((a) => a === seen[0]), 'one staging array, reused');
  let err = '';
  await cg.run(() => { throw new Error('bad input'); }).catch((e: Error) => { err = e.message; });
  assert.match(err, 'bad input');
  assert.equal((await cg.run(fill(5))).y[0], 20, 'the queue goes on after a failed fill');
  await cg.dispose(); cg.weights.dispose();
});

test.run();

// kernel(): bindings and uniforms declared once. A WGSL file that disagrees with its declaration
// fails when the node is added, with a message naming the binding or field, never later at
// pipeline creation; uniform bytes are packed by the declared types and match WGSL's layout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompiledGraph } from '../src/graph/compile.ts';
import { Graph } from '../src/graph/graph.ts';
import { includeParts, kernel } from '../src/kernels/kernel.ts';
import { gpu } from './helpers.ts';

const AXPY = `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  var v = p.alpha * x[i];
//#if BIAS
  v += bias[i];
//#endif
  y[i] = v;
}`;

const decl = (source: string) => kernel({
  name: 'axpy', source,
  inputs: { x: 'f32', 'bias?': 'f32' }, outputs: { y: 'f32' },
  uniforms: { n: 'u32', alpha: 'f32' },
});

function graph() {
  const g = new Graph();
  return { g, x: g.input('x', [8]), bias: g.input('bias', [8]), y: g.tensor('y', [8]) };
}
const launch = { workgroups: [1, 1, 1] as const };

test('kernel: the generated declarations follow the declaration order; absent optionals are left out', () => {
  const K = decl(AXPY);
  const both = K.shader({ inputs: ['x', 'bias'], outputs: ['y'] });
  assert.match(both, '@group(0) @binding(0) var<storage, read> x: array<f32>;');
  assert.match(both, '@group(0) @binding(1) var<storage, read> bias: array<f32>;');
  assert.match(both, '@group(0) @binding(2) var<storage, read_write> y: array<f32>;');
  assert.match(both, 'struct Params { n: u32, alpha: f32 }');
  assert.match(both, '@group(0) @binding(3) var<uniform> p: Params;');
  const one = K.shader({ inputs: ['x'], outputs: ['y'] });
  assert.not.match(one, 'bias');
  assert.match(one, '@group(0) @binding(1) var<storage, read_write> y');
  const { g, x, bias, y } = graph();
  K.add(g, 'n0', { inputs: { x, bias }, outputs: { y }, uniforms: { n: 8, alpha: 2 }, ...launch });
  assert.equal(g.nodes[0].inputs.map((t) => t.name), ['x', 'bias']);
});

test('kernel: a WGSL that declares its own bindings or Params is refused at declaration', () => {
  assert.throws(() => decl('@group(0) @binding(0) var<storage, read> x: array<f32>;\n' + AXPY), /declares its own bindings/);
  assert.throws(() => decl('struct Params { n: u32 }\n' + AXPY), /struct Params/);
});

test('kernel: shader/declaration mismatches fail when the node is added, naming the culprit', () => {
  const add = (source: string, withBias = false) => {
    const { g, x, bias, y } = graph();
    decl(source).add(g, 'n0', { inputs: { x, bias: withBias ? bias : undefined }, outputs: { y }, uniforms: { n: 8, alpha: 2 }, ...launch });
  };
  add(AXPY); add(AXPY, true);
  // A binding the declaration does not have.
  assert.throws(() => add(AXPY.replace('y[i] = v;', 'y[i] = v + scale[i];')), /indexes scale\[\.\.\.\], which is not a binding of the declaration/);
  // An optional binding used outside its //#if.
  assert.throws(() => add(AXPY.replace('//#if BIAS\n', '').replace('//#endif\n', '')), /uses bias, which this node does not bind; wrap that use in \/\/#if BIAS/);
  // A bound binding the variant never reads.
  assert.throws(() => add(AXPY.replace('  v += bias[i];\n', ''), true), /bias is bound but this shader variant never uses it/);
  // A uniform field that is not declared.
  assert.throws(() => add(AXPY.replace('p.alpha', 'p.beta')), /reads p\.beta, which the declaration's uniforms do not have \(n, alpha\)/);
});

test('kernel: named inputs and uniforms are checked against the declaration', () => {
  const K = decl(AXPY);
  const { g, x, y } = graph();
  const go = (l: object) => K.add(g, 'n', { inputs: { x }, outputs: { y }, uniforms: { n: 8, alpha: 1 }, ...launch, ...l } as Parameters<typeof K.add>[2]);
  assert.throws(() => go({ inputs: {} }), /input x not given/);
  assert.throws(() => go({ inputs: { x, z: x } }), /input z not declared/);
  assert.throws(() => go({ uniforms: { n: 8 } }), /uniform alpha not given/);
  assert.throws(() => go({ uniforms: { n: 8, alpha: 1, beta: 2 } }), /uniforms beta are not declared/);
  assert.throws(() => go({ uniforms: { n: 8.5, alpha: 1 } }), /uniform n \(u32\) is 8\.5, not a u32/);
  assert.throws(() => go({ uniforms: { n: -1, alpha: 1 } }), /not a u32/);
  assert.throws(() => go({ uniforms: { n: 8, alpha: NaN } }), /uniform alpha \(f32\) is NaN/);
  assert.throws(() => go({ flags: { BIAS: true } }), /flag BIAS is set from whether bias is bound/);
});

test('kernel: uniform packing follows WGSL uniform layout (vec4 fields at 16-byte offsets)', () => {
  const K = kernel({ name: 'k', source: 'fn main() { y[0] = f32(p.a) + p.v.x + f32(p.b); }', inputs: {}, outputs: { y: 'f32' }, uniforms: { a: 'u32', v: 'vec4f', b: 'i32' } });
  const bytes = K.pack({ a: 7, v: [1, 2, 3, 4], b: -5 })!;
  assert.is(bytes.byteLength, 48);
  const dv = new DataView(bytes);
  assert.is(dv.getUint32(0, true), 7);
  assert.equal([16, 20, 24, 28].map((o) => dv.getFloat32(o, true)), [1, 2, 3, 4]);
  assert.is(dv.getInt32(32, true), -5);
  assert.throws(() => K.pack({ a: 7, v: [1, 2, 3] as unknown as [number, number, number, number], b: 0 }), /uniform v \(vec4f\) given/);
});

test('kernel: on the GPU, the explicit layout and packed uniforms read back as declared', async () => {
  const K = kernel({
    name: 'echo',
    source: `
@compute @workgroup_size(1)
fn main() {
  y[0] = f32(p.a); y[1] = p.v.x; y[2] = p.v.w; y[3] = f32(p.b); y[4] = p.s;
  y[5] = x[0] + f32(q[0].x);
}`,
    inputs: { x: 'f32', 'q?': 'vec4u' }, outputs: { y: 'f32' },
    uniforms: { a: 'u32', v: 'vec4f', b: 'i32', s: 'f32' },
  });
  const g = new Graph();
  const x = g.input('x', [4]);
  const q = g.weight('q', [4], new Uint32Array([10, 0, 0, 0]));
  const y = g.tensor('y', [8]);
  K.add(g, 'echo', { inputs: { x, q }, outputs: { y }, uniforms: { a: 3, v: [1.5, 0, 0, -2.5], b: -7, s: 0.25 }, workgroups: [1, 1, 1] });
  g.output('y', y);
  const cg = await CompiledGraph.create(await gpu(), g);
  const out = (await cg.run({ x: new Float32Array([0.5, 0, 0, 0]) })).y;
  assert.equal([...out.subarray(0, 6)], [3, 1.5, -2.5, -7, 0.25, 10.5]);
  await cg.dispose(); cg.weights.dispose();
});

test('kernel: //#include pastes a part with its argument; unknown parts and wrong arguments fail', () => {
  const lib = 'commentary\n//#part twice\n  let t$i = %A% + %A%;\n//#endpart\n//#part plain\n  let q = 1;\n//#endpart\n';
  const src = 'fn f() {\n//#include lib.twice A=x[$i]\n//#include lib.plain\n}';
  assert.is(includeParts(src, { lib }), 'fn f() {\n  let t$i = x[$i] + x[$i];\n  let q = 1;\n}');
  assert.throws(() => includeParts('//#include lib.nope', { lib }), /no such part \(have lib\.twice, lib\.plain\)/);
  assert.throws(() => includeParts('//#include lib.twice', { lib }), /takes A=\.\.\., given none/);
  assert.throws(() => includeParts('//#include lib.plain A=1', { lib }), /takes no argument, given A/);
});

test('kernel: enable directives from any part of a variant go first, once; other variants have none', () => {
  const lib = '//#part half\n//#if F16\nenable f16;   // a comment\nalias T = f16;\n//#else\nalias T = f32;\n//#endif\n//#endpart\n';
  const K = kernel({ name: 'h', source: `//#include lib.half\n//#if F16\nenable f16;\n//#endif\n${AXPY}`, include: { lib }, inputs: { x: 'f32', 'bias?': 'f32' }, outputs: { y: 'f32' }, uniforms: { n: 'u32', alpha: 'f32' } });
  const half = K.shader({ inputs: ['x'], outputs: ['y'] }, { F16: true });
  assert.is(half.split('\n')[0], 'enable f16;');
  assert.is(half.match(/enable f16;/g)!.length, 1);
  assert.match(half, 'alias T = f16;');
  assert.not.match(K.shader({ inputs: ['x'], outputs: ['y'] }, { F16: false }), 'enable');
});

test.run();

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WeightFileError } from '../src/io/errors.ts';
import { flameToSafetensors, readFlame } from '../src/io/flame.ts';
import type { FlameArrays } from '../src/io/flame.ts';
import { ndarrayToFloat32, parseNpy, readNpz } from '../src/io/numpy.ts';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.ts';
import type { WritableTensor } from '../src/io/safetensors.ts';
import { throwsWFE } from './io-helpers.ts';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/io/${name}`, import.meta.url)));
const want = JSON.parse(new TextDecoder().decode(fixture('flame_expected.json'))) as Record<string, number[]> & { V: number; F: number; J: number; K: number };
const landmarkFiles = () => [
  { bytes: fixture('flame_static_embedding.pkl'), file: 'flame_static_embedding.pkl' },
  { bytes: fixture('flame_dynamic_embedding.npy'), file: 'flame_dynamic_embedding.npy' },
];


function same(actual: ArrayLike<number>, expected: number[], key: string) {
  assert.is(actual.length, expected.length, `${key} length`);
  for (let i = 0; i < expected.length; i++) assert.is(actual[i], Math.fround(expected[i]!), `${key}[${i}]`);
}

function checkArrays(a: FlameArrays, withLandmarks: boolean) {
  assert.is(a.V, want.V); assert.is(a.F, want.F); assert.is(a.J, want.J); assert.is(a.nShapedirs, want.K);
  same(a.vTemplate, want.v_template!, 'v_template');
  same(a.shapedirs, want.shapedirs!, 'shapedirs');
  same(a.posedirs, want.posedirs!, 'posedirs'); // (36, V*3): transposed from the published (V, 3, 36)
  same(a.jRegressor, want.J_regressor!, 'J_regressor');
  same(a.weights, want.weights!, 'weights');
  assert.equal([...a.parents], want.parents);
  assert.ok(a.parents instanceof Int32Array && a.faces instanceof Uint32Array);
  assert.equal([...a.faces], want.faces);
  if (withLandmarks) {
    assert.equal([...a.lmkFacesIdx!], want.lmk_faces_idx);
    same(a.lmkBaryCoords!, want.lmk_bary_coords!, 'lmk_bary_coords');
  } else {
    assert.is(a.lmkFacesIdx, undefined);
  }
}

test('published layout pickle (py2 strings, chumpy Ch via NEWOBJ and _reconstructor, old scipy csc name)', () => {
  const a = readFlame(fixture('flame_fake.pkl'), 'generic_model.pkl');
  checkArrays(a, false);
  assert.is(a.synthetic, false);
});

test('Python 3 protocol-2 pickle (_codecs.encode bytes, scipy.sparse._csc, f32 and int64 arrays)', () => {
  checkArrays(readFlame(fixture('flame_fake_py3.pkl'), 'py3.pkl'), false);
});

test('.npz (deflated, zip64 local headers, posedirs already (36, V*3), dense J_regressor)', () => {
  checkArrays(readFlame(fixture('flame_fake.npz'), 'flame.npz'), false);
  const npz = readNpz(fixture('flame_fake.npz'), 'flame.npz');
  assert.equal([...npz.keys()].sort(), ['J_regressor', 'f', 'kintree_table', 'posedirs', 'shapedirs', 'v_template', 'weights']);
});

test('landmarks: static 51 + frontal row of the dynamic contour = 68, in iBUG order', () => {
  checkArrays(readFlame(fixture('flame_fake.pkl'), 'generic_model.pkl', { landmarks: landmarkFiles() }), true);
});

test('landmarks: a partial embedding says why 68 points cannot be formed', () => {
  const [stat, dyn] = landmarkFiles();
  throwsWFE(() => readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: [stat!] }), 'flame_static_embedding.pkl', 'cannot form the 68-point', '51 static');
  throwsWFE(() => readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: [dyn!] }), '17 dynamic contour');
  throwsWFE(() => readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: [{ bytes: fixture('flame_fake.npz'), file: 'x.npz' }] }), 'x.npz', 'no landmark embedding');
});

test('flameToSafetensors round trip keeps arrays, landmarks, synthetic flag; 68-point files are accepted as landmark input', () => {
  const a = readFlame(fixture('flame_fake.pkl'), 'generic_model.pkl', { landmarks: landmarkFiles() });
  const bytes = flameToSafetensors({ ...a, synthetic: true });
  const st = readSafetensors(bytes);
  assert.equal(st.metadata, { format: 'trans3dhead-flame', synthetic: 'true' });
  assert.equal(st.tensors.get('posedirs')!.shape, [36, want.V * 3]);
  assert.equal(st.tensors.get('shapedirs')!.shape, [want.V, 3, want.K]);
  assert.equal(st.tensors.get('faces')!.shape, [want.F, 3]);
  assert.equal(st.tensors.get('lmk_bary_coords')!.shape, [68, 3]);
  const b = readFlame(bytes, 'flame.safetensors');
  checkArrays(b, true);
  assert.is(b.synthetic, true);
  const c = readFlame(fixture('flame_fake.npz'), 'f.npz', { landmarks: [{ bytes, file: 'flame.safetensors' }] });
  checkArrays(c, true);
  const noLmk = readFlame(flameToSafetensors({ ...a, lmkFacesIdx: undefined, lmkBaryCoords: undefined, dynLmkFacesIdx: undefined, dynLmkBaryCoords: undefined }));
  assert.is(noLmk.lmkFacesIdx, undefined);
  assert.is(noLmk.synthetic, false);
  throwsWFE(() => flameToSafetensors({ ...a, weights: new Float32Array(3) }), '[weights]', 'wrong length');
});

test('shape and content errors name the key and the expected shape', () => {
  const a = readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: landmarkFiles() });
  const base = (): Map<string, WritableTensor> => new Map(readSafetensors(flameToSafetensors(a)).tensors);
  const V = want.V;
  const variant = (edit: (m: Map<string, WritableTensor>) => void, meta: Record<string, string> = { format: 'trans3dhead-flame', synthetic: 'false' }) => {
    const m = base();
    edit(m);
    return writeSafetensors(m, meta);
  };
  const f = 'bad_flame.safetensors';
  throwsWFE(() => readFlame(variant((m) => m.set('weights', { shape: [V, 4], data: new Float32Array(V * 4) })), f), f, '[weights]', 'wrong shape', `(V, J) = [${V}, 5]`, `[${V}, 4]`);
  throwsWFE(() => readFlame(variant((m) => m.set('v_template', { shape: [V, 2], data: new Float32Array(V * 2) })), f), '[v_template]', '(V, 3)');
  throwsWFE(() => readFlame(variant((m) => m.set('posedirs', { shape: [35, V * 3], data: new Float32Array(35 * V * 3) })), f), '[posedirs]', `[${V}, 3, 36]`, `[36, ${V * 3}]`, '[35, 30]');
  throwsWFE(() => readFlame(variant((m) => m.set('shapedirs', { shape: [V, 3], data: new Float32Array(V * 3) })), f), '[shapedirs]', '(V, 3, K)');
  throwsWFE(() => readFlame(variant((m) => m.set('J_regressor', { shape: [5, V + 1], data: new Float32Array(5 * (V + 1)) })), f), '[J_regressor]', `V = ${V}`);
  throwsWFE(() => readFlame(variant((m) => m.delete('faces')), f), '[f or faces]', 'missing FLAME array');
  throwsWFE(() => readFlame(variant((m) => m.set('faces', { shape: [1, 3], data: new Int32Array([0, 1, V]) })), f), '[faces]', 'vertex index out of range', `[0, ${V})`);
  throwsWFE(() => readFlame(variant((m) => m.set('parents', { shape: [5], data: new Int32Array([-1, 0, 3, 1, 1]) })), f), '[parents]', 'invalid joint parent');
  throwsWFE(() => readFlame(variant((m) => m.set('parents', { shape: [5], data: new Int32Array([0, 0, 1, 1, 1]) })), f), '[parents]', 'root');
  throwsWFE(() => readFlame(variant((m) => m.set('v_template', { shape: [V, 3], data: new Float32Array(V * 3).fill(NaN) })), f), '[v_template]', 'NaN');
  throwsWFE(() => readFlame(variant((m) => m.delete('lmk_bary_coords')), f), '[lmk_bary_coords]', 'incomplete');
  throwsWFE(() => readFlame(variant(() => {}, { format: 'something-else' }), f), '__metadata__.format', 'trans3dhead-flame');
  throwsWFE(() => readFlame(new TextEncoder().encode('hello world'), 'x.obj'), 'x.obj', 'unrecognised FLAME file format');
  throwsWFE(() => readFlame(new Uint8Array([0x80, 2, 0x5d, 0x2e]), 'l.pkl'), 'l.pkl', 'does not hold a dict');
});

test('landmarks: the published dynamic contour (.npy of a dict of per-yaw lists) keeps all 79 rows through convert-flame', () => {
  const [stat] = landmarkFiles();
  const lists = { bytes: fixture('flame_dynamic_embedding_lists.npy'), file: 'flame_dynamic_embedding.npy' };
  const a = readFlame(fixture('flame_fake.pkl'), 'generic_model.pkl', { landmarks: [stat!, lists] });
  checkArrays(a, true);
  assert.equal([...a.dynLmkFacesIdx!], want.dynamic_lmk_faces_idx);
  same(a.dynLmkBaryCoords!, want.dynamic_lmk_bary_coords!, 'dynamic_lmk_bary_coords');
  // The (79, 17) array layout reads the same.
  const b = readFlame(fixture('flame_fake.pkl'), 'generic_model.pkl', { landmarks: landmarkFiles() });
  assert.equal([...b.dynLmkFacesIdx!], want.dynamic_lmk_faces_idx);
  // convert-flame: our safetensors carries dynamic_lmk_faces_idx (79, 17) and dynamic_lmk_bary_coords (79, 17, 3).
  const bytes = flameToSafetensors(a);
  const st = readSafetensors(bytes);
  assert.equal(st.tensors.get('dynamic_lmk_faces_idx')!.shape, [79, 17]);
  assert.equal(st.tensors.get('dynamic_lmk_bary_coords')!.shape, [79, 17, 3]);
  const c = readFlame(bytes, 'flame.safetensors');
  checkArrays(c, true);
  assert.equal([...c.dynLmkFacesIdx!], want.dynamic_lmk_faces_idx);
  same(c.dynLmkBaryCoords!, want.dynamic_lmk_bary_coords!, 'round trip dynamic_lmk_bary_coords');
  // Static-only files carry no table.
  assert.is(readFlame(flameToSafetensors({ ...a, dynLmkFacesIdx: undefined, dynLmkBaryCoords: undefined })).dynLmkFacesIdx, undefined);
  throwsWFE(() => flameToSafetensors({ ...a, dynLmkBaryCoords: undefined }), 'dynamic contour needs');
  throwsWFE(() => flameToSafetensors({ ...a, dynLmkFacesIdx: a.dynLmkFacesIdx!.subarray(17) }), '[dynLmkFacesIdx]', 'wrong length');
});

test('landmarks: malformed dynamic contours get clear errors', () => {
  const [stat] = landmarkFiles();
  const ragged = { bytes: fixture('flame_dynamic_embedding_ragged.npy'), file: 'ragged.npy' };
  throwsWFE(() => readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: [stat!, ragged] }), 'ragged.npy', '[lmk_face_idx[1]]', 'rows differ in shape', '[17]', '[16]');
  const a = readFlame(fixture('flame_fake.pkl'), 'm.pkl', { landmarks: landmarkFiles() });
  const edit = (fn: (m: Map<string, WritableTensor>) => void) => {
    const m = new Map<string, WritableTensor>(readSafetensors(flameToSafetensors(a)).tensors);
    fn(m);
    return writeSafetensors(m, { format: 'trans3dhead-flame', synthetic: 'false' });
  };
  const f = 'dyn.safetensors';
  throwsWFE(() => readFlame(edit((m) => {
    m.set('dynamic_lmk_faces_idx', { shape: [78, 17], data: new Int32Array(78 * 17) });
    m.set('dynamic_lmk_bary_coords', { shape: [78, 17, 3], data: new Float32Array(78 * 51) });
  }), f), f, 'wrong number of yaw rows', '79 rows', '78 rows');
  const badIdx = Int32Array.from(a.dynLmkFacesIdx!);
  badIdx[50 * 17 + 3] = want.F;
  throwsWFE(() => readFlame(edit((m) => m.set('dynamic_lmk_faces_idx', { shape: [79, 17], data: badIdx })), f), '[dynamic_lmk_faces_idx]', 'face index out of range', `element ${50 * 17 + 3}`);
  const nan = Float32Array.from(a.dynLmkBaryCoords!);
  nan[78 * 51] = NaN;
  throwsWFE(() => readFlame(edit((m) => m.set('dynamic_lmk_bary_coords', { shape: [79, 17, 3], data: nan })), f), '[dynamic_lmk_bary_coords]', 'NaN');
  throwsWFE(() => readFlame(edit((m) => m.delete('dynamic_lmk_bary_coords')), f), '[dynamic_lmk_bary_coords]', 'incomplete');
  throwsWFE(() => readFlame(edit((m) => m.set('dynamic_lmk_bary_coords', { shape: [79, 16, 3], data: new Float32Array(79 * 48) })), f), 'wrong shape', '[79, 17]', '[79, 16, 3]');
});

function npy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  while ((pre + h.length + 1) % 64) h += ' ';
  h += '\n';
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(new TextEncoder().encode(h), pre);
  out.set(data, pre + h.length);
  return out;
}

test('.npy: Fortran order, big-endian, Python 2 long literals, version 2 headers, bad headers', () => {
  const be = new Uint8Array(24);
  [0, 3, 1, 4, 2, 5].forEach((v, i) => new DataView(be.buffer).setFloat32(i * 4, v, false)); // column-major
  const a = ndarrayToFloat32(parseNpy(npy("{'descr': '>f4', 'fortran_order': True, 'shape': (2L, 3L), }", be), 'f.npy'));
  assert.equal(a.shape, [2, 3]);
  assert.equal([...a.data], [0, 1, 2, 3, 4, 5]);
  const le = new Uint8Array(new Float64Array([1, 2]).buffer);
  assert.equal([...ndarrayToFloat32(parseNpy(npy('{"descr": "<f8", "fortran_order": False, "shape": (2,)}', le, 2))).data], [1, 2]);
  const scalar = parseNpy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", le.subarray(0, 8)));
  assert.equal(ndarrayToFloat32(scalar).shape, []);
  throwsWFE(() => parseNpy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", le), 'short.npy'), 'short.npy', 'truncated');
  throwsWFE(() => parseNpy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", le), 's.npy'), 'structured');
  throwsWFE(() => ndarrayToFloat32(parseNpy(npy("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(16)), 'c.npy'), 'c.npy', 'k'), 'c.npy', '[k]', 'unsupported numpy dtype');
  throwsWFE(() => parseNpy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': __import__('os'), }", le), 'evil.npy'), 'evil.npy', 'invalid .npy header');
  throwsWFE(() => parseNpy(npy("{'descr': '<f8' 'fortran_order': False}", le), 'x.npy'), 'invalid .npy header');
  throwsWFE(() => parseNpy(new Uint8Array(20), 'm.npy'), 'm.npy', 'bad magic');
});

test.run();

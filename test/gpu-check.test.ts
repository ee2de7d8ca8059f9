// The GPU check's comparison with the CPU adapter's outputs (bench/gpu-check-compare.ts): it must
// pass identical results and fail each output that moves past its tolerance. CPU only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compare, summarise, TOLERANCES, VERTEX_STRIDE, type Summary } from '../bench/gpu-check-compare.ts';
import type { HeadResult } from '../src/model/trans3dhead.ts';
import { randomArray } from './helpers.ts';

const V = 5023;
function result(): HeadResult {
  return {
    landmarks: randomArray(136, 1, 100), params: randomArray(413, 2), rotation: randomArray(9, 3),
    pose: { pitch: 1, yaw: 2, roll: 3 }, vertices: randomArray(V * 3, 4, 0.1), projectedVertices: randomArray(V * 2, 5, 100),
    landmarks3d: randomArray(204, 6, 0.1),
  } as unknown as HeadResult;
}
const clone = (s: Summary): Summary => JSON.parse(JSON.stringify(s));
const failed = (c: ReturnType<typeof compare>) => c.checks.filter((k) => !k.ok).map((k) => k.name.split(' ')[0]);

test('gpu check: a result equals its own summary; the summary is small', () => {
  const s = summarise(result());
  const c = compare(clone(s), s);
  assert.ok(c.ok, JSON.stringify(c.checks));
  assert.is(s.vertices.length, 3 * Math.ceil(V / VERTEX_STRIDE));
  assert.ok(JSON.stringify(s).length < 20_000, `${JSON.stringify(s).length} bytes`);
});

test('gpu check: each output past its tolerance fails, and only that one', () => {
  const exp = summarise(result());
  const cases: [string, (s: Summary) => void][] = [
    ['landmarks', (s) => { s.landmarks[7] += 1.5 * TOLERANCES.px; }],
    ['params', (s) => { s.params[412] -= 1.5 * TOLERANCES.params; }],
    ['rotation', (s) => { s.rotation[4] += 1.5 * TOLERANCES.rotation; }],
    ['pose', (s) => { s.pose.roll += 1.5 * TOLERANCES.poseDeg; }],
    ['vertices', (s) => { s.vertices[30] += 1.5 * TOLERANCES.vertices; }],
    ['projected', (s) => { s.projectedVertices[0] = NaN; }],
    ['sum', (s) => { s.verticesSumAbs *= 1 + 1.5 * TOLERANCES.verticesSumAbsRel; }],
    ['landmarks3d', (s) => { s.landmarks3d = undefined; }],
  ];
  for (const [name, spoil] of cases) {
    const got = clone(exp);
    spoil(got);
    const c = compare(got, exp);
    assert.not.ok(c.ok, name);
    assert.equal(failed(c), [name], name);
  }
  // Within tolerance passes.
  const near = clone(exp);
  near.landmarks[7] += 0.5 * TOLERANCES.px;
  near.vertices[30] -= 0.5 * TOLERANCES.vertices;
  assert.ok(compare(near, exp).ok);
});

test.run();

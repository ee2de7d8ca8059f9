import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { poseFromRotation, posesFromRotations, scipyEulerDegrees, quatFromMatrix, matrixFromQuat } from '../src/model/pose.ts';
import { rot6dRef } from './reference/flame.ts';

interface PoseCase { note: string; rotation: number[]; scipy_xyz: number[]; pitch: number; yaw: number; roll: number; gimbal_lock: boolean }
const TOL = 1e-4; // degrees

const rx = (d: number) => { const a = (d * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a); return [1, 0, 0, 0, c, -s, 0, s, c]; };
const ry = (d: number) => { const a = (d * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a); return [c, 0, s, 0, 1, 0, -s, 0, c]; };
const rz = (d: number) => { const a = (d * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a); return [c, -s, 0, s, c, 0, 0, 0, 1]; };
const mm = (a: number[], b: number[]) => [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => { const r = Math.floor(i / 3), c = i % 3; return a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c]; });
const T = (m: number[]) => [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];
const close = (a: number, b: number, label: string) => assert.ok(Math.abs(a - b) <= TOL, `${label}: got ${a}, expected ${b}`);

test('pose: hand-checked cases', () => {
  // Frontal face (SPEC): R = diag(1, -1, -1) -> all zero.
  let p = poseFromRotation(rot6dRef([1, 0, 0, 0, -1, 0]));
  close(p.pitch, 0, 'frontal pitch'); close(p.yaw, 0, 'frontal yaw'); close(p.roll, 0, 'frontal roll');
  assert.is(p.gimbalLock, false);
  // R.T = Rz(c) Ry(b) Rx(a) is extrinsic xyz (a, b, c): pitch = a - 180, yaw = b, roll = c.
  for (const [a, b, c] of [[170, 20, -10], [-160, -35, 50], [180, 0, 0], [200, 10, 5]]) {
    p = poseFromRotation(T(mm(rz(c), mm(ry(b), rx(a)))));
    const wantPitch = ((a - 180 + 540) % 360) - 180 || 0;
    close(p.pitch, wantPitch <= -180 ? wantPitch + 360 : wantPitch, `pitch of ${[a, b, c]}`);
    close(p.yaw, b, `yaw of ${[a, b, c]}`); close(p.roll, c, `roll of ${[a, b, c]}`);
  }
  // Identity: x = 0, pitch = -180 wraps to +180.
  p = poseFromRotation([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  close(p.pitch, 180, 'identity pitch');
  // Gimbal lock: yaw exactly 90, SciPy puts everything in the first angle, roll = 0.
  p = poseFromRotation(T(mm(rz(40), mm(ry(90), rx(150)))));
  assert.is(p.gimbalLock, true);
  close(p.yaw, 90, 'locked yaw'); close(p.roll, 0, 'locked roll');
  close(p.pitch, 150 - 40 - 180, 'locked pitch'); // Rz(c) Ry(90) Rx(a) = Ry(90) Rx(a - c)
  const q = quatFromMatrix([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.equal(q, [0, 0, 0, 1]);
  assert.equal(matrixFromQuat([0, 0, 0, 1]), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.throws(() => scipyEulerDegrees([1, 0, 0, 0, 1, 0, 0, 0, 1], 'xxy'), /adjacent/);
  assert.is(posesFromRotations(new Float32Array([1, 0, 0, 0, -1, 0, 0, 0, -1, 1, 0, 0, 0, 1, 0, 0, 0, 1])).length, 2);
});

test('pose: SciPy 1.10 fixtures (incl. gimbal lock and non-orthogonal input) to 1e-4 degrees', () => {
  const path = new URL('./fixtures/flame_fixtures.json', import.meta.url);
  assert.ok(existsSync(path), 'test/fixtures/flame_fixtures.json missing: run /usr/bin/python3 test/fixtures/make_flame_fixtures.py');
  const cases = (JSON.parse(readFileSync(path, 'utf8')) as { pose_cases: PoseCase[] }).pose_cases;
  assert.ok(cases.length >= 40 && cases.some((c) => c.gimbal_lock));
  let worst = 0;
  for (const c of cases) {
    const p = poseFromRotation(c.rotation);
    const xyz = scipyEulerDegrees(T(c.rotation), 'xyz').angles;
    for (let i = 0; i < 3; i++) close(xyz[i], c.scipy_xyz[i], `${c.note} scipy angle ${i}`);
    close(p.pitch, c.pitch, `${c.note} pitch`); close(p.yaw, c.yaw, `${c.note} yaw`); close(p.roll, c.roll, `${c.note} roll`);
    assert.is(p.gimbalLock, c.gimbal_lock, `${c.note} gimbal lock flag`);
    worst = Math.max(worst, Math.abs(p.pitch - c.pitch), Math.abs(p.yaw - c.yaw), Math.abs(p.roll - c.roll));
  }
  console.log(`  ${cases.length} SciPy cases, max |error| ${worst.toExponential(2)} degrees`);
});

test.run();

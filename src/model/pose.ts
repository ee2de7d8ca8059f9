// Head pose angles from the rotation matrix (SPEC section 6, DAD-3DNet's calculate_rpy):
// SciPy `Rotation.from_matrix(R.T).as_euler("xyz", degrees=True)` = (x, y, z), then
// pitch = x - 180 wrapped to (-180, 180], yaw = y, roll = z.
// SciPy (1.10) stores a rotation as a quaternion: from_matrix is Markley's method (which also
// projects a slightly non-orthogonal matrix onto a rotation), as_euler rebuilds the matrix from
// the quaternion and runs Shuster & Markley's general Euler extraction, which at gimbal lock
// sets the third angle to zero (and warns). All three steps are reproduced here in float64 in
// SciPy's operation order, so the angles agree to rounding, gimbal-lock cases included.

export interface PoseAngles {
  /** Degrees, (-180, 180]. */
  pitch: number;
  yaw: number;
  roll: number;
  /** SciPy's "Gimbal lock detected" case: yaw is +-90 and roll was set to 0. */
  gimbalLock: boolean;
}

type Mat3 = number[]; // row-major 3x3

/** Markley's "Unit quaternion from rotation matrix" as SciPy's from_matrix: (x, y, z, w), unit norm. */
export function quatFromMatrix(m: ArrayLike<number>): [number, number, number, number] {
  const M = (r: number, c: number) => m[r * 3 + c];
  const decision = [M(0, 0), M(1, 1), M(2, 2), M(0, 0) + M(1, 1) + M(2, 2)];
  let choice = 0;
  for (let i = 1; i < 4; i++) if (decision[i] > decision[choice]) choice = i;
  const q = [0, 0, 0, 0];
  if (choice !== 3) {
    const i = choice, j = (i + 1) % 3, k = (j + 1) % 3;
    q[i] = 1 - decision[3] + 2 * M(i, i);
    q[j] = M(j, i) + M(i, j);
    q[k] = M(k, i) + M(i, k);
    q[3] = M(k, j) - M(j, k);
  } else {
    q[0] = M(2, 1) - M(1, 2);
    q[1] = M(0, 2) - M(2, 0);
    q[2] = M(1, 0) - M(0, 1);
    q[3] = 1 + decision[3];
  }
  const norm = Math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  return [q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm];
}

/** SciPy's as_matrix for a unit quaternion (x, y, z, w): row-major 3x3. */
export function matrixFromQuat([x, y, z, w]: readonly number[]): Mat3 {
  const x2 = x * x, y2 = y * y, z2 = z * z, w2 = w * w;
  const xy = x * y, zw = z * w, xz = x * z, yw = y * w, yz = y * z, xw = x * w;
  return [
    x2 - y2 - z2 + w2, 2 * (xy - zw), 2 * (xz + yw),
    2 * (xy + zw), -x2 + y2 - z2 + w2, 2 * (yz - xw),
    2 * (xz - yw), 2 * (yz + xw), -x2 - y2 + z2 + w2,
  ];
}

const AXIS: Record<string, number[]> = { x: [1, 0, 0], y: [0, 1, 0], z: [0, 0, 1] };
const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
function mm(a: Mat3, b: Mat3): Mat3 {
  const o: Mat3 = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) o[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  return o;
}

/**
 * Euler angles (radians) of a rotation matrix as SciPy 1.10's as_euler (Shuster & Markley):
 * seq lower case = extrinsic, upper case = intrinsic. `locked`: gimbal lock (third angle 0).
 */
function eulerFromRotationMatrix(matrix: ArrayLike<number>, seq: string): { angles: [number, number, number]; locked: boolean } {
  if (!/^([xyz]{3}|[XYZ]{3})$/.test(seq) || seq[0] === seq[1] || seq[1] === seq[2]) throw new Error(`Euler sequence ${seq}: three axes, all x/y/z or all X/Y/Z, adjacent ones different`);
  const extrinsic = seq === seq.toLowerCase();
  let s = seq.toLowerCase();
  if (extrinsic) s = [...s].reverse().join('');
  const n1 = AXIS[s[0]], n2 = AXIS[s[1]], n3 = AXIS[s[2]];
  const sl = dot(cross(n1, n2), n3), cl = dot(n1, n3);
  const offset = Math.atan2(sl, cl);
  const n12 = cross(n1, n2);
  const c: Mat3 = [...n2, ...n12, ...n1];
  const cT: Mat3 = [c[0], c[3], c[6], c[1], c[4], c[7], c[2], c[5], c[8]];
  const rot: Mat3 = [1, 0, 0, 0, cl, sl, 0, -sl, cl];
  const m = mm(mm(c, Array.from(matrix)), mm(cT, rot));
  const T = (r: number, k: number) => m[r * 3 + k];
  m[8] = Math.max(Math.min(m[8], 1), -1);
  const a = [0, Math.acos(m[8]), 0];
  const eps = 1e-7;
  const safe1 = Math.abs(a[1]) >= eps, safe2 = Math.abs(a[1] - Math.PI) >= eps, safe = safe1 && safe2;
  a[1] += offset;
  if (safe) {
    a[0] = Math.atan2(T(0, 2), -T(1, 2));
    a[2] = Math.atan2(T(2, 0), T(2, 1));
  }
  if (extrinsic) {
    if (!safe) a[0] = 0;
    if (!safe1) a[2] = Math.atan2(T(1, 0) - T(0, 1), T(0, 0) + T(1, 1));
    if (!safe2) a[2] = -Math.atan2(T(1, 0) + T(0, 1), T(0, 0) - T(1, 1));
  } else {
    if (!safe) a[2] = 0;
    if (!safe1) a[0] = Math.atan2(T(1, 0) - T(0, 1), T(0, 0) + T(1, 1));
    if (!safe2) a[0] = Math.atan2(T(1, 0) + T(0, 1), T(0, 0) - T(1, 1));
  }
  const adjust = s[0] === s[2] ? a[1] < 0 || a[1] > Math.PI : a[1] < -Math.PI / 2 || a[1] > Math.PI / 2;
  if (adjust && safe) {
    a[0] += Math.PI;
    a[1] = 2 * offset - a[1];
    a[2] -= Math.PI;
  }
  for (let i = 0; i < 3; i++) {
    if (a[i] < -Math.PI) a[i] += 2 * Math.PI;
    else if (a[i] > Math.PI) a[i] -= 2 * Math.PI;
  }
  const angles: [number, number, number] = extrinsic ? [a[2], a[1], a[0]] : [a[0], a[1], a[2]];
  return { angles, locked: !safe };
}

/** SciPy `Rotation.from_matrix(m).as_euler(seq, degrees=True)`. */
export function scipyEulerDegrees(m: ArrayLike<number>, seq: string): { angles: [number, number, number]; locked: boolean } {
  const { angles, locked } = eulerFromRotationMatrix(matrixFromQuat(quatFromMatrix(m)), seq);
  const k = 180 / Math.PI;
  return { angles: [angles[0] * k, angles[1] * k, angles[2] * k], locked };
}

/** Pitch, yaw, roll in degrees from the head rotation R (row-major 3x3, as the FLAME layer outputs it). */
export function poseFromRotation(R: ArrayLike<number>, offset = 0): PoseAngles {
  const Rt = [0, 3, 6, 1, 4, 7, 2, 5, 8].map((i) => R[offset + i]);
  const { angles: [x, y, z], locked } = scipyEulerDegrees(Rt, 'xyz');
  let pitch = x - 180;
  if (pitch <= -180) pitch += 360;
  else if (pitch > 180) pitch -= 360;
  return { pitch, yaw: y, roll: z, gimbalLock: locked };
}

/** poseFromRotation for each item of a [B, 3, 3] rotation tensor. */
export function posesFromRotations(R: ArrayLike<number>): PoseAngles[] {
  if (R.length % 9 !== 0) throw new Error(`rotations: ${R.length} values is not a multiple of 9`);
  return Array.from({ length: R.length / 9 }, (_, b) => poseFromRotation(R, b * 9));
}

// FLAME per-item transforms: one workgroup per batch item (everything here is tiny).
//  - joints J = J_template + J_dirs . betas (J_regressor folded into the blend shapes at load:
//    15 x K instead of a pass over the vertices)
//  - Rodrigues for the 5 joints (smplx: angle = |r + 1e-8|), pose features (R_j - I, j = 1..4)
//  - the kinematic chain and A_j = G_j - [0 | G_j J_j]
//  - the head rotation from 6D, scale and translation.
// Outputs: coef [B, KC] = betas, the 36 pose features, zero padding (the blend coefficients),
// xf [B, 72] = A_j as 3x4 row-major (60), R row-major (9), s, tx, ty; rotation [B, 9].

// Bindings and Params: declared in src/kernels/flame_lbs.ts. K: betas; NP: params per item;
// KC: K + 36 rounded up to 4; p1..p4: parents of joints 1..4.

const XF: u32 = 72u;
var<workgroup> partial: array<f32, 64>;

// sin and cos to f32 accuracy: Vulkan only promises 2^-11 absolute for the built-ins.
// Cody-Waite reduction by pi/2 (3 parts, the first two exact in k * c), then the
// Cephes sinf/cosf polynomials on [-pi/4, pi/4].
fn sincos(x: f32) -> vec2f {
  let k = round(x * 0.63661977236758134);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  let q = i32(k) & 3;
  if (q == 0) { return vec2f(s, c); }
  if (q == 1) { return vec2f(c, -s); }
  if (q == 2) { return vec2f(-s, -c); }
  return vec2f(-c, s);
}

fn rodrigues(r: vec3f) -> mat3x3f {
  let angle = length(r + vec3f(1e-8));
  let d = r / angle;
  let sc = sincos(angle);
  // Skew matrix of d, by columns.
  let K = mat3x3f(vec3f(0.0, d.z, -d.y), vec3f(-d.z, 0.0, d.x), vec3f(d.y, -d.x, 0.0));
  let I = mat3x3f(vec3f(1.0, 0.0, 0.0), vec3f(0.0, 1.0, 0.0), vec3f(0.0, 0.0, 1.0));
  return I + sc.x * K + (1.0 - sc.y) * (K * K);
}

fn nrm(v: vec3f) -> vec3f { return v / max(length(v), 1e-12); } // torch.nn.functional.normalize

fn parentOf(j: u32) -> u32 {
  switch (j) {
    case 1u: { return p.p1; }
    case 2u: { return p.p2; }
    case 3u: { return p.p3; }
    default: { return p.p4; }
  }
}

fn pose(b: u32, i: u32) -> vec3f {
//#if POSES
  return vec3f(poses[b * 12u + i], poses[b * 12u + i + 1u], poses[b * 12u + i + 2u]);
//#else
  return vec3f(0.0);
//#endif
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let b = wid.x;
  let pb = b * p.NP;
  let K = p.K;
  for (var k = t; k < K; k += 64u) { coef[b * p.KC + k] = params[pb + k]; }
  for (var k = K + 36u + t; k < p.KC; k += 64u) { coef[b * p.KC + k] = 0.0; } // row padding
  // 15 joint coordinates, each a K-term dot product split over 4 invocations.
  var s = 0.0;
  if (t < 60u) {
    let row = 15u + (t / 4u) * K;
    for (var k = t % 4u; k < K; k += 4u) { s += jreg[row + k] * params[pb + k]; }
  }
  partial[t] = s;
  workgroupBarrier();
  if (t != 0u) { return; }

  var J: array<vec3f, 5>;
  for (var j = 0u; j < 5u; j++) {
    var q: array<f32, 3>;
    for (var c = 0u; c < 3u; c++) {
      let o = j * 3u + c;
      q[c] = jreg[o] + ((partial[4u * o] + partial[4u * o + 1u]) + (partial[4u * o + 2u] + partial[4u * o + 3u]));
    }
    J[j] = vec3f(q[0], q[1], q[2]);
  }

  // Joints: global, neck, jaw (from params), left eye, right eye.
  var R: array<mat3x3f, 5>;
  R[0] = rodrigues(pose(b, 0u));
  R[1] = rodrigues(pose(b, 3u));
  R[2] = rodrigues(vec3f(params[pb + K], params[pb + K + 1u], params[pb + K + 2u]));
  R[3] = rodrigues(pose(b, 6u));
  R[4] = rodrigues(pose(b, 9u));
  for (var j = 1u; j < 5u; j++) {
    for (var r = 0u; r < 3u; r++) {
      for (var c = 0u; c < 3u; c++) {
        coef[b * p.KC + K + (j - 1u) * 9u + r * 3u + c] = R[j][c][r] - select(0.0, 1.0, r == c);
      }
    }
  }

  // Chain: G_j = G_parent R_j, t_j = G_parent (J_j - J_parent) + t_parent.
  var G: array<mat3x3f, 5>;
  var Gt: array<vec3f, 5>;
  G[0] = R[0];
  Gt[0] = J[0];
  for (var j = 1u; j < 5u; j++) {
    let pa = parentOf(j);
    G[j] = G[pa] * R[j];
    Gt[j] = G[pa] * (J[j] - J[pa]) + Gt[pa];
  }
  let o = b * XF;
  for (var j = 0u; j < 5u; j++) {
    let tj = Gt[j] - G[j] * J[j];
    for (var r = 0u; r < 3u; r++) {
      for (var c = 0u; c < 3u; c++) { xf[o + j * 12u + r * 4u + c] = G[j][c][r]; }
      xf[o + j * 12u + r * 4u + 3u] = tj[r];
    }
  }

  // Head rotation from 6D (SPEC): columns b1, b2, b3.
  let a1 = vec3f(params[pb + K + 3u], params[pb + K + 4u], params[pb + K + 5u]);
  let a2 = vec3f(params[pb + K + 6u], params[pb + K + 7u], params[pb + K + 8u]);
  let b1 = nrm(a1);
  let b3 = nrm(cross(b1, a2));
  let b2 = -cross(b1, b3);
  let Rh = mat3x3f(b1, b2, b3);
  for (var r = 0u; r < 3u; r++) {
    for (var c = 0u; c < 3u; c++) {
      xf[o + 60u + r * 3u + c] = Rh[c][r];
      rotation[b * 9u + r * 3u + c] = Rh[c][r];
    }
  }
  xf[o + 69u] = max(params[pb + K + 12u] + 1.0, 1e-8);
  xf[o + 70u] = params[pb + K + 9u];
  xf[o + 71u] = params[pb + K + 10u];
}

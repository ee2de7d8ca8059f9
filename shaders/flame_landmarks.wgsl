// FLAME 3D landmarks: barycentric points on the final vertices, one invocation per
// (landmark, batch item). lmk holds each landmark's three vertex indices, bary their weights.
// With the dynamic contour (DYNLMK), landmarks 0..16 come from the row of dynLmk/dynBary
// (79 rows x 17 points x 3) picked by the head's yaw, as FLAME's dynamic landmark lookup does.
// With PROJECTED, also their crop-pixel projection, as flame_skin projects the vertices.

// Bindings and Params: declared in src/kernels/flame_lbs.ts.

//#if XF
const XF4: u32 = 18u; // vec4s per item in xf: A_j rows (5 x 3), then R, s, t (see flame_skin)
//#endif
//#if DYNLMK
const CONTOUR: u32 = 17u;

// FLAME's yaw bin: M = R G_neck, the head's rotation in the image frame including the global
// and neck poses (G_neck = rotation part of A_1 = R_global R_neck). FLAME takes
// -euler_y(diag(1, -1, -1) M) = atan2(-M[2][0], sqrt(M[0][0]^2 + M[1][0]^2)) in degrees,
// rounds it (half to even, as torch.round and WGSL's round) after clamping to <= 39, and maps
// 0..39 to rows 0..39 and -1..-39 (or below) to rows 40..78.
fn yawRow(b: u32) -> u32 {
  let o = b * XF4;
  let c0 = vec3f(xf[o + 3u].x, xf[o + 4u].x, xf[o + 5u].x); // first column of G_neck
  let x15 = xf[o + 15u];
  let x16 = xf[o + 16u];
  let x17 = xf[o + 17u];
  let m00 = dot(x15.xyz, c0);
  let m10 = dot(vec3f(x15.w, x16.x, x16.y), c0);
  let m20 = dot(vec3f(x16.z, x16.w, x17.x), c0);
  // atan, not atan2: the denominator is >= 0 (so they agree), and SwiftShader's atan2(-0, 1)
  // returns pi, which would put a frontal head at the +39 degree row.
  let deg = degrees(atan(-m20 / sqrt(m00 * m00 + m10 * m10)));
  let y = max(round(min(deg, 39.0)), -39.0);
  if (y >= 0.0) { return min(u32(y), 39u); }
  return min(39u + u32(-y), 78u);
}
//#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let l = gid.x;
  let b = gid.y;
  if (l >= p.L) { return; }
  var acc = vec3f(0.0);
//#if DYNLMK
  if (l < CONTOUR) {
    let r = (yawRow(b) * CONTOUR + l) * 3u;
    for (var i = 0u; i < 3u; i++) {
      let v = (b * p.V + dynLmk[r + i]) * 3u;
      acc += dynBary[r + i] * vec3f(vertices[v], vertices[v + 1u], vertices[v + 2u]);
    }
  } else {
//#endif
  for (var i = 0u; i < 3u; i++) {
    let v = (b * p.V + lmk[l * 3u + i]) * 3u;
    acc += bary[l * 3u + i] * vec3f(vertices[v], vertices[v + 1u], vertices[v + 2u]);
  }
//#if DYNLMK
  }
//#endif
  let o = (b * p.L + l) * 3u;
  out[o] = acc.x;
  out[o + 1u] = acc.y;
  out[o + 2u] = acc.z;
//#if PROJECTED
  // xf[17].yzw = s, tx, ty: projected = ((s * v + t) + 1) / 2 * 256.
  let st = xf[b * XF4 + 17u];
  let q = ((st.y * acc.xy + st.zw) + 1.0) / 2.0 * 256.0;
  projected[(b * p.L + l) * 2u] = q.x;
  projected[(b * p.L + l) * 2u + 1u] = q.y;
//#endif
}

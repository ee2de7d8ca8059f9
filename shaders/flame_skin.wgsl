// FLAME skinning and projection, one invocation per (vertex, batch item):
// T = sum_j w[v, j] A_j; v = T [v_posed; 1]; v.z += 0.05; vertices = R v;
// projected = ((s * vertices + t) + 1) / 2 * 256 (x, y: crop pixels).

// Bindings and Params: declared in src/kernels/flame_lbs.ts. xf: [B, 18] vec4s (A_j rows, R,
// s, t; see flame_joints). V: vertices; S: row stride of vposed (padded V*3).

const XF4: u32 = 18u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let v = gid.x;
  let b = gid.y;
  if (v >= p.V) { return; }
  let o = b * XF4;
  var T0 = vec4f(0.0);
  var T1 = vec4f(0.0);
  var T2 = vec4f(0.0);
  for (var j = 0u; j < 5u; j++) {
    let w = weights[v * 5u + j];
    T0 += w * xf[o + 3u * j];
    T1 += w * xf[o + 3u * j + 1u];
    T2 += w * xf[o + 3u * j + 2u];
  }
  let i = b * p.S + v * 3u;
  let h = vec4f(vposed[i], vposed[i + 1u], vposed[i + 2u], 1.0);
  let lv = vec3f(dot(T0, h), dot(T1, h), dot(T2, h) + 0.05);
  // xf[15..17] = R (row-major, 9 floats), s, tx, ty.
  let x15 = xf[o + 15u];
  let x16 = xf[o + 16u];
  let x17 = xf[o + 17u];
  let vert = vec3f(
    x15.x * lv.x + x15.y * lv.y + x15.z * lv.z,
    x15.w * lv.x + x16.x * lv.y + x16.y * lv.z,
    x16.z * lv.x + x16.w * lv.y + x17.x * lv.z);
  let ov = (b * p.V + v) * 3u;
  vertices[ov] = vert.x;
  vertices[ov + 1u] = vert.y;
  vertices[ov + 2u] = vert.z;
  let q = ((x17.y * vert.xy + x17.zw) + 1.0) / 2.0 * 256.0;
  let op = (b * p.V + v) * 2u;
  projected[op] = q.x;
  projected[op + 1u] = q.y;
}

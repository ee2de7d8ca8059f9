// FLAME skinning and projection, one invocation per (vertex, batch item):
// T = sum_j w[v, j] A_j; v = T [v_posed; 1]; v.z += 0.05; vertices = R v;
// projected = ((s * vertices + t) + 1) / 2 * 256 (x, y: crop pixels).

@group(0) @binding(#) var<storage, read> vposed: array<f32>;
@group(0) @binding(#) var<storage, read> weights: array<f32>;
@group(0) @binding(#) var<storage, read> xf: array<f32>;
@group(0) @binding(#) var<storage, read_write> vertices: array<f32>;
@group(0) @binding(#) var<storage, read_write> projected: array<f32>;

// V: vertices; S: row stride of vposed (padded V*3).
struct Params { V: u32, S: u32 }
@group(0) @binding(#) var<uniform> p: Params;

const XF: u32 = 72u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let v = gid.x;
  let b = gid.y;
  if (v >= p.V) { return; }
  let o = b * XF;
  var T0 = vec4f(0.0);
  var T1 = vec4f(0.0);
  var T2 = vec4f(0.0);
  for (var j = 0u; j < 5u; j++) {
    let w = weights[v * 5u + j];
    let a = o + j * 12u;
    T0 += w * vec4f(xf[a], xf[a + 1u], xf[a + 2u], xf[a + 3u]);
    T1 += w * vec4f(xf[a + 4u], xf[a + 5u], xf[a + 6u], xf[a + 7u]);
    T2 += w * vec4f(xf[a + 8u], xf[a + 9u], xf[a + 10u], xf[a + 11u]);
  }
  let i = b * p.S + v * 3u;
  let h = vec4f(vposed[i], vposed[i + 1u], vposed[i + 2u], 1.0);
  let lv = vec3f(dot(T0, h), dot(T1, h), dot(T2, h) + 0.05);
  let r = o + 60u;
  let vert = vec3f(
    xf[r] * lv.x + xf[r + 1u] * lv.y + xf[r + 2u] * lv.z,
    xf[r + 3u] * lv.x + xf[r + 4u] * lv.y + xf[r + 5u] * lv.z,
    xf[r + 6u] * lv.x + xf[r + 7u] * lv.y + xf[r + 8u] * lv.z);
  let ov = (b * p.V + v) * 3u;
  vertices[ov] = vert.x;
  vertices[ov + 1u] = vert.y;
  vertices[ov + 2u] = vert.z;
  let s = xf[o + 69u];
  let t = vec2f(xf[o + 70u], xf[o + 71u]);
  let q = ((s * vert.xy + t) + 1.0) / 2.0 * 256.0;
  let op = (b * p.V + v) * 2u;
  projected[op] = q.x;
  projected[op + 1u] = q.y;
}

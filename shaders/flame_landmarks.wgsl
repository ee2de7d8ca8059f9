// FLAME 3D landmarks: barycentric points on the final vertices, one invocation per
// (landmark, batch item). lmk holds each landmark's three vertex indices, bary their weights.

// Bindings and Params: declared in src/kernels/flame_lbs.ts.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let l = gid.x;
  let b = gid.y;
  if (l >= p.L) { return; }
  var acc = vec3f(0.0);
  for (var i = 0u; i < 3u; i++) {
    let v = (b * p.V + lmk[l * 3u + i]) * 3u;
    acc += bary[l * 3u + i] * vec3f(vertices[v], vertices[v + 1u], vertices[v + 2u]);
  }
  let o = (b * p.L + l) * 3u;
  out[o] = acc.x;
  out[o + 1u] = acc.y;
  out[o + 2u] = acc.z;
}

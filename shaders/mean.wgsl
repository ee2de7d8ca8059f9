// Mean over tokens: y[b, c] = (1/S) sum_s x[b, s, c] (MQinit's pooled memory). One invocation per
// (b, c); consecutive invocations read consecutive channels.

// Bindings and Params: declared in src/kernels/mean.ts.

override WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let b = gid.y;
  if (c >= p.d) { return; }
  var s = 0.0;
  let base = b * p.S * p.d + c;
  for (var t = 0u; t < p.S; t++) { s += x[base + t * p.d]; }
  y[b * p.d + c] = s / f32(p.S);
}

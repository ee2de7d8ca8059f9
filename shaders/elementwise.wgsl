// Elementwise y = act(a + b) with b broadcast over the leading dims (b has nb values, index
// i % nb): `tgt + query_pos`, `M + pos`, plain copies (reshapes) and ReLU. vec4 lanes when every
// length is a multiple of 4 (bindings are padded to 16 bytes, so the last vec4 is in range).
// Grid: x*y workgroups of WG invocations (y only when x would pass the 65535 limit).

//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif

// Bindings (a, b?, y: T) and Params: declared in src/kernels/elementwise.ts. n, nb count
// elements of T; rowLen = invocations per grid row. B (b is bound) selects the add.

override WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * p.rowLen + gid.x;
  if (i >= p.n) { return; }
  var v = a[i];
//#if B
  v += b[i % p.nb];
//#endif
//#if RELU
  v = max(v, T(0.0));
//#endif
  y[i] = v;
}

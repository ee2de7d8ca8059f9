// Concatenation of two tensors along one axis (TFLite CONCATENATION): both are viewed as
// [outer, len, inner]; output row o is a's row o (la = len_a*inner values) then b's.
// One invocation per output element.

// Bindings (a, b, y: f32) and Params: declared in src/kernels/concat.ts.

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.pitch;
  if (i >= p.total) { return; }
  let row = p.la + p.lb;
  let o = i / row;
  let j = i - o * row;
  var v: f32;
  if (j < p.la) { v = a[o * p.la + j]; } else { v = b[o * p.lb + j - p.la]; }
  y[i] = v;
}

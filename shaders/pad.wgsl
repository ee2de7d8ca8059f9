// Zero padding of a rank-4 tensor (TFLite PAD; BlazeFace pads channels of its skip paths).
// One invocation per output element: inside the copied box it reads x, elsewhere writes 0.

// Bindings (x, y: f32) and Params: declared in src/kernels/pad.ts. dims/before are the
// output dims and leading pads, in order (d0, d1, d2, d3); inn the input dims.

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.pitch;
  if (i >= p.total) { return; }
  var r = i;
  let c3 = r % p.dims.w; r /= p.dims.w;
  let c2 = r % p.dims.z; r /= p.dims.z;
  let c1 = r % p.dims.y;
  let c0 = r / p.dims.y;
  // Unsigned wrap turns "before the box" into "too large": one compare per axis.
  let q = vec4u(c0, c1, c2, c3) - p.before;
  var v = 0.0;
  if (all(q < p.inn)) { v = x[((q.x * p.inn.y + q.y) * p.inn.z + q.z) * p.inn.w + q.w]; }
  y[i] = v;
}

// DepthToSpace, NHWC (TFLite DEPTH_TO_SPACE): y[n, h*bs + dy, w*bs + dx, c] =
// x[n, h, w, (dy*bs + dx)*C + c]. One invocation per output element. BlazeFace full range
// (sparse) upsamples its last heads with it.

// Bindings (x, y: f32) and Params: declared in src/kernels/depth_to_space.ts; C, OH, OW are
// the output's channels and size, W the input width.

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.pitch;
  if (i >= p.total) { return; }
  let c = i % p.C;
  let t = i / p.C;
  let ox = t % p.OW;
  let t2 = t / p.OW;
  let oy = t2 % p.OH;
  let n = t2 / p.OH;
  let h = oy / p.bs;
  let w = ox / p.bs;
  let q = (oy - h * p.bs) * p.bs + (ox - w * p.bs);
  let H = p.OH / p.bs;
  y[i] = x[((n * H + h) * p.W + w) * (p.C * p.bs * p.bs) + q * p.C + c];
}

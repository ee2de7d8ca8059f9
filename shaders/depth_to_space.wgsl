// DepthToSpace, NHWC (TFLite DEPTH_TO_SPACE): y[n, h*bs + dy, w*bs + dx, c] =
// x[n, h, w, (dy*bs + dx)*C + c]. One invocation per output element. BlazeFace full range
// (sparse) upsamples its last heads with it.

// Bindings (x, y: f32) and Params: declared in src/kernels/depth_to_space.ts; C, OH, OW are
// the output's channels and size, W the input width.

//#include nhwc.entry
  let h = oy / p.bs;
  let w = ox / p.bs;
  let q = (oy - h * p.bs) * p.bs + (ox - w * p.bs);
  let H = p.OH / p.bs;
  y[i] = x[((n * H + h) * p.W + w) * (p.C * p.bs * p.bs) + q * p.C + c];
}

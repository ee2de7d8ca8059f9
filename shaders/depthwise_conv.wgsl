// Depthwise conv2d (TFLite DEPTHWISE_CONV_2D, depth multiplier 1), NHWC, with fused bias and
// ReLU. One invocation per output pixel and channel (a vec4 of channels with VEC4).
// TFLite's SAME padding may be asymmetric (stride 2 on an even size pads only after): the
// leading pads are uniforms, the trailing ones fall out of the bounds checks (taps past the
// input read nothing), so OH/OW decide them.
// Weights are packed [KH*KW][C] (TFLite's [1, KH, KW, C] as is).

// Bindings (x, w, bias?, y: T) and Params: declared in src/kernels/depthwise_conv.ts; p.C
// counts channels in units of T.
//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif

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
  let iy0 = i32(oy * p.strideH) - p.padTop;
  let ix0 = i32(ox * p.strideW) - p.padLeft;
  var s = T(0.0);
  for (var ky = 0u; ky < p.KH; ky++) {
    let iy = iy0 + i32(ky);
    if (u32(iy) >= p.H) { continue; }
    let row = (n * p.H + u32(iy)) * p.W;
    for (var kx = 0u; kx < p.KW; kx++) {
      let ix = ix0 + i32(kx);
      if (u32(ix) >= p.W) { continue; }
      s += x[(row + u32(ix)) * p.C + c] * w[(ky * p.KW + kx) * p.C + c];
    }
  }
//#if BIAS
  s += bias[c];
//#endif
  if (p.relu != 0u) { s = max(s, T(0.0)); }
  y[i] = s;
}

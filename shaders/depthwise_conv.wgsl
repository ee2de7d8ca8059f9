// Depthwise conv2d (TFLite DEPTHWISE_CONV_2D, depth multiplier 1), NHWC, with fused bias and
// ReLU. One invocation per output pixel and channel (a vec4 of channels with VEC4).
// TFLite's SAME padding may be asymmetric (stride 2 on an even size pads only after): the
// leading pads are uniforms, the trailing ones fall out of the bounds checks (taps past the
// input read nothing), so OH/OW decide them.
// Weights are packed [KH*KW][C] (TFLite's [1, KH, KW, C] as is). KH, KW: specialisation values.

// Bindings (x, w, bias?, y: T) and Params: declared in src/kernels/depthwise_conv.ts; p.C
// counts channels in units of T.
//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif

//#include nhwc.entry
  let iy0 = i32(oy * p.strideH) - p.padTop;
  let ix0 = i32(ox * p.strideW) - p.padLeft;
  var s = T(0.0);
//#if UNROLL
  // SwiftShader: taps unrolled (KH, KW are compile-time) with clamped loads whose result is
  // discarded outside the input: no loop or branch per tap, which its JIT pays dearly for
  // (2-3x faster there; lavapipe, whose invocations run as SIMD lanes, is faster with the loop).
  let Hm = i32(p.H) - 1;
  let Wm = i32(p.W) - 1;
//#for r in 0..KH
  {
    let iy = iy0 + $r;
    let rowIn = u32(iy) < p.H;
    let row = (n * p.H + u32(clamp(iy, 0, Hm))) * p.W;
//#for q in 0..KW
    {
      let ix = ix0 + $q;
      let v = x[(row + u32(clamp(ix, 0, Wm))) * p.C + c];
      s += select(T(0.0), v, rowIn & (u32(ix) < p.W)) * w[($r * {{KW}} + $q) * p.C + c];
    }
//#endfor
  }
//#endfor
//#else
  for (var r = 0u; r < {{KH}}u; r++) {
    let iy = iy0 + i32(r);
    if (u32(iy) >= p.H) { continue; }
    let row = (n * p.H + u32(iy)) * p.W;
    for (var q = 0u; q < {{KW}}u; q++) {
      let ix = ix0 + i32(q);
      if (u32(ix) >= p.W) { continue; }
      s += x[(row + u32(ix)) * p.C + c] * w[(r * {{KW}}u + q) * p.C + c];
    }
  }
//#endif
//#if BIAS
  s += bias[c];
//#endif
  if (p.relu != 0u) { s = max(s, T(0.0)); }
  y[i] = s;
}

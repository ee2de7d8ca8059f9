// Max pooling, NHWC, one invocation per output pixel and channel (a vec4 of channels with
// VEC4). Padding acts as -inf: taps outside the input are skipped; the window's clamped top-left
// tap (always inside while pad < kernel) seeds the maximum, so the result is exact.

// Bindings (x, y: T) and Params: declared in src/kernels/maxpool.ts; p.C counts channels in
// units of T (C/4 with VEC4).
//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif

//#include nhwc.entry
  let iy0 = i32(oy * p.stride) - p.pad;
  let ix0 = i32(ox * p.stride) - p.pad;
  let base = n * p.H;
  var m = x[((base + u32(max(iy0, 0))) * p.W + u32(max(ix0, 0))) * p.C + c];
  for (var ky = 0u; ky < p.K; ky++) {
    let iy = iy0 + i32(ky);
    for (var kx = 0u; kx < p.K; kx++) {
      let ix = ix0 + i32(kx);
      let inside = (u32(iy) < p.H) & (u32(ix) < p.W);
      // Clamped load, result discarded outside: no branch in the loop.
      let v = x[((base + u32(clamp(iy, 0, i32(p.H) - 1))) * p.W + u32(clamp(ix, 0, i32(p.W) - 1))) * p.C + c];
      m = select(m, max(m, v), inside);
    }
  }
  y[i] = m;
}

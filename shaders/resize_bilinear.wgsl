// Bilinear resize, NHWC, exactly TFLite's reference ResizeBilinear: source coordinate
// f = (o + 0.5) * scale - 0.5 with half-pixel centres (else o * scale), lower tap
// max(floor(f), 0), upper tap min(ceil(f), size - 1), weights from f - lower.
// One invocation per output pixel and channel.

// Bindings (x, y: f32) and Params: declared in src/kernels/resize_bilinear.ts.

fn taps(o: u32, scale: f32, size: u32) -> vec3f {
  var f = f32(o) * scale;
  if (p.halfPixel != 0u) { f = (f32(o) + 0.5) * scale - 0.5; }
  let lo = max(floor(f), 0.0);
  let hi = min(ceil(f), f32(size - 1u));
  return vec3f(lo, hi, f - lo);
}

//#include nhwc.entry
  let ty = taps(oy, p.scaleH, p.H);
  let tx = taps(ox, p.scaleW, p.W);
  let y0 = (n * p.H + u32(ty.x)) * p.W;
  let y1 = (n * p.H + u32(ty.y)) * p.W;
  let x0 = u32(tx.x);
  let x1 = u32(tx.y);
  let dy = ty.z;
  let dx = tx.z;
  y[i] = x[(y0 + x0) * p.C + c] * (1.0 - dy) * (1.0 - dx) + x[(y1 + x0) * p.C + c] * dy * (1.0 - dx) +
         x[(y0 + x1) * p.C + c] * (1.0 - dy) * dx + x[(y1 + x1) * p.C + c] * dy * dx;
}

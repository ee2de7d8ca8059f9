// Detector preprocessing (MediaPipe's ImageToTensor with keep_aspect_ratio and BORDER_ZERO):
// letterbox the whole image into SIZE x SIZE and map 0..255 to [-1, 1]. Output pixel centre
// (x + 0.5, y + 0.5) samples the image at ((x + 0.5 - padX) / scale, (y + 0.5 - padY) / scale)
// bilinearly (pixel centres at +0.5; no antialiasing, as MediaPipe's GPU and OpenCV paths);
// taps outside the image are black (0 -> -1), so the letterbox bars are -1 and the image edge
// blends towards black like OpenCV's BORDER_CONSTANT. Pixels: raw RGBA8/RGB8 bytes, four per u32.

// Bindings (pixels: u32, out: f32) and Params: declared in src/kernels/letterbox.ts.

fn byteAt(i: u32) -> f32 {
  return f32((pixels[i >> 2u] >> ((i & 3u) * 8u)) & 255u);
}

fn tap(x: i32, y: i32) -> vec3f {
  if (u32(x) >= p.width || u32(y) >= p.height) { return vec3f(0.0); }
  let i = (u32(y) * p.width + u32(x)) * p.channels;
  return vec3f(byteAt(i), byteAt(i + 1u), byteAt(i + 2u));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.size || gid.y >= p.size) { return; }
  let sx = (f32(gid.x) + 0.5 - p.padX) / p.scale - 0.5;
  let sy = (f32(gid.y) + 0.5 - p.padY) / p.scale - 0.5;
  let fx = floor(sx);
  let fy = floor(sy);
  let wx = sx - fx;
  let wy = sy - fy;
  let x0 = i32(fx);
  let y0 = i32(fy);
  let v = (1.0 - wy) * ((1.0 - wx) * tap(x0, y0) + wx * tap(x0 + 1, y0)) +
          wy * ((1.0 - wx) * tap(x0, y0 + 1) + wx * tap(x0 + 1, y0 + 1));
  let o = (gid.y * p.size + gid.x) * 3u;
  let n = v / 127.5 - 1.0;
  out[o] = n.x;
  out[o + 1u] = n.y;
  out[o + 2u] = n.z;
}

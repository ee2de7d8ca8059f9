// DAD-3DNet preprocessing (SPEC section 1), straight into the backbone's NHWC input:
// crop the head box (outside the image reads zeros), resize bilinearly exactly like
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) on 0..255 values,
// pad to SIZE x SIZE centred, normalise every pixel (padding included).
// Pixels arrive as raw bytes (RGBA8 or RGB8) packed four to a u32.

// Bindings and Params: declared in src/kernels/preprocess.ts. params holds per image: boxX,
// boxY, cropW, cropH, outW, outH, padLeft, padTop, scaleX, scaleY (see preprocess.ts).

const SIZE: u32 = {{SIZE}};
const OUT_C: u32 = {{OUT_C}};
const MEAN = vec3f(0.485, 0.456, 0.406);
const STD = vec3f(0.229, 0.224, 0.225);
const PARAMS: u32 = 10u;

fn byteAt(base: u32, i: u32) -> f32 {
  return f32((pixels[base + (i >> 2u)] >> ((i & 3u) * 8u)) & 255u);
}

// One crop pixel; zeros outside the image.
fn cropPixel(base: u32, bx: i32, by: i32, cx: u32, cy: u32) -> vec3f {
  let x = bx + i32(cx);
  let y = by + i32(cy);
  if (x < 0 || y < 0 || x >= i32(p.width) || y >= i32(p.height)) { return vec3f(0.0); }
  let i = (u32(y) * p.width + u32(x)) * p.channels;
  return vec3f(byteAt(base, i), byteAt(base, i + 1u), byteAt(base, i + 2u));
}

// PyTorch's area_pixel_compute_source_index + the neighbour/weight rule of upsample_bilinear2d.
fn source(dst: u32, scale: f32, inSize: u32) -> vec3f {
  let src = max(scale * (f32(dst) + 0.5) - 0.5, 0.0);
  let i0 = u32(src);
  let step = select(0u, 1u, i0 < inSize - 1u);
  return vec3f(f32(i0), f32(i0 + step), src - f32(i0));
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  let b = gid.z;
  if (x >= SIZE || y >= SIZE) { return; }
  let pp = b * PARAMS;
  let bx = i32(params[pp]);
  let by = i32(params[pp + 1u]);
  let cropW = u32(params[pp + 2u]);
  let cropH = u32(params[pp + 3u]);
  let outW = u32(params[pp + 4u]);
  let outH = u32(params[pp + 5u]);
  let padLeft = u32(params[pp + 6u]);
  let padTop = u32(params[pp + 7u]);
  var v = vec3f(0.0);
  if (x >= padLeft && x < padLeft + outW && y >= padTop && y < padTop + outH) {
    let base = b * p.wordsPerImage;
    let sx = source(x - padLeft, params[pp + 8u], cropW);
    let sy = source(y - padTop, params[pp + 9u], cropH);
    let x0 = u32(sx.x); let x1 = u32(sx.y);
    let y0 = u32(sy.x); let y1 = u32(sy.y);
    let wx1 = sx.z; let wx0 = 1.0 - wx1;
    let wy1 = sy.z; let wy0 = 1.0 - wy1;
    v = wy0 * (wx0 * cropPixel(base, bx, by, x0, y0) + wx1 * cropPixel(base, bx, by, x1, y0)) +
        wy1 * (wx0 * cropPixel(base, bx, by, x0, y1) + wx1 * cropPixel(base, bx, by, x1, y1));
  }
  let n = (v / 255.0 - MEAN) / STD;
  let o = ((b * SIZE + y) * SIZE + x) * OUT_C;
  out[o] = n.x;
  out[o + 1u] = n.y;
  out[o + 2u] = n.z;
  if (OUT_C == 4u) { out[o + 3u] = 0.0; }
}

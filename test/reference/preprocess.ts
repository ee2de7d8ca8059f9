import { cropGeometry, type Box } from '../../src/kernels/preprocess.ts';

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

/** CPU reference of SPEC section 1 (torch's bilinear, align_corners=False), NHWC with outC channels. */
export function preprocessRef(rgb: Uint8Array, width: number, height: number, channels: number, box: Box, size = 256, outC = 4): Float32Array {
  const geo = cropGeometry(box, size);
  const out = new Float32Array(size * size * outC);
  const px = (cx: number, cy: number, c: number) => {
    const x = box.x + cx, y = box.y + cy;
    return x < 0 || y < 0 || x >= width || y >= height ? 0 : rgb[(y * width + x) * channels + c];
  };
  const src = (dst: number, scale: number, n: number) => {
    const s = Math.max(scale * (dst + 0.5) - 0.5, 0);
    const i0 = Math.floor(s);
    return [i0, i0 < n - 1 ? i0 + 1 : i0, s - i0];
  };
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      const iy = y - geo.padTop, ix = x - geo.padLeft;
      if (iy >= 0 && iy < geo.outH && ix >= 0 && ix < geo.outW) {
        const [x0, x1, wx] = src(ix, box.width / geo.outW, box.width);
        const [y0, y1, wy] = src(iy, box.height / geo.outH, box.height);
        v = (1 - wy) * ((1 - wx) * px(x0, y0, c) + wx * px(x1, y0, c)) + wy * ((1 - wx) * px(x0, y1, c) + wx * px(x1, y1, c));
      }
      out[(y * size + x) * outC + c] = (v / 255 - MEAN[c]) / STD[c];
    }
  }
  return out;
}

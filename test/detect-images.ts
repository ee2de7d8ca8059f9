// The face detection test images, made at run time from the committed public-domain crop
// test/fixtures/astronaut-head.png (scikit-image's astronaut, see ATTRIBUTION.md): scaled,
// rotated, mirrored, several heads on one canvas, dark, bright, and negatives with no face.
// Deterministic (no randomness beyond a fixed-seed generator, plain f64 arithmetic rounded to
// bytes), so MediaPipe's detections saved for them (test/fixtures/detect/mediapipe.json) stay
// valid; nothing but the recipe is committed.
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';

export interface RgbaImage { name: string; width: number; height: number; data: Uint8Array }

interface Source { width: number; height: number; data: Uint8Array }

let head: Source | undefined;
function astronautHead(): Source {
  if (!head) {
    const png = PNG.sync.read(readFileSync(new URL('./fixtures/astronaut-head.png', import.meta.url)));
    head = { width: png.width, height: png.height, data: new Uint8Array(png.data) };
  }
  return head;
}

/** A canvas with a soft diagonal gradient, so the letterbox border is not the same grey. */
function canvas(name: string, width: number, height: number, base = 110): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = base + 40 * ((x / width + y / height) / 2 - 0.5);
      const o = (y * width + x) * 4;
      data[o] = Math.round(v * 0.9); data[o + 1] = Math.round(v); data[o + 2] = Math.round(v * 1.1); data[o + 3] = 255;
    }
  }
  return { name, width, height, data };
}

interface Placement {
  /** Centre of the head on the canvas, pixels. */
  cx: number; cy: number;
  /** Head height on the canvas, pixels. */
  height: number;
  /** Rotation, degrees, counter-clockwise on screen. */
  angle?: number;
  mirror?: boolean;
}

/** Draws the head crop (bilinear, inverse-mapped) onto the canvas. */
function place(img: RgbaImage, p: Placement): void {
  const src = astronautHead();
  const s = p.height / src.height;
  const a = (p.angle ?? 0) * Math.PI / 180;
  const cos = Math.cos(a), sin = Math.sin(a);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      // Canvas -> head-crop coordinates: undo translation, rotation (screen y is down), scale, mirror.
      const dx = x + 0.5 - p.cx, dy = y + 0.5 - p.cy;
      let u = (cos * dx - sin * dy) / s;
      const v = (sin * dx + cos * dy) / s;
      if (p.mirror) u = -u;
      const sx = u + src.width / 2 - 0.5, sy = v + src.height / 2 - 0.5;
      if (sx < 0 || sy < 0 || sx > src.width - 1 || sy > src.height - 1) continue;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, src.width - 1), y1 = Math.min(y0 + 1, src.height - 1);
      const fx = sx - x0, fy = sy - y0;
      const o = (y * img.width + x) * 4;
      for (let c = 0; c < 3; c++) {
        const at = (xx: number, yy: number) => src.data[(yy * src.width + xx) * 4 + c];
        const top = at(x0, y0) * (1 - fx) + at(x1, y0) * fx;
        const bottom = at(x0, y1) * (1 - fx) + at(x1, y1) * fx;
        img.data[o + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
}

function tone(img: RgbaImage, gain: number, offset: number): RgbaImage {
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 !== 3) img.data[i] = Math.max(0, Math.min(255, Math.round(img.data[i] * gain + offset)));
  }
  return img;
}

/** Smooth value noise from a fixed-seed LCG: texture without any face. */
export function noise(name: string, width: number, height: number, seed = 2024, g = 8): RgbaImage {
  const img = canvas(name, width, height);
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const gw = Math.ceil(width / g) + 2, gh = Math.ceil(height / g) + 2;
  const grid = Array.from({ length: gw * gh * 3 }, () => rnd() * 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = x / g, gy = y / g, x0 = Math.floor(gx), y0 = Math.floor(gy), fx = gx - x0, fy = gy - y0;
      for (let c = 0; c < 3; c++) {
        const at = (xx: number, yy: number) => grid[(yy * gw + xx) * 3 + c];
        const v = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
        img.data[(y * width + x) * 4 + c] = Math.round(v);
      }
    }
  }
  return img;
}

/** All test images, in a fixed order. Negatives' names start with "no-face". */
export function detectImages(): RgbaImage[] {
  const out: RgbaImage[] = [];
  const single = canvas('single-landscape', 320, 240); place(single, { cx: 150, cy: 120, height: 180 }); out.push(single);
  const small = canvas('small-square', 256, 256); place(small, { cx: 90, cy: 150, height: 110 }); out.push(small);
  const rotated = canvas('rotated-portrait', 240, 320); place(rotated, { cx: 120, cy: 170, height: 200, angle: 20 }); out.push(rotated);
  const mirrored = canvas('mirrored', 200, 260); place(mirrored, { cx: 100, cy: 130, height: 220, mirror: true }); out.push(mirrored);
  const group = canvas('group-three', 480, 240);
  place(group, { cx: 85, cy: 120, height: 190 });
  place(group, { cx: 250, cy: 125, height: 170, mirror: true, angle: -10 });
  place(group, { cx: 400, cy: 120, height: 200, angle: 8 });
  out.push(group);
  const dark = canvas('dark', 240, 240); place(dark, { cx: 120, cy: 120, height: 200 }); out.push(tone(dark, 0.35, 0));
  const bright = canvas('bright', 240, 240); place(bright, { cx: 120, cy: 120, height: 200 }); out.push(tone(bright, 0.6, 110));
  out.push(noise('no-face-noise', 256, 192));
  out.push(canvas('no-face-gradient', 200, 300));
  return out;
}

export function toPng(img: RgbaImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data);
  return PNG.sync.write(png);
}

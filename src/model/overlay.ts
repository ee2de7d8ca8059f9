// Draws a result over the photo on the CPU (for the CLI's --overlay): the projected FLAME mesh
// as thin translucent edges, the 68 landmarks as dots, and the head's pose axes.
import type { HeadResult } from './trans3dhead.ts';

export interface Canvas { data: Uint8Array; width: number; height: number } // RGBA8

function blend(c: Canvas, x: number, y: number, rgb: [number, number, number], a: number): void {
  x = Math.round(x); y = Math.round(y);
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const o = (y * c.width + x) * 4;
  for (let k = 0; k < 3; k++) c.data[o + k] = Math.round(c.data[o + k] * (1 - a) + rgb[k] * a);
  c.data[o + 3] = 255;
}

function line(c: Canvas, x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number], a: number, width = 1): void {
  if (![x0, y0, x1, y1].every(Number.isFinite)) return;
  const n = Math.min(4096, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))) + 1);
  for (let i = 0; i <= n; i++) {
    const x = x0 + ((x1 - x0) * i) / n, y = y0 + ((y1 - y0) * i) / n;
    for (let dy = 0; dy < width; dy++) for (let dx = 0; dx < width; dx++) blend(c, x + dx - (width >> 1), y + dy - (width >> 1), rgb, a);
  }
}

function dot(c: Canvas, x: number, y: number, r: number, rgb: [number, number, number]): void {
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) blend(c, x + dx, y + dy, rgb, 1);
}

/** Draws onto `canvas` in place. `faces` are the FLAME triangles (F*3 vertex indices). */
export function drawOverlay(canvas: Canvas, r: HeadResult, faces: Uint32Array): void {
  const P = r.projectedVertices;
  const scale = Math.max(1, Math.round(Math.max(canvas.width, canvas.height) / 400));
  // Each edge once: (min, max) pairs of every triangle.
  const seen = new Set<number>();
  for (let f = 0; f < faces.length; f += 3) {
    for (const [a, b] of [[faces[f], faces[f + 1]], [faces[f + 1], faces[f + 2]], [faces[f + 2], faces[f]]]) {
      const key = Math.min(a, b) * 65536 + Math.max(a, b);
      if (seen.has(key)) continue;
      seen.add(key);
      line(canvas, P[2 * a], P[2 * a + 1], P[2 * b], P[2 * b + 1], [80, 200, 255], 0.25);
    }
  }
  for (let i = 0; i < r.landmarks.length; i += 2) dot(canvas, r.landmarks[i], r.landmarks[i + 1], 1 + scale, [255, 60, 60]);
  // Pose axes from the rotation's columns (image y is down), drawn from the landmarks' centre.
  let cx = 0, cy = 0;
  for (let i = 0; i < r.landmarks.length; i += 2) { cx += r.landmarks[i]; cy += r.landmarks[i + 1]; }
  cx /= r.landmarks.length / 2; cy /= r.landmarks.length / 2;
  const len = r.crop.box.width * 0.3;
  const R = r.rotation;
  const colors: [number, number, number][] = [[255, 40, 40], [40, 255, 40], [60, 60, 255]];
  for (let k = 0; k < 3; k++) line(canvas, cx, cy, cx + len * R[k], cy + len * R[3 + k], colors[k], 1, 2 * scale);
}

// CPU reference of the detector's letterbox preprocessing (shaders/letterbox.wgsl).
export function letterboxRef(rgba: Uint8Array, width: number, height: number, channels: number,
  geo: { size: number; scale: number; padX: number; padY: number }): Float32Array {
  const { size } = geo;
  const out = new Float32Array(size * size * 3);
  const tap = (x: number, y: number, c: number) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : rgba[(y * width + x) * channels + c]);
  for (let oy = 0; oy < size; oy++) for (let ox = 0; ox < size; ox++) {
    const sx = (ox + 0.5 - geo.padX) / geo.scale - 0.5, sy = (oy + 0.5 - geo.padY) / geo.scale - 0.5;
    const x0 = Math.floor(sx), y0 = Math.floor(sy), wx = sx - x0, wy = sy - y0;
    for (let c = 0; c < 3; c++) {
      const v = (1 - wy) * ((1 - wx) * tap(x0, y0, c) + wx * tap(x0 + 1, y0, c)) + wy * ((1 - wx) * tap(x0, y0 + 1, c) + wx * tap(x0 + 1, y0 + 1, c));
      out[(oy * size + ox) * 3 + c] = v / 127.5 - 1;
    }
  }
  return out;
}

/** CPU reference for max pooling over NHWC [B, H, W, C]; padding is -inf (skipped). */
export function maxpoolRef(x: Float32Array, [B, H, W, C]: readonly number[], k = 3, s = 2, pad = 1): Float32Array {
  const OH = Math.floor((H + 2 * pad - k) / s) + 1, OW = Math.floor((W + 2 * pad - k) / s) + 1;
  const y = new Float32Array(B * OH * OW * C);
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        for (let c = 0; c < C; c++) {
          let m = -Infinity;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s - pad + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s - pad + kx;
              if (ix >= 0 && ix < W) m = Math.max(m, x[((b * H + iy) * W + ix) * C + c]);
            }
          }
          y[((b * OH + oy) * OW + ox) * C + c] = m;
        }
      }
    }
  }
  return y;
}

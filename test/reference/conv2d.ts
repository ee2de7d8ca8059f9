/**
 * CPU reference for conv2d: NHWC input [B, H, W, C], PyTorch weight [N, C, KH, KW] (not the
 * packed layout, so the packing is tested too), f64 accumulation, zero padding, then
 * bias, residual (NHWC like the output), ReLU in the kernel's order. Returns [B, OH, OW, N].
 */
export function conv2dRef(x: Float32Array, [B, H, W, C]: readonly number[], w: Float32Array, [N, Cw, KH, KW]: readonly number[],
  o: { stride?: number; pad?: number; bias?: Float32Array; residual?: Float32Array; relu?: boolean } = {}): Float32Array {
  if (Cw !== C) throw new Error(`conv2dRef: ${C} input channels, weight has ${Cw}`);
  const s = o.stride ?? 1, p = o.pad ?? 0;
  const OH = Math.floor((H + 2 * p - KH) / s) + 1, OW = Math.floor((W + 2 * p - KW) / s) + 1;
  const y = new Float32Array(B * OH * OW * N);
  const acc = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        acc.fill(0);
        for (let ky = 0; ky < KH; ky++) {
          const iy = oy * s - p + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * s - p + kx;
            if (ix < 0 || ix >= W) continue;
            const xo = ((b * H + iy) * W + ix) * C;
            for (let n = 0; n < N; n++) {
              let sum = 0;
              for (let c = 0; c < C; c++) sum += x[xo + c] * w[((n * C + c) * KH + ky) * KW + kx];
              acc[n] += sum;
            }
          }
        }
        const yo = ((b * OH + oy) * OW + ox) * N;
        for (let n = 0; n < N; n++) {
          let v = acc[n];
          if (o.bias) v += o.bias[n];
          if (o.residual) v += o.residual[yo + n];
          y[yo + n] = o.relu ? Math.max(v, 0) : v;
        }
      }
    }
  }
  return y;
}

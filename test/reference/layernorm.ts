/** CPU reference for LayerNorm over rows of width d: y = LN(x + r) * gamma + beta, f64. */
export function layerNormRef(x: ArrayLike<number>, rows: number, d: number, gamma: ArrayLike<number>, beta: ArrayLike<number>,
  opts: { residual?: ArrayLike<number>; eps?: number } = {}): Float32Array {
  const eps = opts.eps ?? 1e-5;
  const y = new Float32Array(rows * d);
  const v = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < d; c++) { v[c] = x[r * d + c] + (opts.residual ? opts.residual[r * d + c] : 0); mean += v[c]; }
    mean /= d;
    let q = 0;
    for (let c = 0; c < d; c++) q += (v[c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / d + eps);
    for (let c = 0; c < d; c++) y[r * d + c] = (v[c] - mean) * rstd * gamma[c] + beta[c];
  }
  return y;
}

/** CPU reference for multi-head attention on contiguous [B, L, heads*dh] tensors, f64. */
export function attentionRef(Q: Float32Array, K: Float32Array, V: Float32Array, B: number, Lq: number, Lk: number,
  heads: number, dh: number, scale = 1 / Math.sqrt(dh)): Float32Array {
  const d = heads * dh;
  const O = new Float32Array(B * Lq * d);
  const s = new Float64Array(Lk);
  for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let i = 0; i < Lq; i++) {
    const qb = (b * Lq + i) * d + h * dh;
    let mx = -Infinity;
    for (let j = 0; j < Lk; j++) {
      const kb = (b * Lk + j) * d + h * dh;
      let dot = 0;
      for (let c = 0; c < dh; c++) dot += Q[qb + c] * K[kb + c];
      s[j] = dot * scale;
      mx = Math.max(mx, s[j]);
    }
    let sum = 0;
    for (let j = 0; j < Lk; j++) { s[j] = Math.exp(s[j] - mx); sum += s[j]; }
    for (let c = 0; c < dh; c++) {
      let acc = 0;
      for (let j = 0; j < Lk; j++) acc += s[j] * V[(b * Lk + j) * d + h * dh + c];
      O[qb + c] = acc / sum;
    }
  }
  return O;
}

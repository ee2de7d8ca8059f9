/** CPU reference for the mean over tokens: [B, S, d] -> [B, d], f64. */
export function meanTokensRef(x: ArrayLike<number>, B: number, S: number, d: number): Float32Array {
  const y = new Float32Array(B * d);
  for (let b = 0; b < B; b++) for (let c = 0; c < d; c++) {
    let s = 0;
    for (let t = 0; t < S; t++) s += x[(b * S + t) * d + c];
    y[b * d + c] = s / S;
  }
  return y;
}

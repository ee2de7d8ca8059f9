/**
 * CPU reference for QAMem (SPEC section 5), from the PyTorch Conv1d layout:
 * O'[b, i, o] = sum_c weight[(i*d + o)*d + c] * O[b, i, c] + bias[i*d + o]; weight (N*d, d, 1).
 */
export function qamemRef(O: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, B: number, N: number, d: number): Float32Array {
  const y = new Float32Array(B * N * d);
  for (let b = 0; b < B; b++) for (let i = 0; i < N; i++) for (let o = 0; o < d; o++) {
    let s = bias[i * d + o];
    for (let c = 0; c < d; c++) s += weight[(i * d + o) * d + c] * O[(b * N + i) * d + c];
    y[(b * N + i) * d + o] = s;
  }
  return y;
}

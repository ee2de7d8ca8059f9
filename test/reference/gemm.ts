/** CPU reference for gemm: f64 accumulation, same epilogue order as the kernel. */
export function gemmRef(A: Float32Array, B: Float32Array, batch: number, M: number, N: number, K: number,
  opts: { bias?: Float32Array; residual?: Float32Array; relu?: boolean; sharedB?: boolean } = {}): Float32Array {
  const C = new Float32Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const bOff = opts.sharedB === false ? z * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[z * M * K + m * K + k] * B[bOff + k * N + n];
        if (opts.bias) s += opts.bias[n];
        const o = z * M * N + m * N + n;
        if (opts.residual) s += opts.residual[o];
        C[o] = opts.relu ? Math.max(s, 0) : s;
      }
    }
  }
  return C;
}

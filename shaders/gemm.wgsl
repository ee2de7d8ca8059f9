// Batched GEMM with fused epilogue: C[z] = act(A[z] (M x K) * B[z] (K x N) + bias + residual).
// Row-major everywhere; batch strides may be 0 (weights shared across the batch).
// Two schedules, picked per adapter by src/kernels/gemm.ts:
//  - main_registers: no workgroup memory; each invocation owns a TM x (4*TN4) register tile.
//    CPU adapters (SwiftShader) run invocations as SIMD lanes, where barriers cost more than
//    they save and reuse must come from registers.
//  - main_tiled: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK for real GPUs.
// Out-of-range rows/columns load clamped (valid) addresses; an output only depends on its own
// row of A and column of B, so clamped lanes only produce values that are never stored.

// Bindings (a, b: A; bias?, residual?: E; c: E) and Params: declared in src/kernels/gemm.ts.
//#if VEC4
// K % 4 == 0 and N % 4 == 0: one vec4 load where the scalar form needs four (and on
// SwiftShader four bounds checks); the epilogue also works on vec4s: a quarter of the loads,
// checks and stores.
alias A = vec4f;
alias E = vec4f;
//#else
alias A = f32;
alias E = f32;
//#endif

const TM: u32 = {{TM}};
const TN4: u32 = {{TN4}};
const BK: u32 = {{BK}};
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// bias + residual + ReLU, then the store, for output element (or vec4 of elements) `col`.
fn emit(z: u32, r: u32, col: u32, acc: E) {
  var v = acc;
//#if BIAS
  v += bias[col];
//#endif
  let o = z * p.strideC / WIDTH + r * (p.N / WIDTH) + col;
//#if RESIDUAL
  v += residual[o];
//#endif
//#if RELU
  v = max(v, E(0.0));
//#endif
  c[o] = v;
}

//#if VEC4
const WIDTH = 4u;
fn store4(z: u32, r: u32, col: u32, v: vec4f) {
  if (r < p.M && col < p.N) { emit(z, r, col / 4u, v); }
}
//#else
const WIDTH = 1u;
fn store4(z: u32, r: u32, col: u32, v: vec4f) {
  if (r >= p.M) { return; }
  if (col < p.N) { emit(z, r, col, v.x); }
  if (col + 1u < p.N) { emit(z, r, col + 1u, v.y); }
  if (col + 2u < p.N) { emit(z, r, col + 2u, v.z); }
  if (col + 3u < p.N) { emit(z, r, col + 3u, v.w); }
}
//#endif

//#if !VEC4
// Register tile: TM rows x TN4 vec4 columns, unrolled into named variables by //#for.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_registers(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN4 * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let z = gid.z;
//#for i in 0..TM
  let aOff$i = z * p.strideA + min(row0 + $i, p.M - 1u) * p.K;
//#endfor
//#for j in 0..TN4
  let bCol$j = min(vec4u(col0 + 4u * $j) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) + vec4u(z * p.strideB);
//#endfor
//#for i in 0..TM
//#for j in 0..TN4
  var acc$i_$j = vec4f(0.0);
//#endfor
//#endfor
  for (var k = 0u; k < p.K; k++) {
    let bRow = vec4u(k * p.N);
//#for j in 0..TN4
    let bi$j = bCol$j + bRow;
    let b$j = vec4f(b[bi$j.x], b[bi$j.y], b[bi$j.z], b[bi$j.w]);
//#endfor
//#for i in 0..TM
    let a$i = vec4f(a[aOff$i + k]);
//#for j in 0..TN4
    acc$i_$j += a$i * b$j;
//#endfor
//#endfor
  }
//#for i in 0..TM
//#for j in 0..TN4
  store4(z, row0 + $i, col0 + 4u * $j, acc$i_$j);
//#endfor
//#endfor
}
//#else
// Same tile with vec4 loads: per 4 steps of K, TM vec4 loads of A and 4*TN4 of B.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_registers(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN4 * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let z = gid.z;
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
//#for i in 0..TM
  let aOff$i = (z * p.strideA) / 4u + min(row0 + $i, p.M - 1u) * K4;
//#endfor
//#for j in 0..TN4
  let bCol$j = (z * p.strideB) / 4u + min(col0 / 4u + $j, N4 - 1u);
//#endfor
//#for i in 0..TM
//#for j in 0..TN4
  var acc$i_$j = vec4f(0.0);
//#endfor
//#endfor
  for (var k4 = 0u; k4 < K4; k4++) {
    let bRow = 4u * k4 * N4;
//#for j in 0..TN4
    let b$j_0 = b[bCol$j + bRow];
    let b$j_1 = b[bCol$j + bRow + N4];
    let b$j_2 = b[bCol$j + bRow + 2u * N4];
    let b$j_3 = b[bCol$j + bRow + 3u * N4];
//#endfor
//#for i in 0..TM
    let a$i = a[aOff$i + k4];
//#for j in 0..TN4
    acc$i_$j += vec4f(a$i.x) * b$j_0;
    acc$i_$j += vec4f(a$i.y) * b$j_1;
    acc$i_$j += vec4f(a$i.z) * b$j_2;
    acc$i_$j += vec4f(a$i.w) * b$j_3;
//#endfor
//#endfor
  }
//#for i in 0..TM
//#for j in 0..TN4
  store4(z, row0 + $i, col0 + 4u * $j, acc$i_$j);
//#endfor
//#endfor
}
//#endif

//#if !VEC4
const TILE_M: u32 = {{TILE_M}};
const TILE_N: u32 = {{TILE_N}};
var<workgroup> tileA: array<f32, BK * TILE_M>;   // [k][m]
var<workgroup> tileB: array<vec4f, BK * TILE_N / 4u>;   // [k][n/4]

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
              @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let tileRow = wid.y * TILE_M;
  let tileCol = wid.x * TILE_N;
  let threads = WG_X * WG_Y;
  var acc: array<vec4f, TM * TN4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Cooperative loads; zeros outside the matrices keep the K tail exact.
    for (var e = li; e < BK * TILE_M; e += threads) {
      let m = e / BK; let kk = e % BK;
      let r = tileRow + m; let k = k0 + kk;
      var v = 0.0;
      if (r < p.M && k < p.K) { v = a[z * p.strideA + r * p.K + k]; }
      tileA[kk * TILE_M + m] = v;
    }
    for (var e = li; e < BK * TILE_N / 4u; e += threads) {
      let kk = e / (TILE_N / 4u); let n4 = e % (TILE_N / 4u);
      let k = k0 + kk; let col = tileCol + 4u * n4;
      var v = vec4f(0.0);
      if (k < p.K) {
        let base = z * p.strideB + k * p.N;
        if (col + 3u < p.N) { v = vec4f(b[base + col], b[base + col + 1u], b[base + col + 2u], b[base + col + 3u]); }
        else {
          for (var q = 0u; q < 4u; q++) { if (col + q < p.N) { v[q] = b[base + col + q]; } }
        }
      }
      tileB[kk * (TILE_N / 4u) + n4] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var bv: array<vec4f, TN4>;
      for (var j = 0u; j < TN4; j++) { bv[j] = tileB[kk * (TILE_N / 4u) + lid.x + j * WG_X]; }
      for (var i = 0u; i < TM; i++) {
        let av = vec4f(tileA[kk * TILE_M + lid.y + i * WG_Y]);
        for (var j = 0u; j < TN4; j++) { acc[i * TN4 + j] = fma(av, bv[j], acc[i * TN4 + j]); }
      }
    }
    workgroupBarrier();
  }
  // Threads own strided rows/columns (row lid.y + i*WG_Y, vec4 column lid.x + j*WG_X) so
  // workgroup-memory reads are contiguous across the workgroup.
  for (var i = 0u; i < TM; i++) {
    let r = tileRow + lid.y + i * WG_Y;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < TN4; j++) {
      let vals = acc[i * TN4 + j];
      for (var e = 0u; e < 4u; e++) {
        let col = tileCol + 4u * (lid.x + j * WG_X) + e;
        if (col < p.N) { emit(z, r, col, vals[e]); }
      }
    }
  }
}
//#endif

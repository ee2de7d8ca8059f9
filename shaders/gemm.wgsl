// Batched GEMM with fused epilogue: C[z] = act(A[z] (M x K) * B[z] (K x N) + bias + residual).
// Row-major everywhere; batch strides may be 0 (weights shared across the batch).
// Two schedules, picked per adapter by src/kernels/gemm.ts:
//  - main_registers: no workgroup memory; each invocation owns a TM x (4*TN4) register tile.
//    CPU adapters (SwiftShader) run invocations as SIMD lanes, where barriers cost more than
//    they save and reuse must come from registers.
//  - main_tiled: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK for real GPUs.
// Out-of-range rows/columns load clamped (valid) addresses; an output only depends on its own
// row of A and column of B, so clamped lanes only produce values that are never stored.

@group(0) @binding(#) var<storage, read> a: array<f32>;
@group(0) @binding(#) var<storage, read> b: array<f32>;
//#if BIAS
@group(0) @binding(#) var<storage, read> bias: array<f32>;
//#endif
//#if RESIDUAL
@group(0) @binding(#) var<storage, read> residual: array<f32>;
//#endif
@group(0) @binding(#) var<storage, read_write> c: array<f32>;

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32 }
@group(0) @binding(#) var<uniform> p: Params;

const TM: u32 = {{TM}};
const TN4: u32 = {{TN4}};
const BK: u32 = {{BK}};
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

fn emit(z: u32, r: u32, col: u32, acc: f32) {
  var v = acc;
//#if BIAS
  v += bias[col];
//#endif
  let o = z * p.strideC + r * p.N + col;
//#if RESIDUAL
  v += residual[o];
//#endif
//#if RELU
  v = max(v, 0.0);
//#endif
  c[o] = v;
}

fn store(z: u32, row0: u32, col0: u32, acc: ptr<function, array<vec4f, TM * TN4>>) {
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= p.M) { break; }
    for (var j = 0u; j < TN4; j++) {
      let vals = (*acc)[i * TN4 + j];
      for (var e = 0u; e < 4u; e++) {
        let col = col0 + 4u * j + e;
        if (col < p.N) { emit(z, r, col, vals[e]); }
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_registers(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN4 * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let z = gid.z;
  var rowOff: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rowOff[i] = z * p.strideA + min(row0 + i, p.M - 1u) * p.K; }
  var colIdx: array<vec4u, TN4>;
  for (var j = 0u; j < TN4; j++) {
    let c0 = col0 + 4u * j;
    colIdx[j] = min(vec4u(c0, c0 + 1u, c0 + 2u, c0 + 3u), vec4u(p.N - 1u)) + vec4u(z * p.strideB);
  }
  var acc: array<vec4f, TM * TN4>;
  for (var k = 0u; k < p.K; k++) {
    let bRow = k * p.N;
    var bv: array<vec4f, TN4>;
    for (var j = 0u; j < TN4; j++) {
      let ci = colIdx[j] + vec4u(bRow);
      bv[j] = vec4f(b[ci.x], b[ci.y], b[ci.z], b[ci.w]);
    }
    for (var i = 0u; i < TM; i++) {
      let av = vec4f(a[rowOff[i] + k]);
      for (var j = 0u; j < TN4; j++) { acc[i * TN4 + j] = fma(av, bv[j], acc[i * TN4 + j]); }
    }
  }
  store(z, row0, col0, &acc);
}

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

// Conv2d as an implicit GEMM (no im2col buffer), NHWC, dilation 1, groups 1:
//   y[r, n] = act(sum_k A[r, k] * w[k, n] + bias[n] + residual[r, n])
// with GEMM rows r = (batch, oy, ox), columns n = output channels, k = (ky, kx, ci), ci innermost.
// A[r, k] = x[batch, oy*stride - pad + ky, ox*stride - pad + kx, ci], zero outside the image:
// the bounds check that keeps loads inside x is the zero padding.
// Weights are packed at load time as [KH][KW][C][N] (row k of a K x N matrix).
// Entry points, picked per adapter by src/kernels/conv2d.ts:
//  - main_registers: no workgroup memory; each invocation owns TM rows x TN4 vec4 columns in
//    registers, unrolled into named variables (SwiftShader's Subzero keeps arrays in memory).
//    K runs by kernel row, each a contiguous run of KW*C input elements (see below); vec4
//    over channels when C % 4 == 0.
//  - main_tiled: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK for real GPUs; the A
//    tile is gathered from x on the fly.
//  - main_reduce (REDUCE): split-K; sums the SPLITS partial products and applies the epilogue.
// With SPLIT, workgroup z computes the K range [z*kChunk, (z+1)*kChunk) into its own slice of y.
// Bias and residual are compile-time bindings, ReLU a uniform (fewer pipelines to compile).

// Bindings and Params: declared in src/kernels/conv2d.ts (CONV: x, w, bias?, residual? -> y;
// CONV_REDUCE: part, bias?, residual? -> y).
//#if CVEC4
alias X = vec4f;
//#else
alias X = f32;
//#endif
//#if NVEC4
alias E = vec4f;   // weights and outputs, along the channels
//#else
alias E = f32;
//#endif

const TM: u32 = {{TM}};
const TN4: u32 = {{TN4}};
const BK: u32 = {{BK}};
//#if CVEC4
const KSTEP: u32 = 4u;
//#else
const KSTEP: u32 = 1u;
//#endif
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// Epilogue for output element(s) at flat index o (a vec4 index with NVEC4), column (vec4) c.
// Split-K partial products (SPLIT) are stored raw: CONV_REDUCE applies it after the sum.
fn out(o: u32, c: u32, acc: E) {
  var v = acc;
//#if BIAS
  v += bias[c];
//#endif
//#if RESIDUAL
  v += residual[o];
//#endif
//#if !SPLIT
  // ReLU from the uniforms, not a compile flag: one pipeline fewer to compile per variant.
  v = select(v, max(v, E(0.0)), p.relu != 0u);
//#endif
  y[o] = v;
}

//#if !REDUCE
// Stores 4 consecutive columns [col, col+4) of row r into slice z (z > 0 only with SPLIT).
fn store4(z: u32, r: u32, col: u32, v: vec4f) {
  if (r >= p.M || col >= p.N) { return; }
  let o = z * p.M * p.N + r * p.N + col;
//#if NVEC4
  out(o / 4u, col / 4u, v);
//#else
  out(o, col, v.x);
  if (col + 1u < p.N) { out(o + 1u, col + 1u, v.y); }
  if (col + 2u < p.N) { out(o + 2u, col + 2u, v.z); }
  if (col + 3u < p.N) { out(o + 3u, col + 3u, v.w); }
//#endif
}

// K loop of the register schedule: kernel rows ky outside; inside, e runs over the KW*C
// elements e = (kx, ci) of the window's row, which are contiguous in NHWC: x[n, iy, ix0 + kx, ci]
// is element ix0*C + e of image row (n, iy). So an element is in the image iff
// 0 <= ix0*C + e < W*C: one unsigned compare per load, and the loop boundary (costly on
// SwiftShader) comes once per kernel row instead of once per tap (the 7x7 stem with 4
// channels has one vec4 per tap). Bool `&`, never `&&` here: Tint lowers `&&` to branches,
// which made Subzero compile this loop nest for a minute at TM = 8.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_registers(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN4 * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let z = gid.z;
  let WC = p.W * p.C;
  let KWC = p.KW * p.C;
  // Per GEMM row: top-left input (iy, ix) and the element offset of image row iy, column ix.
  // Rows past M clamp to the last row: they compute values that are never stored.
//#for i in 0..TM
  let r$i = min(row0 + $i, p.M - 1u);
  let t$i = r$i / p.OW;
  let iy$i = i32((t$i % p.OH) * p.stride) - p.pad;
  let rs$i = (i32((r$i - t$i * p.OW) * p.stride) - p.pad) * i32(p.C);   // ix0*C: may be < 0
  let base$i = (i32((t$i / p.OH) * p.H) + iy$i) * i32(WC) + rs$i;
//#endfor
//#if NVEC4
  let N4 = p.N / 4u;
//#for j in 0..TN4
  let bc$j = min(col0 / 4u + $j, N4 - 1u);
//#endfor
//#else
//#for j in 0..TN4
  let bc$j = min(vec4u(col0 + 4u * $j) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
//#endfor
//#endif
//#for i in 0..TM
//#for j in 0..TN4
  var acc$i_$j = vec4f(0.0);
//#endfor
//#endfor
  let kb = z * p.kChunk;
  let ke = min(kb + p.kChunk, p.K);
  var ky = kb / KWC;
  var e0 = kb - ky * KWC;
  for (var kr = kb; kr < ke; ky++) {
    let e1 = min(KWC, e0 + (ke - kr));
    // Rows whose input row iy + ky is padding get a column start that fails every compare.
//#for i in 0..TM
    let cs$i = select(-0x40000000, rs$i, u32(iy$i + i32(ky)) < p.H);
    let ro$i = base$i + i32(ky * WC);
//#endfor
    for (var e = e0; e < e1; e += KSTEP) {
      let k = kr + e - e0;
//#if CVEC4
      // 4 channels per step: TM vec4 loads of x, 4*TN4 of w, 16*TM*TN4 FMAs.
//#if NVEC4
      let bRow = k * N4;
//#for j in 0..TN4
      let b$j_0 = w[bc$j + bRow];
      let b$j_1 = w[bc$j + bRow + N4];
      let b$j_2 = w[bc$j + bRow + 2u * N4];
      let b$j_3 = w[bc$j + bRow + 3u * N4];
//#endfor
//#else
      let bRow = vec4u(k * p.N);
//#for j in 0..TN4
      let bi$j = bc$j + bRow;
      let b$j_0 = vec4f(w[bi$j.x], w[bi$j.y], w[bi$j.z], w[bi$j.w]);
      let b$j_1 = vec4f(w[bi$j.x + p.N], w[bi$j.y + p.N], w[bi$j.z + p.N], w[bi$j.w + p.N]);
      let b$j_2 = vec4f(w[bi$j.x + 2u * p.N], w[bi$j.y + 2u * p.N], w[bi$j.z + 2u * p.N], w[bi$j.w + 2u * p.N]);
      let b$j_3 = vec4f(w[bi$j.x + 3u * p.N], w[bi$j.y + 3u * p.N], w[bi$j.z + 3u * p.N], w[bi$j.w + 3u * p.N]);
//#endfor
//#endif
//#for i in 0..TM
      let a$i = select(vec4f(0.0), x[u32(ro$i + i32(e)) / 4u], u32(cs$i + i32(e)) < WC);
//#for j in 0..TN4
      acc$i_$j += vec4f(a$i.x) * b$j_0;
      acc$i_$j += vec4f(a$i.y) * b$j_1;
      acc$i_$j += vec4f(a$i.z) * b$j_2;
      acc$i_$j += vec4f(a$i.w) * b$j_3;
//#endfor
//#endfor
//#else
//#if NVEC4
      let bRow = k * N4;
//#for j in 0..TN4
      let b$j = w[bc$j + bRow];
//#endfor
//#else
      let bRow = vec4u(k * p.N);
//#for j in 0..TN4
      let bi$j = bc$j + bRow;
      let b$j = vec4f(w[bi$j.x], w[bi$j.y], w[bi$j.z], w[bi$j.w]);
//#endfor
//#endif
//#for i in 0..TM
      let a$i = vec4f(select(0.0, x[u32(ro$i + i32(e))], u32(cs$i + i32(e)) < WC));
//#for j in 0..TN4
      acc$i_$j += a$i * b$j;
//#endfor
//#endfor
//#endif
    }
    kr += e1 - e0;
    e0 = 0u;
  }
//#for i in 0..TM
//#for j in 0..TN4
  store4(z, row0 + $i, col0 + 4u * $j, acc$i_$j);
//#endfor
//#endfor
}

// Workgroup-memory tiles. Each thread gathers up to LA units of A per K tile (a unit is KV
// consecutive channels of one tap: 4 with CVEC4) at a fixed row and fixed offset in the tile,
// so the row decomposition (batch, oy, ox) happens once, before the K loop.
const TILE_M: u32 = {{TILE_M}};
const TILE_N: u32 = {{TILE_N}};
const LA: u32 = {{LA}};
//#if CVEC4
const KV: u32 = 4u;
//#else
const KV: u32 = 1u;
//#endif
var<workgroup> tileA: array<f32, BK * TILE_M>;          // [k][m]
var<workgroup> tileB: array<vec4f, BK * TILE_N / 4u>;   // [k][n/4]

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
              @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let tileRow = wid.y * TILE_M;
  let tileCol = wid.x * TILE_N;
  let threads = WG_X * WG_Y;
  let Wi = i32(p.W);
  let kq = (li % (BK / KV)) * KV;   // this thread's K offset inside a tile (threads % (BK/KV) == 0)
  var aM: array<u32, LA>;
  var aIy: array<i32, LA>;
  var aIx: array<i32, LA>;
  var aNh: array<i32, LA>;
  for (var t = 0u; t < LA; t++) {
    let m = (li + t * threads) / (BK / KV);
    let r = tileRow + m;
    let t1 = r / p.OW;
    aM[t] = m;   // m >= TILE_M: no unit for this thread (LA rounded up)
    aIy[t] = select(-1000000, i32((t1 % p.OH) * p.stride) - p.pad, r < p.M);   // rows past M read zeros
    aIx[t] = i32((r - t1 * p.OW) * p.stride) - p.pad;
    aNh[t] = i32((t1 / p.OH) * p.H);
  }
  let kb = z * p.kChunk;
  let ke = min(kb + p.kChunk, p.K);
  var acc: array<vec4f, TM * TN4>;
  for (var k0 = kb; k0 < ke; k0 += BK) {
    let k = k0 + kq;
    let tap = k / p.C;
    let ci = k - tap * p.C;
    let ky = i32(tap / p.KW);
    let kx = i32(tap % p.KW);
    for (var t = 0u; t < LA; t++) {
      if (aM[t] >= TILE_M) { break; }
      let yy = aIy[t] + ky;
      let xx = aIx[t] + kx;
      let idx = u32((aNh[t] + yy) * Wi + xx) * p.C + ci;
      let ok = (k < ke) & (u32(yy) < p.H) & (u32(xx) < p.W);
//#if CVEC4
      var v = vec4f(0.0);
      if (ok) { v = x[idx / 4u]; }
      for (var q = 0u; q < 4u; q++) { tileA[(kq + q) * TILE_M + aM[t]] = v[q]; }
//#else
      var v = 0.0;
      if (ok) { v = x[idx]; }
      tileA[kq * TILE_M + aM[t]] = v;
//#endif
    }
    for (var e = li; e < BK * TILE_N / 4u; e += threads) {
      let kk = e / (TILE_N / 4u);
      let n4 = e % (TILE_N / 4u);
      let kr = k0 + kk;
      let col = tileCol + 4u * n4;
      var v = vec4f(0.0);
      if ((kr < ke) & (col < p.N)) {
//#if NVEC4
        v = w[kr * (p.N / 4u) + col / 4u];
//#else
        let base = kr * p.N;
        for (var q = 0u; q < 4u; q++) { if (col + q < p.N) { v[q] = w[base + col + q]; } }
//#endif
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
  // Threads own strided rows/columns so workgroup-memory reads are contiguous across threads.
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN4; j++) {
      store4(z, tileRow + lid.y + i * WG_Y, tileCol + 4u * (lid.x + j * WG_X), acc[i * TN4 + j]);
    }
  }
}
//#else

@compute @workgroup_size(64, 1, 1)
fn main_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.pitch;
//#if NVEC4
  let total = p.M * p.N / 4u;
//#else
  let total = p.M * p.N;
//#endif
  if (i >= total) { return; }
  var s = part[i];
  for (var z = 1u; z < p.splits; z++) { s += part[z * total + i]; }
//#if NVEC4
  out(i, i % (p.N / 4u), s);
//#else
  out(i, i % p.N, s);
//#endif
}
//#endif

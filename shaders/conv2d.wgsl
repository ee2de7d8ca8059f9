// Conv2d as an implicit GEMM (no im2col buffer), NHWC, dilation 1, groups 1:
//   y[r, n] = act(sum_k A[r, k] * w[k, n] + bias[n] + residual[r, n])
// with GEMM rows r = (batch, oy, ox), columns n = output channels, k = (ky, kx, ci), ci innermost.
// A[r, k] = x[batch, oy*stride - pad + ky, ox*stride - pad + kx, ci], zero outside the image:
// the bounds check that keeps loads inside x is the zero padding.
// Weights are packed at load time as [KH][KW][C][N] (row k of a K x N matrix).
// The loops and the epilogue are the matmul core (shaders/matmul.wgsl), shared with gemm; this
// file supplies how A is gathered from x. Entry points, picked per adapter by src/kernels/conv2d.ts:
//  - main_registers: no workgroup memory; each invocation owns TM rows x TN4 vec4 columns in
//    registers, unrolled into named variables (SwiftShader's Subzero keeps arrays in memory).
//    K runs by kernel row, each a contiguous run of KW*C input elements (see below); vec4
//    over channels when C % 4 == 0 (KVEC4).
//  - main_tiled: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK for real GPUs; the A
//    tile is gathered from x on the fly.
//  - main_reduce (REDUCE): split-K; sums the SPLITS partial products and applies the epilogue.
// With SPLIT, workgroup z computes the K range [z*kChunk, (z+1)*kChunk) into its own slice of y.
// Bias and residual are compile-time bindings, ReLU a uniform (fewer pipelines to compile).

// Bindings and Params: declared in src/kernels/conv2d.ts (CONV: x, b, bias?, residual? -> y;
// CONV_REDUCE: part, bias?, residual? -> y). b is the packed weight, a K x N matrix.
//#if KVEC4
alias X = vec4f;
//#else
alias X = f32;
//#endif
//#if NVEC4
alias E = vec4f;   // weights, bias, residual and outputs, along the channels
//#else
alias E = f32;
//#endif

//#if BF16 || BI8
alias BW = u32;   // compact weights: packed f16 pairs or int8 quads (matmul.wgsl)
//#else
alias BW = E;
//#endif

//#include matmul.consts

//#if !REDUCE
fn bBase(z: u32) -> u32 { return 0u; }
//#include matmul.bload

// K loop of the register schedule: kernel rows ky outside; inside, e runs over the KW*C
// elements e = (kx, ci) of the window's row, which are contiguous in NHWC: x[n, iy, ix0 + kx, ci]
// is element ix0*C + e of image row (n, iy). So an element is in the image iff
// 0 <= ix0*C + e < W*C: one unsigned compare per load, and the loop boundary (costly on
// SwiftShader) comes once per kernel row instead of once per tap (the 7x7 stem with 4
// channels has one vec4 per tap). Bool `&`, never `&&` here: Tint lowers `&&` to branches,
// which made Subzero compile this loop nest for a minute at TM = 8.
//#include matmul.registers_entry
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
//#include matmul.registers_init
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
      // 4 channels per step with KVEC4: TM vec4 loads of x, 4*TN4 of b, 16*TM*TN4 FMAs.
//#include matmul.registers_step A=select(X(0.0), x[u32(ro$i + i32(e)) / KSTEP], u32(cs$i + i32(e)) < WC)
    }
    kr += e1 - e0;
    e0 = 0u;
  }
//#include matmul.registers_store
}

// Workgroup-memory tiles. Each thread gathers up to LA units of A per K tile (a unit is KV
// consecutive channels of one tap: 4 with KVEC4) at a fixed row and fixed offset in the tile,
// so the row decomposition (batch, oy, ox) happens once, before the K loop.
//#include matmul.tiled_decls
const LA: u32 = {{LA}};
//#if KVEC4
const KV: u32 = 4u;
//#else
const KV: u32 = 1u;
//#endif

//#include matmul.tiled_entry
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
//#if KVEC4
      var v = vec4f(0.0);
      if (ok) { v = x[idx / 4u]; }
      for (var q = 0u; q < 4u; q++) { tileA[(kq + q) * TILE_M + aM[t]] = CT(v[q]); }
//#else
      var v = 0.0;
      if (ok) { v = x[idx]; }
      tileA[kq * TILE_M + aM[t]] = CT(v);
//#endif
    }
//#include matmul.tiled_step
  }
//#include matmul.tiled_store
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

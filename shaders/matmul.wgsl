// The matmul core shared by gemm.wgsl and conv2d.wgsl: C (M x N) = A (M x K) * B (K x N) with
// the bias + residual + ReLU epilogue. A kernel pulls a part in with `//#include matmul.<part>`
// (src/kernels/kernel.ts); `%A%` in a part is the include's `A=<expr>` argument.
// The including kernel binds `b` (B, row-major K x N, element E), `y` (output, element E),
// optional `bias` and `residual` (element E), declares uniforms M, N, K, relu, and defines
//   fn bBase(z: u32) -> u32   offset of batch item z's B (0 when B is shared)
// Flags: KVEC4 (A is read as vec4s along K, 4 rows of B per step), NVEC4 (B, bias, residual
// and the output are vec4s along N), SPLIT (store raw partial sums: no epilogue).
// B's storage (compact weights, src/kernels/weights.ts): BF16 (pairs of f16 in u32 words,
// unpack2x16float, any adapter) or BI8 (4 int8 in a u32, unpack4x8snorm = q/127, symmetric per
// output column); both accumulate in f32. Optional `wscale` (E, per output column) multiplies the
// sums before the epilogue: the int8 scale times 127. The kernel's `b` element type is BW.
// B is only read through bAt (one element) and bAt4 (4 consecutive elements at a multiple of 4).
// F16 (the `compute: 'f16'` option, `shader-f16` adapters): A and B enter the products as f16
// (CT; f16 weights by bitcast, no unpack), each group of 4 K steps is summed in f16, and the
// groups accumulate in f32, as does the epilogue. Without F16, CT is f32 and the code is as before.
// Register tiles are named variables unrolled by //#for: SwiftShader's Subzero keeps
// function-scope arrays in memory.

//#part consts
//#if F16
enable f16;   // hoisted to the top of the module by src/kernels/kernel.ts
alias CT = f16;
//#else
alias CT = f32;
//#endif
alias CT4 = vec4<CT>;
const TM: u32 = {{TM}};
const TN4: u32 = {{TN4}};
const BK: u32 = {{BK}};
//#if KVEC4
const KSTEP: u32 = 4u;
//#else
const KSTEP: u32 = 1u;
//#endif
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// Epilogue for output element(s) at flat index o (a vec4 index with NVEC4), column (vec4) c.
// With SPLIT the partial sums are stored raw; the reduce node applies it after the sum (the
// int8 scale, being linear, is applied to each partial here).
fn out(o: u32, c: u32, acc: E) {
  var v = acc;
//#if WSCALE
  v *= wscale[c];
//#endif
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

// Stores 4 consecutive columns [col, col+4) of row r of output slice z (batch item or split).
fn store4(z: u32, r: u32, col: u32, v: vec4f) {
  if (r >= p.M || col >= p.N) { return; }
  let o = (z * p.M + r) * p.N + col;
//#if NVEC4
  out(o / 4u, col / 4u, v);
//#else
  out(o, col, v.x);
  if (col + 1u < p.N) { out(o + 1u, col + 1u, v.y); }
  if (col + 2u < p.N) { out(o + 2u, col + 2u, v.z); }
  if (col + 3u < p.N) { out(o + 3u, col + 3u, v.w); }
//#endif
}
//#endpart

//#part bload
// B's element loads (the flags above); REDUCE variants, which bind no b, leave this part out.
//#if BF16 && F16
fn bAt(i: u32) -> CT { return bitcast<vec2h>(b[i >> 1u])[i & 1u]; }
fn bAt4(i4: u32) -> CT4 { return CT4(bitcast<vec2h>(b[2u * i4]), bitcast<vec2h>(b[2u * i4 + 1u])); }
//#elif BF16
fn bAt(i: u32) -> CT { return unpack2x16float(b[i >> 1u])[i & 1u]; }
fn bAt4(i4: u32) -> CT4 { return CT4(unpack2x16float(b[2u * i4]), unpack2x16float(b[2u * i4 + 1u])); }
//#elif BI8
fn bAt(i: u32) -> CT { return CT(unpack4x8snorm(b[i >> 2u])[i & 3u]); }
fn bAt4(i4: u32) -> CT4 { return CT4(unpack4x8snorm(b[i4])); }
//#elif NVEC4
fn bAt4(i4: u32) -> CT4 { return CT4(b[i4]); }
//#else
fn bAt(i: u32) -> CT { return CT(b[i]); }
//#endif
//#endpart

//#part registers_entry
// Opens the entry point main_registers (the including file writes its body and the closing
// brace): invocation (x, y) owns rows [row0, row0 + TM) and columns [col0, col0 + 4*TN4).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_registers(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN4 * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let z = gid.z;
//#endpart

//#part registers_init
// Register schedule, before the K loop: B column indices (clamped: columns past N compute
// values that are never stored) and zeroed accumulators acc<i>_<j> (TM rows x TN4 vec4s).
//#if NVEC4
  let N4 = p.N / 4u;
//#for j in 0..TN4
  let bc$j = bBase(z) / 4u + min(col0 / 4u + $j, N4 - 1u);
//#endfor
//#else
//#for j in 0..TN4
  let bc$j = min(vec4u(col0 + 4u * $j) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) + vec4u(bBase(z));
//#endfor
//#endif
//#for i in 0..TM
//#for j in 0..TN4
  var acc$i_$j = vec4f(0.0);
//#endfor
//#endfor
//#endpart

//#part registers_step
// One K step at row k of B (KSTEP rows): acc<i>_<j> += A[row i, k..k+KSTEP) * B[k.., cols j];
// row i's A value (a vec4 along K with KVEC4) is the A expression the including kernel passes.
//#if KVEC4
//#if NVEC4
      let bRow = k * N4;
//#for j in 0..TN4
      let b$j_0 = bAt4(bc$j + bRow);
      let b$j_1 = bAt4(bc$j + bRow + N4);
      let b$j_2 = bAt4(bc$j + bRow + 2u * N4);
      let b$j_3 = bAt4(bc$j + bRow + 3u * N4);
//#endfor
//#else
      let bRow = vec4u(k * p.N);
//#for j in 0..TN4
      let bi$j = bc$j + bRow;
      let b$j_0 = CT4(bAt(bi$j.x), bAt(bi$j.y), bAt(bi$j.z), bAt(bi$j.w));
      let b$j_1 = CT4(bAt(bi$j.x + p.N), bAt(bi$j.y + p.N), bAt(bi$j.z + p.N), bAt(bi$j.w + p.N));
      let b$j_2 = CT4(bAt(bi$j.x + 2u * p.N), bAt(bi$j.y + 2u * p.N), bAt(bi$j.z + 2u * p.N), bAt(bi$j.w + 2u * p.N));
      let b$j_3 = CT4(bAt(bi$j.x + 3u * p.N), bAt(bi$j.y + 3u * p.N), bAt(bi$j.z + 3u * p.N), bAt(bi$j.w + 3u * p.N));
//#endfor
//#endif
//#for i in 0..TM
      let a$i = CT4(%A%);
//#for j in 0..TN4
//#if F16
      acc$i_$j += vec4f(a$i.x * b$j_0 + a$i.y * b$j_1 + a$i.z * b$j_2 + a$i.w * b$j_3);
//#else
      acc$i_$j += vec4f(a$i.x) * b$j_0;
      acc$i_$j += vec4f(a$i.y) * b$j_1;
      acc$i_$j += vec4f(a$i.z) * b$j_2;
      acc$i_$j += vec4f(a$i.w) * b$j_3;
//#endif
//#endfor
//#endfor
//#else
//#if NVEC4
      let bRow = k * N4;
//#for j in 0..TN4
      let b$j = bAt4(bc$j + bRow);
//#endfor
//#else
      let bRow = vec4u(k * p.N);
//#for j in 0..TN4
      let bi$j = bc$j + bRow;
      let b$j = CT4(bAt(bi$j.x), bAt(bi$j.y), bAt(bi$j.z), bAt(bi$j.w));
//#endfor
//#endif
//#for i in 0..TM
      let a$i = CT4(CT(%A%));
//#for j in 0..TN4
//#if F16
      acc$i_$j += vec4f(a$i * b$j);
//#else
      acc$i_$j += a$i * b$j;
//#endif
//#endfor
//#endfor
//#endif
//#endpart

//#part registers_store
//#for i in 0..TM
//#for j in 0..TN4
  store4(z, row0 + $i, col0 + 4u * $j, acc$i_$j);
//#endfor
//#endfor
//#endpart

//#part tiled_decls
// Workgroup-memory schedule: tiles of TILE_M x BK of A and BK x TILE_N of B per K step.
const TILE_M: u32 = {{TILE_M}};
const TILE_N: u32 = {{TILE_N}};
var<workgroup> tileA: array<CT, BK * TILE_M>;          // [k][m]
var<workgroup> tileB: array<CT4, BK * TILE_N / 4u>;   // [k][n/4]
//#endpart

//#part tiled_entry
// Opens the entry point main_tiled (the including file writes its body and the closing brace):
// workgroup (x, y) owns output tile (tileRow, tileCol) of slice z.
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
              @builtin(local_invocation_index) li: u32) {
  let z = wid.z;
  let tileRow = wid.y * TILE_M;
  let tileCol = wid.x * TILE_N;
  let threads = WG_X * WG_Y;
//#endpart

//#part tiled_step
// Inside the K loop (tile rows [k0, k0 + BK), valid below ke), once the kernel filled tileA:
// loads the B tile (zeros outside B keep the K tail exact), then accumulates into acc.
    for (var e = li; e < BK * TILE_N / 4u; e += threads) {
      let kk = e / (TILE_N / 4u);
      let n4 = e % (TILE_N / 4u);
      let kr = k0 + kk;
      let col = tileCol + 4u * n4;
      var v = CT4(0.0);
      if ((kr < ke) & (col < p.N)) {
//#if NVEC4
        v = bAt4(bBase(z) / 4u + kr * (p.N / 4u) + col / 4u);
//#else
        let base = bBase(z) + kr * p.N;
        for (var q = 0u; q < 4u; q++) { if (col + q < p.N) { v[q] = bAt(base + col + q); } }
//#endif
      }
      tileB[kk * (TILE_N / 4u) + n4] = v;
    }
    workgroupBarrier();
//#if F16
    // Groups of 4 K steps summed in f16, accumulated in f32 (BK is a multiple of 4: gemm.ts).
    for (var kk = 0u; kk < BK; kk += 4u) {
      var bv: array<CT4, 4u * TN4>;
      for (var q = 0u; q < 4u; q++) {
        for (var j = 0u; j < TN4; j++) { bv[q * TN4 + j] = tileB[(kk + q) * (TILE_N / 4u) + lid.x + j * WG_X]; }
      }
      for (var i = 0u; i < TM; i++) {
        let m = kk * TILE_M + lid.y + i * WG_Y;
        let a0 = tileA[m]; let a1 = tileA[m + TILE_M]; let a2 = tileA[m + 2u * TILE_M]; let a3 = tileA[m + 3u * TILE_M];
        for (var j = 0u; j < TN4; j++) {
          acc[i * TN4 + j] += vec4f(a0 * bv[j] + a1 * bv[TN4 + j] + a2 * bv[2u * TN4 + j] + a3 * bv[3u * TN4 + j]);
        }
      }
    }
//#else
    for (var kk = 0u; kk < BK; kk++) {
      var bv: array<vec4f, TN4>;
      for (var j = 0u; j < TN4; j++) { bv[j] = tileB[kk * (TILE_N / 4u) + lid.x + j * WG_X]; }
      for (var i = 0u; i < TM; i++) {
        let av = vec4f(tileA[kk * TILE_M + lid.y + i * WG_Y]);
        for (var j = 0u; j < TN4; j++) { acc[i * TN4 + j] = fma(av, bv[j], acc[i * TN4 + j]); }
      }
    }
//#endif
    workgroupBarrier();
//#endpart

//#part tiled_store
  // Threads own strided rows/columns (row lid.y + i*WG_Y, vec4 column lid.x + j*WG_X) so
  // workgroup-memory reads are contiguous across the workgroup.
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN4; j++) {
      store4(z, tileRow + lid.y + i * WG_Y, tileCol + 4u * (lid.x + j * WG_X), acc[i * TN4 + j]);
    }
  }
//#endpart

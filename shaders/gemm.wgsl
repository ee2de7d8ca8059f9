// Batched GEMM with fused epilogue: y[z] = act(a[z] (M x K) * b[z] (K x N) + bias + residual).
// Row-major everywhere; B's batch stride may be 0 (weights shared across the batch).
// The loops and the epilogue are the matmul core (shaders/matmul.wgsl), shared with conv2d;
// this file supplies how A is read. Two schedules, picked per adapter by src/kernels/gemm.ts:
//  - main_registers: no workgroup memory; each invocation owns a TM x (4*TN4) register tile.
//    CPU adapters (SwiftShader) run invocations as SIMD lanes, where barriers cost more than
//    they save and reuse must come from registers.
//  - main_tiled: workgroup-memory tiles of (WG_Y*TM) x (WG_X*4*TN4) x BK for real GPUs.
// Out-of-range rows/columns load clamped (valid) addresses; an output only depends on its own
// row of A and column of B, so clamped lanes only produce values that are never stored.

// Bindings (a: A; b, bias?, residual?, y: E) and Params: declared in src/kernels/gemm.ts.
// KVEC4 and NVEC4 together (K % 4 == 0 and N % 4 == 0): one vec4 load where the scalar form
// needs four (and on SwiftShader four bounds checks), a vec4 epilogue.
//#if KVEC4
alias A = vec4f;
//#else
alias A = f32;
//#endif
//#if NVEC4
alias E = vec4f;
//#else
alias E = f32;
//#endif

fn bBase(z: u32) -> u32 { return z * p.strideB; }
//#include matmul.bload

//#if BF16 || BI8
alias BW = u32;   // compact weights: packed f16 pairs or int8 quads (matmul.wgsl)
//#else
alias BW = E;
//#endif

//#include matmul.consts

//#include matmul.registers_entry
//#for i in 0..TM
  let aOff$i = (z * p.M + min(row0 + $i, p.M - 1u)) * (p.K / KSTEP);
//#endfor
//#include matmul.registers_init
  for (var k = 0u; k < p.K; k += KSTEP) {
    let ka = k / KSTEP;   // once per step, not once per row (Subzero does not share it)
//#include matmul.registers_step A=a[aOff$i + ka]
  }
//#include matmul.registers_store
}

//#if !KVEC4
//#include matmul.tiled_decls

//#include matmul.tiled_entry
  let ke = p.K;
  var acc: array<vec4f, TM * TN4>;
  for (var k0 = 0u; k0 < ke; k0 += BK) {
    // Cooperative loads of the A tile; zeros outside A keep the K tail exact.
    for (var e = li; e < BK * TILE_M; e += threads) {
      let m = e / BK; let kk = e % BK;
      let r = tileRow + m; let k = k0 + kk;
      var v = 0.0;
      if (r < p.M && k < p.K) { v = a[(z * p.M + r) * p.K + k]; }
      tileA[kk * TILE_M + m] = CT(v);
    }
//#include matmul.tiled_step
  }
//#include matmul.tiled_store
}
//#endif

// QAMem (SPEC section 5), a grouped 1x1 conv = batched GEMM with the query (group) on z:
// Y[b, i, :] = O[b, i, :] W[i] + bias[i], W[i] a d x d matrix stored [c][o] (transposed from the
// Conv1d weight at load time so output channels are contiguous). Group i's batch rows sit N*d
// apart, so this is gemm with a row stride, written out rather than bending gemm's layout.
// Each invocation owns TR batch rows x 4*TN4 output channels of one group; no workgroup memory;
// the register tile is named variables unrolled by //#for (wgsl.ts)
// (at batch 1 this is a matrix-vector product per group: W is streamed once, memory bound).

// Bindings and Params: declared in src/kernels/qamem.ts.
// Compact weights (src/kernels/weights.ts): WF16 (f16 pairs in u32 words) or WI8 (int8 quads,
// unpack4x8snorm = q/127, with wscale = scale*127 per output channel (group, o)); f32 sums.
//#if WF16 || WI8
alias WT = u32;
//#else
alias WT = f32;
//#endif
//#if WF16
fn wAt(i: u32) -> f32 { return unpack2x16float(w[i >> 1u])[i & 1u]; }
//#elif WI8
fn wAt(i: u32) -> f32 { return unpack4x8snorm(w[i >> 2u])[i & 3u]; }
//#else
fn wAt(i: u32) -> f32 { return w[i]; }
//#endif

const TR: u32 = {{TR}};
const TN4: u32 = {{TN4}};
const CK: u32 = {{CK}};
override WG_X: u32 = 8u;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col0 = gid.x * TN4 * 4u;
  let row0 = gid.y * TR;
  let i = gid.z;
  if (col0 >= p.d || row0 >= p.B) { return; }
//#for r in 0..TR
  let xOff$r = (min(row0 + $r, p.B - 1u) * p.N + i) * p.d;
//#for j in 0..TN4
  var acc$r_$j = vec4f(0.0);
//#endfor
//#endfor
  // Clamped columns stay inside group i's matrix; their sums are never stored.
//#for j in 0..TN4
  let wCol$j = min(vec4u(col0 + 4u * $j) + vec4u(0u, 1u, 2u, 3u), vec4u(p.d - 1u)) + vec4u(i * p.d * p.d);
//#endfor
  // Channels in steps of CK (unrolled), then the tail one at a time.
  var c = 0u;
  for (; c + CK <= p.d; c += CK) {
//#for cc in 0..CK
//#for j in 0..TN4
    let wi$cc_$j = wCol$j + vec4u((c + $cc) * p.d);
    let w$cc_$j = vec4f(wAt(wi$cc_$j.x), wAt(wi$cc_$j.y), wAt(wi$cc_$j.z), wAt(wi$cc_$j.w));
//#endfor
//#for r in 0..TR
    let x$cc_$r = vec4f(x[xOff$r + c + $cc]);
//#for j in 0..TN4
    acc$r_$j = fma(x$cc_$r, w$cc_$j, acc$r_$j);
//#endfor
//#endfor
//#endfor
  }
  for (; c < p.d; c++) {
//#for j in 0..TN4
    let wi$j = wCol$j + vec4u(c * p.d);
    let w$j = vec4f(wAt(wi$j.x), wAt(wi$j.y), wAt(wi$j.z), wAt(wi$j.w));
//#endfor
//#for r in 0..TR
//#for j in 0..TN4
    acc$r_$j = fma(vec4f(x[xOff$r + c]), w$j, acc$r_$j);
//#endfor
//#endfor
  }
//#for r in 0..TR
  if (row0 + $r < p.B) {
//#for j in 0..TN4
//#for e in 0..4
    {
      let o = col0 + 4u * $j + $e;
//#if WSCALE
      if (o < p.d) { y[xOff$r + o] = acc$r_$j[$e] * wscale[i * p.d + o] + bias[i * p.d + o]; }
//#else
      if (o < p.d) { y[xOff$r + o] = acc$r_$j[$e] + bias[i * p.d + o]; }
//#endif
    }
//#endfor
//#endfor
  }
//#endfor
}

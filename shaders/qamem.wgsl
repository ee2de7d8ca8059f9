// QAMem (SPEC section 5), a grouped 1x1 conv = batched GEMM with the query (group) on z:
// Y[b, i, :] = O[b, i, :] W[i] + bias[i], W[i] a d x d matrix stored [c][o] (transposed from the
// Conv1d weight at load time so output channels are contiguous). Group i's batch rows sit N*d
// apart, so this is gemm with a row stride, written out rather than bending gemm's layout.
// Each invocation owns TR batch rows x 4*TN4 output channels of one group; no workgroup memory;
// inner loops unrolled at build time (`//#unroll`, see src/kernels/attention.ts)
// (at batch 1 this is a matrix-vector product per group: W is streamed once, memory bound).

@group(0) @binding(#) var<storage, read> x: array<f32>;
@group(0) @binding(#) var<storage, read> w: array<f32>;
@group(0) @binding(#) var<storage, read> bias: array<f32>;
@group(0) @binding(#) var<storage, read_write> y: array<f32>;

struct Params { B: u32, N: u32, d: u32 }
@group(0) @binding(#) var<uniform> p: Params;

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
  var rowOff: array<u32, TR>;
//#unroll r TR
  rowOff[r] = (min(row0 + r, p.B - 1u) * p.N + i) * p.d;
//#end
  // Clamped columns stay inside group i's matrix; their sums are never stored.
  var colIdx: array<vec4u, TN4>;
//#unroll j TN4
  colIdx[j] = min(vec4u(col0 + 4u * j) + vec4u(0u, 1u, 2u, 3u), vec4u(p.d - 1u)) + vec4u(i * p.d * p.d);
//#end
  var acc: array<vec4f, TR * TN4>;
  // Channels in steps of CK (unrolled), then the tail one at a time.
  var c = 0u;
  for (; c + CK <= p.d; c += CK) {
//#unroll cc CK
    {
      var wv: array<vec4f, TN4>;
//#unroll j TN4
      { let ci = colIdx[j] + vec4u((c + cc) * p.d); wv[j] = vec4f(w[ci.x], w[ci.y], w[ci.z], w[ci.w]); }
//#end
//#unroll r TR
      { let xv = vec4f(x[rowOff[r] + c + cc]);
//#unroll j TN4
        acc[r * TN4 + j] = fma(xv, wv[j], acc[r * TN4 + j]);
//#end
      }
//#end
    }
//#end
  }
  for (; c < p.d; c++) {
//#unroll r TR
    { let xv = vec4f(x[rowOff[r] + c]);
//#unroll j TN4
      { let ci = colIdx[j] + vec4u(c * p.d); acc[r * TN4 + j] = fma(xv, vec4f(w[ci.x], w[ci.y], w[ci.z], w[ci.w]), acc[r * TN4 + j]); }
//#end
    }
//#end
  }
//#unroll r TR
  if (row0 + r < p.B) {
//#unroll j TN4
    {
      let vals = acc[r * TN4 + j];
//#unroll e 4
      { let o = col0 + 4u * j + e; if (o < p.d) { y[rowOff[r] + o] = vals[e] + bias[i * p.d + o]; } }
//#end
    }
//#end
  }
//#end
}

// QAMem (SPEC section 5), a grouped 1x1 conv = batched GEMM with the query (group) on z:
// Y[b, i, :] = O[b, i, :] W[i] + bias[i], W[i] a d x d matrix stored [c][o] (transposed from the
// Conv1d weight at load time so output channels are contiguous). Group i's batch rows sit N*d
// apart, so this is gemm with a row stride, written out rather than bending gemm's layout.
// Each invocation owns TR batch rows x 4*TN4 output channels of one group; no workgroup memory
// (at batch 1 this is a matrix-vector product per group: W is streamed once, memory bound).

@group(0) @binding(#) var<storage, read> x: array<f32>;
@group(0) @binding(#) var<storage, read> w: array<f32>;
@group(0) @binding(#) var<storage, read> bias: array<f32>;
@group(0) @binding(#) var<storage, read_write> y: array<f32>;

struct Params { B: u32, N: u32, d: u32 }
@group(0) @binding(#) var<uniform> p: Params;

const TR: u32 = {{TR}};
const TN4: u32 = {{TN4}};
override WG_X: u32 = 8u;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col0 = gid.x * TN4 * 4u;
  let row0 = gid.y * TR;
  let i = gid.z;
  if (col0 >= p.d || row0 >= p.B) { return; }
  var rowOff: array<u32, TR>;
  for (var r = 0u; r < TR; r++) { rowOff[r] = (min(row0 + r, p.B - 1u) * p.N + i) * p.d; }
  // Clamped columns stay inside group i's matrix; their sums are never stored.
  var colIdx: array<vec4u, TN4>;
  for (var j = 0u; j < TN4; j++) {
    let c0 = col0 + 4u * j;
    colIdx[j] = min(vec4u(c0, c0 + 1u, c0 + 2u, c0 + 3u), vec4u(p.d - 1u)) + vec4u(i * p.d * p.d);
  }
  var acc: array<vec4f, TR * TN4>;
  for (var c = 0u; c < p.d; c++) {
    var wv: array<vec4f, TN4>;
    for (var j = 0u; j < TN4; j++) {
      let ci = colIdx[j] + vec4u(c * p.d);
      wv[j] = vec4f(w[ci.x], w[ci.y], w[ci.z], w[ci.w]);
    }
    for (var r = 0u; r < TR; r++) {
      let xv = vec4f(x[rowOff[r] + c]);
      for (var j = 0u; j < TN4; j++) { acc[r * TN4 + j] = fma(xv, wv[j], acc[r * TN4 + j]); }
    }
  }
  for (var r = 0u; r < TR; r++) {
    if (row0 + r >= p.B) { break; }
    for (var j = 0u; j < TN4; j++) {
      for (var e = 0u; e < 4u; e++) {
        let o = col0 + 4u * j + e;
        if (o < p.d) { y[rowOff[r] + o] = acc[r * TN4 + j][e] + bias[i * p.d + o]; }
      }
    }
  }
}

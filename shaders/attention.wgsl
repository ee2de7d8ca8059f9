// Fused multi-head attention, flash style: O = softmax(Q K^T * scale) V for every batch item,
// head and query in one dispatch, with an online softmax (running max m, running sum l,
// output rescaled by exp(m - m') when the max grows; divided by l at the end): no score matrix
// leaves registers, and large logits never overflow (every exp argument is <= 0).
// Q, K, V are strided views (offset, row stride, batch stride; a batch stride of 0 broadcasts)
// so packed projection outputs are read in place; head h owns channels [h*DH, (h+1)*DH) of a
// row. The output is contiguous [B, Lq, heads*DH], heads concatenated.
// Each invocation owns TQ queries; keys go in blocks of KB (one max/rescale per block). All loops
// but the one over key blocks have constant trip counts and are unrolled at build time.
//  - !TILED (CPU adapters): K/V rows are read straight from storage, reuse across the TQ
//    queries comes from registers; no workgroup memory or barriers.
//  - TILED (GPUs): the workgroup stages a KB x DH block of K and V in workgroup memory.

@group(0) @binding(#) var<storage, read> qs: array<f32>;
@group(0) @binding(#) var<storage, read> ks: array<f32>;
@group(0) @binding(#) var<storage, read> vs: array<f32>;
@group(0) @binding(#) var<storage, read_write> os: array<f32>;

struct View { off: u32, row: u32, batch: u32, _pad: u32 }
struct Params { Lq: u32, Lk: u32, heads: u32, scale: f32, q: View, k: View, v: View }
@group(0) @binding(#) var<uniform> p: Params;

const DH: u32 = {{DH}};
const DH4: u32 = {{DH4}};   // ceil(DH / 4): rows are held as vec4s, the tail lanes padded
const TQ: u32 = {{TQ}};
const KB: u32 = {{KB}};
override WG: u32 = 32u;
const NEG_BIG: f32 = -3.0e38;   // finite, so exp(NEG_BIG - m) is 0 and never inf - inf

// Indices of four channels of a row; lanes past DH read the row's last channel (finite, never
// stored). Indices rather than a loader: pointers to storage cannot be function parameters.
fn idx4(base: u32, c4: u32) -> vec4u {
//#if TAIL
  return min(vec4u(4u * c4) + vec4u(0u, 1u, 2u, 3u), vec4u(DH - 1u)) + vec4u(base);
//#else
  return vec4u(base + 4u * c4) + vec4u(0u, 1u, 2u, 3u);
//#endif
}
fn loadQ(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(qs[i.x], qs[i.y], qs[i.z], qs[i.w]); }
fn loadK(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(ks[i.x], ks[i.y], ks[i.z], ks[i.w]); }
fn loadV(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(vs[i.x], vs[i.y], vs[i.z], vs[i.w]); }

fn rowBase(v: View, b: u32, r: u32, h: u32) -> u32 { return v.off + b * v.batch + r * v.row + h * DH; }

//#if TILED
var<workgroup> kt: array<vec4f, KB * DH4>;
var<workgroup> vt: array<vec4f, KB * DH4>;
//#endif

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let b = wid.z;
  let q0 = (wid.x * WG + li) * TQ;
//#if !TILED
  if (q0 >= p.Lq) { return; }
//#endif

  // Queries, pre-scaled; padded lanes are zero so they add nothing to the dot products.
  // `//#unroll v N` blocks are expanded N times by src/kernels/attention.ts (v -> 0u, 1u, ...):
  // SwiftShader does not unroll loops itself, and unrolled code ran 2-3x faster there (measured).
  var q: array<vec4f, TQ * DH4>;
//#unroll t TQ
  {
    let base = rowBase(p.q, b, min(q0 + t, p.Lq - 1u), h);
//#unroll c4 DH4
    {
      var v = loadQ(base, c4) * p.scale;
//#if TAIL
      v = select(vec4f(0.0), v, vec4u(4u * c4) + vec4u(0u, 1u, 2u, 3u) < vec4u(DH));
//#endif
      q[t * DH4 + c4] = v;
    }
//#end
  }
//#end
  var o: array<vec4f, TQ * DH4>;
  var m: array<f32, TQ>;
  var l: array<f32, TQ>;
//#unroll t TQ
  m[t] = NEG_BIG;
//#end

  // Keys past Lk in the last block read the last row and get score NEG_BIG, i.e. weight 0.
  for (var j0 = 0u; j0 < p.Lk; j0 += KB) {
//#if TILED
    workgroupBarrier();   // everyone is done with the previous block
    for (var e = li; e < KB * DH4; e += WG) {
      let j = min(j0 + e / DH4, p.Lk - 1u);
      kt[e] = loadK(rowBase(p.k, b, j, h), e % DH4);
      vt[e] = loadV(rowBase(p.v, b, j, h), e % DH4);
    }
    workgroupBarrier();
//#endif
    // Scores for this block.
    var s: array<f32, TQ * KB>;
//#unroll jj KB
    {
//#if !TILED
      let kb = rowBase(p.k, b, min(j0 + jj, p.Lk - 1u), h);
//#endif
      var acc = array<vec4f, TQ>();   // explicit: Dawn/SwiftShader did not re-zero a bare `var` declared in a loop (measured)
//#unroll c4 DH4
      {
//#if TILED
        let kv = kt[jj * DH4 + c4];
//#else
        let kv = loadK(kb, c4);
//#endif
//#unroll t TQ
        acc[t] = fma(q[t * DH4 + c4], kv, acc[t]);
//#end
      }
//#end
      let valid = j0 + jj < p.Lk;
//#unroll t TQ
      s[t * KB + jj] = select(NEG_BIG, dot(acc[t], vec4f(1.0)), valid);
//#end
    }
//#end
    // Online softmax update, once per block.
//#unroll t TQ
    {
      var mx = m[t];
//#unroll jj KB
      mx = max(mx, s[t * KB + jj]);
//#end
      let alpha = exp(m[t] - mx);
      m[t] = mx;
      var sum = 0.0;
//#unroll jj KB
      { let e = exp(s[t * KB + jj] - mx); s[t * KB + jj] = e; sum += e; }
//#end
      l[t] = fma(l[t], alpha, sum);
//#unroll c4 DH4
      o[t * DH4 + c4] *= alpha;
//#end
    }
//#end
    // o += P V for this block.
//#unroll jj KB
    {
//#if !TILED
      let vb = rowBase(p.v, b, min(j0 + jj, p.Lk - 1u), h);
//#endif
//#unroll c4 DH4
      {
//#if TILED
        let vv = vt[jj * DH4 + c4];
//#else
        let vv = loadV(vb, c4);
//#endif
//#unroll t TQ
        o[t * DH4 + c4] = fma(vec4f(s[t * KB + jj]), vv, o[t * DH4 + c4]);
//#end
      }
//#end
    }
//#end
  }

  let D = p.heads * DH;
  for (var t = 0u; t < TQ; t++) {
    let qi = q0 + t;
    if (qi >= p.Lq) { break; }
    let inv = 1.0 / l[t];
    let base = (b * p.Lq + qi) * D + h * DH;
    for (var c = 0u; c < DH; c++) { os[base + c] = o[t * DH4 + c / 4u][c % 4u] * inv; }
  }
}

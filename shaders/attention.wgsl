// Fused multi-head attention, flash style: O = softmax(Q K^T * scale) V for every batch item,
// head and query in one dispatch, with an online softmax (running max m, running sum l,
// output rescaled by exp(m - m') when the max grows; divided by l at the end): no score matrix
// leaves registers, and large logits never overflow (every exp argument is <= 0).
// Q, K, V are strided views (offset, row stride, batch stride; a batch stride of 0 broadcasts)
// so packed projection outputs are read in place; head h owns channels [h*DH, (h+1)*DH) of a
// row. The output is contiguous [B, Lq, heads*DH], heads concatenated.
// Each invocation owns TQ queries; keys go in blocks of KB (one max/rescale per block). The
// register tiles (queries q, outputs o, scores s: TQ x DH4 vec4s and TQ x KB floats) are named
// variables unrolled by //#for (see wgsl.ts: SwiftShader keeps arrays in memory).
//  - !TILED (CPU adapters): K/V rows are read straight from storage, reuse across the TQ
//    queries comes from registers; no workgroup memory or barriers.
//  - TILED (GPUs): the workgroup stages a KB x DH block of K and V in workgroup memory.
// VEC4: every view offset/stride and DH are multiples of 4, so rows load as vec4s.

// Bindings (qs, ks, vs: T; os: f32) and Params: declared in src/kernels/attention.ts. Views
// p.q, p.k, p.v are vec4u (offset, row stride, batch stride, unused).
//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif

const DH: u32 = {{DH}};
const DH4: u32 = {{DH4}};   // ceil(DH / 4): rows are held as vec4s, the tail lanes padded
const KB: u32 = {{KB}};
override WG: u32 = 32u;
const NEG_BIG: f32 = -3.0e38;   // finite, so exp(NEG_BIG - m) is 0 and never inf - inf

fn rowBase(v: vec4u, b: u32, r: u32, h: u32) -> u32 { return v.x + b * v.z + r * v.y + h * DH; }

//#if VEC4
fn loadQ(base: u32, c4: u32) -> vec4f { return qs[base / 4u + c4]; }
fn loadK(base: u32, c4: u32) -> vec4f { return ks[base / 4u + c4]; }
fn loadV(base: u32, c4: u32) -> vec4f { return vs[base / 4u + c4]; }
//#else
// Channels 4*c4 .. 4*c4+3 of a row; lanes past DH read the row's last channel (finite, and
// masked or never stored). Pointers to storage cannot be function parameters, hence three.
fn idx4(base: u32, c4: u32) -> vec4u { return min(vec4u(4u * c4) + vec4u(0u, 1u, 2u, 3u), vec4u(DH - 1u)) + vec4u(base); }
fn loadQ(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(qs[i.x], qs[i.y], qs[i.z], qs[i.w]); }
fn loadK(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(ks[i.x], ks[i.y], ks[i.z], ks[i.w]); }
fn loadV(base: u32, c4: u32) -> vec4f { let i = idx4(base, c4); return vec4f(vs[i.x], vs[i.y], vs[i.z], vs[i.w]); }
//#endif

//#if TILED
var<workgroup> kt: array<vec4f, KB * DH4>;
var<workgroup> vt: array<vec4f, KB * DH4>;
//#endif

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let b = wid.z;
  let q0 = (wid.x * WG + li) * {{TQ}}u;
//#if !TILED
  if (q0 >= p.Lq) { return; }
//#endif

  // Queries, pre-scaled; padded lanes are zero so they add nothing to the dot products.
//#for t in 0..TQ
  let qb$t = rowBase(p.q, b, min(q0 + $t, p.Lq - 1u), h);
  var m$t = NEG_BIG;
  var l$t = 0.0;
//#for c in 0..DH4
  var q$t_$c = loadQ(qb$t, $c) * p.scale;
//#if TAIL
  q$t_$c = select(vec4f(0.0), q$t_$c, vec4u(4u * $c) + vec4u(0u, 1u, 2u, 3u) < vec4u(DH));
//#endif
  var o$t_$c = vec4f(0.0);
//#endfor
//#endfor

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
    // Scores of this block.
//#for j in 0..KB
//#if !TILED
    let kb$j = rowBase(p.k, b, min(j0 + $j, p.Lk - 1u), h);
//#endif
//#for t in 0..TQ
    var a$t_$j = vec4f(0.0);
//#endfor
//#for c in 0..DH4
//#if TILED
    let k$j_$c = kt[$j * DH4 + $c];
//#else
    let k$j_$c = loadK(kb$j, $c);
//#endif
//#for t in 0..TQ
    a$t_$j = fma(q$t_$c, k$j_$c, a$t_$j);
//#endfor
//#endfor
//#for t in 0..TQ
    let s$t_$j = select(NEG_BIG, dot(a$t_$j, vec4f(1.0)), j0 + $j < p.Lk);
//#endfor
//#endfor
    // Online softmax update, once per block.
//#for t in 0..TQ
    var mx$t = m$t;
//#for j in 0..KB
    mx$t = max(mx$t, s$t_$j);
//#endfor
    let alpha$t = exp(m$t - mx$t);
    m$t = mx$t;
    var sum$t = 0.0;
//#for j in 0..KB
    let p$t_$j = exp(s$t_$j - mx$t);
    sum$t += p$t_$j;
//#endfor
    l$t = fma(l$t, alpha$t, sum$t);
//#for c in 0..DH4
    o$t_$c *= alpha$t;
//#endfor
//#endfor
    // o += P V for this block.
//#for j in 0..KB
//#if !TILED
    let vb$j = rowBase(p.v, b, min(j0 + $j, p.Lk - 1u), h);
//#endif
//#for c in 0..DH4
//#if TILED
    let v$j_$c = vt[$j * DH4 + $c];
//#else
    let v$j_$c = loadV(vb$j, $c);
//#endif
//#for t in 0..TQ
    o$t_$c = fma(vec4f(p$t_$j), v$j_$c, o$t_$c);
//#endfor
//#endfor
//#endfor
  }

  let D = p.heads * DH;
//#for t in 0..TQ
  if (q0 + $t < p.Lq) {
    let inv = 1.0 / l$t;
    let base = (b * p.Lq + q0 + $t) * D + h * DH;
//#for c in 0..DH4
    {
      let v = o$t_$c * inv;
//#for e in 0..4
      if (4u * $c + $e < DH) { os[base + 4u * $c + $e] = v[$e]; }
//#endfor
    }
//#endfor
  }
//#endfor
}

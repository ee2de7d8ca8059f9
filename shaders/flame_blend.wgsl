// FLAME blend shapes as one batched GEMV: out[b] = base + sum_k coef[b, k] * dirs[k], where dirs
// stacks the transposed shapedirs (K rows) and posedirs (36 rows, zero rows pad to a multiple
// of 4) over the padded V*3 axis, as vec4 columns. Memory-bound on dirs (26 MB in f32):
//  - consecutive invocations read consecutive vec4s of a row (CN adjacent ones each);
//  - coefficients come 4 rows at a time as one vec4, rows unrolled by 4;
//  - each invocation keeps BT batch items in registers, so dirs is read once per BT items;
//  - SPLITK (GPUs): KS invocations per column split the rows and reduce through workgroup
//    memory, so a single item still fills the machine; CPU adapters use KS = 1 and CN = 4.

@group(0) @binding(#) var<storage, read> coef: array<vec4f>;
@group(0) @binding(#) var<storage, read> dirs: array<vec4f>;
@group(0) @binding(#) var<storage, read> base: array<vec4f>;
@group(0) @binding(#) var<storage, read_write> out: array<vec4f>;

// KC4: coefficient rows / 4; N4: vec4 columns.
struct Params { B: u32, KC4: u32, N4: u32 }
@group(0) @binding(#) var<uniform> p: Params;

const BT: u32 = {{BT}};
const CN: u32 = {{CN}};
const KS: u32 = {{KS}};
const WG_N: u32 = {{WG_N}};
//#if SPLITK
var<workgroup> red: array<vec4f, WG_N * KS>;
//#endif

@compute @workgroup_size(WG_N, KS, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = (wid.x * WG_N + lid.x) * CN;
  let b0 = wid.y * BT;
  // Clamped columns and batch items compute values that are never stored.
  var col: array<u32, CN>;
  for (var j = 0u; j < CN; j++) { col[j] = min(n0 + j, p.N4 - 1u); }
  var cOff: array<u32, BT>;
  for (var i = 0u; i < BT; i++) { cOff[i] = min(b0 + i, p.B - 1u) * p.KC4; }
  var acc: array<vec4f, BT * CN>;
  for (var k4 = lid.y; k4 < p.KC4; k4 += KS) {
    var c: array<vec4f, BT>;
    for (var i = 0u; i < BT; i++) { c[i] = coef[cOff[i] + k4]; }
    for (var r = 0u; r < 4u; r++) {
      let row = (4u * k4 + r) * p.N4;
      for (var j = 0u; j < CN; j++) {
        let d = dirs[row + col[j]];
        for (var i = 0u; i < BT; i++) { acc[i * CN + j] += d * c[i][r]; }
      }
    }
  }
//#if SPLITK
  for (var q = 0u; q < BT * CN; q++) {
    red[lid.y * WG_N + lid.x] = acc[q];
    workgroupBarrier();
    if (lid.y == 0u) {
      var s = red[lid.x];
      for (var t = 1u; t < KS; t++) { s += red[t * WG_N + lid.x]; }
      acc[q] = s;
    }
    workgroupBarrier();
  }
  if (lid.y != 0u) { return; }
//#endif
  for (var j = 0u; j < CN; j++) {
    let n = n0 + j;
    if (n >= p.N4) { break; }
    let bv = base[n];
    for (var i = 0u; i < BT; i++) {
      if (b0 + i < p.B) { out[(b0 + i) * p.N4 + n] = bv + acc[i * CN + j]; }
    }
  }
}

// FLAME blend shapes as one batched GEMV: out[b] = base + sum_k coef[b, k] * dirs[k], where dirs
// stacks the transposed shapedirs (K rows) and posedirs (36 rows) over the padded V*3 axis,
// as vec4 columns. Memory-bound on dirs (26 MB in f32): consecutive invocations read
// consecutive vec4s of a row, each invocation keeps BT batch items in registers so dirs is
// read once per BT items. SPLITK (GPUs): KS invocations per column split the rows and reduce
// through workgroup memory, so a single item still fills the machine; CPU adapters use KS = 1.

@group(0) @binding(#) var<storage, read> coef: array<f32>;
@group(0) @binding(#) var<storage, read> dirs: array<vec4f>;
@group(0) @binding(#) var<storage, read> base: array<vec4f>;
@group(0) @binding(#) var<storage, read_write> out: array<vec4f>;

struct Params { B: u32, KC: u32, N4: u32 }
@group(0) @binding(#) var<uniform> p: Params;

const BT: u32 = {{BT}};
const KS: u32 = {{KS}};
const WG_N: u32 = {{WG_N}};
//#if SPLITK
var<workgroup> red: array<vec4f, WG_N * KS>;
//#endif

@compute @workgroup_size(WG_N, KS, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = wid.x * WG_N + lid.x;
  let nc = min(n, p.N4 - 1u); // clamped lanes compute values that are never stored
  let b0 = wid.y * BT;
  var cOff: array<u32, BT>;
  for (var i = 0u; i < BT; i++) { cOff[i] = min(b0 + i, p.B - 1u) * p.KC; }
  var acc: array<vec4f, BT>;
  for (var k = lid.y; k < p.KC; k += KS) {
    let d = dirs[k * p.N4 + nc];
    for (var i = 0u; i < BT; i++) { acc[i] += d * coef[cOff[i] + k]; }
  }
//#if SPLITK
  for (var i = 0u; i < BT; i++) {
    red[lid.y * WG_N + lid.x] = acc[i];
    workgroupBarrier();
    if (lid.y == 0u) {
      var s = red[lid.x];
      for (var q = 1u; q < KS; q++) { s += red[q * WG_N + lid.x]; }
      acc[i] = s;
    }
    workgroupBarrier();
  }
  if (lid.y != 0u) { return; }
//#endif
  if (n >= p.N4) { return; }
  let bv = base[n];
  for (var i = 0u; i < BT; i++) {
    if (b0 + i < p.B) { out[(b0 + i) * p.N4 + n] = bv + acc[i]; }
  }
}

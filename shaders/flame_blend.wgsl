// FLAME blend shapes as one batched GEMV: out[b] = base + sum_k coef[b, k] * dirs[k], where dirs
// stacks the transposed shapedirs (K rows) and posedirs (36 rows, zero rows pad to a multiple
// of 4) over the padded V*3 axis, as vec4 columns. Memory-bound on dirs (26 MB in f32):
//  - consecutive invocations read consecutive vec4s of a row (CN adjacent ones each);
//  - coefficients come 4 rows at a time as one vec4, rows unrolled by 4;
//  - each invocation keeps BT batch items in registers, so dirs is read once per BT items;
//  - SPLITK (GPUs): KS invocations per column split the rows and reduce through workgroup
//    memory, so a single item still fills the machine; CPU adapters use KS = 1.
// Register tiles are named scalars unrolled by //#for (SwiftShader's JIT keeps arrays in memory).

// Bindings (all vec4f) and Params: declared in src/kernels/flame_lbs.ts. KC4: coefficient
// rows / 4; N4: vec4 columns.

const KS: u32 = {{KS}};
const WG_N: u32 = {{WG_N}};
//#if SPLITK
var<workgroup> red: array<vec4f, WG_N * KS>;

fn reduce(lid: vec3u, v: vec4f) -> vec4f {
  red[lid.y * WG_N + lid.x] = v;
  workgroupBarrier();
  var s = red[lid.x];
  for (var t = 1u; t < KS; t++) { s += red[t * WG_N + lid.x]; }
  workgroupBarrier();
  return s;
}
//#endif

fn store(n: u32, b: u32, v: vec4f) {
  if (n < p.N4 && b < p.B) { out[b * p.N4 + n] = base[n] + v; }
}

@compute @workgroup_size(WG_N, KS, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = (wid.x * WG_N + lid.x) * {{CN}}u;
  let b0 = wid.y * {{BT}}u;
  // Clamped columns and batch items compute values that are never stored.
//#for j in 0..CN
  let col$j = min(n0 + $j, p.N4 - 1u);
//#endfor
//#for i in 0..BT
  let cOff$i = min(b0 + $i, p.B - 1u) * p.KC4;
//#endfor
//#for i in 0..BT
//#for j in 0..CN
  var acc$i_$j = vec4f(0.0);
//#endfor
//#endfor
  for (var k4 = lid.y; k4 < p.KC4; k4 += KS) {
//#for i in 0..BT
    let c$i = coef[cOff$i + k4];
//#endfor
    let row = 4u * k4 * p.N4;
//#for j in 0..CN
    let d$j_0 = dirs[row + col$j];
    let d$j_1 = dirs[row + p.N4 + col$j];
    let d$j_2 = dirs[row + 2u * p.N4 + col$j];
    let d$j_3 = dirs[row + 3u * p.N4 + col$j];
//#endfor
//#for i in 0..BT
//#for j in 0..CN
    acc$i_$j += d$j_0 * c$i.x + d$j_1 * c$i.y + d$j_2 * c$i.z + d$j_3 * c$i.w;
//#endfor
//#endfor
  }
//#if SPLITK
//#for i in 0..BT
//#for j in 0..CN
  acc$i_$j = reduce(lid, acc$i_$j);
//#endfor
//#endfor
  if (lid.y != 0u) { return; }
//#endif
//#for i in 0..BT
//#for j in 0..CN
  store(n0 + $j, b0 + $i, acc$i_$j);
//#endfor
//#endfor
}

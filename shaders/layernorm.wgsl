// Row LayerNorm with fused residual: y = LN(x + r) * gamma + beta, eps from the uniforms.
// Two passes over the row (mean, then the mean of squared deviations), both on values shifted
// by the row's first element K: x - K is exact for clustered values, so a row with a large mean
// (|mean| >> spread) keeps its deviations exact; the mean itself is never rounded to f32
// (it is K + ms with ms small), and there is no E[x^2] - E[x]^2 cancellation.
// Optional output (with ADDEND): y2 = y + addend[row % addRows] (the next `tgt + query_pos`, for free).
// Schedules (src/kernels/layernorm.ts):
//  - main_rows (CPU adapters): one invocation per row, no workgroup memory or barriers.
//    VEC4 (d % 4 == 0): the row is read as vec4s (4x fewer per-lane gathers on SwiftShader).
//  - main_wg (GPUs): one workgroup per row, tree reductions in workgroup memory.

//#if VEC4
alias T = vec4f;
//#else
alias T = f32;
//#endif
// Bindings (x, residual?, gamma, beta, addend? -> y, y2?: all T) and Params: declared in
// src/kernels/layernorm.ts; p.d counts elements of T.

override WG: u32 = 64u;

fn val(i: u32) -> T {
//#if RESIDUAL
  return x[i] + residual[i];
//#else
  return x[i];
//#endif
}

fn emit(row: u32, c: u32, K: f32, ms: f32, rstd: f32) {
  let i = row * p.d + c;
  let v = ((val(i) - T(K)) - T(ms)) * rstd * gamma[c] + beta[c];
  y[i] = v;
//#if ADDEND
  y2[i] = v + addend[(row % p.addRows) * p.d + c];
//#endif
}

@compute @workgroup_size(WG, 1, 1)
fn main_rows(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x;
  if (row >= p.rows) { return; }
  let base = row * p.d;
//#if VEC4
  let K = val(base).x;
  let n = f32(4u * p.d);
//#else
  let K = val(base);
  let n = f32(p.d);
//#endif
  var s = T(0.0);
  for (var c = 0u; c < p.d; c++) { s += val(base + c) - T(K); }
//#if VEC4
  let ms = dot(s, vec4f(1.0)) / n;
//#else
  let ms = s / n;
//#endif
  var q = T(0.0);
  for (var c = 0u; c < p.d; c++) { let t = (val(base + c) - T(K)) - T(ms); q = fma(t, t, q); }
//#if VEC4
  let rstd = inverseSqrt(dot(q, vec4f(1.0)) / n + p.eps);
//#else
  let rstd = inverseSqrt(q / n + p.eps);
//#endif
  for (var c = 0u; c < p.d; c++) { emit(row, c, K, ms, rstd); }
}

//#if !VEC4

var<workgroup> red: array<f32, WG>;

fn reduce(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();   // red is reused by the next reduction
  return total;
}

@compute @workgroup_size(WG, 1, 1)
fn main_wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;   // uniform per workgroup: rows past the end skip together
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let K = val(base);
  var s = 0.0;
  for (var c = li; c < p.d; c += WG) { s += val(base + c) - K; }
  let ms = reduce(li, s) / f32(p.d);
  var q = 0.0;
  for (var c = li; c < p.d; c += WG) { let t = (val(base + c) - K) - ms; q = fma(t, t, q); }
  let rstd = inverseSqrt(reduce(li, q) / f32(p.d) + p.eps);
  for (var c = li; c < p.d; c += WG) { emit(row, c, K, ms, rstd); }
}
//#endif

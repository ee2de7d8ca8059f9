// Parts shared by the NHWC kernels that run one invocation per output element (depthwise_conv,
// maxpool, depth_to_space, resize_bilinear). A kernel pulls a part in with `//#include nhwc.<part>`
// (src/kernels/kernel.ts). The including kernel declares uniforms total (output elements),
// C, OH, OW (output channels, in units of its element type, and size) and pitch (invocations per
// row of the 2D grid, src/kernels/wgsl.ts grid1d).

// Part entry opens the entry point main (the including file writes its body and the closing
// brace): invocation i owns output element i of [N, OH, OW, C], at batch n, row oy, column ox,
// channel c. (Comments stay outside the part: the kernels' generated WGSL is what it was before
// the part was shared.)
//#part entry
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.pitch;
  if (i >= p.total) { return; }
  let c = i % p.C;
  let t = i / p.C;
  let ox = t % p.OW;
  let t2 = t / p.OW;
  let oy = t2 % p.OH;
  let n = t2 / p.OH;
//#endpart

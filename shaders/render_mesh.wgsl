// Overlay render pass: the photo, the projected FLAME mesh, the 68 landmarks and the pose axes.
// The mesh, landmarks and rotation are read straight from the inference graph's output buffers
// (crop pixels), so nothing is read back to draw them. Crop pixels map to image pixels as
// (p - pad) / k + box.xy (SPEC section 1), image pixels to clip space with the image size.

struct View {
  image: vec2f,        // image width, height in pixels
  pad: vec2f,          // padLeft, padTop (crop pixels)
  box_xy: vec2f,       // head box origin (image pixels)
  inv_k: f32,          // 1 / k
  z_scale: f32,        // model units -> image pixels along z, for shading normals
  point_radius: f32,   // landmark radius, image pixels
  axis_len: f32,       // pose axis length, image pixels
  axis_width: f32,     // image pixels
  n_landmarks: u32,
  mesh_base: u32,      // first float of this batch item in `projected`
  vert_base: u32,      // ... in `vertices`
  lmk_base: u32,       // ... in `landmarks`
  rot_base: u32,       // ... in `rotation`
  mesh_color: vec4f,
  lmk_color: vec4f,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var photo: texture_2d<f32>;
@group(0) @binding(2) var photo_sampler: sampler;
@group(1) @binding(0) var<storage, read> projected: array<f32>;   // (B, V, 2) crop pixels
@group(1) @binding(1) var<storage, read> vertices: array<f32>;    // (B, V, 3) model units
@group(1) @binding(2) var<storage, read> landmarks: array<f32>;   // (B, 68, 2) crop pixels
@group(1) @binding(3) var<storage, read> rotation: array<f32>;    // (B, 3, 3) row-major

fn crop_to_image(p: vec2f) -> vec2f { return (p - view.pad) * view.inv_k + view.box_xy; }
fn image_to_clip(p: vec2f) -> vec2f { return vec2f(p.x / view.image.x * 2.0 - 1.0, 1.0 - p.y / view.image.y * 2.0); }
// Any finite value outside the image keeps a NaN/Inf from untrained weights off the screen.
fn safe(p: vec2f) -> vec2f { return select(vec2f(-1e4), p, all(abs(p) < vec2f(1e6))); }

// ---- photo: one full-screen triangle
struct PhotoOut { @builtin(position) pos: vec4f, @location(0) uv: vec2f }

@vertex fn vs_photo(@builtin(vertex_index) i: u32) -> PhotoOut {
  let xy = vec2f(f32((i << 1u) & 2u), f32(i & 2u));   // (0,0) (2,0) (0,2)
  return PhotoOut(vec4f(xy * 2.0 - 1.0, 0.0, 1.0), vec2f(xy.x, 1.0 - xy.y));
}

@fragment fn fs_photo(in: PhotoOut) -> @location(0) vec4f {
  return vec4f(textureSample(photo, photo_sampler, in.uv).rgb, 1.0);
}

// ---- mesh: indexed triangles; vertex_index is the FLAME vertex (the index buffer holds faces)
// @invariant: the depth pre-pass and the colour pass must compute the same depths.
struct MeshOut { @invariant @builtin(position) pos: vec4f, @location(0) p3: vec3f }

@vertex fn vs_mesh(@builtin(vertex_index) v: u32) -> MeshOut {
  let p = safe(crop_to_image(vec2f(projected[view.mesh_base + 2u * v], projected[view.mesh_base + 2u * v + 1u])));
  // Image y is down and the rotated FLAME faces -z, so smaller z is nearer the viewer.
  let z = vertices[view.vert_base + 3u * v + 2u];
  let depth = clamp(0.5 + 0.5 * z, 0.0, 1.0);
  return MeshOut(vec4f(image_to_clip(p), depth, 1.0), vec3f(p, z * view.z_scale));
}

@fragment fn fs_mesh(in: MeshOut) -> @location(0) vec4f {
  // Flat shading from screen-space derivatives: no normal buffer needed.
  var n = normalize(cross(dpdx(in.p3), dpdy(in.p3)));
  if (n.z > 0.0) { n = -n; }
  let light = normalize(vec3f(-0.3, -0.4, -1.0));
  let shade = 0.35 + 0.65 * max(dot(n, light), 0.0);
  return vec4f(view.mesh_color.rgb * shade, view.mesh_color.a);
}

// ---- landmarks: one quad (two triangles) per point, cut to a disc in the fragment shader
struct PointOut { @builtin(position) pos: vec4f, @location(0) local: vec2f }

const QUAD = array<vec2f, 6>(vec2f(-1, -1), vec2f(1, -1), vec2f(1, 1), vec2f(-1, -1), vec2f(1, 1), vec2f(-1, 1));

@vertex fn vs_points(@builtin(vertex_index) i: u32, @builtin(instance_index) l: u32) -> PointOut {
  let c = safe(crop_to_image(vec2f(landmarks[view.lmk_base + 2u * l], landmarks[view.lmk_base + 2u * l + 1u])));
  let q = QUAD[i];
  return PointOut(vec4f(image_to_clip(c + q * view.point_radius), 0.0, 1.0), q);
}

@fragment fn fs_points(in: PointOut) -> @location(0) vec4f {
  let r = length(in.local);
  if (r > 1.0) { discard; }
  // A dark rim keeps the dots visible on light skin.
  return select(view.lmk_color, vec4f(0.0, 0.0, 0.0, 1.0), r > 0.7);
}

// ---- pose axes: the rotation's columns (x red, y green, z blue) from the landmarks' centroid
struct AxisOut { @builtin(position) pos: vec4f, @location(0) color: vec4f }

@vertex fn vs_axes(@builtin(vertex_index) i: u32, @builtin(instance_index) k: u32) -> AxisOut {
  var c = vec2f(0.0);
  for (var l = 0u; l < view.n_landmarks; l++) {
    c += vec2f(landmarks[view.lmk_base + 2u * l], landmarks[view.lmk_base + 2u * l + 1u]);
  }
  let p0 = safe(crop_to_image(c / f32(view.n_landmarks)));
  let dir = vec2f(rotation[view.rot_base + k], rotation[view.rot_base + 3u + k]);
  let p1 = safe(p0 + dir * view.axis_len);
  let along = select(vec2f(1.0, 0.0), normalize(p1 - p0), length(p1 - p0) > 1e-3);
  let across = vec2f(-along.y, along.x) * (0.5 * view.axis_width);
  let q = QUAD[i];
  let p = select(p0, p1, q.x > 0.0) + across * q.y;
  var color = vec4f(0.0, 0.0, 0.0, 1.0);
  color[k] = 1.0;
  return AxisOut(vec4f(image_to_clip(p), 0.0, 1.0), color);
}

@fragment fn fs_axes(in: AxisOut) -> @location(0) vec4f { return in.color; }

// The CLI's JSON form of a result (issue: exactly these keys), image-space coordinates.
import type { HeadResult } from './trans3dhead.ts';

const pairs = (a: Float32Array, n: number) => Array.from({ length: a.length / n }, (_, i) => Array.from(a.subarray(i * n, i * n + n)));

export function resultToJSON(r: HeadResult, adapter: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    landmarks: pairs(r.landmarks, 2),
    params: Array.from(r.params),
    rotation: pairs(r.rotation, 3),
    translation: Array.from(r.translation),
    scale: r.scale,
    pose: { pitch: r.pose.pitch, yaw: r.pose.yaw, roll: r.pose.roll },
    vertices: pairs(r.vertices, 3),
    projectedVertices: pairs(r.projectedVertices, 2),
  };
  if (r.landmarks3d) out.landmarks3d = pairs(r.landmarks3d, 3);
  if (r.face) {
    // Detected heads: where the crop came from (head box) and the detection itself.
    out.headBox = { ...r.crop.box };
    out.face = { box: { ...r.face.box }, keypoints: pairs(r.face.keypoints, 2), score: r.face.score };
  }
  if (r.trackId !== undefined) out.trackId = r.trackId;
  out.adapter = adapter;
  out.timeMs = r.timeMs;
  return out;
}

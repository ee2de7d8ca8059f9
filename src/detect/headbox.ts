// From a face (a BlazeFace detection, or the previous frame's 68 landmarks) to the head crop
// Trans3DHead expects. DAD-3DHeads (which the network is trained on) crops each head from its
// annotated HEAD box (the whole head: skull, hair, ears, chin), widened by 5-15 % per side at
// random (10 % on average), clamped to the image, axis-aligned, any aspect; the crop is then
// resized (longest side 256) and padded. A face detector's box is smaller (brows/forehead to chin)
// and sits low on the head, so we model the head as an ellipse in the face's own frame and take
// what an annotator's box of that head would be. See README "Head boxes" for the rule and why.
import type { Box } from '../kernels/preprocess.ts';
import type { Face } from './types.ts';

/**
 * The rule's constants (fractions of the face size s, the BlazeFace box side), named so the
 * README and tests can cite them. Estimated from face proportions and checked on the sample photo
 * (test/fixtures/astronaut-head.png: BlazeFace's box runs from the hairline to 0.2 s below the
 * chin, the eyes 0.28 s below its top, the hair 0.57 s above it); not fitted on DAD-3DHeads.
 */
export const HEAD_RULE = {
  /** Head ellipse width / face size: the face plus ears and hair at the sides. */
  width: 1.4,
  /** Head ellipse height / face size: chin (and a little neck) to the top of the hair. */
  height: 1.5,
  /** Head centre above the face box centre, along the face's up axis / face size. */
  up: 0.3,
  /** DAD-3DHeads' mean margin per side (its offsets are uniform in 0.05..0.15). */
  margin: 0.1,
  /**
   * Face size / eye-to-mouth distance (eyes' midpoint to the mouth keypoint) on an upright face.
   * BlazeFace's box shrinks when the face rolls (sample photo: 104 px upright, 95 at 20 degrees,
   * 81 at 45, 95 at 90) while that distance stays (43-46 px): the size is the larger of the box
   * side and this times the distance.
   */
  eyeMouth: 2.25,
  /** The 68 landmarks' extent in the face frame / face size (jaw to jaw; brows to chin). */
  landmarksWidth: 0.9,
  landmarksHeight: 0.65,
} as const;

/** A face as the rule sees it: centre, size and roll (radians, image y down; 0 = upright). */
export interface FaceFrame { cx: number; cy: number; size: number; roll: number }

/** Roll of the eye line: 0 upright, positive when the head leans to the image's clockwise side. */
export function rollFromEyes(rightEye: [number, number], leftEye: [number, number]): number {
  // The subject's right eye is on the image's left in an upright frontal face.
  const dx = leftEye[0] - rightEye[0], dy = leftEye[1] - rightEye[1];
  return dx === 0 && dy === 0 ? 0 : Math.atan2(dy, dx);
}

/** The frame of a detection: box centre; size from the box and the eye-to-mouth distance; roll from the eyes. */
export function faceFrame(face: Face): FaceFrame {
  const k = face.keypoints;
  const roll = k.length >= 4 ? rollFromEyes([k[0], k[1]], [k[2], k[3]]) : 0;
  const { x, y, width, height } = face.box;
  let size = Math.max(width, height);
  if (k.length >= 8) {
    const em = Math.hypot((k[0] + k[2]) / 2 - k[6], (k[1] + k[3]) / 2 - k[7]);
    if (Number.isFinite(em)) size = Math.max(size, HEAD_RULE.eyeMouth * em);
  }
  return { cx: x + width / 2, cy: y + height / 2, size, roll };
}

/**
 * The frame of 68 landmarks (iBUG order: eyes 36-41 and 42-47 give the roll). Their extent in
 * the face's frame spans jaw to jaw (0.9 s) and brows to chin (0.65 s), centred about where the
 * BlazeFace box is: the face size is the larger of the two estimates (a turned head narrows the
 * jaw span, not the height), the centre the extent's centre.
 */
export function landmarkFrame(lm: ArrayLike<number>): FaceFrame | null {
  if (lm.length < 136) return null;
  const mean = (a: number, b: number): [number, number] => {
    let sx = 0, sy = 0;
    for (let i = a; i < b; i++) { sx += lm[2 * i]; sy += lm[2 * i + 1]; }
    return [sx / (b - a), sy / (b - a)];
  };
  // iBUG 36-41 is the eye on the image's left of a frontal face: the subject's right eye.
  const roll = rollFromEyes(mean(36, 42), mean(42, 48));
  const c = Math.cos(roll), s = Math.sin(roll);
  let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (let i = 0; i < 68; i++) {
    const x = lm[2 * i], y = lm[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
    const u = c * x + s * y, v = -s * x + c * y; // into the face frame
    u0 = Math.min(u0, u); u1 = Math.max(u1, u); v0 = Math.min(v0, v); v1 = Math.max(v1, v);
  }
  const mu = (u0 + u1) / 2, mv = (v0 + v1) / 2;
  const size = Math.max((u1 - u0) / HEAD_RULE.landmarksWidth, (v1 - v0) / HEAD_RULE.landmarksHeight);
  return { cx: c * mu - s * mv, cy: s * mu + c * mv, size, roll };
}

/**
 * The head box of a face frame, unclamped (floating point): the axis-aligned box of the rotated
 * head ellipse, widened by DAD-3DHeads' mean margin. Our crop is axis-aligned, as DAD-3DHeads'
 * training crops were (an annotator's box of a rolled head in the photo), so we do not de-rotate:
 * the box grows to cover the rolled head, and the network sees the roll it was trained to report.
 */
export function headBoxOfFrame(f: FaceFrame): Box {
  const { width, height, up, margin } = HEAD_RULE;
  const c = Math.cos(f.roll), s = Math.sin(f.roll);
  // The face's up axis in image coordinates (y down): (sin roll, -cos roll).
  const cx = f.cx + s * up * f.size, cy = f.cy - c * up * f.size;
  const a = (width * f.size) / 2, b = (height * f.size) / 2;
  // Half extents of an ellipse with half axes a (along the eye line) and b, rotated by roll.
  const hx = Math.hypot(a * c, b * s) * (1 + 2 * margin), hy = Math.hypot(a * s, b * c) * (1 + 2 * margin);
  return { x: cx - hx, y: cy - hy, width: 2 * hx, height: 2 * hy };
}

/**
 * Clamps a box to the image in whole pixels, as DAD-3DHeads' ensure_bbox_boundaries does (a head
 * cut by the border is cropped to what the image shows, not padded with zeros). Null when
 * nothing of it, or less than 2 px a side, lies inside.
 */
export function clampBox(b: Box, width: number, height: number): Box | null {
  const x0 = Math.max(0, Math.floor(b.x)), y0 = Math.max(0, Math.floor(b.y));
  const x1 = Math.min(width, Math.ceil(b.x + b.width)), y1 = Math.min(height, Math.ceil(b.y + b.height));
  if (!(x1 - x0 >= 2 && y1 - y0 >= 2)) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The head box of a detection on a width x height image (null when it lies outside). */
export function headBox(face: Face, width: number, height: number): Box | null {
  return clampBox(headBoxOfFrame(faceFrame(face)), width, height);
}

/** The head box from the previous frame's 68 landmarks (tracking), or null when they are unusable. */
export function headBoxFromLandmarks(lm: ArrayLike<number>, width: number, height: number): Box | null {
  const f = landmarkFrame(lm);
  return f ? clampBox(headBoxOfFrame(f), width, height) : null;
}

// BlazeFace post-processing as MediaPipe defines it (modules/face_detection/face_detection.pbtxt
// with the short/full range options): SSD anchors (SsdAnchorsCalculator), box, keypoint and score
// decoding (TensorsToDetectionsCalculator), weighted non-maximum suppression
// (NonMaxSuppressionCalculator, WEIGHTED, IoU > 0.3) and the letterbox undone
// (DetectionProjectionCalculator with ImageToTensor's keep_aspect_ratio matrix).
// Our own code, written from those calculators' documented behaviour; the order of every step is
// MediaPipe's, so that the same raw tensors give the same faces.
import type { Box } from '../kernels/preprocess.ts';
import { letterbox } from './letterbox.ts';
import type { Face } from './types.ts';

export type FaceModel = 'short' | 'full';

/** The SsdAnchorsCalculator options these models use (others keep the proto defaults). */
export interface SsdAnchorOptions {
  inputSize: number;
  minScale: number;
  maxScale: number;
  anchorOffset: number;
  strides: number[];
  aspectRatios: number[];
  /** > 0 adds one anchor per location at sqrt(scale * nextScale) with this aspect ratio. */
  interpolatedScaleAspectRatio: number;
  /** Anchor width and height are 1 (the regressors carry the size). */
  fixedAnchorSize: boolean;
}

export interface BlazeFaceSpec {
  inputSize: number;
  numBoxes: number;
  anchors: SsdAnchorOptions;
  /** x/y/w/h_scale: the regressors are in tensor pixels. */
  coordScale: number;
  /** The graph's min_score_thresh (MediaPipe's own default for this model). */
  minScore: number;
  scoreClipping: number;
  nmsThreshold: number;
}

const COMMON = { minScale: 0.1484375, maxScale: 0.75, anchorOffset: 0.5, aspectRatios: [1], fixedAnchorSize: true };

/** face_detection_short_range.pbtxt and face_detection_full_range.pbtxt. */
export const BLAZEFACE: Record<FaceModel, BlazeFaceSpec> = {
  short: {
    inputSize: 128, numBoxes: 896, coordScale: 128, minScore: 0.5, scoreClipping: 100, nmsThreshold: 0.3,
    anchors: { ...COMMON, inputSize: 128, strides: [8, 16, 16, 16], interpolatedScaleAspectRatio: 1 },
  },
  full: {
    inputSize: 192, numBoxes: 2304, coordScale: 192, minScore: 0.6, scoreClipping: 100, nmsThreshold: 0.3,
    anchors: { ...COMMON, inputSize: 192, strides: [4], interpolatedScaleAspectRatio: 0 },
  },
};

export const NUM_COORDS = 16;
export const NUM_KEYPOINTS = 6;

function layerScale(min: number, max: number, index: number, count: number): number {
  return count === 1 ? (min + max) / 2 : min + (max - min) * index / (count - 1);
}

/**
 * SSD anchors, 4 floats each (xCenter, yCenter, w, h) relative to the input tensor. Layers with
 * the same stride share one feature map, their anchors interleaved per location (MediaPipe's
 * order, which the model's outputs follow).
 */
export function ssdAnchors(o: SsdAnchorOptions): Float32Array {
  const out: number[] = [];
  const n = o.strides.length;
  let layer = 0;
  while (layer < n) {
    const widths: number[] = [];
    const heights: number[] = [];
    let last = layer;
    for (; last < n && o.strides[last] === o.strides[layer]; last++) {
      const scale = layerScale(o.minScale, o.maxScale, last, n);
      const pairs: [number, number][] = o.aspectRatios.map((r) => [r, scale]);
      if (o.interpolatedScaleAspectRatio > 0) {
        const next = last === n - 1 ? 1 : layerScale(o.minScale, o.maxScale, last + 1, n);
        pairs.push([o.interpolatedScaleAspectRatio, Math.sqrt(scale * next)]);
      }
      for (const [ratio, s] of pairs) {
        heights.push(s / Math.sqrt(ratio));
        widths.push(s * Math.sqrt(ratio));
      }
    }
    const fm = Math.ceil(o.inputSize / o.strides[layer]);
    for (let y = 0; y < fm; y++) {
      for (let x = 0; x < fm; x++) {
        for (let a = 0; a < widths.length; a++) {
          out.push((x + o.anchorOffset) / fm, (y + o.anchorOffset) / fm,
            o.fixedAnchorSize ? 1 : widths[a], o.fixedAnchorSize ? 1 : heights[a]);
        }
      }
    }
    layer = last;
  }
  return new Float32Array(out);
}

const anchorCache = new Map<FaceModel, Float32Array>();
export function anchorsFor(model: FaceModel): Float32Array {
  let a = anchorCache.get(model);
  if (!a) { a = ssdAnchors(BLAZEFACE[model].anchors); anchorCache.set(model, a); }
  return a;
}

/** A detection relative to the input tensor (0..1), as MediaPipe's Detection before projection. */
export interface RelativeDetection {
  xmin: number; ymin: number; width: number; height: number;
  /** 6 x (x, y), relative. */
  keypoints: Float32Array;
  score: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * TensorsToDetections with reverse_output_order (x, y, w, h), no exponential on sizes, sigmoid of
 * the clipped logit; keeps score >= minScore and drops boxes with negative or NaN size, in anchor
 * order.
 */
export function decodeDetections(regressors: Float32Array, logits: Float32Array, model: FaceModel, minScore: number): RelativeDetection[] {
  const spec = BLAZEFACE[model];
  const anchors = anchorsFor(model);
  const s = spec.coordScale;
  const out: RelativeDetection[] = [];
  for (let i = 0; i < spec.numBoxes; i++) {
    const clip = spec.scoreClipping;
    const score = sigmoid(Math.min(clip, Math.max(-clip, logits[i])));
    if (!(score >= minScore)) continue;
    const r = i * NUM_COORDS;
    const ax = anchors[i * 4], ay = anchors[i * 4 + 1], aw = anchors[i * 4 + 2], ah = anchors[i * 4 + 3];
    const cx = regressors[r] / s * aw + ax;
    const cy = regressors[r + 1] / s * ah + ay;
    const w = regressors[r + 2] / s * aw;
    const h = regressors[r + 3] / s * ah;
    const xmin = cx - w / 2, ymin = cy - h / 2;
    const width = (cx + w / 2) - xmin, height = (cy + h / 2) - ymin;
    if (!(width >= 0) || !(height >= 0)) continue;
    const keypoints = new Float32Array(NUM_KEYPOINTS * 2);
    for (let k = 0; k < NUM_KEYPOINTS; k++) {
      keypoints[2 * k] = regressors[r + 4 + 2 * k] / s * aw + ax;
      keypoints[2 * k + 1] = regressors[r + 5 + 2 * k] / s * ah + ay;
    }
    out.push({ xmin, ymin, width, height, keypoints, score });
  }
  return out;
}

/** Intersection over union of two relative boxes; 0 when they do not overlap or the union is empty. */
export function iou(a: RelativeDetection, b: RelativeDetection): number {
  const ix = Math.min(a.xmin + a.width, b.xmin + b.width) - Math.max(a.xmin, b.xmin);
  const iy = Math.min(a.ymin + a.height, b.ymin + b.height) - Math.max(a.ymin, b.ymin);
  if (ix < 0 || iy < 0) return 0;
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * MediaPipe's WEIGHTED non-maximum suppression: take the best remaining detection, gather every
 * remaining detection with IoU > threshold (itself included), and output the score-weighted mean
 * of their box corners and keypoints with the best one's score. Stops when a round removes
 * nothing (a zero-area best box). Sorted by score, highest first, ties in input order.
 */
export function weightedNms(dets: RelativeDetection[], threshold: number): RelativeDetection[] {
  let remaining = dets.map((d, i) => i).sort((i, j) => dets[j].score - dets[i].score || i - j);
  const out: RelativeDetection[] = [];
  while (remaining.length > 0) {
    const best = dets[remaining[0]];
    const candidates: number[] = [];
    const rest: number[] = [];
    for (const i of remaining) (iou(dets[i], best) > threshold ? candidates : rest).push(i);
    if (candidates.length === 0) {
      out.push(best);
    } else {
      let total = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
      const kp = new Float64Array(best.keypoints.length);
      for (const i of candidates) {
        const d = dets[i];
        const w = d.score;
        total += w;
        x0 += d.xmin * w; y0 += d.ymin * w;
        x1 += (d.xmin + d.width) * w; y1 += (d.ymin + d.height) * w;
        for (let k = 0; k < kp.length; k++) kp[k] += d.keypoints[k] * w;
      }
      const xmin = x0 / total, ymin = y0 / total;
      out.push({
        xmin, ymin, width: x1 / total - xmin, height: y1 / total - ymin,
        keypoints: Float32Array.from(kp, (v) => v / total), score: best.score,
      });
    }
    if (rest.length === remaining.length) break;
    remaining = rest;
  }
  return out;
}

/** Undoes the letterbox: tensor-relative coordinates to image pixels. */
export function toImage(d: RelativeDetection, model: FaceModel, imageWidth: number, imageHeight: number): Face {
  const size = BLAZEFACE[model].inputSize;
  const lb = letterbox(imageWidth, imageHeight, size);
  const px = (u: number) => (u * size - lb.padX) / lb.scale;
  const py = (v: number) => (v * size - lb.padY) / lb.scale;
  const box: Box = { x: px(d.xmin), y: py(d.ymin), width: d.width * size / lb.scale, height: d.height * size / lb.scale };
  const keypoints = new Float32Array(d.keypoints.length);
  for (let k = 0; k < keypoints.length; k += 2) {
    keypoints[k] = px(d.keypoints[k]);
    keypoints[k + 1] = py(d.keypoints[k + 1]);
  }
  return { box, keypoints, score: d.score };
}

export interface DecodeOptions {
  model: FaceModel;
  imageWidth: number;
  imageHeight: number;
  /** Keep detections scoring at least this (0..1); default the model's graph value (0.5 short, 0.6 full). */
  minScore?: number;
}

/**
 * The detector's raw outputs (regressors [N, 16], score logits [N], N = 896 short / 2304 full) to
 * faces in image pixels, highest score first. No face is an empty list.
 */
export function decodeFaces(raw: { regressors: Float32Array; scores: Float32Array }, opts: DecodeOptions): Face[] {
  const spec = BLAZEFACE[opts.model];
  if (!spec) throw new Error(`unknown face detector model ${JSON.stringify(opts.model)}: use 'short' or 'full'`);
  const n = spec.numBoxes;
  if (raw.regressors.length !== n * NUM_COORDS || raw.scores.length !== n) {
    throw new Error(`BlazeFace ${opts.model} range outputs have ${raw.regressors.length} regressor and ${raw.scores.length} score values; ` +
      `expected ${n * NUM_COORDS} and ${n} (${n} anchors): is the detector file the ${opts.model} range model?`);
  }
  const minScore = opts.minScore ?? spec.minScore;
  if (!(minScore >= 0 && minScore <= 1)) throw new Error(`minScore must be in 0..1, got ${opts.minScore}`);
  const dets = weightedNms(decodeDetections(raw.regressors, raw.scores, opts.model, minScore), spec.nmsThreshold);
  return dets.map((d) => toImage(d, opts.model, opts.imageWidth, opts.imageHeight));
}

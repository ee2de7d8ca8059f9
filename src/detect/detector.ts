// MediaPipe BlazeFace (short range 128x128, full range 192x192) on our engine: the .tflite read
// and checked once (tflite.ts, tflite-graph.ts), one compiled graph per image size (letterbox +
// [-1, 1] normalisation on the GPU, the model, raw outputs read back), then MediaPipe's
// post-processing (postprocess.ts). Per frame only the pixels are uploaded.
import { GraphCache } from '../graph/cache.ts';
import { CompiledGraph, WeightCache } from '../graph/compile.ts';
import { Graph, type HostData, type Tuning } from '../graph/graph.ts';
import { tuningFor, type ScheduleChoice } from '../graph/tuning.ts';
import { fail } from '../io/errors.ts';
import { letterboxImage } from '../kernels/letterbox.ts';
import { wordsPerImage } from '../kernels/preprocess.ts';
import { InputError, isRawImage, toPixels, type Pixels } from '../model/image.ts';
import type { AdapterChoice, BytesSource, GpuContext, Platform, RawImage } from '../platform/types.ts';
import { loadModelFile } from '../platform/load-file.ts';
import { letterbox, type Letterbox } from './letterbox.ts';
import { BLAZEFACE, decodeFaces, type FaceModel } from './postprocess.ts';
import { readTflite } from './tflite.ts';
import { buildTflite, packTflite, type PackedTflite } from './tflite-graph.ts';
import type { Face, FaceDetector } from './types.ts';

/** The files in @mediapipe/face_detection, by model. */
export const MODEL_FILES: Record<FaceModel, string> = {
  short: 'face_detection_short_range.tflite',
  // MediaPipe's own solution runs the sparse full range file (face_detection_full.binarypb); the
  // dense face_detection_full_range.tflite is another model (pass it as `file` to use it).
  full: 'face_detection_full_range_sparse.tflite',
};

export interface DetectorOptions {
  /** 'short' (default): faces within ~2 m, 128x128 input; 'full': smaller faces, 192x192. */
  model?: FaceModel;
  /** The .tflite (path, URL or bytes). Node default: the file from @mediapipe/face_detection; browsers must pass it. */
  file?: BytesSource;
  /** Keep a `file` downloaded from an http(s) URL in the download cache and read it from there (default true). */
  cache?: boolean;
  /** Keep detections scoring at least this (default MediaPipe's: 0.5 short, 0.6 full). */
  minScore?: number;
  device?: GpuContext;
  adapter?: AdapterChoice;
  schedule?: ScheduleChoice;
}

/** The detector's raw outputs for one image, before post-processing. */
export interface RawDetections {
  /** [N, 16] box and keypoint regressors, tensor pixels relative to the anchors. */
  regressors: Float32Array;
  /** [N] score logits. */
  scores: Float32Array;
  letterbox: Letterbox;
  imageWidth: number;
  imageHeight: number;
}

interface Built { cg: CompiledGraph; words: number; geo: Letterbox }

/** The names of the model and file options in the API the caller used, for error hints. */
export interface DetectorOptionNames { model: string; file: string }
/** createDetector's own options. */
const DETECTOR_OPTIONS: DetectorOptionNames = { model: 'model', file: 'file' };
/** createModel's, which makes its detector through detect/factory.ts. */
export const MODEL_DETECTOR_OPTIONS: DetectorOptionNames = { model: 'detector', file: 'detectorFile' };

const MAX_CACHED_GRAPHS = 4;

/** The model's outputs by role: regressors [1, N, 16] and classificators [1, N, 1]. */
function outputRoles(p: PackedTflite): { regressors: string; scores: string; n: number } {
  const m = p.model;
  const outs = m.outputs.map((i) => m.tensors[i]);
  const reg = outs.find((t) => t.shape.length === 3 && t.shape[2] === 16);
  const cls = outs.find((t) => t.shape.length === 3 && t.shape[2] === 1);
  if (outs.length !== 2 || !reg || !cls || reg.shape[1] !== cls.shape[1]) {
    fail(m.file, 'the model outputs do not look like a BlazeFace detector', {
      expected: 'regressors [1, N, 16] and classificators [1, N, 1]', found: outs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', '),
    });
  }
  return { regressors: reg.name, scores: cls.name, n: reg.shape[1] };
}

export class BlazeFaceDetector implements FaceDetector {
  private readonly graphs = new GraphCache<Built>(MAX_CACHED_GRAPHS);
  private readonly weightCache: WeightCache;
  private readonly roles: { regressors: string; scores: string; n: number };
  private disposed = false;
  /** Input side of the model (128 short, 192 full). */
  readonly inputSize: number;

  private constructor(readonly platform: Platform, readonly ctx: GpuContext, readonly model: FaceModel, private readonly packed: PackedTflite,
    readonly tuning: Tuning, readonly minScore: number | undefined, names: DetectorOptionNames) {
    this.weightCache = new WeightCache(ctx.device);
    this.roles = outputRoles(packed);
    const [, H, W, C] = packed.inputShape;
    const spec = BLAZEFACE[model];
    if (H !== W || H !== spec.inputSize || C !== 3 || this.roles.n !== spec.numBoxes) {
      fail(packed.model.file, `this is not the ${model} range BlazeFace model`, {
        expected: `input [1, ${spec.inputSize}, ${spec.inputSize}, 3] and ${spec.numBoxes} anchors`, found: `input [${packed.inputShape.join(', ')}] and ${this.roles.n} anchors`,
        hint: `pass { ${names.model}: '${model === 'short' ? 'full' : 'short'}' } to use this file, or { ${names.file}: <${MODEL_FILES[model]}> } for the ${model} range model`,
      });
    }
    this.inputSize = H;
  }

  /** `names`: the option names the caller used (createDetector's, or createModel's), for the hints. */
  static async create(platform: Platform, opts: DetectorOptions = {}, names = DETECTOR_OPTIONS): Promise<BlazeFaceDetector> {
    const model = opts.model ?? 'short';
    if (!(model in MODEL_FILES)) throw new InputError(`unknown face detector model ${JSON.stringify(model)}: use 'short' or 'full'`);
    if (opts.minScore !== undefined && !(opts.minScore >= 0 && opts.minScore <= 1)) throw new InputError(`minScore must be in 0..1, got ${opts.minScore}`);
    const src = opts.file ?? defaultFile(platform, model, names);
    const packed = await loadModelFile(platform, { src, what: 'face detector' }, (bytes, name) => packTflite(readTflite(bytes, name)), opts.cache);
    const ctx = opts.device ?? await platform.getDevice({ adapter: opts.adapter });
    return new BlazeFaceDetector(platform, ctx, model, packed, tuningFor(ctx, opts.schedule), opts.minScore, names);
  }

  /** The graph for images of this size (built once; a small LRU cache). */
  private graphFor(width: number, height: number, channels: 3 | 4): Promise<Built> {
    return this.graphs.get(`${width}x${height}x${channels}`, () => this.build(width, height, channels));
  }

  private async build(width: number, height: number, channels: 3 | 4): Promise<Built> {
    const g = new Graph(this.tuning);
    const words = wordsPerImage(width, height, channels);
    const geo = letterbox(width, height, this.inputSize);
    const pixels = g.input('pixels', [words], 'u32');
    const x = letterboxImage(g, pixels, { width, height, channels }, { size: this.inputSize, ...geo });
    const outs = buildTflite(g, this.packed, x, `blazeface.${this.model}`);
    g.output('regressors', g.reshape(outs[this.roles.regressors], [this.roles.n, 16], 'regressors.rows'));
    g.output('scores', g.reshape(outs[this.roles.scores], [this.roles.n], 'scores.flat'));
    const cg = await CompiledGraph.create(this.ctx, g, { weights: this.weightCache, label: `blazeface ${this.model} ${width}x${height}` });
    return { cg, words, geo };
  }

  private async pixels(image: unknown): Promise<Pixels> {
    const raw: RawImage = isRawImage(image) ? image : await this.platform.decodeImage(image);
    return toPixels(raw, Math.min(this.ctx.device.limits.maxStorageBufferBindingSize, 1 << 30));
  }

  /** Compiles the graph for an image size ahead of the first frame. */
  async prepare(width: number, height: number, channels: 3 | 4 = 4): Promise<void> {
    await this.graphFor(width, height, channels);
  }

  /** The raw model outputs for one image (tests, parity checks). */
  async runRaw(image: unknown): Promise<RawDetections> {
    if (this.disposed) throw new Error('this face detector was disposed; create a new one');
    const p = await this.pixels(image);
    const b = await this.graphFor(p.width, p.height, p.channels);
    const out = await b.cg.run((s: Record<string, HostData>) => { new Uint8Array(s.pixels.buffer).set(p.bytes); });
    return { regressors: out.regressors, scores: out.scores, letterbox: b.geo, imageWidth: p.width, imageHeight: p.height };
  }

  /** Faces in image pixels, highest score first; none is an empty list. */
  async detect(image: unknown): Promise<Face[]> {
    const raw = await this.runRaw(image);
    return decodeFaces(raw, { model: this.model, imageWidth: raw.imageWidth, imageHeight: raw.imageHeight, minScore: this.minScore });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.graphs.clear();
    this.weightCache.dispose();
  }
}

/** Node: the file shipped in @mediapipe/face_detection, resolved from this module. */
function defaultFile(platform: Platform, model: FaceModel, names: DetectorOptionNames): string {
  const file = MODEL_FILES[model];
  if (platform.name === 'node') {
    try {
      return import.meta.resolve(`@mediapipe/face_detection/${file}`);
    } catch { /* not installed: below */ }
    throw new InputError(`no face detector file given and @mediapipe/face_detection is not installed: run \`npm install @mediapipe/face_detection\` or pass { ${names.file}: '.../${file}' }`);
  }
  throw new InputError(`in browsers pass the face detector file: { ${names.file}: URL of ${file} } (e.g. from https://cdn.jsdelivr.net/npm/@mediapipe/face_detection/${file})`);
}

/** createDetector(platform, { model: 'short' | 'full', file? }). */
export function createDetector(platform: Platform, opts: DetectorOptions = {}): Promise<BlazeFaceDetector> {
  return BlazeFaceDetector.create(platform, opts);
}

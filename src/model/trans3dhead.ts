// Trans3DHead end to end: loads weights and FLAME, keeps one compiled network graph
// (network.ts) per (image size, channels, batch) in a small LRU cache, batches images of one
// size, and turns graph outputs into results; per run only the pixels, the crop geometry and
// the poses are uploaded.
import { GraphCache } from '../graph/cache.ts';
import { CompiledGraph, WeightCache, type ProfileResult } from '../graph/compile.ts';
import type { HostData } from '../graph/graph.ts';
import type { Tuning } from '../graph/graph.ts';
import { tuningFor, type ComputePrecision, type ScheduleChoice } from '../graph/tuning.ts';
import { WeightFileError } from '../io/errors.ts';
import { readFlame, type FlameArrays } from '../io/flame.ts';
import { WEIGHT_FORMATS, type WeightFormat } from '../kernels/weights.ts';
import { cropGeometry, cropToImage, preprocessParams, PREPROCESS_PARAMS, wordsPerImage, type Box, type CropGeometry } from '../kernels/preprocess.ts';
import type { AdapterChoice, BytesSource, GpuContext, LimitsMode, Platform, RawImage } from '../platform/types.ts';
import { describeAdapter } from '../platform/types.ts';
import { loadModelFile, loadModelFiles } from '../platform/load-file.ts';
import { DEFAULT_CONFIG, type Trans3DHeadConfig } from './config.ts';
import { defaultWeights } from './default-weights.ts';
import { buildNetwork, packNetwork, type NetworkWeights } from './network.ts';
import { InputError, isRawImage, resolveBox, toPixels, type Pixels } from './image.ts';
import { poseFromRotation, type PoseAngles } from './pose.ts';
import { syntheticFlame } from './synthetic-flame.ts';
import { parseWeights, weightsToSafetensors, type LoadedWeights } from './weights.ts';
import { DETECTOR_KINDS, isFaceDetector, makeDetector, type DetectorChoice } from '../detect/factory.ts';
import { clampBox, faceFrame, headBox, headBoxOfFrame, landmarkFrame, type FaceFrame } from '../detect/headbox.ts';
import { OneEuroFilter, type OneEuroOptions } from '../detect/smoothing.ts';
import type { Face, FaceDetector } from '../detect/types.ts';

export interface CreateModelOptions {
  /** .safetensors or PyTorch .pth (path, URL or bytes). Absent: the built-in UNTRAINED default. */
  weights?: BytesSource;
  /** FLAME as our .safetensors, the published generic_model.pkl, or an .npz. Absent: the synthetic FLAME. */
  flame?: BytesSource;
  /** Optional FLAME landmark embedding files (flame_static_embedding.pkl, flame_dynamic_embedding.npy). */
  flameLandmarks?: BytesSource[];
  /** Config fields the weight file does not carry (e.g. nhead for a bare .pth). */
  config?: Partial<Trans3DHeadConfig>;
  /** Prefix to strip from checkpoint keys, e.g. 'module.'. */
  stripPrefix?: string;
  /** A device to share (default: the platform's shared device for `adapter` and `limits`). */
  device?: GpuContext;
  /** Node: which adapter (default env TRANS3DHEAD_ADAPTER, else 'auto'); see DeviceOptions. */
  adapter?: AdapterChoice;
  /** 'default': a device with the WebGPU spec-default limits only (default env TRANS3DHEAD_LIMITS, else 'adapter'). */
  limits?: LimitsMode;
  /** Kernel schedules: 'auto' (by adapter), or force 'cpu' / 'gpu' ones (default env TRANS3DHEAD_SCHEDULE). */
  schedule?: ScheduleChoice;
  /**
   * Arithmetic of the convolutions and linear layers (the matmul core): 'f32' (default), or 'f16'
   * products summed in f16 over 4 K steps and accumulated in f32, on adapters with `shader-f16`
   * (lavapipe, most GPUs; not SwiftShader: a clear error there). Attention, QAMem, norms, FLAME
   * and the face detector stay f32. Measured in bench/README ("f16 compute").
   */
  compute?: ComputePrecision;
  /**
   * Compile every pipeline now (default true), by building and warming the graph of one
   * crop-sized image: the first run then starts at once (on lavapipe, which compiles at the
   * first dispatch, that is most of the start-up). Graphs for other image sizes and batch 1 reuse
   * these pipelines.
   */
  warmUp?: boolean;
  /**
   * How weight matrices are kept on the GPU: 'f32', 'f16' or 'int8' (weights.ts in kernels).
   * Default: as the file stores them (`convert --dtype`; f16/bf16 .pth files: 'f16').
   */
  weightFormat?: WeightFormat;
  /**
   * Progress while loading: stage name and 0..1; while a file loads ('weights', 'flame'), also
   * the bytes loaded and the total (a URL read from the download cache reports its size once).
   */
  onProgress?: (stage: string, fraction: number, bytes?: { loaded: number; total: number }) => void;
  /**
   * The face detector behind run(image) without a box, detect() and runVideo(): BlazeFace 'short'
   * range (default, MediaPipe's default: faces within ~2 m) or 'full' range (small faces, group
   * photos), your own FaceDetector (not disposed by the model), or false (no detection: every
   * run needs a box). Made on first need, on the model's device.
   */
  detector?: DetectorChoice;
  /** The BlazeFace .tflite (path, URL or bytes). Node default: the file of the npm package @mediapipe/face_detection; browsers must pass its URL. */
  detectorFile?: BytesSource;
  /**
   * Keep model files (weights, FLAME, detector file) downloaded from http(s) URLs and read them
   * from there on the next load (default true). Browsers: Cache Storage; Node: files under
   * $TRANS3DHEAD_CACHE, else $XDG_CACHE_HOME/trans3dhead, else ~/.cache/trans3dhead.
   * false: download every time and keep nothing. clearModelCache() empties it.
   */
  cache?: boolean;
}

export interface Poses { global?: number[]; neck?: number[]; leftEye?: number[]; rightEye?: number[] }

/** A head box on the image (x, y, width, height) in pixels, or 'image': the whole image is the crop. */
export type BoxSpec = Partial<Box> | [number, number, number, number] | 'image';

export interface RunOptions {
  /**
   * The head box. run(): given, that one head (a HeadResult); absent, the heads are detected (a
   * HeadResult[]). runBatch() and profile(): absent means the whole image.
   */
  box?: BoxSpec;
  /** Axis-angle poses of the FLAME joints other than the jaw (default zero). */
  poses?: Poses;
}

/** run() with a box: one head. */
export interface BoxRunOptions extends RunOptions { box: BoxSpec }

/** run() without a box: detect, then align every head. */
export interface DetectRunOptions {
  box?: undefined;
  poses?: Poses;
  /** At most this many heads, the largest first (default all). */
  maxHeads?: number;
}

export interface VideoOptions {
  poses?: Poses;
  /** At most this many heads, the largest first (default all). */
  maxHeads?: number;
  /** Run the detector at least every N frames even when every track holds (default 30; Infinity: only when a track is lost). */
  redetectEvery?: number;
  /** One-euro smoothing of the crop boxes and of landmarks/projectedVertices: true (defaults) or its options; default off. */
  smoothing?: boolean | OneEuroOptions;
}

export interface HeadResult {
  /** 68 x (x, y) in input-image pixels. */
  landmarks: Float32Array;
  /** The same in the 256x256 crop's pixels. */
  landmarksCrop: Float32Array;
  /** The raw 413 parameters, and named views of them. */
  params: Float32Array;
  shape: Float32Array; expression: Float32Array; jaw: Float32Array; rotation6d: Float32Array;
  /** params[409:412] (tx, ty, tz); the projection uses (tx, ty, 0). */
  translation: Float32Array;
  /** params[412]; the projection scales by max(scale + 1, 1e-8). */
  scale: number;
  /** Head rotation, row-major 3x3. */
  rotation: Float32Array;
  pose: PoseAngles;
  /** V x 3 FLAME vertices after z += 0.05 and the rotation (model units). */
  vertices: Float32Array;
  /** V x 2 projected vertices in input-image pixels, and in crop pixels. */
  projectedVertices: Float32Array;
  projectedVerticesCrop: Float32Array;
  /**
   * 68 x 3, when the FLAME carries the landmark embedding (with FLAME's dynamic contour, points
   * 0..16 follow the head's yaw), and their projection, 68 x 2 in input-image and crop pixels.
   */
  landmarks3d?: Float32Array;
  projectedLandmarks3d?: Float32Array;
  projectedLandmarks3dCrop?: Float32Array;
  crop: CropGeometry;
  /** Wall time of the run that produced this result (whole batch), ms. */
  timeMs: number;
  /** True when the built-in untrained weights or the synthetic FLAME were used: not a real prediction. */
  synthetic: boolean;
  /** The face detection this head's box came from (run without a box; runVideo on detection frames). */
  face?: Face;
  /** runVideo: the same id follows the same head from frame to frame. */
  trackId?: number;
}

interface Track {
  id: number;
  /** The crop box for the next frame, from this frame's landmarks; null: lost. */
  next: Box | null;
  /** The face that crop was made for (to check the next landmarks against). */
  nextFrame: FaceFrame | null;
  /** This frame's crop (re-detection matches heads to tracks by it when `next` is lost). */
  last: Box | null;
  box?: OneEuroFilter; landmarks?: OneEuroFilter; projected?: OneEuroFilter;
}

interface BuiltGraph { cg: CompiledGraph; words: number }

const MAX_CACHED_GRAPHS = 4;
/** Heads per Trans3DHead run: runs are batched in powers of two up to this (fewer graph sizes). */
const MAX_HEADS_PER_RUN = 8;

export class Trans3DHead {
  private readonly graphs = new GraphCache<BuiltGraph>(MAX_CACHED_GRAPHS);
  private weightCache: WeightCache;
  private disposed = false;

  private constructor(readonly platform: Platform, readonly ctx: GpuContext, readonly config: Trans3DHeadConfig,
    private readonly weights: NetworkWeights, readonly flame: FlameArrays, readonly synthetic: { weights: boolean; flame: boolean },
    /** Tile shapes and schedules for this device, fixed at creation. */
    readonly tuning: Tuning) {
    this.weightCache = new WeightCache(ctx.device);
  }

  static async create(platform: Platform, opts: CreateModelOptions = {}): Promise<Trans3DHead> {
    const det = opts.detector;
    if (det !== undefined && det !== false && !isFaceDetector(det) && !(DETECTOR_KINDS as readonly unknown[]).includes(det)) {
      throw new InputError(`detector ${JSON.stringify(det)}: expected 'short', 'full', a FaceDetector ({ detect, dispose }) or false`);
    }
    const progress = opts.onProgress ?? (() => {});
    progress('weights', 0);
    let w: LoadedWeights;
    if (opts.weights === undefined) w = await defaultModelWeights(platform, opts.config);
    else {
      w = await loadModelFile(platform, { src: opts.weights, what: 'weights', onProgress: (a, b) => progress('weights', b ? a / b : 0, { loaded: a, total: b }) },
        (bytes, name) => parseWeights(bytes, name, { config: opts.config, stripPrefix: opts.stripPrefix }), opts.cache);
    }
    progress('flame', 0);
    let flame: FlameArrays, flameFile = 'the synthetic FLAME';
    if (opts.flame === undefined) flame = syntheticFlame(0);
    else {
      const files = [{ src: opts.flame, what: 'FLAME', onProgress: (a: number, b: number) => progress('flame', b ? a / b : 0, { loaded: a, total: b }) },
        ...(opts.flameLandmarks ?? []).map((src) => ({ src, what: 'FLAME landmark embedding' }))];
      ({ flame, flameFile } = await loadModelFiles(platform, files, ([f, ...landmarks]) =>
        ({ flame: readFlame(f.bytes, f.name, { landmarks: landmarks.map((l) => ({ bytes: l.bytes, file: l.name })) }), flameFile: f.name }), opts.cache));
    }
    checkFlame(flame, flameFile, w);
    progress('device', 0);
    const ctx = opts.device ?? await platform.getDevice({ adapter: opts.adapter, limits: opts.limits });
    // Validated (parseWeights) and packed once, here: graphs only reference the packed arrays.
    const format = opts.weightFormat ?? w.dtype;
    if (!(WEIGHT_FORMATS as readonly string[]).includes(format)) throw new InputError(`weightFormat must be one of ${WEIGHT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    const weights = packNetwork(w.sd, w.config, flame, format, w.keepF16);
    const model = new Trans3DHead(platform, ctx, w.config, weights, flame, { weights: w.synthetic, flame: flame.synthetic }, tuningFor(ctx, opts.schedule, opts.compute));
    model.detectorChoice = det ?? 'short';
    model.detectorFile = opts.detectorFile;
    model.detectorCache = opts.cache;
    if (opts.warmUp ?? true) {
      progress('pipelines', 0);
      const t0 = performance.now();
      // Pipelines are cached per device by shader text, which does not depend on the image size.
      try {
        const { cg } = await model.build(w.config.image_size, w.config.image_size, 4, 1);
        try { await cg.warm(); } finally { await cg.dispose(); }
      } catch (e) {
        await model.dispose();
        throw e;
      }
      model.warmUpMs = performance.now() - t0;
    }
    return model;
  }

  /** Time createModel spent compiling and warming the pipelines (0 with warmUp: false). */
  warmUpMs = 0;

  /** The adapter, in one line (CPU adapters say so). */
  get adapter(): string { return describeAdapter(this.ctx.adapter); }

  /** Builds (once) the graph for images of this size and batch; later runs reuse it. */
  private graphFor(width: number, height: number, channels: 3 | 4, batch: number): Promise<BuiltGraph> {
    return this.graphs.get(`${width}x${height}x${channels}x${batch}`, () => this.build(width, height, channels, batch));
  }

  private async build(width: number, height: number, channels: 3 | 4, batch: number): Promise<BuiltGraph> {
    const g = buildNetwork(this.tuning, this.weights, { width, height, channels, batch });
    const cg = await CompiledGraph.create(this.ctx, g, { weights: this.weightCache, label: `trans3dhead ${width}x${height} b${batch}` });
    return { cg, words: wordsPerImage(width, height, channels) };
  }

  /** Decodes/validates one image input into pixels. */
  private async pixels(image: unknown): Promise<Pixels> {
    const raw: RawImage = isRawImage(image) ? image : await this.platform.decodeImage(image);
    return toPixels(raw, Math.min(this.ctx.device.limits.maxStorageBufferBindingSize, 1 << 30));
  }

  /** Bytes of weights uploaded to the GPU so far (all of them once a graph is built). */
  get weightBytes(): number { return this.weightCache.bytes; }

  /** Wall time of the last run()/runVideo() per stage, ms: the face detector (0 when it did not run) and Trans3DHead. */
  readonly timings = { detectorMs: 0, trans3dheadMs: 0 };
  private sources = new WeakMap<HeadResult, { graph: CompiledGraph; batch: number }>();

  /**
   * Where a result's outputs lie on the GPU (for OverlayRenderer: draw without readback): its
   * graph and batch index. Valid until the next run on that graph; undefined once overwritten
   * by a later chunk of the same run (more than 8 heads) or for results of another model.
   */
  renderSource(r: HeadResult): { graph: CompiledGraph; batch: number } | undefined { return this.sources.get(r); }

  private detectorChoice: DetectorChoice = 'short';
  private detectorFile: BytesSource | undefined;
  private detectorCache: boolean | undefined;
  private detectorMade: Promise<FaceDetector> | null = null;

  /** The face detector, made on first need (the BlazeFace graph compiles then). */
  private detector(): Promise<FaceDetector> {
    const d = this.detectorChoice;
    if (d === false) return Promise.reject(new InputError('this model was created with detector: false: pass a head box (run(image, { box })), or box: \'image\' to use the whole image'));
    if (typeof d === 'object') return Promise.resolve(d);
    if (!this.detectorMade) {
      const p = makeDetector(d, this.platform, this.ctx, this.detectorFile, this.detectorCache);
      this.detectorMade = p;
      p.catch(() => { if (this.detectorMade === p) this.detectorMade = null; });
    }
    return this.detectorMade;
  }

  private async detectPixels(p: Pixels): Promise<Face[]> {
    if (this.disposed) throw new Error('this model was disposed; create a new one');
    const detector = await this.detector();
    const t0 = performance.now();
    const faces = await detector.detect({ data: p.bytes, width: p.width, height: p.height, channels: p.channels } satisfies RawImage);
    this.timings.detectorMs += performance.now() - t0;
    if (!Array.isArray(faces)) throw new Error('the face detector did not return an array of faces');
    return faces;
  }

  /** The faces in the image (boxes and 6 keypoints in image pixels, scores); [] when there is none. */
  async detect(image: unknown): Promise<Face[]> {
    return this.detectPixels(await this.pixels(image));
  }

  /** The heads to align: a head box per face, largest face first, at most maxHeads. */
  private async findHeads(p: Pixels, maxHeads: number | undefined): Promise<{ face: Face; box: Box }[]> {
    const limit = checkMaxHeads(maxHeads);
    const heads: { face: Face; box: Box }[] = [];
    for (const face of await this.detectPixels(p)) {
      const box = headBox(face, p.width, p.height);
      if (box) heads.push({ face, box });
    }
    const area = (f: Face) => f.box.width * f.box.height;
    heads.sort((a, b) => area(b.face) - area(a.face) || b.face.score - a.face.score);
    return heads.slice(0, limit);
  }

  /**
   * All heads of one image, batched: one Trans3DHead run of up to MAX_HEADS_PER_RUN crops (the
   * batch rounded up to a power of two so that a varying head count reuses few graphs; the
   * padding slots repeat the first crop and are dropped).
   */
  private async runHeads(p: Pixels, boxes: Box[], poses: Poses | undefined): Promise<HeadResult[]> {
    const out: HeadResult[] = [];
    const t0 = performance.now();
    const imageBytes = wordsPerImage(p.width, p.height, p.channels) * 4;
    const fit = Math.floor(Math.min(this.ctx.device.limits.maxStorageBufferBindingSize, this.ctx.device.limits.maxBufferSize) / imageBytes);
    let perRun = 1;
    while (perRun * 2 <= Math.min(MAX_HEADS_PER_RUN, fit)) perRun *= 2;
    for (let i = 0; i < boxes.length; i += perRun) {
      const chunk = boxes.slice(i, i + perRun);
      let batch = 1;
      while (batch < chunk.length) batch *= 2;
      const geos = chunk.map((b) => cropGeometry(b, this.config.image_size));
      while (geos.length < batch) geos.push(geos[0]);
      const built = await this.graphFor(p.width, p.height, p.channels, batch);
      // An earlier chunk on the same graph has had its output buffers overwritten: not drawable.
      for (const r of out) if (this.sources.get(r)?.graph === built.cg) this.sources.delete(r);
      const { results } = await this.runOn(built, Array(batch).fill(p), Array(batch).fill({ poses }), geos, false);
      out.push(...results.slice(0, chunk.length));
    }
    this.timings.trans3dheadMs += performance.now() - t0;
    return out;
  }

  /** With a box: aligns that head (box: 'image' = the whole image is the crop). */
  run(image: unknown, opts: BoxRunOptions): Promise<HeadResult>;
  /** Without a box: detects the faces and aligns every head in one batched run, largest first ([] when none). */
  run(image: unknown, opts?: DetectRunOptions): Promise<HeadResult[]>;
  run(image: unknown, opts?: RunOptions & { maxHeads?: number }): Promise<HeadResult | HeadResult[]>;
  async run(image: unknown, opts: RunOptions & { maxHeads?: number } = {}): Promise<HeadResult | HeadResult[]> {
    if (opts.box !== undefined) {
      if (opts.maxHeads !== undefined) throw new InputError('maxHeads applies to detection: pass either a box or maxHeads, not both');
      const r = (await this.runBatch([image], [opts]))[0];
      this.timings.detectorMs = 0; this.timings.trans3dheadMs = r.timeMs;
      return r;
    }
    const p = await this.pixels(image);
    this.timings.detectorMs = this.timings.trans3dheadMs = 0;
    const heads = await this.findHeads(p, opts.maxHeads);
    const results = await this.runHeads(p, heads.map((h) => h.box), opts.poses);
    results.forEach((r, i) => { r.face = heads[i].face; });
    return results;
  }

  private video = { tracks: [] as Track[], lastT: -Infinity, size: '', sinceDetect: 0, nextId: 1 };

  /** Forgets the video's tracks and timestamps: the next runVideo starts a new video. */
  resetVideo(): void { this.video = { tracks: [], lastT: -Infinity, size: '', sinceDetect: 0, nextId: 1 }; }

  /**
   * One video frame, MediaPipe's detectForVideo semantics: the detector runs when there is no
   * track (or one was lost, or every `redetectEvery` frames); otherwise each head's crop comes
   * from its landmarks on the previous frame. A track is lost (nextTrack) when its landmarks are
   * not finite or describe a face that moved more than 0.35 face sizes or changed size more
   * than 1.3x since the crop was made; a track lost on a tracking frame makes this frame detect
   * again. Timestamps (ms) must increase.
   */
  async runVideo(frame: unknown, timestampMs: number, opts: VideoOptions = {}): Promise<HeadResult[]> {
    if (typeof timestampMs !== 'number' || !Number.isFinite(timestampMs)) throw new InputError(`runVideo: timestampMs must be a finite number of milliseconds, got ${String(timestampMs)}`);
    const v = this.video;
    if (timestampMs <= v.lastT) {
      throw new InputError(`runVideo: timestamp ${timestampMs} ms is not after the previous frame's ${v.lastT} ms: timestamps must increase (resetVideo() starts another video)`);
    }
    const every = opts.redetectEvery ?? 30;
    if (!(every === Infinity || (Number.isInteger(every) && every >= 1))) throw new InputError(`redetectEvery ${every}: expected a positive integer or Infinity`);
    const smoothing = opts.smoothing === true ? {} : opts.smoothing || null;
    if (smoothing) new OneEuroFilter(smoothing); // validates the options before any work
    // Taken before any await: a second call for the same time, even while this one runs, is refused.
    v.lastT = timestampMs;
    const p = await this.pixels(frame);
    this.timings.detectorMs = this.timings.trans3dheadMs = 0;
    const size = `${p.width}x${p.height}`;
    if (size !== v.size) { v.tracks = []; v.size = size; }
    const W = p.width, H = p.height;
    let detect = v.tracks.length === 0 || v.sinceDetect >= every || v.tracks.some((t) => !t.next);
    for (let pass = 0; ; pass++) {
      let items: { track: Track; box: Box; frame: FaceFrame; face?: Face }[];
      if (detect) {
        const heads = await this.findHeads(p, opts.maxHeads);
        // Keep ids (and filters) of heads that overlap a previous track; a redo pass starts fresh filters.
        const free = [...v.tracks];
        items = heads.map((h) => {
          let best = -1, bestIou = 0.3;
          free.forEach((t, j) => { const b = t.next ?? t.last; const o = b ? iou(b, h.box) : 0; if (o > bestIou) { best = j; bestIou = o; } });
          const old = best >= 0 ? free.splice(best, 1)[0] : null;
          const track: Track = old && pass === 0 ? old : { id: old?.id ?? v.nextId++, next: null, nextFrame: null, last: null };
          return { track, box: h.box, frame: faceFrame(h.face), face: h.face };
        });
        v.sinceDetect = 0;
      } else {
        items = v.tracks.map((t) => ({ track: t, box: t.next!, frame: t.nextFrame! }));
      }
      if (smoothing) {
        for (const it of items) {
          const f = (it.track.box ??= new OneEuroFilter(smoothing)).filter([it.box.x, it.box.y, it.box.width, it.box.height], timestampMs);
          it.box = clampBox({ x: f[0], y: f[1], width: f[2], height: f[3] }, W, H) ?? it.box;
        }
      }
      const results = await this.runHeads(p, items.map((it) => it.box), opts.poses);
      let lost = false;
      results.forEach((r, i) => {
        const next = nextTrack(r.landmarks, items[i].frame, W, H);
        items[i].track.next = next?.box ?? null;
        items[i].track.nextFrame = next?.frame ?? null;
        items[i].track.last = items[i].box;
        if (!next) lost = true;
      });
      if (lost && !detect && pass === 0) { detect = true; continue; }
      v.tracks = items.map((it) => it.track);
      v.sinceDetect++;
      results.forEach((r, i) => {
        const { track, face } = items[i];
        r.trackId = track.id;
        if (face) r.face = face;
        if (smoothing) {
          r.landmarks = (track.landmarks ??= new OneEuroFilter(smoothing)).filter(r.landmarks, timestampMs);
          r.projectedVertices = (track.projected ??= new OneEuroFilter(smoothing)).filter(r.projectedVertices, timestampMs);
        }
      });
      const area = (r: HeadResult) => r.crop.box.width * r.crop.box.height;
      return results.sort((a, b) => area(b) - area(a));
    }
  }

  /** Runs several images in one batch (images of one size share a graph; others run as their own batch). */
  async runBatch(images: unknown[], opts: RunOptions[] | RunOptions = {}): Promise<HeadResult[]> {
    if (!Array.isArray(images) || images.length === 0) throw new InputError('runBatch needs a non-empty array of images');
    const list = await Promise.all(images.map((im) => this.pixels(im)));
    const optsOf = (i: number) => (Array.isArray(opts) ? opts[i] ?? {} : opts);
    const groups = new Map<string, number[]>();
    list.forEach((p, i) => {
      const k = `${p.width}x${p.height}x${p.channels}`;
      (groups.get(k) ?? groups.set(k, []).get(k)!).push(i);
    });
    const results: HeadResult[] = new Array(images.length);
    for (const idx of groups.values()) {
      const out = await this.runGroup(idx.map((i) => list[i]), idx.map(optsOf), false);
      idx.forEach((i, j) => { results[i] = out.results[j]; });
    }
    return results;
  }

  /** One image with GPU time per node and per stage (timestamp queries; slower than run()). */
  async profile(image: unknown, opts: RunOptions = {}, batch = 1): Promise<{ result: HeadResult; profile: ProfileResult }> {
    const p = await this.pixels(image);
    const out = await this.runGroup(Array(batch).fill(p), Array(batch).fill(opts), true);
    return { result: out.results[0], profile: out.profile! };
  }

  /** Builds the graph for a size/batch ahead of the first frame (pipeline compilation). */
  async prepare(width: number, height: number, channels: 3 | 4 = 4, batch = 1): Promise<CompiledGraph> {
    return (await this.graphFor(width, height, channels, batch)).cg;
  }

  private async runGroup(pix: Pixels[], opts: RunOptions[], profile: boolean) {
    if (this.disposed) throw new Error('this model was disposed; create a new one');
    const { width, height, channels } = pix[0];
    const geos = pix.map((_, i) => cropGeometry(resolveBox(opts[i].box, width, height), this.config.image_size));
    return this.runOn(await this.graphFor(width, height, channels, pix.length), pix, opts, geos, profile);
  }

  private async runOn(b: BuiltGraph, pix: Pixels[], opts: RunOptions[], geos: CropGeometry[], profile: boolean) {
    // Filled in this run's turn of the graph's queue: the staging arrays belong to the graph.
    const fill = (s: Record<string, HostData>) => {
      const bytes = new Uint8Array(s.pixels.buffer);
      s.poses.fill(0);
      pix.forEach((p, i) => {
        bytes.set(p.bytes, i * b.words * 4);
        preprocessParams(geos[i], s.geometry as Float32Array, i * PREPROCESS_PARAMS);
        writePoses(s.poses as Float32Array, i, opts[i].poses);
      });
    };
    const t0 = performance.now();
    let prof: ProfileResult | undefined;
    const out = profile ? (prof = await b.cg.profile(fill)).outputs : await b.cg.run(fill);
    const timeMs = performance.now() - t0;
    const results = geos.map((geo, i) => this.result(out, i, geo, timeMs));
    results.forEach((r, i) => this.sources.set(r, { graph: b.cg, batch: i }));
    return { results, profile: prof };
  }

  private result(out: Record<string, Float32Array>, b: number, geo: CropGeometry, timeMs: number): HeadResult {
    const N = this.config.num_landmarks, P = this.config.num_params, V = this.flame.V;
    const toImage = (crop: Float32Array) => {
      const img = new Float32Array(crop.length);
      for (let i = 0; i < crop.length; i += 2) [img[i], img[i + 1]] = cropToImage(geo, crop[i], crop[i + 1]);
      return img;
    };
    const landmarksCrop = out.landmarks.slice(b * N * 2, (b + 1) * N * 2);
    const projectedVerticesCrop = out.projected.slice(b * V * 2, (b + 1) * V * 2);
    const params = out.params.slice(b * P, (b + 1) * P);
    const rotation = out.rotation.slice(b * 9, (b + 1) * 9);
    const { n_shape: S, n_expr: E } = this.config.flame;
    const lm3dCrop = out.landmarks3d_projected?.slice(b * N * 2, (b + 1) * N * 2);
    return {
      landmarks: toImage(landmarksCrop), landmarksCrop, params,
      shape: params.subarray(0, S), expression: params.subarray(S, S + E), jaw: params.subarray(S + E, S + E + 3),
      rotation6d: params.subarray(S + E + 3, S + E + 9), translation: params.subarray(S + E + 9, S + E + 12), scale: params[S + E + 12],
      rotation, pose: poseFromRotation(rotation),
      vertices: out.vertices.slice(b * V * 3, (b + 1) * V * 3),
      projectedVertices: toImage(projectedVerticesCrop), projectedVerticesCrop,
      landmarks3d: out.landmarks3d?.slice(b * N * 3, (b + 1) * N * 3),
      projectedLandmarks3d: lm3dCrop && toImage(lm3dCrop), projectedLandmarks3dCrop: lm3dCrop,
      crop: geo, timeMs, synthetic: this.synthetic.weights || this.synthetic.flame,
    };
  }

  /** Frees every GPU buffer of this model (graphs and weights); the device stays. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.graphs.clear();
    this.weightCache.dispose();
    const det = this.detectorMade;
    this.detectorMade = null;
    if (det) await (await det.catch(() => null))?.dispose();
  }

  /** GPU buffers the model holds now (graphs + weights), for leak checks. */
  async gpuBufferCount(): Promise<number> {
    let n = this.weightCache.count;
    for (const b of await this.graphs.built()) n += b.cg.ownedBuffers;
    return n;
  }
}

function checkMaxHeads(n: number | undefined): number {
  if (n === undefined) return Infinity;
  if (!(n === Infinity || (Number.isInteger(n) && n >= 1))) throw new InputError(`maxHeads ${n}: expected a positive integer`);
  return n;
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const i = w * h;
  return i / (a.width * a.height + b.width * b.height - i);
}

/** How far a tracked face may move between frames, in face sizes, and how much its size may change. */
export const TRACK_LIMITS = { move: 0.35, scale: 1.3 } as const;

/**
 * Tracking: the next frame's crop from this frame's landmarks, or null when the track is lost.
 * We have no face-presence score (MediaPipe's landmark model has one), so the check is geometric:
 * the face the landmarks describe must be where the crop expected one (`expected`: the face it
 * was made for), moved by at most 0.35 face sizes and scaled by at most 1.3x; landmarks that are
 * not finite, or whose head box leaves the image, lose the track too. A false loss only costs a
 * re-detection of that frame; a false hold would let the crop drift off the head.
 */
export function nextTrack(landmarks: Float32Array, expected: FaceFrame, width: number, height: number): { box: Box; frame: FaceFrame } | null {
  const f = landmarkFrame(landmarks);
  if (!f || !(f.size > 0)) return null;
  if (Math.hypot(f.cx - expected.cx, f.cy - expected.cy) > TRACK_LIMITS.move * expected.size) return null;
  const ratio = f.size / expected.size;
  if (!(ratio <= TRACK_LIMITS.scale && ratio >= 1 / TRACK_LIMITS.scale)) return null;
  const box = clampBox(headBoxOfFrame(f), width, height);
  return box ? { box, frame: f } : null;
}

function writePoses(dst: Float32Array, b: number, p: Poses | undefined): void {
  if (!p) return;
  const put = (v: number[] | undefined, at: number, name: string) => {
    if (v === undefined) return;
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new InputError(`poses.${name} must be 3 finite numbers (axis-angle, radians)`);
    dst.set(v, b * 12 + at);
  };
  put(p.global, 0, 'global'); put(p.neck, 3, 'neck'); put(p.leftEye, 6, 'leftEye'); put(p.rightEye, 9, 'rightEye');
}

/** The FLAME must fit the weights: a mismatch is the FLAME file's error, named after it. */
function checkFlame(f: FlameArrays, file: string, w: LoadedWeights): void {
  const { n_shape, n_expr } = w.config.flame;
  if (f.nShapedirs < n_shape + n_expr) {
    throw new WeightFileError(file, 'the FLAME model does not fit the weights', { key: 'shapedirs', expected: `at least ${n_shape} + ${n_expr} shape+expression components (${w.file})`, found: String(f.nShapedirs) });
  }
  if (f.J !== 5) throw new WeightFileError(file, 'the FLAME model has the wrong number of joints', { key: 'J_regressor', expected: '5 joints', found: String(f.J) });
}

const DEFAULT_CACHE_NAME = 'default-weights-v1.safetensors';
let defaultWarned = false;

/** The built-in untrained weights: generated from a seed on first use, cached on disk where possible. */
async function defaultModelWeights(platform: Platform, config?: Partial<Trans3DHeadConfig>): Promise<LoadedWeights> {
  if (!defaultWarned) {
    defaultWarned = true;
    console.warn('trans3dhead: no weights given: using the built-in UNTRAINED default weights and the synthetic FLAME. The outputs are NOT a real prediction; pass trained weights (and a FLAME file) for that.');
  }
  const cfg = { ...DEFAULT_CONFIG, ...(config ?? {}) };
  const isDefault = JSON.stringify(cfg) === JSON.stringify(DEFAULT_CONFIG);
  if (isDefault && platform.cache) {
    const cached = await platform.cache.read(DEFAULT_CACHE_NAME);
    if (cached) {
      try { return { ...parseWeights(cached, DEFAULT_CACHE_NAME), synthetic: true }; } catch { /* regenerate */ }
    }
  }
  const sd = defaultWeights(cfg);
  if (isDefault && platform.cache) await platform.cache.write(DEFAULT_CACHE_NAME, weightsToSafetensors(sd, cfg, { synthetic: 'true' }));
  return { sd, config: cfg, file: 'built-in default weights', synthetic: true, dtype: 'f32', keepF16: [] };
}


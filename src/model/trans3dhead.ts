// Trans3DHead end to end: loads weights and FLAME, keeps one compiled network graph
// (network.ts) per (image size, channels, batch) in a small LRU cache, batches images of one
// size, and turns graph outputs into results; per run only the pixels, the crop geometry and
// the poses are uploaded.
import { CompiledGraph, WeightCache, type ProfileResult } from '../graph/compile.ts';
import type { HostData } from '../graph/graph.ts';
import type { Tuning } from '../graph/graph.ts';
import { tuningFor, type ScheduleChoice } from '../graph/tuning.ts';
import { WeightFileError } from '../io/errors.ts';
import { readFlame, type FlameArrays } from '../io/flame.ts';
import { WEIGHT_FORMATS, type WeightFormat } from '../kernels/weights.ts';
import { cropGeometry, cropToImage, preprocessParams, PREPROCESS_PARAMS, wordsPerImage, type Box, type CropGeometry } from '../kernels/preprocess.ts';
import type { AdapterChoice, BytesSource, GpuContext, LimitsMode, Platform, RawImage } from '../platform/types.ts';
import { describeAdapter } from '../platform/types.ts';
import { DEFAULT_CONFIG, type Trans3DHeadConfig } from './config.ts';
import { defaultWeights } from './default-weights.ts';
import { buildNetwork, packNetwork, type NetworkWeights } from './network.ts';
import { InputError, isRawImage, resolveBox, toPixels, type Pixels } from './image.ts';
import { poseFromRotation, type PoseAngles } from './pose.ts';
import { syntheticFlame } from './synthetic-flame.ts';
import { parseWeights, weightsToSafetensors, type LoadedWeights } from './weights.ts';

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
   * the bytes loaded and the total (the browser reads URLs it loaded before from Cache Storage).
   */
  onProgress?: (stage: string, fraction: number, bytes?: { loaded: number; total: number }) => void;
}

export interface Poses { global?: number[]; neck?: number[]; leftEye?: number[]; rightEye?: number[] }

export interface RunOptions {
  /** Head box on the image (x, y, width, height) in pixels; default the whole image. */
  box?: Partial<Box> | [number, number, number, number];
  /** Axis-angle poses of the FLAME joints other than the jaw (default zero). */
  poses?: Poses;
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
}

interface BuiltGraph { cg: CompiledGraph; words: number }

const MAX_CACHED_GRAPHS = 4;

export class Trans3DHead {
  private graphs = new Map<string, Promise<BuiltGraph>>();
  private weightCache: WeightCache;
  private disposed = false;

  private constructor(readonly platform: Platform, readonly ctx: GpuContext, readonly config: Trans3DHeadConfig,
    private readonly weights: NetworkWeights, readonly flame: FlameArrays, readonly synthetic: { weights: boolean; flame: boolean },
    /** Tile shapes and schedules for this device, fixed at creation. */
    readonly tuning: Tuning) {
    this.weightCache = new WeightCache(ctx.device);
  }

  static async create(platform: Platform, opts: CreateModelOptions = {}): Promise<Trans3DHead> {
    const progress = opts.onProgress ?? (() => {});
    progress('weights', 0);
    let w: LoadedWeights;
    if (opts.weights === undefined) w = await defaultModelWeights(platform, opts.config);
    else {
      const { bytes, name } = await loadModelFile(platform, opts.weights, 'weights', (a, b) => progress('weights', b ? a / b : 0, { loaded: a, total: b }));
      w = parseWeights(bytes, name, { config: opts.config, stripPrefix: opts.stripPrefix });
    }
    progress('flame', 0);
    let flame: FlameArrays, flameFile = 'the synthetic FLAME';
    if (opts.flame === undefined) flame = syntheticFlame(0);
    else {
      const { bytes, name } = await loadModelFile(platform, opts.flame, 'FLAME', (a, b) => progress('flame', b ? a / b : 0, { loaded: a, total: b }));
      const landmarks = await Promise.all((opts.flameLandmarks ?? []).map((s) => loadModelFile(platform, s, 'FLAME landmark embedding')));
      flame = readFlame(bytes, name, { landmarks: landmarks.map((l) => ({ bytes: l.bytes, file: l.name })) });
      flameFile = name;
    }
    checkFlame(flame, flameFile, w);
    progress('device', 0);
    const ctx = opts.device ?? await platform.getDevice({ adapter: opts.adapter, limits: opts.limits });
    // Validated (parseWeights) and packed once, here: graphs only reference the packed arrays.
    const format = opts.weightFormat ?? w.dtype;
    if (!(WEIGHT_FORMATS as readonly string[]).includes(format)) throw new InputError(`weightFormat must be one of ${WEIGHT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    const weights = packNetwork(w.sd, w.config, flame, format, w.keepF16);
    const model = new Trans3DHead(platform, ctx, w.config, weights, flame, { weights: w.synthetic, flame: flame.synthetic }, tuningFor(ctx, opts.schedule));
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
    const key = `${width}x${height}x${channels}x${batch}`;
    let p = this.graphs.get(key);
    if (p) {
      this.graphs.delete(key); // LRU: move to the end
      this.graphs.set(key, p);
      return p;
    }
    p = this.build(width, height, channels, batch);
    p.catch(() => this.graphs.delete(key));
    this.graphs.set(key, p);
    if (this.graphs.size > MAX_CACHED_GRAPHS) {
      const [oldKey, old] = this.graphs.entries().next().value as [string, Promise<BuiltGraph>];
      this.graphs.delete(oldKey);
      old.then((b) => b.cg.dispose(), () => {});
    }
    return p;
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

  async run(image: unknown, opts: RunOptions = {}): Promise<HeadResult> {
    return (await this.runBatch([image], [opts]))[0];
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
    return { results: geos.map((geo, i) => this.result(out, i, geo, timeMs)), profile: prof };
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
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    for (const p of graphs) await (await p.catch(() => null))?.cg.dispose();
    this.weightCache.dispose();
  }

  /** GPU buffers the model holds now (graphs + weights), for leak checks. */
  async gpuBufferCount(): Promise<number> {
    let n = this.weightCache.count;
    for (const p of this.graphs.values()) n += (await p.catch(() => null))?.cg.ownedBuffers ?? 0;
    return n;
  }
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

/** A weights/FLAME file that cannot be read is a WeightFileError, like one that cannot be parsed. */
async function loadModelFile(platform: Platform, src: BytesSource, what: string, onProgress?: (loaded: number, total: number) => void) {
  try {
    return await platform.loadBytes(src, onProgress);
  } catch (e) {
    throw new WeightFileError(typeof src === 'string' || src instanceof URL ? String(src) : '<memory>', `cannot load the ${what} file (${(e as Error).message})`);
  }
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


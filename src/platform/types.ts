/** Which implementation a device runs on. CPU adapters' figures are CPU figures. */
export type AdapterKind = 'gpu' | 'swiftshader' | 'lavapipe' | 'cpu';

/** What we know about the adapter a device came from; printed next to every figure. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The implementation, from the adapter's info: one definition (kindOf) for every caller. */
  kind: AdapterKind;
  /** True for CPU adapters (SwiftShader, lavapipe/llvmpipe, WARP): their figures are CPU figures. */
  cpu: boolean;
  /** What the adapter said of itself (Dawn sets it for SwiftShader and lavapipe alike). */
  isFallbackAdapter: boolean;
  /** Where the device lives: Dawn inside Node, or a browser's navigator.gpu. */
  backend: 'dawn-node' | 'browser';
  /** True when we chose a CPU adapter ourselves (no hardware adapter, or TRANS3DHEAD_ADAPTER). */
  swiftshaderFallback: boolean;
  features: string[];
  /** The DEVICE's limits (what kernels may use), not the adapter's maxima. */
  limits: Record<string, number>;
  /** 'adapter': the adapter's maxima were requested; 'default': the WebGPU spec defaults only. */
  limitsMode: LimitsMode;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterReport;
  /** Whether timestamp queries work on this device (profile mode needs them). */
  timestamps: boolean;
  /**
   * Awaits a GPU promise (mapAsync). Dawn in Node polls for it in a setImmediate loop that takes
   * a whole CPU core, which on a CPU adapter is taken from the GPU work itself; Node's settle
   * polls every millisecond instead. Browsers await directly.
   */
  settle<T>(start: () => Promise<T>): Promise<T>;
}

/** Adapter choice (Node): a hardware GPU, one of the two CPU Vulkan drivers, or the best available. */
export type AdapterChoice = 'auto' | 'gpu' | 'swiftshader' | 'lavapipe';
export const ADAPTER_CHOICES: readonly AdapterChoice[] = ['auto', 'gpu', 'swiftshader', 'lavapipe'];
/** 'adapter' requests the adapter's maxima for the limits the engine uses; 'default' requests nothing. */
export type LimitsMode = 'adapter' | 'default';
export const LIMITS_MODES: readonly LimitsMode[] = ['adapter', 'default'];

export interface DeviceOptions {
  /** Ask for a high-performance or low-power adapter where several exist. */
  powerPreference?: GPUPowerPreference;
  /**
   * Node: which adapter (default: env TRANS3DHEAD_ADAPTER, else 'auto': a hardware GPU when there
   * is one, else the best CPU adapter installed). Browsers take what navigator.gpu gives.
   */
  adapter?: AdapterChoice;
  /**
   * 'default' creates the device with the WebGPU spec's default limits only, what every
   * conformant adapter offers (default: env TRANS3DHEAD_LIMITS, else 'adapter').
   */
  limits?: LimitsMode;
  /** Extra Dawn toggles (Node only), e.g. 'disable_robustness'. */
  enableToggles?: string[];
  /** Suppress the one-line notice naming the CPU adapter chosen. */
  quiet?: boolean;
}

/** Reads a choice from an option or an environment variable, with a clear error for a bad value. */
export function pickOption<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new TypeError(`${name} must be one of ${allowed.join(', ')} (got '${value}')`);
  return value as T;
}

/** The implementation behind an adapter, from its info. One definition: describeAdapter and tuningFor agree. */
export function kindOf(info: { vendor?: string; architecture?: string; device?: string; description?: string }, fallback: boolean): AdapterKind {
  const name = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  if (/swiftshader/i.test(name)) return 'swiftshader';
  if (/llvmpipe|lavapipe/i.test(name)) return 'lavapipe';
  if (fallback || /warp|software|cpu/i.test(name)) return 'cpu';
  return 'gpu';
}

/** A one-line description of an adapter, e.g. for bench output and the CLI. */
export function describeAdapter(a: AdapterReport): string {
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  const extras = [a.backend, a.cpu && `CPU adapter (${a.kind}): figures are CPU figures`, a.limitsMode === 'default' && 'spec-default limits'].filter(Boolean);
  return `${name || 'unknown adapter'} (${extras.join(', ')})`;
}

/** Limits worth requesting: the adapter's maxima for what big tensors and kernels need. */
export const WANTED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  // "Better" is smaller for alignments: the adapter's value is at most the default 256.
  'minStorageBufferOffsetAlignment', 'minUniformBufferOffsetAlignment',
] as const;

/** Every limit the engine reads, reported as the device has it. */
export const REPORTED_LIMITS = [...WANTED_LIMITS, 'maxUniformBufferBindingSize', 'maxBindGroups'] as const;

export function adapterReport(adapter: GPUAdapter, device: GPUDevice, backend: AdapterReport['backend'], swiftshaderFallback: boolean, limitsMode: LimitsMode): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) limits[k] = Number((device.limits as unknown as Record<string, number>)[k]);
  const legacyFallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const fallback = Boolean(info?.isFallbackAdapter ?? legacyFallback);
  const kind = kindOf(info ?? {}, fallback);
  return {
    vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '',
    description: info?.description ?? '', kind, cpu: kind !== 'gpu', isFallbackAdapter: fallback, backend, swiftshaderFallback,
    features: [...adapter.features].sort(), limits, limitsMode,
  };
}

/** The device descriptor shared by both platforms: the limits asked for and the optional features we use. */
export function deviceDescriptor(adapter: GPUAdapter, limits: LimitsMode = 'adapter'): GPUDeviceDescriptor {
  const requiredFeatures: GPUFeatureName[] = [];
  for (const f of ['timestamp-query', 'shader-f16'] as GPUFeatureName[]) if (adapter.features.has(f)) requiredFeatures.push(f);
  const requiredLimits: Record<string, number> = {};
  if (limits === 'adapter') for (const k of WANTED_LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  return { requiredFeatures, requiredLimits, label: 'trans3dhead' };
}

export class NoAdapterError extends Error {
  constructor(message: string) { super(message); this.name = 'NoAdapterError'; }
}

/** Weight/FLAME sources: a path or URL, the bytes themselves, or a Blob/File (a browser's file picker). */
export type BytesSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

export interface LoadOptions {
  /** Read and keep http(s) URLs in the download cache (default true); false: download, keep nothing. */
  cache?: boolean;
}

/** What loadBytes gives: the bytes and a name for messages. */
export interface LoadedBytes {
  bytes: Uint8Array;
  name: string;
  /**
   * Set when the bytes are in the download cache: `hit` when they were read from it (false: just
   * downloaded and stored). drop() removes the entry, for a file that then fails validation.
   */
  cached?: { hit: boolean; drop(): Promise<void> };
}

/** Pixels every platform can hand to the model: RGBA8 or RGB8 rows, top-down. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array | number[];
  width: number;
  height: number;
  /** 3 or 4; inferred from data.length when absent. */
  channels?: number;
}

/** What differs between Node and browsers; everything else is shared. */
export interface Platform {
  name: 'node' | 'browser';
  getDevice(opts?: DeviceOptions): Promise<GpuContext>;
  /**
   * Reads a path/URL (or passes bytes through); `name` is used in error messages. An http(s) URL
   * goes through the platform's download cache unless opts.cache is false.
   */
  loadBytes(src: BytesSource, onProgress?: (loaded: number, total: number) => void, opts?: LoadOptions): Promise<LoadedBytes>;
  /** Platform image inputs (Node: path, PNG/JPEG bytes; browser: ImageBitmap, canvas, ...) -> pixels. */
  decodeImage(input: unknown): Promise<RawImage>;
  /** A small persistent cache for generated files (Node: the cache folder, see node-io.ts), if any. */
  cache?: { read(name: string): Promise<Uint8Array | null>; write(name: string, bytes: Uint8Array): Promise<void> };
}

export function toBytes(src: ArrayBuffer | ArrayBufferView): Uint8Array {
  return src instanceof ArrayBuffer ? new Uint8Array(src) : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}

/**
 * Lazily created, process-wide devices per platform, one per (adapter, limits) choice, so a
 * caller asking for spec-default limits never silently gets the shared full-limits device.
 * release() destroys them all.
 */
export function sharedDevice(create: (opts: DeviceOptions) => Promise<GpuContext & { release(): void }>) {
  const devices = new Map<string, Promise<GpuContext & { release(): void }>>();
  return {
    get(opts: DeviceOptions = {}): Promise<GpuContext> {
      const key = `${opts.adapter ?? ''}|${opts.limits ?? ''}`;
      let d = devices.get(key);
      if (!d) {
        d = create(opts).catch((e) => { devices.delete(key); throw e; });
        devices.set(key, d);
      }
      return d;
    },
    async release(): Promise<void> {
      const all = [...devices.values()];
      devices.clear();
      for (const d of all) (await d.catch(() => null))?.release();
    },
  };
}

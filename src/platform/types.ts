/** What we know about the adapter a device came from; printed next to every figure. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU adapters (SwiftShader, WARP): their figures are CPU figures. */
  isFallbackAdapter: boolean;
  /** Where the device lives: Dawn inside Node, or a browser's navigator.gpu. */
  backend: 'dawn-node' | 'browser';
  /** True when we found no adapter and loaded SwiftShader ourselves. */
  swiftshaderFallback: boolean;
  features: string[];
  limits: Record<string, number>;
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

export interface DeviceOptions {
  /** Ask for a high-performance or low-power adapter where several exist. */
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn toggles (Node only), e.g. 'disable_robustness'. */
  enableToggles?: string[];
  /** Print the SwiftShader notice (default true). */
  quiet?: boolean;
}

/** A one-line description of an adapter, e.g. for bench output and the CLI. */
export function describeAdapter(a: AdapterReport): string {
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
  const cpu = a.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp/i.test(name);
  return `${name || 'unknown adapter'} (${a.backend}${cpu ? ', CPU adapter: figures are CPU figures' : ''})`;
}

/** Limits worth requesting: the adapter's maxima for what big tensors and kernels need. */
export const WANTED_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

export function adapterReport(adapter: GPUAdapter, backend: AdapterReport['backend'], swiftshaderFallback: boolean): AdapterReport {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) limits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  limits.minStorageBufferOffsetAlignment = adapter.limits.minStorageBufferOffsetAlignment;
  limits.minUniformBufferOffsetAlignment = adapter.limits.minUniformBufferOffsetAlignment;
  const legacyFallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const fallback = Boolean(info?.isFallbackAdapter ?? legacyFallback) ||
    /swiftshader/i.test(`${info?.architecture} ${info?.description} ${info?.device}`);
  return {
    vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '',
    description: info?.description ?? '', isFallbackAdapter: fallback, backend, swiftshaderFallback,
    features: [...adapter.features].sort(), limits,
  };
}

/** The device descriptor shared by both platforms: adapter maxima and the optional features we use. */
export function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const requiredFeatures: GPUFeatureName[] = [];
  for (const f of ['timestamp-query', 'subgroups'] as GPUFeatureName[]) if (adapter.features.has(f)) requiredFeatures.push(f);
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  return { requiredFeatures, requiredLimits, label: 'trans3dhead' };
}

export class NoAdapterError extends Error {
  constructor(message: string) { super(message); this.name = 'NoAdapterError'; }
}

/** Weight/FLAME sources: a path or URL, the bytes themselves, or a Blob/File (a browser's file picker). */
export type BytesSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

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
  /** Reads a path/URL (or passes bytes through); `name` is used in error messages. */
  loadBytes(src: BytesSource, onProgress?: (loaded: number, total: number) => void): Promise<{ bytes: Uint8Array; name: string }>;
  /** Platform image inputs (Node: path, PNG/JPEG bytes; browser: ImageBitmap, canvas, ...) -> pixels. */
  decodeImage(input: unknown): Promise<RawImage>;
  /** A small persistent cache for generated files (Node: ~/.cache/trans3dhead), if any. */
  cache?: { read(name: string): Promise<Uint8Array | null>; write(name: string, bytes: Uint8Array): Promise<void> };
}

export function toBytes(src: ArrayBuffer | ArrayBufferView): Uint8Array {
  return src instanceof ArrayBuffer ? new Uint8Array(src) : new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}

/** One lazily created, process-wide device per platform; release() destroys it. */
export function sharedDevice(create: (opts: DeviceOptions) => Promise<GpuContext & { release(): void }>) {
  let shared: Promise<GpuContext & { release(): void }> | null = null;
  return {
    get(opts: DeviceOptions = {}): Promise<GpuContext> {
      shared ??= create(opts).catch((e) => { shared = null; throw e; });
      return shared;
    },
    async release(): Promise<void> {
      const s = shared;
      shared = null;
      if (s) (await s.catch(() => null))?.release();
    },
  };
}

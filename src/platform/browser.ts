// The browser side of the platform split: navigator.gpu.
import { InputError } from '../model/image.ts';
import { toBytes, type BytesSource, type LoadedBytes, type LoadOptions, type Platform, type RawImage } from './types.ts';
import { adapterReport, deviceDescriptor, LIMITS_MODES, NoAdapterError, pickOption, sharedDevice, type DeviceOptions, type GpuContext } from './types.ts';

export async function createDevice(opts: DeviceOptions = {}): Promise<GpuContext & { release(): void }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new NoAdapterError('This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, or enable WebGPU in its settings.');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('WebGPU is present but no adapter was found: the GPU may be blocklisted; check chrome://gpu.');
  const limits = pickOption('the limits option', opts.limits, LIMITS_MODES, 'adapter');
  const device = await adapter.requestDevice(deviceDescriptor(adapter, limits));
  return {
    device, adapter: adapterReport(adapter, device, 'browser', false, limits), timestamps: device.features.has('timestamp-query'), settle: (start) => start(),
    release() { device.destroy(); },
  };
}

const shared = sharedDevice(createDevice);

/** The page-wide device, created on first use. */
export const getDevice = shared.get;
export const releaseDevice = shared.release;



/** Cache Storage bucket of downloaded model files (weights, FLAME): a second visit reads them from here. */
export const MODEL_CACHE = 'trans3dhead-models';

/** Drops every cached model file (the next load downloads again). */
export async function clearModelCache(): Promise<boolean> {
  return typeof caches === 'undefined' ? false : caches.delete(MODEL_CACHE);
}

/** Cache Storage where the page has it (secure contexts: https, localhost); null elsewhere. */
async function openCache(): Promise<Cache | null> {
  try { return typeof caches === 'undefined' ? null : await caches.open(MODEL_CACHE); } catch { return null; }
}

/**
 * Fetches a URL with progress in bytes (or passes bytes / a File through). A URL's response is
 * kept in Cache Storage (as transformers.js does), keyed by its absolute URL: the next load,
 * in this visit or a later one, reads it from there and downloads nothing (opts.cache false:
 * neither read nor kept). A changed file needs a new URL (or clearModelCache()).
 */
async function loadBytes(src: BytesSource | Blob, onProgress?: (loaded: number, total: number) => void, opts: LoadOptions = {}): Promise<LoadedBytes> {
  if (typeof Blob !== 'undefined' && src instanceof Blob) return { bytes: new Uint8Array(await src.arrayBuffer()), name: (src as File).name ?? '<file>' };
  if (typeof src !== 'string' && !(src instanceof URL)) return { bytes: toBytes(src as ArrayBuffer), name: '<memory>' };
  const url = String(src);
  const key = new URL(url, globalThis.location?.href).href;
  const cache = opts.cache === false ? null : await openCache();
  const hit = await cache?.match(key).catch(() => undefined);
  const r = hit ?? await fetch(url);
  if (!r.ok || !r.body) throw new InputError(`cannot download ${url}: HTTP ${r.status}`);
  const total = Number(r.headers.get('content-length') ?? 0);
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) { bytes.set(c, o); o += c.length; }
  const drop = async () => { await cache?.delete(key).catch(() => {}); };
  if (hit) return { bytes, name: url, cached: { hit: true, drop } };
  // Stored with its length so a cached load reports a total too. A full quota only costs the cache.
  const stored = cache && await cache.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(loaded) } })).then(() => true, () => false);
  return stored ? { bytes, name: url, cached: { hit: false, drop } } : { bytes, name: url };
}

/** Encoded bytes -> bitmap without colour management: the pixels Node's PNG/JPEG decoders give. */
async function decodeBlob(blob: Blob, name: string): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new InputError(`${name} could not be decoded as an image (${blob.type || 'unknown type'}, ${blob.size} bytes): pass a PNG, JPEG or WebP`);
  }
}

/** Any drawable (ImageBitmap, <img>, <canvas>, <video>, VideoFrame, ImageData, Blob) -> RGBA pixels. */
async function decodeImage(input: unknown): Promise<RawImage> {
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) return { data: input.data, width: input.width, height: input.height, channels: 4 };
  let source = input as CanvasImageSource;
  if (typeof Blob !== 'undefined' && input instanceof Blob) source = await decodeBlob(input, (input as File).name || 'the image');
  if (typeof input === 'string') {
    const r = await fetch(input);
    if (!r.ok) throw new InputError(`cannot download ${input}: HTTP ${r.status}`);
    source = await decodeBlob(await r.blob(), input);
  }
  const w = (source as HTMLVideoElement).videoWidth || (source as VideoFrame).displayWidth || (source as HTMLImageElement).naturalWidth || (source as ImageBitmap).width;
  const h = (source as HTMLVideoElement).videoHeight || (source as VideoFrame).displayHeight || (source as HTMLImageElement).naturalHeight || (source as ImageBitmap).height;
  if (!w || !h) throw new InputError('unsupported or not yet loaded image: pass ImageData, ImageBitmap, a loaded <img>, <canvas>, <video>, VideoFrame, a Blob, or {data, width, height}');
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new InputError('no 2D canvas context to read pixels with');
  ctx.drawImage(source, 0, 0, w, h);
  const d = ctx.getImageData(0, 0, w, h);
  return { data: d.data, width: w, height: h, channels: 4 };
}

export const browserPlatform: Platform = { name: 'browser', getDevice, loadBytes: loadBytes as Platform['loadBytes'], decodeImage };

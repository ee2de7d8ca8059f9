// Node file and image access for the platform split (paths, URLs, PNG/JPEG decoding, cache dir).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../model/image.ts';
import { toBytes, type BytesSource, type LoadedBytes, type LoadOptions, type RawImage } from './types.ts';

/** Where downloaded model files (models/) and generated files are kept: $TRANS3DHEAD_CACHE, else $XDG_CACHE_HOME/trans3dhead, else ~/.cache/trans3dhead. */
export function cacheDir(): string {
  return process.env.TRANS3DHEAD_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'trans3dhead');
}

/** The folder of model files downloaded from http(s) URLs (what clearModelCache() empties). */
export const modelCacheDir = (): string => join(cacheDir(), 'models');

/** Drops every downloaded model file (the next load downloads again); true if there was a cache. */
export async function clearModelCache(): Promise<boolean> {
  const dir = modelCacheDir();
  const had = await stat(dir).then(() => true, () => false);
  await rm(dir, { recursive: true, force: true });
  return had;
}

export async function loadBytes(src: BytesSource, onProgress?: (loaded: number, total: number) => void, opts: LoadOptions = {}): Promise<LoadedBytes> {
  if (src instanceof Blob) return { bytes: new Uint8Array(await src.arrayBuffer()), name: (src as File).name || '<blob>' };
  if (typeof src !== 'string' && !(src instanceof URL)) return { bytes: toBytes(src), name: '<memory>' };
  const s = String(src);
  if (/^https?:\/\//i.test(s)) return loadUrl(s, onProgress, opts.cache ?? true);
  const path = s.startsWith('file:') ? fileURLToPath(s) : s;
  try {
    const b = await readFile(path);
    return { bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), name: path };
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

// The download cache, like transformers.js's file cache: one file per URL, named by the URL's
// SHA-256, next to a small JSON record (URL, size, ETag, Last-Modified). Files are written to a
// temporary name and renamed, and only after the whole body arrived, so an interrupted download
// or a killed process never leaves a truncated entry. No revalidation: a changed file needs a
// new URL or clearModelCache(), as in the browser.
interface CacheRecord { url: string; size: number; etag?: string; lastModified?: string; stored: string }

function entryPaths(url: string): { data: string; record: string } {
  const h = createHash('sha256').update(url).digest('hex');
  return { data: join(modelCacheDir(), `${h}.bin`), record: join(modelCacheDir(), `${h}.json`) };
}

async function loadUrl(url: string, onProgress: ((loaded: number, total: number) => void) | undefined, useCache: boolean): Promise<LoadedBytes> {
  const paths = entryPaths(url);
  const drop = async () => { await unlink(paths.record).catch(() => {}); await unlink(paths.data).catch(() => {}); };
  if (useCache) {
    const bytes = await readEntry(url, paths);
    if (bytes) {
      onProgress?.(bytes.length, bytes.length);
      return { bytes, name: url, cached: { hit: true, drop } };
    }
  }
  const { bytes, etag, lastModified } = await download(url, onProgress);
  if (useCache && await writeEntry(paths, bytes, { url, size: bytes.length, etag, lastModified, stored: new Date().toISOString() })) {
    return { bytes, name: url, cached: { hit: false, drop } };
  }
  return { bytes, name: url };
}

/** The cached bytes of `url`, or null when there is no complete entry (the record must match the file). */
async function readEntry(url: string, paths: { data: string; record: string }): Promise<Uint8Array | null> {
  try {
    const rec = JSON.parse(await readFile(paths.record, 'utf8')) as CacheRecord;
    if (rec.url !== url) return null;
    const b = await readFile(paths.data);
    return b.byteLength === rec.size ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : null;
  } catch {
    return null;
  }
}

let cacheWarned = false;

/** Stores an entry atomically (data, then its record); false when the cache cannot be written. */
async function writeEntry(paths: { data: string; record: string }, bytes: Uint8Array, rec: CacheRecord): Promise<boolean> {
  const tag = `${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const tmpData = `${paths.data}.${tag}`, tmpRecord = `${paths.record}.${tag}`;
  try {
    await mkdir(modelCacheDir(), { recursive: true });
    // The record goes first and comes back last: a crash in between leaves a file without a record, a miss.
    await unlink(paths.record).catch(() => {});
    await writeFile(tmpData, bytes);
    await rename(tmpData, paths.data);
    await writeFile(tmpRecord, JSON.stringify(rec));
    await rename(tmpRecord, paths.record);
    return true;
  } catch (e) {
    await unlink(tmpData).catch(() => {});
    await unlink(tmpRecord).catch(() => {});
    // A cache that cannot be written only costs time; say so once.
    if (!cacheWarned) {
      cacheWarned = true;
      process.stderr.write(`trans3dhead: cannot keep downloads in ${modelCacheDir()} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set TRANS3DHEAD_CACHE to a writable folder, or pass cache: false (CLI: --no-cache).\n`);
    }
    return false;
  }
}

/** undici's errors carry the reason in `cause` (ECONNREFUSED, "other side closed"). */
function reason(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err.cause?.message || err.cause?.code;
  return cause ? `${err.message}: ${cause}` : err.message;
}

/** GETs a URL with progress in bytes; the body must arrive whole (Content-Length, when given, is checked). */
async function download(url: string, onProgress?: (loaded: number, total: number) => void): Promise<{ bytes: Uint8Array; etag?: string; lastModified?: string }> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new InputError(`cannot download ${url}: ${reason(e)}`);
  }
  if (!r.ok || !r.body) throw new InputError(`cannot download ${url}: HTTP ${r.status}`);
  // A compressed body's Content-Length counts the compressed bytes, not the ones we get.
  const encoding = r.headers.get('content-encoding');
  const total = encoding && encoding !== 'identity' ? 0 : Number(r.headers.get('content-length') ?? 0) || 0;
  // Known length: one buffer, no second copy of a 200 MB file.
  let buf: Uint8Array | null = total ? new Uint8Array(total) : null;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = r.body.getReader();
  const cutShort = (why: string) => new InputError(`the download of ${url} stopped after ${loaded}${total ? ` of ${total}` : ''} bytes (${why}); nothing was cached: try again`);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (buf && loaded + value.length <= buf.length) buf.set(value, loaded);
      else {
        if (buf) { chunks.push(buf.subarray(0, loaded)); buf = null; }
        chunks.push(value);
      }
      loaded += value.length;
      onProgress?.(loaded, total);
    }
  } catch (e) {
    throw cutShort(reason(e));
  }
  if (total && loaded !== total) throw cutShort(`the server announced ${total}`);
  let bytes: Uint8Array;
  if (buf) bytes = buf.subarray(0, loaded);
  else {
    bytes = new Uint8Array(loaded);
    let o = 0;
    for (const c of chunks) { bytes.set(c, o); o += c.length; }
  }
  return { bytes, etag: r.headers.get('etag') ?? undefined, lastModified: r.headers.get('last-modified') ?? undefined };
}

/** PNG/JPEG bytes -> RGBA pixels. */
export function decodeImageBytes(bytes: Uint8Array, name = '<memory>'): RawImage {
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), width: png.width, height: png.height, channels: 4 };
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return { data: j.data, width: j.width, height: j.height, channels: 4 };
    }
  } catch (e) {
    throw new InputError(`${name}: cannot decode the image (${(e as Error).message})`);
  }
  throw new InputError(`${name}: not a PNG or JPEG file; pass PNG/JPEG bytes, a file path, or {data, width, height} pixels`);
}

export async function decodeImage(input: unknown): Promise<RawImage> {
  if (typeof input === 'string' || input instanceof URL) {
    // Images are not model files: never kept in the download cache.
    const { bytes, name } = await loadBytes(input, undefined, { cache: false });
    return decodeImageBytes(bytes, name);
  }
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return decodeImageBytes(toBytes(input as ArrayBuffer));
  throw new InputError(`unsupported image input (${Object.prototype.toString.call(input)}): in Node pass a file path, PNG/JPEG bytes, or {data, width, height}`);
}

export const cache = {
  async read(name: string): Promise<Uint8Array | null> {
    try { return new Uint8Array(await readFile(join(cacheDir(), name))); } catch { return null; }
  },
  async write(name: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(cacheDir(), `${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await mkdir(cacheDir(), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, join(cacheDir(), name));
    } catch { await unlink(tmp).catch(() => {}); /* a cache that cannot be written only costs time */ }
  },
};

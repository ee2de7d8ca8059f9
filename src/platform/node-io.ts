// Node file and image access for the platform split (paths, URLs, PNG/JPEG decoding, cache dir).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../model/image.ts';
import { toBytes, type BytesSource, type RawImage } from './types.ts';

export async function loadBytes(src: BytesSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (src instanceof Blob) return { bytes: new Uint8Array(await src.arrayBuffer()), name: (src as File).name || '<blob>' };
  if (typeof src !== 'string' && !(src instanceof URL)) return { bytes: toBytes(src), name: '<memory>' };
  const s = String(src);
  if (/^https?:\/\//.test(s)) {
    const r = await fetch(s);
    if (!r.ok) throw new InputError(`cannot download ${s}: HTTP ${r.status}`);
    return { bytes: new Uint8Array(await r.arrayBuffer()), name: s };
  }
  const path = s.startsWith('file:') ? fileURLToPath(s) : s;
  try {
    const b = await readFile(path);
    return { bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), name: path };
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
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
    const { bytes, name } = await loadBytes(input);
    return decodeImageBytes(bytes, name);
  }
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return decodeImageBytes(toBytes(input as ArrayBuffer));
  throw new InputError(`unsupported image input (${Object.prototype.toString.call(input)}): in Node pass a file path, PNG/JPEG bytes, or {data, width, height}`);
}

const cacheDir = () => join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'trans3dhead');

export const cache = {
  async read(name: string): Promise<Uint8Array | null> {
    try { return new Uint8Array(await readFile(join(cacheDir(), name))); } catch { return null; }
  },
  async write(name: string, bytes: Uint8Array): Promise<void> {
    try {
      await mkdir(cacheDir(), { recursive: true });
      const tmp = join(cacheDir(), `${name}.${process.pid}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(cacheDir(), name));
    } catch { /* a cache that cannot be written only costs time */ }
  },
};

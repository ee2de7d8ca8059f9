// Loading model files (weights, FLAME and its landmark files, the face detector) through the
// platform, then parsing them: the one place that knows about the download cache's entries.
import { WeightFileError } from '../io/errors.ts';
import type { BytesSource, LoadedBytes, Platform } from './types.ts';

export interface ModelFileSource {
  src: BytesSource;
  /** What the file is, for messages: 'weights', 'FLAME', ... */
  what: string;
  onProgress?: (loaded: number, total: number) => void;
}

const nameOf = (src: BytesSource) => (typeof src === 'string' || src instanceof URL ? String(src) : '<memory>');

/** A model file that cannot be read is a WeightFileError, like one that cannot be parsed. */
async function read(platform: Platform, f: ModelFileSource, cache: boolean | undefined): Promise<LoadedBytes> {
  try {
    return await platform.loadBytes(f.src, f.onProgress, { cache });
  } catch (e) {
    throw new WeightFileError(nameOf(f.src), `cannot load the ${f.what} file (${(e as Error).message})`);
  }
}

/**
 * Loads the files and parses them together. A cached download never sticks when it fails to
 * parse: every cached entry among them is dropped; when one was read from the cache, all are
 * loaded again once (a fresh download), else the parse error stands with nothing kept.
 */
export async function loadModelFiles<T>(platform: Platform, files: ModelFileSource[], parse: (loaded: LoadedBytes[]) => T, cache?: boolean): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const loaded = await Promise.all(files.map((f) => read(platform, f, cache)));
    try {
      return parse(loaded);
    } catch (e) {
      const cached = loaded.filter((l) => l.cached);
      await Promise.all(cached.map((l) => l.cached!.drop()));
      if (attempt > 0 || !cached.some((l) => l.cached!.hit)) throw e;
    }
  }
}

/** One file: loadModelFiles for a single source. */
export function loadModelFile<T>(platform: Platform, f: ModelFileSource, parse: (bytes: Uint8Array, name: string) => T, cache?: boolean): Promise<T> {
  return loadModelFiles(platform, [f], ([l]) => parse(l.bytes, l.name), cache);
}

// Every failure with a model file (weights, FLAME, landmark embedding: unreadable, malformed, or
// not fitting the weights) is a WeightFileError. Model files are untrusted input (they come from
// the internet), so readers validate everything and report problems in terms a user can act on:
// which file, which entry, what was expected, what was found. The other public errors:
// InputError (model/image.ts: images, boxes, poses), NoAdapterError (platform/types.ts),
// DeviceLostError (graph/compile.ts); a plain Error is API misuse or a bug.

export interface WeightFileErrorDetails {
  /** The tensor / dict key / zip entry the problem is about, when there is one. */
  key?: string;
  /** What the reader expected, e.g. `shape [10, 3]`. */
  expected?: string;
  /** What it found instead. */
  found?: string;
  /** What the user can do about it. */
  hint?: string;
}

export class WeightFileError extends Error {
  readonly file: string;
  readonly key?: string;
  readonly expected?: string;
  readonly found?: string;

  constructor(file: string, problem: string, details: WeightFileErrorDetails = {}) {
    let message = `${file}`;
    if (details.key !== undefined) message += ` [${details.key}]`;
    message += `: ${problem}`;
    if (details.expected !== undefined) message += `; expected ${details.expected}`;
    if (details.found !== undefined) message += `${details.expected !== undefined ? ',' : ';'} found ${details.found}`;
    if (details.hint !== undefined) message += `. ${details.hint}`;
    super(message);
    this.name = 'WeightFileError';
    this.file = file;
    if (details.key !== undefined) this.key = details.key;
    if (details.expected !== undefined) this.expected = details.expected;
    if (details.found !== undefined) this.found = details.found;
  }
}

/** Throws a WeightFileError; a function so that checks read as one line. */
export function fail(file: string, problem: string, details?: WeightFileErrorDetails): never {
  throw new WeightFileError(file, problem, details);
}

/** Short, bounded description of an untrusted value for error messages. */
export function describe(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (Array.isArray(value)) {
    if (depth > 1) return `list(${value.length})`;
    const items = value.slice(0, 6).map((v) => describe(v, depth + 1));
    return `[${items.join(', ')}${value.length > 6 ? ', ...' : ''}]`;
  }
  if (value instanceof Map) return `dict(${value.size} entries)`;
  if (value instanceof Set) return `set(${value.size} entries)`;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name ? `<${name}>` : '<object>';
}

/** Allocates a typed array, turning an engine allocation failure into a WeightFileError. */
export function allocFloat32(file: string, n: number, key?: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch {
    return fail(file, `cannot allocate ${n} floats`, { key, hint: 'the file declares a tensor larger than this machine can hold' });
  }
}

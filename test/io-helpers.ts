// Shared by the weight-reader tests.
import * as assert from 'uvu/assert';
import { WeightFileError } from '../src/io/errors.ts';

/** Runs fn, which must throw a WeightFileError whose message contains every part. */
export function throwsWFE(fn: () => unknown, ...parts: string[]): WeightFileError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WeightFileError)) throw new Error(`expected WeightFileError, got ${(e as Error)?.stack ?? e}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return e;
  }
  throw new Error('expected a WeightFileError, nothing was thrown');
}

// The one-euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass filter whose cutoff rises with
// the signal's speed, so a still head does not jitter and a moving one does not lag. Used by
// runVideo on head boxes and outputs (landmarks, projected vertices), element by element.

export interface OneEuroOptions {
  /** Cutoff (Hz) when still: lower = less jitter, more lag. Default 1. */
  minCutoff?: number;
  /** How fast the cutoff rises with speed (per unit/s): higher = less lag when moving. Default 0.05. */
  beta?: number;
  /** Cutoff (Hz) of the speed estimate. Default 1. */
  dCutoff?: number;
}

const alpha = (cutoffHz: number, dtS: number) => 1 / (1 + 1 / (2 * Math.PI * cutoffHz * dtS));

/** Filters a vector of fixed length; one instance per signal (e.g. per tracked head). */
export class OneEuroFilter {
  private x: Float64Array | null = null;
  private dx: Float64Array | null = null;
  private t = 0;
  readonly minCutoff: number;
  readonly beta: number;
  readonly dCutoff: number;

  constructor(opts: OneEuroOptions = {}) {
    this.minCutoff = opts.minCutoff ?? 1;
    this.beta = opts.beta ?? 0.05;
    this.dCutoff = opts.dCutoff ?? 1;
    for (const [k, v] of Object.entries({ minCutoff: this.minCutoff, beta: this.beta, dCutoff: this.dCutoff })) {
      if (!Number.isFinite(v) || v < 0 || (k !== 'beta' && v === 0)) throw new RangeError(`one-euro ${k} ${v}: expected a ${k === 'beta' ? 'non-negative' : 'positive'} number`);
    }
  }

  /** Forgets the past: the next value passes through unfiltered. */
  reset(): void { this.x = null; this.dx = null; }

  /**
   * Filters `value` sampled at `timestampMs` (strictly increasing) and returns a new array. A
   * length change or a non-finite value resets the filter (a new signal, not a continuation).
   */
  filter(value: ArrayLike<number>, timestampMs: number): Float32Array {
    const n = value.length;
    const out = new Float32Array(n);
    let finite = true;
    for (let i = 0; i < n; i++) if (!Number.isFinite(value[i])) { finite = false; break; }
    if (!finite) { this.reset(); out.set(value as ArrayLike<number>); return out; }
    if (this.x && this.x.length === n && !(timestampMs > this.t)) {
      throw new RangeError(`one-euro filter: timestamp ${timestampMs} ms is not after the previous one (${this.t} ms)`);
    }
    if (!this.x || this.x.length !== n) {
      this.x = Float64Array.from(value as ArrayLike<number>);
      this.dx = new Float64Array(n);
      this.t = timestampMs;
      out.set(value as ArrayLike<number>);
      return out;
    }
    const dt = (timestampMs - this.t) / 1000;
    this.t = timestampMs;
    const ad = alpha(this.dCutoff, dt);
    const x = this.x, dx = this.dx!;
    for (let i = 0; i < n; i++) {
      const d = (value[i] - x[i]) / dt;
      dx[i] += ad * (d - dx[i]);
      const a = alpha(this.minCutoff + this.beta * Math.abs(dx[i]), dt);
      x[i] += a * (value[i] - x[i]);
      out[i] = x[i];
    }
    return out;
  }
}

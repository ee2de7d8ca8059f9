// Shared test helpers: the device (failing loudly without one), seeded data, tolerances.
import { getDevice } from '../src/platform/node.ts';
import type { GpuContext } from '../src/platform/types.ts';
import { Graph, type HostData } from '../src/graph/graph.ts';
import { CompiledGraph } from '../src/graph/compile.ts';
import { tuningFor } from '../src/graph/tuning.ts';

export async function gpu(): Promise<GpuContext> {
  try {
    return await getDevice({ quiet: true });
  } catch (e) {
    throw new Error(`These tests need a WebGPU adapter and none was found.\n${(e as Error).message}\n` +
      'On Debian without a GPU: apt-get install libvulkan1 chromium (SwiftShader is then found automatically).');
  }
}

export async function newGraph(): Promise<Graph> {
  return new Graph(tuningFor(await gpu()));
}

/** Compiles, runs once, disposes. */
export async function runGraph(g: Graph, inputs: Record<string, HostData>): Promise<Record<string, Float32Array>> {
  const cg = await CompiledGraph.create(await gpu(), g);
  try { return await cg.run(inputs); } finally { cg.dispose(); cg.weights.dispose(); }
}

/** mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/**
 * Asserts |a - e| <= atol + rtol * |e| elementwise. f32 kernels accumulate in a different order
 * than the f64 CPU references: ~1e-6 relative per op, times sqrt(K) for sums of K terms.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol: number }, label: string): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      if (worst < 0 || err > worstErr || Number.isNaN(a)) { worst = i; worstErr = err; }
    }
  }
  if (worst >= 0) throw new Error(`${label}: index ${worst}: got ${actual[worst]}, expected ${expected[worst]} (|err| ${worstErr.toExponential(3)} > atol ${tol.atol} + rtol ${tol.rtol}*|ref|)`);
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Counts the GPU buffers created on ctx's device and not yet destroyed, until restore().
 * Used to prove that dispose() frees everything.
 */
export function trackLiveBuffers(ctx: GpuContext): { live(): number; restore(): void } {
  const dev = ctx.device as unknown as { createBuffer: (d: GPUBufferDescriptor) => GPUBuffer };
  const create = dev.createBuffer;
  let live = 0;
  dev.createBuffer = (d: GPUBufferDescriptor) => {
    const b = create.call(ctx.device, d);
    live++;
    const destroy = b.destroy.bind(b);
    let done = false;
    b.destroy = () => { if (!done) { done = true; live--; } destroy(); };
    return b;
  };
  return { live: () => live, restore: () => { dev.createBuffer = create; } };
}

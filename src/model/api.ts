// The public API, written once against a Platform; src/index.ts (Node) and src/browser.ts bind it.
import type { BytesSource, GpuContext, Platform } from '../platform/types.ts';
import { Trans3DHead, type BoxRunOptions, type CreateModelOptions, type DetectRunOptions, type HeadResult, type RunOptions } from './trans3dhead.ts';

export function bindApi(platform: Platform) {
  let last: { key: string; device: GpuContext | undefined; model: Promise<Trans3DHead> } | null = null;
  const keyOf = (s: BytesSource | undefined) => (s === undefined ? '' : typeof s === 'string' || s instanceof URL ? String(s) : null);

  /** Loads weights and FLAME, gets a device; the returned model runs many images. */
  const createModel = (opts: CreateModelOptions = {}): Promise<Trans3DHead> => Trans3DHead.create(platform, opts);

  /**
   * One call: image in, result(s) out, as Trans3DHead.run: with a box one HeadResult, without
   * one every detected head (HeadResult[]). The model for the same weights/FLAME/landmark paths,
   * config, device and detector is kept for the next call (models from in-memory bytes are not;
   * use createModel for those).
   */
  function runModel(image: unknown, opts: CreateModelOptions & BoxRunOptions): Promise<HeadResult>;
  function runModel(image: unknown, opts?: CreateModelOptions & DetectRunOptions): Promise<HeadResult[]>;
  function runModel(image: unknown, opts?: CreateModelOptions & RunOptions & { maxHeads?: number }): Promise<HeadResult | HeadResult[]>;
  async function runModel(image: unknown, opts: CreateModelOptions & RunOptions & { maxHeads?: number } = {}): Promise<HeadResult | HeadResult[]> {
    const sources = [opts.weights, opts.flame, ...(opts.flameLandmarks ?? []), opts.detectorFile].map(keyOf);
    const ownDetector = typeof opts.detector === 'object';
    if (sources.includes(null) || ownDetector) {
      const m = await createModel(opts);
      try { return await m.run(image, opts); } finally { await m.dispose(); }
    }
    const key = JSON.stringify([sources, opts.config ?? null, opts.stripPrefix ?? null, opts.adapter ?? null, opts.limits ?? null, opts.schedule ?? null, opts.detector ?? null]);
    if (!last || last.key !== key || last.device !== opts.device) {
      const old = last;
      const mine = { key, device: opts.device, model: createModel(opts) };
      last = mine;
      mine.model.catch(() => { if (last === mine) last = null; });
      old?.model.then((m) => m.dispose(), () => {});
    }
    return (await last.model).run(image, opts);
  }

  return { createModel, runModel };
}

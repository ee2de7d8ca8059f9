// The full model on the built-in seeded weights, run on the sample photo with the whole image as
// the crop: what the GPU check's expected outputs (bench/gpu-check.ts --write-expected) and
// test/adapters.test.ts's per-adapter runs (test/child/full-model.ts) both compute, made here once.
// The weights come from bytes, not the on-disk cache of the defaults: the numbers are the seed's,
// whatever an old cache holds.
import { createHash } from 'node:crypto';
import { DEFAULT_CONFIG } from '../src/model/config.ts';
import { defaultWeights, DEFAULT_WEIGHTS_SEED } from '../src/model/default-weights.ts';
import { Trans3DHead, type HeadResult } from '../src/model/trans3dhead.ts';
import { weightsToSafetensors } from '../src/model/weights.ts';
import { nodePlatform } from '../src/platform/node.ts';
import type { GpuContext } from '../src/platform/types.ts';
import type { StateDict } from '../src/io/tensor.ts';

export const SAMPLE_IMAGE = 'test/fixtures/astronaut-head.png';
export { DEFAULT_WEIGHTS_SEED };

function weightsDigest(sd: StateDict): string {
  const h = createHash('sha256');
  for (const k of [...sd.keys()].sort()) { const t = sd.get(k)!; h.update(k); h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); }
  return h.digest('hex');
}

/**
 * The full-size model on the seeded default weights and the synthetic FLAME, on `device` (default:
 * the adapter, limits and schedule the TRANS3DHEAD_* variables choose); with the weights' sha256
 * and their safetensors bytes (for models of other weight formats on the same weights).
 */
export async function seededModel(device?: GpuContext): Promise<{ model: Trans3DHead; weightsSha256: string; weights: Uint8Array }> {
  const sd = defaultWeights(DEFAULT_CONFIG);
  const weightsSha256 = weightsDigest(sd);
  const weights = weightsToSafetensors(sd, DEFAULT_CONFIG, { synthetic: 'true' });
  const model = await Trans3DHead.create(nodePlatform, { weights, device });
  sd.clear();
  return { model, weightsSha256, weights };
}

/** One run of the model on an image (a path, or decoded), the whole image as the crop. */
export async function runWhole(model: Trans3DHead, image: unknown = SAMPLE_IMAGE): Promise<HeadResult> {
  const [r] = await model.runBatch([image], { box: 'image' });
  return r;
}

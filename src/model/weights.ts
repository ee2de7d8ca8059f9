// Loading model weights: our safetensors (config in its metadata) or a PyTorch checkpoint,
// validated against the config before anything touches the GPU.
import { fail, WeightFileError } from '../io/errors.ts';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import type { StateDict } from '../io/tensor.ts';
import { readTorchCheckpoint } from '../io/torch.ts';
import { isZip } from '../io/zip.ts';
import { resolveConfig, validateStateDict, type Trans3DHeadConfig } from './config.ts';

export interface LoadedWeights { sd: StateDict; config: Trans3DHeadConfig; file: string; synthetic: boolean }

/** Reads the config a state dict implies (for checkpoints without metadata); nhead cannot be seen in shapes. */
export function inferConfig(sd: StateDict, nhead = 8): Partial<Trans3DHeadConfig> {
  const dim = (k: string, i = 0) => sd.get(k)?.shape[i];
  let layers = 0;
  while (sd.has(`params_branch.layers.${layers}.linear1.weight`)) layers++;
  const out: Record<string, unknown> = { nhead };
  const width = dim('backbone.conv1.weight');
  if (width) out.backbone = { depth: 50, width };
  const d = dim('input_proj.bias');
  if (d) out.d_model = d;
  const ff = dim('params_branch.layers.0.linear1.weight');
  if (ff) out.dim_feedforward = ff;
  if (layers) out.num_layers = layers;
  return out as Partial<Trans3DHeadConfig>;
}

export function parseWeights(bytes: Uint8Array, file: string, opts: { config?: Partial<Trans3DHeadConfig>; stripPrefix?: string } = {}): LoadedWeights {
  let sd: StateDict;
  let meta: Record<string, string> = {};
  if (isZip(bytes)) sd = readTorchCheckpoint(bytes, { file, stripPrefix: opts.stripPrefix });
  else if (bytes.length >= 8) {
    ({ tensors: sd, metadata: meta } = readSafetensors(bytes, file));
    if (opts.stripPrefix) sd = new Map([...sd].map(([k, v]) => [k.startsWith(opts.stripPrefix!) ? k.slice(opts.stripPrefix!.length) : k, v]));
  } else return fail(file, 'not a weight file', { expected: 'a .safetensors file or a PyTorch checkpoint (.pth, zip format)', found: `${bytes.length} bytes` });
  let fileConfig: unknown = undefined;
  if (meta.config) {
    try { fileConfig = JSON.parse(meta.config); } catch { fail(file, 'metadata config is not JSON', { key: '__metadata__.config' }); }
  }
  const config = resolveConfig({ ...inferConfig(sd, (fileConfig as Trans3DHeadConfig | undefined)?.nhead ?? opts.config?.nhead), ...(fileConfig as object ?? {}), ...(opts.config ?? {}) }, file);
  validateStateDict(sd, config, file);
  return { sd, config, file, synthetic: meta.synthetic === 'true' };
}

/** Our weight file: the state dict plus `__metadata__.config` (SPEC section 8). */
export function weightsToSafetensors(sd: StateDict, config: Trans3DHeadConfig, extra: Record<string, string> = {}): Uint8Array {
  const clean: StateDict = new Map([...sd].filter(([k]) => !k.endsWith('num_batches_tracked')));
  return writeSafetensors(clean, { format: 'trans3dhead', config: JSON.stringify(config), ...extra });
}

export { WeightFileError };

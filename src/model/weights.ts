// Loading model weights: our safetensors (config in its metadata) or a PyTorch checkpoint,
// validated against the config before anything touches the GPU.
import { fail, WeightFileError } from '../io/errors.ts';
import { readSafetensors, writeSafetensors, type WritableTensor } from '../io/safetensors.ts';
import { formatShape, type DType, type StateDict } from '../io/tensor.ts';
import { readTorchCheckpoint } from '../io/torch.ts';
import { isZip } from '../io/zip.ts';
import { f32ToF16, quantizeInt8, WEIGHT_FORMATS, type WeightFormat } from '../kernels/weights.ts';
import { BN_EPS, foldBatchNorm } from './backbone.ts';
import { RESNET50_BLOCKS, resolveConfig, validateStateDict, type Trans3DHeadConfig } from './config.ts';

export interface LoadedWeights {
  sd: StateDict; config: Trans3DHeadConfig; file: string; synthetic: boolean;
  /** How the file stores its weight matrices: the GPU keeps them so unless told otherwise. */
  dtype: WeightFormat;
  /** int8 files: the layers kept in f16 (`convert --keep-f16`), regexps on module paths; the GPU follows them. */
  keepF16: RegExp[];
}

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
  let dtypes = new Map<string, DType>();
  if (isZip(bytes)) sd = readTorchCheckpoint(bytes, { file, stripPrefix: opts.stripPrefix, dtypes });
  else if (bytes.length >= 8) {
    ({ tensors: sd, metadata: meta, dtypes } = readSafetensors(bytes, file));
    if (opts.stripPrefix) {
      const strip = (k: string) => k.startsWith(opts.stripPrefix!) ? k.slice(opts.stripPrefix!.length) : k;
      sd = new Map([...sd].map(([k, v]) => [strip(k), v]));
      dtypes = new Map([...dtypes].map(([k, v]) => [strip(k), v]));
    }
  } else return fail(file, 'not a weight file', { expected: 'a .safetensors file or a PyTorch checkpoint (.pth, zip format)', found: `${bytes.length} bytes` });
  let fileConfig: unknown = undefined;
  if (meta.config) {
    try { fileConfig = JSON.parse(meta.config); } catch { fail(file, 'metadata config is not JSON', { key: '__metadata__.config' }); }
  }
  sd = dequantize(sd, dtypes, file);
  const config = resolveConfig({ ...inferConfig(sd, (fileConfig as Trans3DHeadConfig | undefined)?.nhead ?? opts.config?.nhead), ...(fileConfig as object ?? {}), ...(opts.config ?? {}) }, file);
  validateStateDict(sd, config, file);
  let dtype = storedFormat(sd, dtypes);
  if (meta.dtype !== undefined) {
    if (!(WEIGHT_FORMATS as readonly string[]).includes(meta.dtype)) fail(file, 'unknown weight dtype in the metadata', { key: '__metadata__.dtype', expected: WEIGHT_FORMATS.join(', '), found: JSON.stringify(meta.dtype) });
    dtype = meta.dtype as WeightFormat;
  }
  let keepF16: RegExp[] = [];
  if (meta.keep_f16 !== undefined) {
    try { keepF16 = (JSON.parse(meta.keep_f16) as string[]).map((r) => new RegExp(r)); } catch { fail(file, 'metadata keep_f16 is not a JSON list of regular expressions', { key: '__metadata__.keep_f16', found: meta.keep_f16.slice(0, 80) }); }
  }
  return { sd, config, file, synthetic: meta.synthetic === 'true', dtype, keepF16 };
}

const INTEGER_DTYPES: ReadonlySet<DType> = new Set(['I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']);

/**
 * int8 weights (I8 with an F32 `<key>_scale` of one value per output channel, dim 0) -> f32
 * q * scale; the scale keys are dropped. Integer dtypes anywhere else are an error.
 */
function dequantize(sd: StateDict, dtypes: Map<string, DType>, file: string): StateDict {
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    const dt = dtypes.get(key);
    if (key.endsWith(SCALE_SUFFIX)) {
      const base = key.slice(0, -SCALE_SUFFIX.length);
      if (dtypes.get(base) !== 'I8') fail(file, 'int8 scale without an int8 weight', { key, expected: `an I8 tensor ${base}`, found: sd.has(base) ? `${base} stored as ${dtypes.get(base)}` : 'nothing' });
      continue;
    }
    if (dt === 'I8') {
      const sk = key + SCALE_SUFFIX;
      const s = sd.get(sk);
      if (!s) fail(file, 'int8 weight without its scale', { key, expected: `an F32 tensor ${sk} [${t.shape[0] ?? '?'}]`, found: 'nothing', hint: 'int8 files come from `trans3dhead convert --dtype int8`; convert the original file again' });
      if (t.shape.length < 2) fail(file, 'wrong dtype for this weight', { key, expected: 'F32 or F16 (int8 is only for conv and linear weight matrices)', found: `I8 ${formatShape(t.shape)}` });
      const sdt = dtypes.get(sk);
      if (sdt !== 'F32' && sdt !== 'F16') fail(file, 'wrong dtype for an int8 scale', { key: sk, expected: 'F32', found: String(sdt) });
      if (s.shape.length !== 1 || s.shape[0] !== t.shape[0]) fail(file, 'int8 scale has the wrong shape', { key: sk, expected: `[${t.shape[0]}] (one per output channel of ${formatShape(t.shape)})`, found: formatShape(s.shape) });
      const per = t.data.length / t.shape[0]!;
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) data[i] = t.data[i]! * s.data[Math.floor(i / per)]!;
      out.set(key, { shape: t.shape, data });
      continue;
    }
    if (dt && INTEGER_DTYPES.has(dt) && !key.endsWith('num_batches_tracked')) {
      fail(file, 'wrong dtype for this weight', { key, expected: 'F32, F16 or BF16 (or I8 with a scale)', found: dt });
    }
    out.set(key, t);
  }
  return out;
}

/** The format a file's weight matrices are stored in (files without a dtype in their metadata: .pth). */
function storedFormat(sd: StateDict, dtypes: Map<string, DType>): WeightFormat {
  const matrices = [...sd].filter(([k, t]) => isMatrixKey(k, t.shape)).map(([k]) => dtypes.get(k));
  if (matrices.some((d) => d === 'I8')) return 'int8';
  if (matrices.length && matrices.every((d) => d === 'F16' || d === 'BF16')) return 'f16';
  return 'f32';
}

/** Suffix of an int8 weight's scale key: `backbone.conv1.weight` -> `backbone.conv1.weight_scale`. */
export const SCALE_SUFFIX = '_scale';

/** Weights stored compact: conv and linear weight matrices (and embeddings) of 1024+ values. */
export function isMatrixKey(key: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && shape.reduce((a, b) => a * b, 1) >= 1024 && /(\.|_)weight$/.test(key);
}

/** Keys whose int8 form is not used: embeddings are not matmul weights (they stay f16). */
const NOT_INT8 = /query_embed\.weight$/;

/** Every backbone conv and its BatchNorm (state-dict prefixes). */
export function backboneConvBn(prefix = 'backbone.'): [conv: string, bn: string][] {
  const out: [string, string][] = [[`${prefix}conv1`, `${prefix}bn1`]];
  RESNET50_BLOCKS.forEach((blocks, s) => {
    for (let i = 0; i < blocks; i++) {
      const p = `${prefix}layer${s + 1}.${i}`;
      for (const c of [1, 2, 3]) out.push([`${p}.conv${c}`, `${p}.bn${c}`]);
      if (i === 0) out.push([`${p}.downsample.0`, `${p}.downsample.1`]);
    }
  });
  return out;
}

/**
 * Layers int8 files keep in f16 unless told otherwise (`--keep-f16`): the backbone's stem and
 * first two stages, 1.4 M of the 42 M weights (+1.4 MiB). Measured on the full model
 * (bench/README "Compact weights"): rounding errors there pass through the most layers, and
 * keeping them f16 cut the pose drift 52 -> 8 deg and landmarks 4.4 -> 1.25 px.
 */
export const INT8_KEEP_F16_DEFAULT: readonly RegExp[] = [/^backbone\.(conv1|layer1|layer2)\./];

export interface CompactOptions {
  /**
   * int8 files: weights kept in f16, the per-layer choice for sensitive layers: regexps on the
   * key that also match the module's packed weights (so anchor them on module paths, e.g.
   * `^backbone\.layer1\.`). Stored in the metadata; the GPU keeps the same layers in f16.
   * Default INT8_KEEP_F16_DEFAULT; [] makes every matrix int8.
   */
  keepF16?: RegExp[];
}

/**
 * `convert --dtype`: our safetensors file with the weight matrices in f16 or int8. BatchNorm is
 * folded into the backbone convs first (the BN tensors become an identity with the folded bias:
 * weight 1, bias b', running_mean 0, running_var 1 - eps), so the stored weights are the ones the
 * kernels multiply by and the int8 scales cover the folded weights. Layout: README "Weight files".
 */
export function compactWeightsToSafetensors(sd: StateDict, config: Trans3DHeadConfig, dtype: WeightFormat, opts: CompactOptions = {}): Uint8Array {
  if (dtype === 'f32') return weightsToSafetensors(sd, config, { dtype: 'f32' });
  const folded: StateDict = new Map([...sd].filter(([k]) => !k.endsWith('num_batches_tracked')));
  for (const [conv, bn] of backboneConvBn()) {
    const w = folded.get(`${conv}.weight`)!;
    const g = (k: string) => folded.get(`${bn}.${k}`)!.data;
    const cout = w.shape[0]!;
    const f = foldBatchNorm(w.data, cout, { weight: g('weight'), bias: g('bias'), running_mean: g('running_mean'), running_var: g('running_var') });
    folded.set(`${conv}.weight`, { shape: w.shape, data: f.weight });
    folded.set(`${bn}.weight`, { shape: [cout], data: new Float32Array(cout).fill(1) });
    folded.set(`${bn}.bias`, { shape: [cout], data: f.bias });
    folded.set(`${bn}.running_mean`, { shape: [cout], data: new Float32Array(cout) });
    folded.set(`${bn}.running_var`, { shape: [cout], data: new Float32Array(cout).fill(1 - BN_EPS) });
  }
  const keep = opts.keepF16 ?? INT8_KEEP_F16_DEFAULT;
  // Widest first: every tensor's bytes start aligned to its element size.
  const f32 = new Map<string, WritableTensor>(), f16 = new Map<string, WritableTensor>(), i8 = new Map<string, WritableTensor>();
  for (const [key, t] of folded) {
    if (!isMatrixKey(key, t.shape)) { f32.set(key, t); continue; }
    if (dtype === 'int8' && !NOT_INT8.test(key) && !keep.some((r) => r.test(key))) {
      const { q, scale } = quantizeInt8(t.data, t.shape[0]!, 'rows');
      i8.set(key, { shape: t.shape, data: q });
      f32.set(key + SCALE_SUFFIX, { shape: [t.shape[0]!], data: scale });
    } else {
      f16.set(key, { shape: t.shape, data: Uint16Array.from(t.data, (v) => f32ToF16(v)) });
    }
  }
  const meta: Record<string, string> = {
    format: 'trans3dhead', config: JSON.stringify(config), dtype, bn_folded: 'true',
    ...(dtype === 'int8' ? {
      quantization: `int8 symmetric per output channel (dim 0): w = q * <key>${SCALE_SUFFIX}`,
      keep_f16: JSON.stringify(keep.map((r) => r.source)),
    } : {}),
  };
  return writeSafetensors(new Map([...f32, ...f16, ...i8]), meta);
}

/** Our weight file: the state dict plus `__metadata__.config` (SPEC section 8). */
export function weightsToSafetensors(sd: StateDict, config: Trans3DHeadConfig, extra: Record<string, string> = {}): Uint8Array {
  const clean: StateDict = new Map([...sd].filter(([k]) => !k.endsWith('num_batches_tracked')));
  return writeSafetensors(clean, { format: 'trans3dhead', config: JSON.stringify(config), ...extra });
}

export { WeightFileError };

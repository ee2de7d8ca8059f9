// The model's configuration (SPEC "Config") and the complete list of state-dict keys and shapes
// it implies, used to validate weight files before any GPU work and to make default weights.
import { fail } from '../io/errors.ts';
import type { StateDict } from '../io/tensor.ts';
import { formatShape } from '../io/tensor.ts';

export interface Trans3DHeadConfig {
  image_size: number;
  backbone: { depth: 50; width: number };
  d_model: number;
  nhead: number;
  dim_feedforward: number;
  num_layers: number;
  num_params: number;
  num_landmarks: number;
  flame: { n_shape: number; n_expr: number };
}

export const DEFAULT_CONFIG: Trans3DHeadConfig = {
  image_size: 256, backbone: { depth: 50, width: 64 }, d_model: 256, nhead: 8, dim_feedforward: 2048,
  num_layers: 2, num_params: 413, num_landmarks: 68, flame: { n_shape: 300, n_expr: 100 },
};

/** ResNet-50 blocks per stage. */
export const RESNET50_BLOCKS = [3, 4, 6, 3];

export type BackboneConfig = Trans3DHeadConfig['backbone'];

/** The config fields a decoder branch reads (a full config object fits). */
export type DecoderConfig = Pick<Trans3DHeadConfig, 'd_model' | 'nhead' | 'dim_feedforward' | 'num_layers' | 'num_params' | 'num_landmarks'>
  & Partial<Pick<Trans3DHeadConfig, 'image_size'>>;
/** Fills defaults and checks what the engine supports; `source` names the file for errors. */
export function resolveConfig(partial: unknown, source = 'config'): Trans3DHeadConfig {
  const p = (partial ?? {}) as Partial<Trans3DHeadConfig>;
  const cfg: Trans3DHeadConfig = {
    ...DEFAULT_CONFIG, ...p,
    backbone: { ...DEFAULT_CONFIG.backbone, ...(p.backbone ?? {}) },
    flame: { ...DEFAULT_CONFIG.flame, ...(p.flame ?? {}) },
  };
  const bad = (what: string, expected: string, found: unknown): never =>
    fail(source, `unsupported config: ${what}`, { key: '__metadata__.config', expected, found: JSON.stringify(found) });
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (cfg.backbone.depth !== 50) bad('backbone.depth', '50 (ResNet-50)', cfg.backbone.depth);
  for (const [k, v] of [['backbone.width', cfg.backbone.width], ['d_model', cfg.d_model], ['nhead', cfg.nhead], ['dim_feedforward', cfg.dim_feedforward], ['num_layers', cfg.num_layers], ['image_size', cfg.image_size]] as const) {
    if (!posInt(v)) bad(k, 'a positive integer', v);
  }
  if (cfg.d_model % cfg.nhead !== 0) bad('d_model', `a multiple of nhead (${cfg.nhead})`, cfg.d_model);
  if (cfg.image_size % 32 !== 0) bad('image_size', 'a multiple of 32', cfg.image_size);
  if (cfg.num_params !== 413 || cfg.flame.n_shape !== 300 || cfg.flame.n_expr !== 100) bad('num_params/flame', '413 parameters: 300 shape, 100 expression, 3 jaw, 6 rotation, 3 translation, 1 scale', { num_params: cfg.num_params, flame: cfg.flame });
  if (cfg.num_landmarks !== 68) bad('num_landmarks', '68', cfg.num_landmarks);
  return cfg;
}

/** Every state-dict key of the backbone (torchvision ResNet-50), with its PyTorch shape. */
export function backboneShapes(cfg: BackboneConfig, prefix = 'backbone.'): Map<string, number[]> {
  if (cfg.depth !== 50) throw new Error(`backbone: only ResNet-50 is supported (depth ${cfg.depth})`);
  const m = new Map<string, number[]>();
  const bn = (p: string, c: number) => { for (const k of ['weight', 'bias', 'running_mean', 'running_var']) m.set(`${p}.${k}`, [c]); };
  const w = cfg.width;
  m.set(`${prefix}conv1.weight`, [w, 3, 7, 7]);
  bn(`${prefix}bn1`, w);
  let inplanes = w;
  RESNET50_BLOCKS.forEach((blocks, s) => {
    const planes = w * 2 ** s;
    for (let i = 0; i < blocks; i++) {
      const p = `${prefix}layer${s + 1}.${i}`;
      m.set(`${p}.conv1.weight`, [planes, inplanes, 1, 1]); bn(`${p}.bn1`, planes);
      m.set(`${p}.conv2.weight`, [planes, planes, 3, 3]); bn(`${p}.bn2`, planes);
      m.set(`${p}.conv3.weight`, [planes * 4, planes, 1, 1]); bn(`${p}.bn3`, planes * 4);
      if (i === 0) { m.set(`${p}.downsample.0.weight`, [planes * 4, inplanes, 1, 1]); bn(`${p}.downsample.1`, planes * 4); }
      inplanes = planes * 4;
    }
  });
  return m;
}

/** Channels of the backbone's output (C5): 32 * width. */
export const backboneChannels = (cfg: BackboneConfig): number => cfg.width * 32;

/** Every state-dict key of one decoder branch, relative to its prefix, with its PyTorch shape. */
export function branchShapes(cfg: DecoderConfig, kind: 'params' | 'landmark', prefix = ''): Map<string, number[]> {
  const d = cfg.d_model, ff = cfg.dim_feedforward;
  const N = kind === 'params' ? cfg.num_params : cfg.num_landmarks;
  const m = new Map<string, number[]>();
  const set = (k: string, shape: number[]) => m.set(prefix + k, shape);
  set('query_embed.weight', [N, d]);
  if (kind === 'landmark') { set('query_init.weight', [N * d, d]); set('query_init.bias', [N * d]); }
  for (let l = 0; l < cfg.num_layers; l++) {
    const p = `layers.${l}.`;
    for (const a of ['self_attn', 'cross_attn']) {
      set(`${p}${a}.in_proj_weight`, [3 * d, d]); set(`${p}${a}.in_proj_bias`, [3 * d]);
      set(`${p}${a}.out_proj.weight`, [d, d]); set(`${p}${a}.out_proj.bias`, [d]);
    }
    if (kind === 'landmark') { set(`${p}cross_attn.qamem.weight`, [N * d, d, 1]); set(`${p}cross_attn.qamem.bias`, [N * d]); }
    set(`${p}linear1.weight`, [ff, d]); set(`${p}linear1.bias`, [ff]);
    set(`${p}linear2.weight`, [d, ff]); set(`${p}linear2.bias`, [d]);
    for (const n of ['norm1', 'norm2', 'norm3']) { set(`${p}${n}.weight`, [d]); set(`${p}${n}.bias`, [d]); }
  }
  set('norm.weight', [d]); set('norm.bias', [d]);
  if (kind === 'params') { set('head.weight', [1, d]); set('head.bias', [1]); }
  else {
    for (let l = 0; l < cfg.num_layers; l++) {
      const p = `residual_heads.${l}.layers.`;
      set(`${p}0.weight`, [d, d]); set(`${p}0.bias`, [d]);
      set(`${p}1.weight`, [d, d]); set(`${p}1.bias`, [d]);
      set(`${p}2.weight`, [2, d]); set(`${p}2.bias`, [2]);
    }
    set('avg_face', [N, 2]);
  }
  return m;
}

/** Every parameter/buffer of the model, in state-dict order, with its PyTorch shape. */
export function expectedShapes(cfg: Trans3DHeadConfig): Map<string, number[]> {
  const d = cfg.d_model;
  return new Map([
    ...backboneShapes(cfg.backbone),
    ['input_proj.weight', [d, backboneChannels(cfg.backbone), 1, 1]],
    ['input_proj.bias', [d]],
    ...branchShapes(cfg, 'params', 'params_branch.'),
    ...branchShapes(cfg, 'landmark', 'landmark_branch.'),
  ]);
}

/**
 * Checks a state dict against the config: every key present with its shape, nothing unexpected
 * (`num_batches_tracked` is ignored). Throws a WeightFileError naming the file and the key.
 */
export function validateStateDict(sd: StateDict, cfg: Trans3DHeadConfig, file: string): void {
  const want = expectedShapes(cfg);
  for (const [key, shape] of want) {
    const t = sd.get(key);
    if (!t) {
      const near = [...sd.keys()].find((k) => k.endsWith(key) || key.endsWith(k));
      fail(file, 'missing weight', { key, expected: `shape ${formatShape(shape)}`, found: 'nothing', hint: near ? `A key "${near}" exists: strip its prefix (--strip-prefix)` : 'Is this a Trans3DHead checkpoint with SPEC.md\'s module names? python/README.md shows how to rename keys' });
    }
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      fail(file, 'weight has the wrong shape', { key, expected: formatShape(shape), found: formatShape(t.shape), hint: 'Check the config (width, d_model, nhead, dim_feedforward, num_layers) in the file\'s metadata' });
    }
  }
  for (const key of sd.keys()) {
    if (!want.has(key) && !key.endsWith('num_batches_tracked')) fail(file, 'unexpected weight', { key, expected: 'only the keys of SPEC.md section 8', hint: 'Strip a wrapper prefix (--strip-prefix) or remove extra modules before converting' });
  }
}

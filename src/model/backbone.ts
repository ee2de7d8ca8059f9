// torchvision ResNet-50 v1.5 (stride on the 3x3 conv of each stage's first block), BatchNorm
// in eval mode folded into the convs at build time, up to layer4 (no avgpool, no fc).
// Activations are NHWC; every conv is one node with bias, residual add and ReLU fused.
import type { Graph, Tensor } from '../graph/graph.ts';
import { fail } from '../io/errors.ts';
import { formatShape, type StateDict } from '../io/tensor.ts';
import { conv2d, packConvWeight } from '../kernels/conv2d.ts';
import { maxpool2d } from '../kernels/maxpool.ts';

export { packConvWeight };

/**
 * Channels of the backbone's input: NHWC [B, H, W, 4], the normalised RGB in channels 0..2 and
 * channel 3 zero. Four channels let the 7x7 stem load one vec4 per pixel; the stem's packed
 * weight has a zero 4th input channel, so the padding costs a third more stem work (about 1%
 * of the backbone) and changes nothing numerically. A [B, H, W, 3] input also works (scalar
 * loads, slower stem).
 */
export const BACKBONE_INPUT_CHANNELS = 4;

export interface BackboneConfig { depth: 50; width: number }

/** Blocks per stage of ResNet-50. */
export const RESNET50_STAGES = [3, 4, 6, 3];
const BN_EPS = 1e-5;

/**
 * Folds eval-mode BatchNorm into the preceding conv (PyTorch layout [Cout, ...]):
 * w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps) (+ conv bias * scale).
 */
export function foldBatchNorm(w: Float32Array, cout: number,
  bn: { weight: Float32Array; bias: Float32Array; running_mean: Float32Array; running_var: Float32Array },
  eps = BN_EPS, convBias?: Float32Array): { weight: Float32Array; bias: Float32Array } {
  const per = w.length / cout;
  if (!Number.isInteger(per)) throw new Error(`foldBatchNorm: ${w.length} weights do not split into ${cout} output channels`);
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const scale = bn.weight[o] / Math.sqrt(bn.running_var[o] + eps);
    for (let i = o * per; i < (o + 1) * per; i++) weight[i] = w[i] * scale;
    bias[o] = bn.bias[o] + ((convBias?.[o] ?? 0) - bn.running_mean[o]) * scale;
  }
  return { weight, bias };
}

/** Every state-dict key the backbone reads, with its PyTorch shape. */
export function backboneShapes(cfg: BackboneConfig, prefix = 'backbone.'): Map<string, number[]> {
  if (cfg.depth !== 50) throw new Error(`backbone: only ResNet-50 is supported (depth ${cfg.depth})`);
  const m = new Map<string, number[]>();
  const bn = (p: string, c: number) => { for (const k of ['weight', 'bias', 'running_mean', 'running_var']) m.set(`${p}.${k}`, [c]); };
  const w = cfg.width;
  m.set(`${prefix}conv1.weight`, [w, 3, 7, 7]);
  bn(`${prefix}bn1`, w);
  let inplanes = w;
  RESNET50_STAGES.forEach((blocks, s) => {
    const planes = w << s;
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

/** Checks that every backbone key is present with its shape; the WeightFileError names key and shape. */
function validateBackbone(sd: StateDict, cfg: BackboneConfig, prefix = 'backbone.'): void {
  for (const [key, shape] of backboneShapes(cfg, prefix)) {
    const t = sd.get(key);
    if (!t) fail('state dict', 'missing weight', { key, expected: `shape ${formatShape(shape)}`, found: 'nothing' });
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      fail('state dict', 'weight has the wrong shape', { key, expected: formatShape(shape), found: `${formatShape(t.shape)} with ${t.data.length} values` });
    }
  }
}

const foldedCache = new WeakMap<StateDict, Map<string, { src: Float32Array; weight: Float32Array; bias: Float32Array }>>();

/**
 * Adds the backbone to g. input: NHWC [B, H, W, C] with C = BACKBONE_INPUT_CHANNELS (4, the
 * 4th zero) or 3; H and W multiples of 32 give exact /32 outputs (others follow PyTorch's
 * rounding). Returns C5: NHWC [B, ceil(H/32), ceil(W/32), 32 * width] (2048 for width 64).
 */
export function buildBackbone(g: Graph, input: Tensor, sd: StateDict, cfg: BackboneConfig, prefix = 'backbone.'): Tensor {
  validateBackbone(sd, cfg, prefix);
  if (input.shape.length !== 4 || (input.shape[3] !== 3 && input.shape[3] !== 4)) {
    throw new Error(`backbone input must be NHWC [B, H, W, ${BACKBONE_INPUT_CHANNELS}] (or 3 channels), got [${input.shape.join(', ')}]`);
  }
  const get = (k: string) => sd.get(prefix + k)!;
  // Folded, packed arrays are cached per state dict: graphs built for other sizes or batches
  // reuse the same Float32Arrays, which the WeightCache uploads once.
  let cache = foldedCache.get(sd);
  if (!cache) foldedCache.set(sd, (cache = new Map()));
  const bnOf = (k: string) => ({ weight: get(`${k}.weight`).data, bias: get(`${k}.bias`).data, running_mean: get(`${k}.running_mean`).data, running_var: get(`${k}.running_var`).data });
  /** conv + folded BN as graph weights: packed [KH, KW, Cin(pad), Cout] and bias [Cout]. */
  const convBn = (conv: string, bn: string, cinPad?: number) => {
    const w = get(`${conv}.weight`);
    const [cout, cin, kh, kw] = w.shape;
    const pad = cinPad ?? cin;
    const key = `${prefix}${conv}/${pad}`;
    let packed = cache.get(key);
    if (!packed || packed.src !== w.data) {
      const f = foldBatchNorm(w.data, cout, bnOf(bn));
      packed = { src: w.data, weight: packConvWeight(f.weight, w.shape, pad), bias: f.bias };
      cache.set(key, packed);
    }
    return {
      weight: g.weight(`${prefix}${conv}.weight.packed`, [kh, kw, pad, cout], packed.weight),
      bias: g.weight(`${prefix}${bn}.folded_bias`, [cout], packed.bias),
    };
  };

  let x = g.stage('backbone.stem', () => {
    const c = convBn('conv1', 'bn1', input.shape[3]);
    const y = conv2d(g, input, c.weight, { bias: c.bias, stride: 2, pad: 3, relu: true, name: 'backbone.conv1', usefulCin: 3 });
    return maxpool2d(g, y, { kernel: 3, stride: 2, pad: 1, name: 'backbone.maxpool' });
  });
  RESNET50_STAGES.forEach((blocks, s) => {
    x = g.stage(`backbone.layer${s + 1}`, () => {
      for (let i = 0; i < blocks; i++) {
        const p = `layer${s + 1}.${i}`;
        const stride = s > 0 && i === 0 ? 2 : 1;
        const c1 = convBn(`${p}.conv1`, `${p}.bn1`), c2 = convBn(`${p}.conv2`, `${p}.bn2`), c3 = convBn(`${p}.conv3`, `${p}.bn3`);
        let identity = x;
        if (i === 0) {
          const d = convBn(`${p}.downsample.0`, `${p}.downsample.1`);
          identity = conv2d(g, x, d.weight, { bias: d.bias, stride, name: `backbone.${p}.downsample` });
        }
        let y = conv2d(g, x, c1.weight, { bias: c1.bias, relu: true, name: `backbone.${p}.conv1` });
        y = conv2d(g, y, c2.weight, { bias: c2.bias, stride, pad: 1, relu: true, name: `backbone.${p}.conv2` });
        x = conv2d(g, y, c3.weight, { bias: c3.bias, residual: identity, relu: true, name: `backbone.${p}.conv3` });
      }
      return x;
    });
  });
  return x;
}

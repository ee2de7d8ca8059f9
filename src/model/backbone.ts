// torchvision ResNet-50 v1.5 (stride on the 3x3 conv of each stage's first block), BatchNorm
// in eval mode folded into the convs at build time, up to layer4 (no avgpool, no fc).
// Activations are NHWC; every conv is one node with bias, residual add and ReLU fused.
import type { Graph, Tensor } from '../graph/graph.ts';
import { fail } from '../io/errors.ts';
import { formatShape, type StateDict } from '../io/tensor.ts';
import { conv2d, packConvWeight, type Conv2dOptions } from '../kernels/conv2d.ts';
import { maxpool2d } from '../kernels/maxpool.ts';
import { matrixWeight, type CompactMatrix } from '../kernels/weights.ts';
import { backboneShapes, RESNET50_BLOCKS, type BackboneConfig } from './config.ts';

export { packConvWeight };

/**
 * Channels of the backbone's input: NHWC [B, H, W, 4], the normalised RGB in channels 0..2 and
 * channel 3 zero. Four channels let the 7x7 stem load one vec4 per pixel; the stem's packed
 * weight has a zero 4th input channel, so the padding costs a third more stem work (about 1%
 * of the backbone) and changes nothing numerically. A [B, H, W, 3] input also works (scalar
 * loads, slower stem).
 */
export const BACKBONE_INPUT_CHANNELS = 4;

export type { BackboneConfig };
export { backboneShapes };

/** Blocks per stage of ResNet-50 (config.ts). */
export const RESNET50_STAGES = RESNET50_BLOCKS;
export const BN_EPS = 1e-5;

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

/** Checks that every backbone key is present with its shape; the WeightFileError names key and shape. */
export function validateBackbone(sd: StateDict, cfg: BackboneConfig, prefix = 'backbone.'): void {
  for (const [key, shape] of backboneShapes(cfg, prefix)) {
    const t = sd.get(key);
    if (!t) fail('state dict', 'missing weight', { key, expected: `shape ${formatShape(shape)}`, found: 'nothing' });
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      fail('state dict', 'weight has the wrong shape', { key, expected: formatShape(shape), found: `${formatShape(t.shape)} with ${t.data.length} values` });
    }
  }
}

/** A conv with BatchNorm folded in: weight packed [KH, KW, Cin(pad), Cout], bias [Cout]. */
export interface ConvWeights {
  name: string; biasName: string; shape: [number, number, number, number]; weight: Float32Array; bias: Float32Array;
  /** The packed weight in f16 or int8 for the GPU (network.ts compactNetwork); absent: f32. */
  compact?: CompactMatrix;
}
export interface BlockWeights { conv1: ConvWeights; conv2: ConvWeights; conv3: ConvWeights; downsample?: ConvWeights; stride: number; name: string }
/** The backbone's weights, folded and packed once (packBackbone); graphs of any size share them. */
export interface BackboneWeights { inputChannels: number; stem: ConvWeights; stages: BlockWeights[][] }

/**
 * Validates the backbone's state-dict keys and folds/packs every conv once. inputChannels: 4
 * (BACKBONE_INPUT_CHANNELS, the stem's 4th input channel zero) or 3.
 */
export function packBackbone(sd: StateDict, cfg: BackboneConfig, inputChannels = BACKBONE_INPUT_CHANNELS, prefix = 'backbone.'): BackboneWeights {
  validateBackbone(sd, cfg, prefix);
  if (inputChannels !== 3 && inputChannels !== 4) throw new Error(`backbone: input channels must be 3 or 4, got ${inputChannels}`);
  const get = (k: string) => sd.get(prefix + k)!;
  const bnOf = (k: string) => ({ weight: get(`${k}.weight`).data, bias: get(`${k}.bias`).data, running_mean: get(`${k}.running_mean`).data, running_var: get(`${k}.running_var`).data });
  const convBn = (conv: string, bn: string, cinPad?: number): ConvWeights => {
    const w = get(`${conv}.weight`);
    const [cout, cin, kh, kw] = w.shape;
    const pad = cinPad ?? cin;
    const f = foldBatchNorm(w.data, cout, bnOf(bn));
    return { name: `${prefix}${conv}.weight.packed`, biasName: `${prefix}${bn}.folded_bias`, shape: [kh, kw, pad, cout], weight: packConvWeight(f.weight, w.shape, pad), bias: f.bias };
  };
  return {
    inputChannels,
    stem: convBn('conv1', 'bn1', inputChannels),
    stages: RESNET50_BLOCKS.map((blocks, s) => Array.from({ length: blocks }, (_, i) => {
      const p = `layer${s + 1}.${i}`;
      return {
        name: `backbone.${p}`, stride: s > 0 && i === 0 ? 2 : 1,
        conv1: convBn(`${p}.conv1`, `${p}.bn1`), conv2: convBn(`${p}.conv2`, `${p}.bn2`), conv3: convBn(`${p}.conv3`, `${p}.bn3`),
        downsample: i === 0 ? convBn(`${p}.downsample.0`, `${p}.downsample.1`) : undefined,
      };
    })),
  };
}

/**
 * Adds the backbone to g. input: NHWC [B, H, W, C] with C = BACKBONE_INPUT_CHANNELS (4, the
 * 4th zero) or 3; H and W multiples of 32 give exact /32 outputs (others follow PyTorch's
 * rounding). Returns C5: NHWC [B, ceil(H/32), ceil(W/32), 32 * width] (2048 for width 64).
 * Weights: packed once (packBackbone); a state dict is packed here (tests, benchmarks).
 */
export function buildBackbone(g: Graph, input: Tensor, weights: BackboneWeights | StateDict, cfg: BackboneConfig, prefix = 'backbone.'): Tensor {
  if (input.shape.length !== 4 || (input.shape[3] !== 3 && input.shape[3] !== 4)) {
    throw new Error(`backbone input must be NHWC [B, H, W, ${BACKBONE_INPUT_CHANNELS}] (or 3 channels), got [${input.shape.join(', ')}]`);
  }
  const bw = weights instanceof Map ? packBackbone(weights, cfg, input.shape[3], prefix) : weights;
  if (bw.inputChannels !== input.shape[3]) throw new Error(`backbone: weights packed for ${bw.inputChannels} input channels, input has ${input.shape[3]}`);
  const conv = (x: Tensor, c: ConvWeights, opts: Conv2dOptions) =>
    conv2d(g, x, matrixWeight(g, c.name, c.shape, c.weight, c.compact), { ...opts, bias: g.weight(c.biasName, [c.shape[3]], c.bias) });
  let x = g.stage('backbone.stem', () => {
    const y = conv(input, bw.stem, { stride: 2, pad: 3, relu: true, name: 'backbone.conv1', usefulCin: 3 });
    return maxpool2d(g, y, { kernel: 3, stride: 2, pad: 1, name: 'backbone.maxpool' });
  });
  bw.stages.forEach((blocks, s) => {
    x = g.stage(`backbone.layer${s + 1}`, () => {
      for (const b of blocks) {
        const identity = b.downsample ? conv(x, b.downsample, { stride: b.stride, name: `${b.name}.downsample` }) : x;
        let y = conv(x, b.conv1, { relu: true, name: `${b.name}.conv1` });
        y = conv(y, b.conv2, { stride: b.stride, pad: 1, relu: true, name: `${b.name}.conv2` });
        x = conv(y, b.conv3, { residual: identity, relu: true, name: `${b.name}.conv3` });
      }
      return x;
    });
  });
  return x;
}

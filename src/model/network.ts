// The Trans3DHead network as one static graph, from raw pixels to FLAME outputs:
// preprocess -> ResNet-50 -> input_proj -> two decoder branches -> FLAME. Shared by the model
// (trans3dhead.ts: loading, graph cache, batching, results) and the benchmarks.
import { Graph, type Tuning } from '../graph/graph.ts';
import type { FlameArrays } from '../io/flame.ts';
import type { StateDict } from '../io/tensor.ts';
import { gemm } from '../kernels/gemm.ts';
import { preprocess, PREPROCESS_PARAMS, wordsPerImage } from '../kernels/preprocess.ts';
import { packFlame, type PackedFlame } from '../kernels/flame_lbs.ts';
import { BACKBONE_INPUT_CHANNELS, buildBackbone, packBackbone, type BackboneWeights } from './backbone.ts';
import type { Trans3DHeadConfig } from './config.ts';
import { buildLandmarkBranch, buildParamsBranch, memoryPlusPos, packBranch, type BranchWeights, type HostWeight, type LinearWeights } from './decoder.ts';
import { buildFlame } from './flame.ts';
import { compactMatrix, type WeightFormat } from '../kernels/weights.ts';
import { compactQamemWeight } from '../kernels/qamem.ts';

/**
 * Every weight the network reads, validated and packed once when the model is created
 * (BatchNorm folded, transposed, concatenated); every graph built from it shares the arrays,
 * and so the GPU buffers.
 */
export interface NetworkWeights {
  config: Trans3DHeadConfig;
  backbone: BackboneWeights;
  inputProj: LinearWeights;
  params: BranchWeights;
  landmark: BranchWeights;
  flame: PackedFlame;
}

/**
 * Packs a state dict (checked against the config: validateStateDict) and a FLAME for buildNetwork;
 * `format` f16 / int8 also keeps the matmul weights compact on the GPU (compactNetwork).
 */
export function packNetwork(sd: StateDict, cfg: Trans3DHeadConfig, flame: FlameArrays, format: WeightFormat = 'f32', int8Keep: RegExp[] = []): NetworkWeights {
  const w = packNetworkF32(sd, cfg, flame);
  if (format !== 'f32') compactNetwork(w, format, int8Keep);
  return w;
}

function packNetworkF32(sd: StateDict, cfg: Trans3DHeadConfig, flame: FlameArrays): NetworkWeights {
  const w = sd.get('input_proj.weight')!; // (d, C, 1, 1) -> (C, d)
  const [d, C] = w.shape;
  const t = new Float32Array(C * d);
  for (let o = 0; o < d; o++) for (let c = 0; c < C; c++) t[c * d + o] = w.data[o * C + c];
  const host = (name: string, shape: number[], data: Float32Array): HostWeight => ({ name, shape, data });
  return {
    config: cfg,
    backbone: packBackbone(sd, cfg.backbone, BACKBONE_INPUT_CHANNELS),
    inputProj: { W: host('input_proj.weight.packed', [C, d], t), b: host('input_proj.bias', [d], sd.get('input_proj.bias')!.data) },
    params: packBranch(sd, cfg, 'params'),
    landmark: packBranch(sd, cfg, 'landmark'),
    flame: packFlame(flame, cfg.flame.n_shape, cfg.flame.n_expr),
  };
}

/** Matrices below this many values stay f32: too small to matter, and the heads are sensitive. */
const COMPACT_MIN = 4096;

/**
 * Adds the f16 or int8 form of every gemm/conv weight matrix (from the packed f32 matrix, so
 * BatchNorm is folded and per-column = per output channel). The f32 arrays stay on the host for
 * building; only the compact ones are uploaded. Weights that came from an int8 file quantize
 * back to the same codes (the max of a column is 127 codes), from an f16 file to the same halves.
 * `int8Keep`: packed names (regexps) kept in f16 in int8 mode, the per-layer choice.
 */
export function compactNetwork(w: NetworkWeights, format: 'f16' | 'int8', int8Keep: RegExp[] = []): void {
  const pick = (name: string) => format === 'int8' && int8Keep.some((r) => r.test(name)) ? 'f16' : format;
  for (const c of [w.backbone.stem, ...w.backbone.stages.flat().flatMap((b) => [b.conv1, b.conv2, b.conv3, ...(b.downsample ? [b.downsample] : [])])]) {
    const [kh, kw, cin, cout] = c.shape;
    if (c.weight.length >= COMPACT_MIN) c.compact = compactMatrix(c.weight, kh * kw * cin, cout, pick(c.name));
  }
  const linears: HostWeight[] = [w.inputProj.W];
  for (const b of [w.params, w.landmark]) {
    linears.push(b.memK.W, b.memV.W);
    for (const l of b.layers) {
      linears.push(l.crossOut.W, l.linear1.W, l.linear2.W);
      if (l.self) linears.push(l.self.qk.W, l.self.v.W, l.self.out.W, l.self.crossQ.W);
    }
    if (b.head) linears.push(b.head.W);
    if (b.queryInit) linears.push(b.queryInit.W);
    for (const h of b.residualHeads ?? []) linears.push(...h.map((x) => x.W));
  }
  for (const b of [w.params, w.landmark]) {
    for (const l of b.layers) {
      if (!l.qamem) continue;
      const [N, d] = l.qamem.W.shape as [number, number, number];
      if (l.qamem.W.data.length >= COMPACT_MIN) l.qamem.W.compact = compactQamemWeight(l.qamem.W.data, N, d, pick(l.qamem.W.name));
    }
  }
  for (const h of linears) {
    if (h.data.length < COMPACT_MIN || h.shape.length !== 2) continue;
    h.compact = compactMatrix(h.data, h.shape[0]!, h.shape[1]!, pick(h.name));
  }
}

/** What a network graph is built for: images of one size and channel count, a batch of them. */
export interface NetworkShape { width: number; height: number; channels: 3 | 4; batch: number }

/**
 * Builds the network graph. Inputs: `pixels` (u32, batch * wordsPerImage: raw RGBA8/RGB8 bytes),
 * `geometry` (f32 [batch, PREPROCESS_PARAMS], preprocessParams), `poses` (f32 [batch, 12]).
 * Outputs: landmarks, params, rotation, vertices, projected, and landmarks3d and
 * landmarks3d_projected (crop pixels) when the FLAME has the landmark embedding.
 */
export function buildNetwork(tuning: Tuning, weights: NetworkWeights, s: NetworkShape): Graph {
  const cfg = weights.config;
  const { batch } = s;
  const g = new Graph(tuning);
  const pixels = g.input('pixels', [batch * wordsPerImage(s.width, s.height, s.channels)], 'u32');
  const geometry = g.input('geometry', [batch, PREPROCESS_PARAMS]);
  const poses = g.input('poses', [batch, 12]);
  const x = g.stage('preprocess', () => preprocess(g, pixels, geometry, { width: s.width, height: s.height, channels: s.channels },
    { batch, size: cfg.image_size, outChannels: BACKBONE_INPUT_CHANNELS }));
  const c5 = buildBackbone(g, x, weights.backbone, cfg.backbone);
  const [, h, w, C] = c5.shape;
  const ip = weights.inputProj;
  const memory = g.stage('input_proj', () => gemm(g, g.reshape(c5, [batch, h * w, C]), g.weight(ip.W.name, ip.W.shape, ip.W.data),
    { bias: g.weight(ip.b.name, ip.b.shape, ip.b.data), name: 'input_proj' }));
  // memory + pos: the keys' input of both branches, built once.
  const memPos = memoryPlusPos(g, memory, [h, w]);
  const { params } = buildParamsBranch(g, memory, weights.params, cfg, 'params_branch.', { grid: [h, w], memoryPlusPos: memPos });
  const { landmarks } = buildLandmarkBranch(g, memory, weights.landmark, cfg, 'landmark_branch.', { grid: [h, w], memoryPlusPos: memPos });
  const f = buildFlame(g, params, weights.flame, { poses });
  g.output('landmarks', landmarks);
  g.output('params', params);
  g.output('rotation', f.rotation);
  g.output('vertices', f.vertices);
  g.output('projected', f.projected);
  if (f.landmarks3d) g.output('landmarks3d', f.landmarks3d);
  if (f.landmarks3dProjected) g.output('landmarks3d_projected', f.landmarks3dProjected);
  return g;
}

// Shared by the decoder parity tests (small fixture and full size).
import type { StateDict } from '../src/io/tensor.ts';
import { buildLandmarkBranch, buildParamsBranch, type DecoderConfig } from '../src/model/decoder.ts';
import { newGraph, runGraph } from './helpers.ts';

/**
 * Builds both branches on a memory tensor [B, S, d] and runs them once. Outputs: `params`,
 * `landmarks`, and each layer's normed output as `p{l}` (params branch) and `l{l}` (landmarks).
 */
export async function runBranches(sd: StateDict, cfg: DecoderConfig, memory: { shape: number[]; data: Float32Array }): Promise<Record<string, Float32Array>> {
  const g = await newGraph();
  const m = g.input('memory', memory.shape);
  const pb = buildParamsBranch(g, m, sd, cfg);
  const lb = buildLandmarkBranch(g, m, sd, cfg);
  g.output('params', pb.params);
  g.output('landmarks', lb.landmarks);
  pb.outs.forEach((t, l) => g.output(`p${l}`, t));
  lb.outs.forEach((t, l) => g.output(`l${l}`, t));
  return runGraph(g, { memory: memory.data });
}

// Mean over the token dim: [B, S, d] -> [B, d] (shaders/mean.wgsl).
import source from '../../shaders/mean.wgsl';
import { type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';

const MEAN = kernel({
  name: 'mean', source,
  inputs: { x: 'f32' }, outputs: { y: 'f32' },
  uniforms: { B: 'u32', S: 'u32', d: 'u32' },
});

const WG = 64;

export function meanTokens(g: Graph, x: Tensor, name = `mean${g.nodes.length}`): Tensor {
  if (x.shape.length !== 3) throw new Error(`${name}: expected [B, S, d], got [${x.shape}]`);
  const [B, S, d] = x.shape;
  const y = g.tensor(name, [B, d]);
  MEAN.add(g, name, {
    inputs: { x }, outputs: { y },
    uniforms: { B, S, d },
    constants: { WG },
    workgroups: [ceilDiv(d, WG), B, 1],
    flops: B * S * d,
  });
  return y;
}

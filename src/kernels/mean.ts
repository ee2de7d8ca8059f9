// Mean over the token dim: [B, S, d] -> [B, d] (shaders/mean.wgsl).
import source from '../../shaders/mean.wgsl';
import { type Graph, type Tensor } from '../graph/graph.ts';
import { ceilDiv, specialize, uniforms } from './wgsl.ts';

const WG = 64;

export function meanTokens(g: Graph, x: Tensor, name = `mean${g.nodes.length}`): Tensor {
  if (x.shape.length !== 3) throw new Error(`${name}: expected [B, S, d], got [${x.shape}]`);
  const [B, S, d] = x.shape;
  const y = g.tensor(name, [B, d]);
  g.add('mean', name, [x], [y], {
    shader: specialize(source), constants: { WG },
    uniforms: uniforms(B, S, d),
    workgroups: [ceilDiv(d, WG), B, 1],
    flops: B * S * d,
  });
  return y;
}

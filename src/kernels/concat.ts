// Concatenation along an axis (shaders/concat.wgsl); more than two inputs chain pairs.
import source from '../../shaders/concat.wgsl';
import { numel, type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { grid1d } from './wgsl.ts';

const CONCAT = kernel({
  name: 'concat', source,
  inputs: { a: 'f32', b: 'f32' }, outputs: { y: 'f32' },
  uniforms: { la: 'u32', lb: 'u32', total: 'u32', pitch: 'u32' },
});

/** Concatenates `xs` (same shape but for `axis`) along `axis`. */
export function concat(g: Graph, xs: readonly Tensor[], axis: number, name = `concat${g.nodes.length}`): Tensor {
  if (xs.length === 0) throw new Error(`${name}: nothing to concatenate`);
  const rank = xs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (!(ax >= 0 && ax < rank)) throw new Error(`${name}: axis ${axis} out of range for rank ${rank}`);
  for (const t of xs) {
    if (t.shape.length !== rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`${name}: cannot concatenate [${t.shape.join(', ')}] with [${xs[0].shape.join(', ')}] along axis ${ax}`);
    }
  }
  if (xs.length === 1) return xs[0];
  const inner = numel(xs[0].shape.slice(ax + 1));
  let acc = xs[0];
  for (let k = 1; k < xs.length; k++) {
    const b = xs[k];
    const shape = acc.shape.map((d, i) => (i === ax ? d + b.shape[ax] : d));
    const y = g.tensor(k === xs.length - 1 ? name : `${name}.${k}`, shape);
    const total = numel(shape);
    const { workgroups, pitch } = grid1d(total, g.tuning.maxWorkgroupsPerDim);
    CONCAT.add(g, y.name, {
      inputs: { a: acc, b }, outputs: { y },
      uniforms: { la: acc.shape[ax] * inner, lb: b.shape[ax] * inner, total, pitch },
      workgroups,
    });
    acc = y;
  }
  return acc;
}

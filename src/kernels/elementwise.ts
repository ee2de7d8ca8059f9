// Elementwise add (with broadcast), ReLU, add+ReLU and reshape-copies (shaders/elementwise.wgsl).
import source from '../../shaders/elementwise.wgsl';
import { numel, type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';

const ELEMENTWISE = kernel({
  name: 'elementwise', source,
  inputs: { a: 'T', 'b?': 'T' }, outputs: { y: 'T' },
  uniforms: { n: 'u32', nb: 'u32', rowLen: 'u32' },
});

export type ElementwiseOp = 'add' | 'relu' | 'addRelu' | 'copy';

export interface ElementwiseOptions {
  name?: string;
  /** Output shape (same element count as a); default a's shape. Lets a copy act as a reshape. */
  outShape?: readonly number[];
}

const WG = 64;

/**
 * y = act(a + b). b is either a's size or broadcast over a's leading dims: its element count must
 * divide a's and b[i % numel(b)] is added (a [B, N, d] + b [N, d] is `tgt + query_pos`).
 */
export function elementwise(g: Graph, op: ElementwiseOp, a: Tensor, b?: Tensor, opts: ElementwiseOptions = {}): Tensor {
  const name = opts.name ?? `${op}${g.nodes.length}`;
  const n = numel(a.shape);
  const add = op === 'add' || op === 'addRelu';
  if (add !== !!b) throw new Error(`${name}: op ${op} ${add ? 'needs' : 'takes no'} second operand`);
  const nb = b ? numel(b.shape) : 1;
  if (b && n % nb !== 0) throw new Error(`${name}: cannot broadcast [${b.shape}] over [${a.shape}]`);
  const outShape = opts.outShape ?? a.shape;
  if (numel(outShape) !== n) throw new Error(`${name}: output shape [${outShape}] has ${numel(outShape)} values, input has ${n}`);
  const y = g.tensor(name, outShape);
  const vec4 = n % 4 === 0 && nb % 4 === 0;
  const lanes = vec4 ? 4 : 1;
  const count = n / lanes;
  const groups = ceilDiv(count, WG);
  const gx = Math.min(groups, g.tuning.maxWorkgroupsPerDim);
  const gy = ceilDiv(groups, gx);
  ELEMENTWISE.add(g, name, {
    inputs: { a, b }, outputs: { y },
    uniforms: { n: count, nb: nb / lanes, rowLen: gx * WG },
    flags: { VEC4: vec4, RELU: op === 'relu' || op === 'addRelu' },
    constants: { WG },
    workgroups: [gx, gy, 1],
    flops: add ? n : 0,
  });
  return y;
}

export const add = (g: Graph, a: Tensor, b: Tensor, opts?: ElementwiseOptions): Tensor => elementwise(g, 'add', a, b, opts);
export const relu = (g: Graph, a: Tensor, opts?: ElementwiseOptions): Tensor => elementwise(g, 'relu', a, undefined, opts);
export const addRelu = (g: Graph, a: Tensor, b: Tensor, opts?: ElementwiseOptions): Tensor => elementwise(g, 'addRelu', a, b, opts);

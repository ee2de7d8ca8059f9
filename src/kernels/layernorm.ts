// LayerNorm over the last dim with fused residual add and an optional second output
// y + addend (shaders/layernorm.wgsl).
import source from '../../shaders/layernorm.wgsl';
import { numel, type Graph, type Tensor } from '../graph/graph.ts';
import { kernel } from './kernel.ts';
import { ceilDiv } from './wgsl.ts';

const LAYERNORM = kernel({
  name: 'layernorm', source,
  inputs: { x: 'T', 'residual?': 'T', gamma: 'T', beta: 'T', 'addend?': 'T' },
  outputs: { y: 'T', 'y2?': 'T' },
  uniforms: { rows: 'u32', d: 'u32', addRows: 'u32', eps: 'f32' },
});

export interface LayerNormOptions {
  /** r: y = LN(x + r); same shape as x. */
  residual?: Tensor;
  /** Also return y + addend, addend [rows', d] broadcast over the leading rows (row % rows'). */
  plus?: Tensor;
  eps?: number;
  name?: string;
}

export interface LayerNormResult { y: Tensor; plus?: Tensor }

/** y = LN(x + r) * gamma + beta over the last dim of x (gamma, beta: [d]). */
export function layerNormEx(g: Graph, x: Tensor, gamma: Tensor, beta: Tensor, opts: LayerNormOptions = {}): LayerNormResult {
  const name = opts.name ?? `layernorm${g.nodes.length}`;
  const d = x.shape[x.shape.length - 1];
  const rows = numel(x.shape) / d;
  if (numel(gamma.shape) !== d || numel(beta.shape) !== d) throw new Error(`${name}: gamma/beta need ${d} values`);
  if (opts.residual && numel(opts.residual.shape) !== numel(x.shape)) throw new Error(`${name}: residual [${opts.residual.shape}] does not match x [${x.shape}]`);
  let addRows = 1;
  if (opts.plus) {
    const n = numel(opts.plus.shape);
    if (n % d !== 0 || rows % (n / d) !== 0) throw new Error(`${name}: cannot broadcast addend [${opts.plus.shape}] over [${x.shape}]`);
    addRows = n / d;
  }
  const y = g.tensor(name, x.shape);
  const y2 = opts.plus ? g.tensor(`${name}.plus`, x.shape) : undefined;
  const cpu = g.tuning.cpuLike;
  // GPU: one workgroup per row, as many invocations as fit the row (power of two, 32..256).
  const WG = cpu ? 16 : Math.min(256, Math.max(32, 1 << Math.ceil(Math.log2(Math.min(d, 256)))));
  const gx = cpu ? ceilDiv(rows, WG) : Math.min(rows, g.tuning.maxWorkgroupsPerDim);
  const gy = cpu ? 1 : ceilDiv(rows, gx);
  const vec4 = cpu && d % 4 === 0;
  LAYERNORM.add(g, name, {
    inputs: { x, residual: opts.residual, gamma, beta, addend: opts.plus },
    outputs: { y, y2 },
    uniforms: { rows, d: vec4 ? d / 4 : d, addRows, eps: opts.eps ?? 1e-5 },
    flags: { VEC4: vec4 },
    entryPoint: cpu ? 'main_rows' : 'main_wg', constants: { WG },
    workgroups: [gx, gy, 1],
    flops: 8 * rows * d,
  });
  return { y, plus: y2 };
}

export function layerNorm(g: Graph, x: Tensor, gamma: Tensor, beta: Tensor, opts: Omit<LayerNormOptions, 'plus'> = {}): Tensor {
  return layerNormEx(g, x, gamma, beta, opts).y;
}

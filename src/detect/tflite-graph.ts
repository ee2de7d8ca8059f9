// A TFLite model (src/detect/tflite.ts) as nodes of our static graph. packTflite checks every
// operator once at load (unknown operators and unsupported options are WeightFileErrors that
// name them) and packs the weights into the layouts our kernels read (conv [O,KH,KW,I] ->
// [KH,KW,I,O]; f16 DEQUANTIZE done on the host); buildTflite adds the nodes to a graph, fusing
// what BlazeFace's pattern allows: conv + bias (+ ReLU), and conv -> ADD(skip) -> RELU into
// one conv with a residual and ReLU epilogue.
import type { Graph, Tensor } from '../graph/graph.ts';
import { fail } from '../io/errors.ts';
import { conv2d } from '../kernels/conv2d.ts';
import { concat } from '../kernels/concat.ts';
import { depthwiseConv2d } from '../kernels/depthwise_conv.ts';
import { depthToSpace } from '../kernels/depth_to_space.ts';
import { elementwise } from '../kernels/elementwise.ts';
import { maxpool2d } from '../kernels/maxpool.ts';
import { pad } from '../kernels/pad.ts';
import { resizeBilinear } from '../kernels/resize_bilinear.ts';
import { tensorData, type Activation, type TfliteModel, type TfliteOperator } from './tflite.ts';

/** Operators the translation handles. */
export const SUPPORTED_OPS = ['CONV_2D', 'DEPTHWISE_CONV_2D', 'DEQUANTIZE', 'DENSIFY', 'DEPTH_TO_SPACE', 'ADD', 'RELU', 'MAX_POOL_2D', 'PAD', 'RESHAPE', 'RESIZE_BILINEAR', 'CONCATENATION'];

/** TFLite's SAME/VALID output size and leading pad along one axis. */
export function tflitePad(size: number, k: number, stride: number, padding: 'SAME' | 'VALID'): { out: number; before: number } {
  if (padding === 'VALID') return { out: Math.floor((size - k) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2) };
}

interface HostWeight { name: string; shape: number[]; data: Float32Array }

export interface PackedTflite {
  model: TfliteModel;
  /** Input tensor shape [1, H, W, C]. */
  inputShape: number[];
  /** Packed weights by operator index: [weight, bias?]. */
  weights: Map<number, HostWeight[]>;
  /** PAD paddings by operator index. */
  pads: Map<number, [number, number][]>;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Validates every operator and packs the weights (once per model; graphs share the arrays). */
export function packTflite(m: TfliteModel): PackedTflite {
  const file = m.file;
  if (m.inputs.length !== 1) fail(file, `the model has ${m.inputs.length} inputs`, { expected: 'one image input' });
  const input = m.tensors[m.inputs[0]];
  if (input.shape.length !== 4 || input.shape[0] !== 1 || input.type !== 'float32') fail(file, `input ${input.name} is ${input.type} [${input.shape.join(', ')}]`, { expected: 'float32 [1, H, W, C]' });
  // Constant tensors: file data, or DEQUANTIZE of file data (f16 weights).
  const consts = new Map<number, Float32Array | Int32Array>();
  const constOf = (i: number, what: string): Float32Array | Int32Array => {
    const c = consts.get(i);
    if (c) return c;
    const t = m.tensors[i];
    if (!t || t.buffer === 0 || !m.buffers[t.buffer]?.length) fail(file, `${what}: tensor ${t?.name ?? i} is not a constant`, { hint: 'only models with constant weights are supported' });
    const d = tensorData(m, i);
    consts.set(i, d);
    return d;
  };
  const weights = new Map<number, HostWeight[]>();
  const pads = new Map<number, [number, number][]>();
  const act = (a: Activation | undefined, where: string) => {
    if (a && a !== 'NONE' && a !== 'RELU') fail(file, `${where}: fused activation ${a} is not supported`, { expected: 'NONE or RELU' });
  };
  m.operators.forEach((op, k) => {
    const where = `operator ${k} (${op.op})`;
    if (!SUPPORTED_OPS.includes(op.op)) {
      fail(file, `unsupported operator ${op.op}`, { key: `operator ${k}`, hint: `this engine runs ${SUPPORTED_OPS.join(', ')}; use MediaPipe's face_detection_short_range.tflite or face_detection_full_range.tflite` });
    }
    const shapeOf = (i: number) => m.tensors[i].shape;
    if (op.op !== 'DENSIFY') for (const o of op.outputs) if (m.tensors[o].type !== 'float32') fail(file, `${where}: output ${m.tensors[o].name} is ${m.tensors[o].type}`, { expected: 'float32' });
    switch (op.op) {
      case 'DENSIFY':   // sparse constant -> dense (and f16 -> f32 here; the DEQUANTIZE after it passes it on)
        if (!m.tensors[op.inputs[0]].sparsity) fail(file, `${where}: input ${m.tensors[op.inputs[0]].name} is not sparse`);
        consts.set(op.outputs[0], constOf(op.inputs[0], where));
        break;
      case 'DEPTH_TO_SPACE':
        if (!(op.blockSize! >= 1)) fail(file, `${where}: block size ${op.blockSize}`);
        break;
      case 'DEQUANTIZE': {
        const src = m.tensors[op.inputs[0]];
        if (src.type !== 'float16' && src.type !== 'float32') fail(file, `${where}: dequantizing ${src.type} is not supported`, { expected: 'float16 weights' });
        consts.set(op.outputs[0], constOf(op.inputs[0], where) as Float32Array);
        break;
      }
      case 'CONV_2D': case 'DEPTHWISE_CONV_2D': {
        const c = op.conv!;
        act(c.activation, where);
        if (c.dilationH !== 1 || c.dilationW !== 1) fail(file, `${where}: dilated convolutions are not supported`);
        const ws = shapeOf(op.inputs[1]), xs = shapeOf(op.inputs[0]);
        const w = constOf(op.inputs[1], where) as Float32Array;
        if (ws.length !== 4 || xs.length !== 4) fail(file, `${where}: expected rank-4 input and filter`, { found: `[${xs}] and [${ws}]` });
        const list: HostWeight[] = [];
        if (op.op === 'CONV_2D') {
          const [O, KH, KW, I] = ws;
          if (I !== xs[3]) fail(file, `${where}: filter [${ws}] does not match input [${xs}]`);
          const t = new Float32Array(w.length);
          for (let o = 0; o < O; o++) for (let q = 0; q < KH * KW * I; q++) t[q * O + o] = w[o * KH * KW * I + q];
          list.push({ name: `${m.tensors[op.inputs[1]].name}.packed`, shape: [KH, KW, I, O], data: t });
        } else {
          if (c.depthMultiplier !== 1 || ws[0] !== 1 || ws[3] !== xs[3]) fail(file, `${where}: depth multiplier ${c.depthMultiplier} / filter [${ws}] on input [${xs}] is not supported`, { expected: 'depth multiplier 1' });
          list.push({ name: m.tensors[op.inputs[1]].name, shape: [ws[1], ws[2], ws[3]], data: w });
        }
        if (op.inputs.length > 2 && op.inputs[2] >= 0) {
          const b = constOf(op.inputs[2], where) as Float32Array;
          if (b.length !== ws[op.op === 'CONV_2D' ? 0 : 3]) fail(file, `${where}: bias has ${b.length} values`);
          list.push({ name: m.tensors[op.inputs[2]].name, shape: [b.length], data: b });
        }
        weights.set(k, list);
        break;
      }
      case 'PAD': {
        const p = constOf(op.inputs[1], where);
        const r = shapeOf(op.inputs[0]).length;
        if (!(p instanceof Int32Array) || p.length !== 2 * r) fail(file, `${where}: paddings must be int32 [${r}, 2]`);
        const list: [number, number][] = [];
        for (let d = 0; d < r; d++) list.push([p[2 * d], p[2 * d + 1]]);
        pads.set(k, list);
        break;
      }
      case 'ADD': case 'CONCATENATION':
        act(op.activation, where);
        break;
      case 'MAX_POOL_2D':
        act(op.pool!.activation, where);
        break;
      case 'RESIZE_BILINEAR':
        if (op.resize!.alignCorners && op.resize!.halfPixelCenters) fail(file, `${where}: align_corners with half_pixel_centers`);
        break;
    }
  });
  return { model: m, inputShape: input.shape, weights, pads };
}

/**
 * Adds the model's nodes to `g`, reading `input` ([1, H, W, C], the model's input shape).
 * Returns the model's outputs by tensor name.
 */
export function buildTflite(g: Graph, p: PackedTflite, input: Tensor, prefix = 'tflite'): Record<string, Tensor> {
  const m = p.model;
  const file = m.file;
  if (input.shape.join() !== p.inputShape.join()) throw new Error(`buildTflite: input is [${input.shape}], the model wants [${p.inputShape}]`);
  const vals = new Map<number, Tensor>([[m.inputs[0], input]]);
  // Who reads each tensor (graph outputs count as readers that cannot be fused into).
  const readers = new Map<number, number[]>();
  m.operators.forEach((op, k) => op.inputs.forEach((i) => { if (i >= 0) readers.set(i, [...(readers.get(i) ?? []), k]); }));
  for (const o of m.outputs) readers.set(o, [...(readers.get(o) ?? []), -1]);
  // Node names: operator index + a short form of the output tensor's name (converter names can be
  // several hundred characters of ';'-joined scopes).
  const nameOf = (k: number) => `${prefix}.${k}.${m.tensors[m.operators[k].outputs[0]].name.split(';')[0].split('/').slice(-2).join('/').slice(0, 60)}`;
  const soleReader = (t: number): TfliteOperator | undefined => {
    const r = readers.get(t) ?? [];
    return r.length === 1 && r[0] >= 0 ? m.operators[r[0]] : undefined;
  };
  const weightTensors = new Map<HostWeight, Tensor>();
  const wt = (h: HostWeight) => {
    let t = weightTensors.get(h);
    if (!t) { t = g.weight(`${prefix}.${h.name}`, h.shape, h.data); weightTensors.set(h, t); }
    return t;
  };
  const get = (i: number, where: string): Tensor => vals.get(i) ?? fail(file, `${where}: tensor ${m.tensors[i]?.name ?? i} is read before it is computed`);
  const fusedRelu = new Set<number>();   // RELU operators folded into their producer
  const deferred = new Map<number, number>();   // conv output tensor -> conv operator index, emitted at its ADD
  const expectShape = (t: Tensor, i: number, where: string) => {
    if (t.shape.join() !== m.tensors[i].shape.join()) fail(file, `${where}: computes [${t.shape}] for ${m.tensors[i].name}`, { expected: `[${m.tensors[i].shape}] as the file declares`, hint: 'this padding/stride combination is not supported' });
  };
  /** Whether out's only reader is a RELU (folded in: the RELU's output aliases out). */
  const takeRelu = (out: number): boolean => {
    const r = soleReader(out);
    if (r?.op !== 'RELU') return false;
    fusedRelu.add(m.operators.indexOf(r));
    return true;
  };

  // Spatial zero PADs read only by a VALID conv become that conv's padding (the sparse full
  // range model pads explicitly before each of its 40-odd 3x3 convs): one dispatch less each.
  const padFold = new Map<number, [number, number]>();
  const foldablePad = (k: number): [number, number] | undefined => {
    const pads = p.pads.get(k)!;
    const r = soleReader(m.operators[k].outputs[0]);
    if (pads.length !== 4 || pads[0].some(Boolean) || pads[3].some(Boolean) || !r?.conv || r.conv.padding !== 'VALID' || r.inputs[0] !== m.operators[k].outputs[0]) return undefined;
    const kh = m.tensors[r.inputs[1]].shape[1], kw = m.tensors[r.inputs[1]].shape[2];
    const [pt, pl] = [pads[1][0], pads[2][0]];
    if (pt >= kh || pl >= kw || (r.op === 'CONV_2D' && pt !== pl)) return undefined;
    return [pt, pl];
  };

  const emitConv = (k: number, residual?: Tensor, relu = false): Tensor => {
    const op = m.operators[k];
    const where = `operator ${k} (${op.op})`;
    const c = op.conv!;
    const x = get(op.inputs[0], where);
    const [w, b] = p.weights.get(k)!;
    const [, H, W] = x.shape;
    const [KH, KW] = w.shape;
    let ph = tflitePad(H, KH, c.strideH, c.padding), pw = tflitePad(W, KW, c.strideW, c.padding);
    const folded = padFold.get(op.inputs[0]);
    if (folded) {
      const [, OH, OW] = m.tensors[op.outputs[0]].shape;
      ph = { out: OH, before: folded[0] };
      pw = { out: OW, before: folded[1] };
    }
    const name = nameOf(k);
    relu ||= c.activation === 'RELU';
    let y: Tensor;
    if (op.op === 'CONV_2D') {
      if (c.strideH !== c.strideW || ph.before !== pw.before) fail(file, `${where}: different strides or paddings along H and W are not supported`);
      y = conv2d(g, x, wt(w), { bias: b && wt(b), stride: c.strideH, pad: ph.before, out: [ph.out, pw.out], residual, relu, name });
    } else {
      y = depthwiseConv2d(g, x, wt(w), { bias: b && wt(b), stride: [c.strideH, c.strideW], pad: [ph.before, pw.before], out: [ph.out, pw.out], relu, name });
      if (residual) y = elementwise(g, relu ? 'addRelu' : 'add', y, residual, { name: `${name}.add` });
    }
    expectShape(y, op.outputs[0], where);
    return y;
  };

  m.operators.forEach((op, k) => {
    const where = `operator ${k} (${op.op})`;
    const out = op.outputs[0];
    const name = nameOf(k);
    let y: Tensor | undefined;
    switch (op.op) {
      case 'DEQUANTIZE': case 'DENSIFY': return;   // weights: packed at load
      case 'DEPTH_TO_SPACE':
        y = depthToSpace(g, get(op.inputs[0], where), op.blockSize!, name);
        expectShape(y, out, where);
        break;
      case 'CONV_2D': case 'DEPTHWISE_CONV_2D': {
        const r = soleReader(out);
        if (op.op === 'CONV_2D' && op.conv!.activation === 'NONE' && r?.op === 'ADD' && !deferred.has(r.inputs[0]) && !deferred.has(r.inputs[1])) {
          deferred.set(out, k);
          return;
        }
        y = emitConv(k, undefined, op.conv!.activation === 'NONE' && takeRelu(out));
        break;
      }
      case 'ADD': {
        const [a, b] = op.inputs;
        const convIn = deferred.has(a) ? a : deferred.has(b) ? b : -1;
        const relu = op.activation === 'RELU' || takeRelu(out);
        if (convIn >= 0) {
          y = emitConv(deferred.get(convIn)!, get(convIn === a ? b : a, where), relu);
          deferred.delete(convIn);
        } else {
          const ta = get(a, where), tb = get(b, where);
          if (ta.shape.join() !== tb.shape.join()) fail(file, `${where}: adding [${ta.shape}] and [${tb.shape}] (broadcasting) is not supported`);
          y = elementwise(g, relu ? 'addRelu' : 'add', ta, tb, { name });
        }
        expectShape(y, out, where);
        break;
      }
      case 'RELU':
        y = fusedRelu.has(k) ? get(op.inputs[0], where) : elementwise(g, 'relu', get(op.inputs[0], where), undefined, { name });
        break;
      case 'MAX_POOL_2D': {
        const po = op.pool!;
        const x = get(op.inputs[0], where);
        const ph = tflitePad(x.shape[1], po.filterH, po.strideH, po.padding);
        if (po.filterH !== po.filterW || po.strideH !== po.strideW) fail(file, `${where}: non-square pooling is not supported`);
        y = maxpool2d(g, x, { kernel: po.filterH, stride: po.strideH, pad: ph.before, name });
        expectShape(y, out, where);
        break;
      }
      case 'PAD': {
        const f = foldablePad(k);
        if (f) {
          padFold.set(out, f);
          vals.set(out, get(op.inputs[0], where));
          return;
        }
        y = pad(g, get(op.inputs[0], where), p.pads.get(k)!, name);
        expectShape(y, out, where);
        break;
      }
      case 'RESHAPE':
        y = g.reshape(get(op.inputs[0], where), m.tensors[out].shape, name);
        break;
      case 'RESIZE_BILINEAR': {
        const s = m.tensors[out].shape;
        y = resizeBilinear(g, get(op.inputs[0], where), s[1], s[2], { ...op.resize, name });
        break;
      }
      case 'CONCATENATION':
        y = concat(g, op.inputs.map((i) => get(i, where)), op.axis!, name);
        if (op.activation === 'RELU') y = elementwise(g, 'relu', y, undefined, { name: `${name}.relu` });
        expectShape(y, out, where);
        break;
      default:
        fail(file, `unsupported operator ${op.op}`, { key: `operator ${k}` });
    }
    vals.set(out, y);
  });
  const res: Record<string, Tensor> = {};
  for (const o of m.outputs) res[m.tensors[o].name] = get(o, 'model output');
  return res;
}

/** Element count of a model output. */
export const outputSize = (m: TfliteModel, i: number): number => prod(m.tensors[i].shape);

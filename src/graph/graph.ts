// The static graph IR: tensors with shapes, nodes = one kernel dispatch each.
// Kernels (src/kernels/*) add nodes through the builder; src/graph/compile.ts turns a graph
// into pipelines, bind groups and planned buffers once, and runs it many times.

import type { AdapterKind } from '../platform/types.ts';

export type DType = 'f32' | 'u32' | 'i32';
export type TensorKind = 'input' | 'weight' | 'intermediate';
export type HostData = Float32Array | Uint32Array | Int32Array;

export interface Tensor {
  readonly id: number;
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly kind: TensorKind;
  /**
   * Host data of a weight: uploaded once per device and shared between graphs through a
   * WeightCache, which knows a weight by this array object (so build weights once, at load).
   */
  readonly data?: HostData;
  /** A weight made for this graph only (constant()): uploaded into the graph's own buffer. */
  readonly graphOwned?: boolean;
  /** Set on a reshape: this tensor is a view of `base`'s buffer (same elements, other shape). */
  readonly base?: Tensor;
}

/** The tensor that owns the buffer a (possibly reshaped) tensor lives in. */
export function storageOf(t: Tensor): Tensor {
  while (t.base) t = t.base;
  return t;
}

/**
 * One compute dispatch. Bindings are, in order: node inputs (read-only storage), node outputs
 * (storage), then the uniform block; compile.ts builds that layout explicitly, and kernels
 * declare the matching WGSL through kernel() (src/kernels/kernel.ts), never by hand.
 */
export interface Dispatch {
  /** Final WGSL (specialised, bindings declared: kernel.ts); pipelines are cached by it plus `constants`. */
  shader: string;
  entryPoint?: string;
  /** WGSL `override` constants (tile shapes, workgroup sizes). */
  constants?: Record<string, number>;
  /** Bytes of the uniform block, when the shader declares one (last binding). */
  uniforms?: ArrayBuffer;
  workgroups: readonly [number, number, number];
  /** Useful floating-point work, for GFLOP/s reports. */
  flops?: number;
}

export interface Node {
  readonly id: number;
  readonly name: string;
  readonly kernel: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly dispatch: Dispatch;
  /** Profiling group, e.g. 'backbone.layer3'. */
  readonly stage: string;
}

/** Adapter-dependent choices kernels read while building (tile shapes and the like). */
export interface Tuning {
  /** Which adapter (tuning.ts): picks the row of the tile table. */
  kind: AdapterKind;
  /** CPU adapters (SwiftShader, lavapipe): register blocking beats workgroup-memory tiles. */
  cpuLike: boolean;
  maxWorkgroupStorage: number;
  maxInvocations: number;
  maxWorkgroupsPerDim: number;
  maxStorageBuffers: number;
  /** Matmul-core arithmetic in f16 (products and 4-term partial sums; f32 accumulation): the
   *  `compute: 'f16'` option, on adapters with `shader-f16`. */
  f16: boolean;
}

export const DEFAULT_TUNING: Tuning = {
  kind: 'gpu', cpuLike: false, maxWorkgroupStorage: 16384, maxInvocations: 256, maxWorkgroupsPerDim: 65535, maxStorageBuffers: 8, f16: false,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export class Graph {
  readonly tensors: Tensor[] = [];
  readonly nodes: Node[] = [];
  readonly inputs = new Map<string, Tensor>();
  readonly outputs = new Map<string, Tensor>();
  private stages: string[] = [];

  constructor(readonly tuning: Tuning = DEFAULT_TUNING) {}

  private make(name: string, shape: readonly number[], dtype: DType, kind: TensorKind, data?: HostData, base?: Tensor, graphOwned?: boolean): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d <= 0) throw new Error(`tensor ${name}: bad shape [${shape.join(', ')}]`);
    }
    const t: Tensor = { id: this.tensors.length, name, shape: [...shape], dtype, kind, data, base, graphOwned };
    this.tensors.push(t);
    return t;
  }

  input(name: string, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    if (this.inputs.has(name)) throw new Error(`graph input ${name} declared twice`);
    const t = this.make(name, shape, dtype, 'input');
    this.inputs.set(name, t);
    return t;
  }

  /** A model weight: `data` is the model's packed array, the same object in every graph. */
  weight(name: string, shape: readonly number[], data: HostData): Tensor {
    return this.hostTensor(name, shape, data, false);
  }

  /** A constant built for this graph's shapes (a positional encoding for its grid): freed with the graph. */
  constant(name: string, shape: readonly number[], data: HostData): Tensor {
    return this.hostTensor(name, shape, data, true);
  }

  private hostTensor(name: string, shape: readonly number[], data: HostData, graphOwned: boolean): Tensor {
    if (data.length !== numel(shape)) throw new Error(`weight ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    const dtype: DType = data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : 'i32';
    return this.make(name, shape, dtype, 'weight', data, undefined, graphOwned);
  }

  /** A fresh intermediate tensor (its buffer is planned by lifetime at compile time). */
  tensor(name: string, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.make(name, shape, dtype, 'intermediate');
  }

  /** A zero-copy view with another shape of the same number of elements. */
  reshape(t: Tensor, shape: readonly number[], name = `${t.name}.view`): Tensor {
    if (numel(shape) !== numel(t.shape)) throw new Error(`reshape ${t.name}: [${t.shape.join(', ')}] has ${numel(t.shape)} elements, not ${numel(shape)}`);
    return this.make(name, shape, t.dtype, t.kind, t.data, t, t.graphOwned);
  }

  output(name: string, t: Tensor): void {
    if (this.outputs.has(name)) throw new Error(`graph output ${name} declared twice`);
    this.outputs.set(name, t);
  }

  /** Nodes added inside fn are tagged with the stage path (for per-stage GPU time). */
  stage<T>(name: string, fn: () => T): T {
    this.stages.push(name);
    try { return fn(); } finally { this.stages.pop(); }
  }

  add(kernel: string, name: string, inputs: readonly Tensor[], outputs: readonly Tensor[], dispatch: Dispatch): void {
    for (const t of outputs) {
      if (t.base) throw new Error(`${name}: write ${storageOf(t).name} rather than its view ${t.name}`);
      if (t.kind !== 'intermediate') throw new Error(`${name}: cannot write ${t.kind} tensor ${t.name}`);
      if (inputs.includes(t)) throw new Error(`${name}: ${t.name} is both input and output`);
    }
    for (const w of dispatch.workgroups) {
      if (!Number.isInteger(w) || w < 0 || w > this.tuning.maxWorkgroupsPerDim) {
        throw new Error(`${name}: workgroup count ${w} outside 0..${this.tuning.maxWorkgroupsPerDim}`);
      }
    }
    this.nodes.push({ id: this.nodes.length, name, kernel, inputs: [...inputs], outputs: [...outputs], dispatch, stage: this.stages.join('.') });
  }
}

// Compiles a Graph once: orders nodes, plans buffers, creates every pipeline, uniform block and
// bind group. run() then only writes inputs, encodes the recorded dispatches into ONE compute
// pass, submits once and reads the outputs back: no buffer, pipeline or bind group is created.
import type { GpuContext } from '../platform/types.ts';
import { numel, storageOf, type Graph, type HostData, type Node, type Tensor } from './graph.ts';
import { bindingBytes, orderNodes, planBuffers, type BufferPlan } from './plan.ts';

export class DeviceLostError extends Error {
  constructor(reason: string) {
    super(`The GPU device was lost (${reason}). Create the model again (createModel) to continue on a new device.`);
    this.name = 'DeviceLostError';
  }
}

/** A storage buffer holding t's host data. */
function uploadBuffer(device: GPUDevice, t: Tensor): GPUBuffer {
  const buffer = device.createBuffer({ label: t.name, size: bindingBytes(t), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new (t.data!.constructor as new (b: ArrayBuffer) => HostData)(buffer.getMappedRange()).set(t.data!);
  buffer.unmap();
  return buffer;
}

/**
 * Uploads each weight once per device. A weight is known by its host array: the model packs
 * its weights once, at load, so every graph it builds (other sizes, batches) hands the same
 * arrays and shares the buffers; two different weights can never collide.
 */
export class WeightCache {
  private buffers = new Map<HostData, GPUBuffer>();
  bytes = 0;
  constructor(readonly device: GPUDevice) {}

  get(v: Tensor): GPUBuffer {
    const t = storageOf(v);
    if (!t.data) throw new Error(`weight ${t.name} has no data`);
    if (t.graphOwned) throw new Error(`internal: ${t.name} belongs to its graph, not the weight cache`);
    let buffer = this.buffers.get(t.data);
    if (!buffer) {
      buffer = uploadBuffer(this.device, t);
      this.buffers.set(t.data, buffer);
      this.bytes += bindingBytes(t);
    }
    return buffer;
  }

  get count(): number { return this.buffers.size; }

  dispose(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
    this.bytes = 0;
  }
}

/** Binding shape of a node: its inputs, outputs, and whether it has a uniform block. */
export interface BindingShape { inputs: number; outputs: number; uniform: boolean }

export function bindingShape(n: Node): BindingShape {
  return { inputs: n.inputs.length, outputs: n.outputs.length, uniform: !!n.dispatch.uniforms };
}

interface DeviceCache {
  pipelines: Map<string, Promise<GPUComputePipeline>>;
  layouts: Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>;
}
const deviceCaches = new WeakMap<GPUDevice, DeviceCache>();

function deviceCache(device: GPUDevice): DeviceCache {
  let c = deviceCaches.get(device);
  if (!c) deviceCaches.set(device, (c = { pipelines: new Map(), layouts: new Map() }));
  return c;
}

/**
 * The explicit bind group layout of a node (never 'auto'): bindings 0.. are the inputs
 * (read-only storage), then the outputs (storage), then the uniform block; the order
 * kernel.ts declares them in the WGSL. Cached per device by shape.
 */
export function bindGroupLayout(device: GPUDevice, shape: BindingShape): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
  const cache = deviceCache(device).layouts;
  const key = `${shape.inputs},${shape.outputs},${shape.uniform}`;
  let l = cache.get(key);
  if (!l) {
    const entries: GPUBindGroupLayoutEntry[] = [];
    const add = (buffer: GPUBufferBindingLayout) => entries.push({ binding: entries.length, visibility: GPUShaderStage.COMPUTE, buffer });
    for (let i = 0; i < shape.inputs; i++) add({ type: 'read-only-storage' });
    for (let i = 0; i < shape.outputs; i++) add({ type: 'storage' });
    if (shape.uniform) add({ type: 'uniform' });
    const group = device.createBindGroupLayout({ label: `bindings ${key}`, entries });
    l = { group, pipeline: device.createPipelineLayout({ label: `layout ${key}`, bindGroupLayouts: [group] }) };
    cache.set(key, l);
  }
  return l;
}

/** Pipelines are cached per device by WGSL text + entry point + override constants + binding shape. */
function getPipeline(device: GPUDevice, shader: string, entryPoint: string, constants: Record<string, number> | undefined, shape: BindingShape, label: string): Promise<GPUComputePipeline> {
  const cache = deviceCache(device).pipelines;
  const layout = bindGroupLayout(device, shape).pipeline;
  const key = `${entryPoint}\n${JSON.stringify(constants ?? {})}\n${shape.inputs},${shape.outputs},${shape.uniform}\n${shader}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const module = device.createShaderModule({ label, code: shader });
      try {
        return await device.createComputePipelineAsync({ label, layout, compute: { module, entryPoint, constants } });
      } catch (e) {
        const info = await module.getCompilationInfo();
        const msgs = info.messages.map((m) => `  ${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
        throw new Error(`kernel ${label}: pipeline creation failed: ${(e as Error).message}${msgs ? '\n' + msgs : ''}`);
      }
    })();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/**
 * Every device limit a graph relies on, checked before anything is created, with an error that
 * says what to change (validation errors from deep inside WebGPU say neither).
 */
export function checkLimits(l: GPUSupportedLimits, g: Graph, order: readonly number[], plan: BufferPlan, label: string): void {
  const adapterHint = 'use a smaller batch or input, or an adapter with higher limits';
  for (const id of order) {
    const n = g.nodes[id];
    const storage = n.inputs.length + n.outputs.length;
    if (storage > l.maxStorageBuffersPerShaderStage) throw new Error(`${label}: kernel ${n.kernel} (${n.name}) binds ${storage} storage buffers; this device allows ${l.maxStorageBuffersPerShaderStage} per stage`);
    for (const t of [...n.inputs, ...n.outputs]) {
      const bytes = bindingBytes(storageOf(t));
      if (bytes > l.maxStorageBufferBindingSize) throw new Error(`${label}: tensor ${storageOf(t).name} (${bytes} bytes) exceeds this device's maxStorageBufferBindingSize (${l.maxStorageBufferBindingSize}); ${adapterHint}`);
      if (bytes > l.maxBufferSize) throw new Error(`${label}: tensor ${storageOf(t).name} (${bytes} bytes) exceeds this device's maxBufferSize (${l.maxBufferSize}); ${adapterHint}`);
    }
    const u = n.dispatch.uniforms?.byteLength ?? 0;
    if (u > l.maxUniformBufferBindingSize) throw new Error(`${label}: kernel ${n.name} has a ${u}-byte uniform block; this device allows ${l.maxUniformBufferBindingSize}`);
    n.dispatch.workgroups.forEach((w, axis) => {
      if (w > l.maxComputeWorkgroupsPerDimension) throw new Error(`${label}: kernel ${n.kernel} (${n.name}) dispatches ${w} workgroups along ${'xyz'[axis]}; this device allows ${l.maxComputeWorkgroupsPerDimension}: ${adapterHint}`);
    });
  }
  for (const s of plan.slots) {
    if (s.bytes > l.maxBufferSize) throw new Error(`${label}: an intermediate buffer of ${s.bytes} bytes exceeds this device's maxBufferSize (${l.maxBufferSize}); ${adapterHint}`);
  }
}

/** Every graph input by name, or a function filling the graph's staging arrays (see run()). */
export type GraphInputs = Record<string, HostData> | ((staging: Record<string, HostData>) => void);

export interface NodeTiming { name: string; kernel: string; stage: string; ms: number; flops: number }
export interface ProfileResult { nodes: NodeTiming[]; gpuMs: number; outputs: Record<string, Float32Array> }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Step { node: Node; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; workgroups: readonly [number, number, number] }

export class CompiledGraph {
  readonly plan: BufferPlan;
  readonly order: number[];
  /** Total GPU buffers this graph owns (weights live in the WeightCache). */
  readonly ownedBuffers: number;
  private steps: Step[] = [];
  private inputBuffers = new Map<string, { tensor: Tensor; buffer: GPUBuffer }>();
  /** Host arrays, one per input, that run(fill) fills in its turn (allocated once). */
  private staging: Record<string, HostData> = {};
  private outputs: { name: string; tensor: Tensor; offset: number; bytes: number; source: GPUBuffer }[] = [];
  private readback!: GPUBuffer;
  private owned: GPUBuffer[] = [];
  private querySet: GPUQuerySet | null = null;
  private queryBuffer: GPUBuffer | null = null;
  private queryReadback: GPUBuffer | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lost: string | null = null;
  private disposed = false;
  /** Set once dispose() has destroyed the buffers (runs queued before dispose() still ran). */
  private freed = false;

  private constructor(readonly ctx: GpuContext, readonly graph: Graph, readonly weights: WeightCache) {
    this.order = orderNodes(graph);
    this.plan = planBuffers(graph, this.order);
    ctx.device.lost.then((info) => { this.lost = info.message || info.reason || 'unknown'; });
    this.ownedBuffers = 0;
  }

  static async create(ctx: GpuContext, graph: Graph, opts: { weights?: WeightCache; label?: string } = {}): Promise<CompiledGraph> {
    const cg = new CompiledGraph(ctx, graph, opts.weights ?? new WeightCache(ctx.device));
    await cg.build(opts.label ?? 'graph');
    return cg;
  }

  private buffer(label: string, size: number, usage: number): GPUBuffer {
    const b = this.ctx.device.createBuffer({ label, size: Math.max(16, size), usage });
    this.owned.push(b);
    return b;
  }

  private async build(label: string): Promise<void> {
    const { device } = this.ctx;
    const g = this.graph;
    // Checked before anything is created: a throw after this would leak buffers and leave the
    // error scopes below pushed, swallowing later errors.
    checkLimits(device.limits, g, this.order, this.plan, label);
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');

    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const slotBuffers = this.plan.slots.map((s, i) => this.buffer(`${label}.slot${i}`, s.bytes, storage));
    for (const [name, t] of g.inputs) {
      this.inputBuffers.set(name, { tensor: t, buffer: this.buffer(`${label}.in.${name}`, bindingBytes(t), storage) });
      const n = numel(t.shape);
      this.staging[name] = t.dtype === 'f32' ? new Float32Array(n) : t.dtype === 'u32' ? new Uint32Array(n) : new Int32Array(n);
    }
    const constants = new Map<number, GPUBuffer>();
    const weightBuffer = (t: Tensor): GPUBuffer => {
      if (!t.graphOwned) return this.weights.get(t);
      let b = constants.get(t.id);
      if (!b) {
        b = uploadBuffer(device, t);
        this.owned.push(b);
        constants.set(t.id, b);
      }
      return b;
    };
    const outputBuffers = new Map<number, GPUBuffer>();
    let readbackBytes = 0;
    for (const [name, view] of g.outputs) {
      const t = storageOf(view);
      if (t.dtype !== 'f32') throw new Error(`graph output ${name} must be f32`);
      let source: GPUBuffer;
      if (t.kind === 'intermediate') {
        source = outputBuffers.get(t.id) ?? this.buffer(`${label}.out.${name}`, bindingBytes(t), storage);
        outputBuffers.set(t.id, source);
      } else if (t.kind === 'input') source = this.inputBuffers.get(t.name)!.buffer;
      else source = weightBuffer(t);
      const bytes = numel(t.shape) * 4;
      this.outputs.push({ name, tensor: t, offset: readbackBytes, bytes, source });
      readbackBytes += Math.ceil(bytes / 256) * 256;
    }
    this.readback = this.buffer(`${label}.readback`, readbackBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);

    const bufferOf = (v: Tensor): GPUBuffer => {
      const t = storageOf(v);
      if (t.kind === 'weight') return weightBuffer(t);
      if (t.kind === 'input') return this.inputBuffers.get(t.name)!.buffer;
      const out = outputBuffers.get(t.id);
      if (out) return out;
      return slotBuffers[this.plan.slotOf.get(t.id)!];
    };

    // All uniform blocks share one buffer at aligned offsets.
    const align = this.ctx.device.limits.minUniformBufferOffsetAlignment;
    const uniformOffsets = new Map<number, number>();
    let uniformBytes = 0;
    for (const id of this.order) {
      const u = g.nodes[id].dispatch.uniforms;
      if (!u) continue;
      uniformOffsets.set(id, uniformBytes);
      uniformBytes += Math.ceil(u.byteLength / align) * align;
    }
    const uniformBuffer = uniformBytes ? this.buffer(`${label}.uniforms`, uniformBytes, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST) : null;
    if (uniformBuffer) {
      const all = new Uint8Array(uniformBytes);
      for (const [id, off] of uniformOffsets) all.set(new Uint8Array(g.nodes[id].dispatch.uniforms!), off);
      device.queue.writeBuffer(uniformBuffer, 0, all);
    }

    const pipelines = await Promise.all(this.order.map((id) => {
      const n = g.nodes[id];
      return getPipeline(device, n.dispatch.shader, n.dispatch.entryPoint ?? 'main', n.dispatch.constants, bindingShape(n), `${n.kernel}:${n.name}`);
    }));
    this.order.forEach((id, i) => {
      const node = g.nodes[id];
      const entries: GPUBindGroupEntry[] = [...node.inputs, ...node.outputs].map((t, binding) => ({
        binding, resource: { buffer: bufferOf(t), offset: 0, size: bindingBytes(t) },
      }));
      const uo = uniformOffsets.get(id);
      if (uo !== undefined) entries.push({ binding: entries.length, resource: { buffer: uniformBuffer!, offset: uo, size: node.dispatch.uniforms!.byteLength } });
      const bindGroup = device.createBindGroup({ label: node.name, layout: bindGroupLayout(device, bindingShape(node)).group, entries });
      this.steps.push({ node, pipeline: pipelines[i], bindGroup, workgroups: node.dispatch.workgroups });
    });

    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    if (oom) throw new Error(`out of GPU memory while building ${label} (intermediates ${this.plan.peakBytes} bytes): ${oom.message}`);
    if (invalid) throw new Error(`WebGPU validation failed while building ${label}: ${invalid.message}`);
    (this as { ownedBuffers: number }).ownedBuffers = this.owned.length;
  }

  /**
   * Dispatches one workgroup of each distinct pipeline and waits for it: drivers that compile a
   * pipeline at its first dispatch, not at creation (lavapipe), compile now instead of in the
   * first run. The intermediates it writes are overwritten by every run, as between runs.
   */
  async warm(): Promise<void> {
    if (this.steps.length === 0) throw new Error('this model was disposed; create a new one');
    const { device } = this.ctx;
    const seen = new Set<GPUComputePipeline>();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const s of this.steps) {
      if (seen.has(s.pipeline)) continue;
      seen.add(s.pipeline);
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(1, 1, 1);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
    await this.ctx.settle(() => device.queue.onSubmittedWorkDone());
    if (this.lost !== null) throw new DeviceLostError(this.lost);
  }

  /** Distinct pipelines (shader variants) this graph uses. */
  get pipelineCount(): number { return new Set(this.steps.map((s) => s.pipeline)).size; }

  /** Total GFLOP of one run, from the kernels' own counts. */
  get flops(): number { return this.steps.reduce((s, x) => s + (x.node.dispatch.flops ?? 0), 0); }
  get dispatchCount(): number { return this.steps.length; }

  /**
   * The GPU buffer output `name` lives in (f32, its shape, from offset 0), e.g. to render it
   * without a readback. It holds the latest run's values until the next run; read it only.
   */
  outputBuffer(name: string): GPUBuffer {
    const o = this.outputs.find((x) => x.name === name);
    if (!o) throw new Error(`graph has no output ${name} (it has ${this.outputs.map((x) => x.name).join(', ')})`);
    return o.source;
  }

  /**
   * Runs the graph; concurrent calls are queued, never interleaved. `inputs` gives every graph
   * input, or is a function that fills this graph's own staging arrays (one per input, made at
   * build): it is called in this run's turn, so callers need no queue of their own.
   */
  run(inputs: GraphInputs): Promise<Record<string, Float32Array>> {
    return this.enqueue(() => this.execute(inputs, false)).then((r) => r.outputs);
  }

  /** Runs with one timestamped pass per node: GPU time per node (slower than run()). */
  profile(inputs: GraphInputs): Promise<ProfileResult> {
    if (!this.disposed && !this.ctx.timestamps) return Promise.reject(new Error('profile mode needs the timestamp-query feature, which this adapter does not offer'));
    return this.enqueue(() => this.execute(inputs, true));
  }

  /** The one run queue: each job starts after the previous one settled. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('this model was disposed; create a new one'));
    const p = this.queue.then(job);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private check(inputs: Record<string, HostData>): void {
    if (this.freed) throw new Error('this model was disposed; create a new one');
    if (this.lost !== null) throw new DeviceLostError(this.lost);
    for (const [name, { tensor }] of this.inputBuffers) {
      const data = inputs[name];
      if (!data) throw new Error(`missing graph input ${name}`);
      if (data.length !== numel(tensor.shape)) throw new Error(`graph input ${name}: ${data.length} values, expected ${numel(tensor.shape)} for shape [${tensor.shape.join(', ')}]`);
    }
  }

  /** Plain run: every dispatch in ONE compute pass. */
  private encodeRun(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass();
    for (const s of this.steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1], s.workgroups[2]);
    }
    pass.end();
  }

  /** Profiling run: one timestamped pass per dispatch, timestamps resolved for readback. */
  private encodeProfiled(encoder: GPUCommandEncoder): void {
    this.ensureQueries();
    this.steps.forEach((s, i) => {
      const pass = encoder.beginComputePass({ timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1], s.workgroups[2]);
      pass.end();
    });
    encoder.resolveQuerySet(this.querySet!, 0, 2 * this.steps.length, this.queryBuffer!, 0);
    encoder.copyBufferToBuffer(this.queryBuffer!, 0, this.queryReadback!, 0, 16 * this.steps.length);
  }

  private async execute(given: GraphInputs, profile: boolean): Promise<ProfileResult> {
    let inputs: Record<string, HostData>;
    if (typeof given === 'function') {
      given(this.staging);
      inputs = this.staging;
    } else inputs = given;
    this.check(inputs);
    const { device } = this.ctx;
    for (const [name, { buffer }] of this.inputBuffers) {
      const d = inputs[name];
      device.queue.writeBuffer(buffer, 0, d.buffer, d.byteOffset, d.byteLength);
    }
    const encoder = device.createCommandEncoder();
    if (profile) this.encodeProfiled(encoder);
    else this.encodeRun(encoder);
    for (const o of this.outputs) encoder.copyBufferToBuffer(o.source, 0, this.readback, o.offset, Math.ceil(o.bytes / 4) * 4);
    device.queue.submit([encoder.finish()]);
    try {
      await this.ctx.settle(() => this.readback.mapAsync(GPUMapMode.READ));
      if (profile) await this.ctx.settle(() => this.queryReadback!.mapAsync(GPUMapMode.READ));
    } catch (e) {
      // A device lost mid-run rejects the map; say which it was.
      await Promise.race([this.ctx.device.lost, sleep(50)]);
      if (this.lost !== null || this.disposed) throw new DeviceLostError(this.lost ?? 'the model was disposed during the run');
      throw e;
    }
    if (this.lost !== null) throw new DeviceLostError(this.lost);
    const mapped = this.readback.getMappedRange();
    const outputs: Record<string, Float32Array> = {};
    for (const o of this.outputs) outputs[o.name] = new Float32Array(mapped.slice(o.offset, o.offset + o.bytes));
    this.readback.unmap();
    const result: ProfileResult = { nodes: [], gpuMs: 0, outputs };
    if (profile) {
      const ts = new BigUint64Array(this.queryReadback!.getMappedRange().slice(0));
      this.queryReadback!.unmap();
      this.steps.forEach((s, i) => {
        const ms = Number(ts[2 * i + 1] - ts[2 * i]) / 1e6;
        result.nodes.push({ name: s.node.name, kernel: s.node.kernel, stage: s.node.stage, ms, flops: s.node.dispatch.flops ?? 0 });
        result.gpuMs += ms;
      });
    }
    return result;
  }

  private ensureQueries(): void {
    if (this.querySet) return;
    const n = this.steps.length;
    if (2 * n > 4096) throw new Error(`profile mode supports up to 2048 nodes (graph has ${n})`);
    this.querySet = this.ctx.device.createQuerySet({ type: 'timestamp', count: 2 * n });
    this.queryBuffer = this.buffer('queries', 16 * n, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    this.queryReadback = this.buffer('queries.readback', 16 * n, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  }

  /** Whether dispose() was called (its runs fail; caches build the graph again). */
  get isDisposed(): boolean { return this.disposed; }

  /** Frees every GPU buffer this graph owns (not the shared weights), after queued runs finish. */
  dispose(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    this.disposed = true;
    const done = this.queue.then(() => {
      for (const b of this.owned) b.destroy();
      this.owned = [];
      this.querySet?.destroy();
      this.steps = [];
      this.freed = true;
    });
    this.queue = done;
    return done;
  }
}

export type { BufferPlan };

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

/**
 * Uploads each weight once per device. Graphs built for other input sizes share the buffers:
 * weights are identified by name (names are unique within a model), and a fingerprint of the
 * values catches two different weights given the same name.
 */
export class WeightCache {
  private buffers = new Map<string, { buffer: GPUBuffer; print: string }>();
  bytes = 0;
  constructor(readonly device: GPUDevice) {}

  get(v: Tensor): GPUBuffer {
    const t = storageOf(v);
    if (!t.data) throw new Error(`weight ${t.name} has no data`);
    const key = `${t.name}|${t.dtype}|${t.data.length}`;
    const print = fingerprint(t.data);
    const hit = this.buffers.get(key);
    if (hit) {
      if (hit.print !== print) throw new Error(`two different weights are named ${t.name}: give them distinct names`);
      return hit.buffer;
    }
    const size = bindingBytes(t);
    const buffer = this.device.createBuffer({ label: t.name, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
    new (t.data.constructor as new (b: ArrayBuffer) => HostData)(buffer.getMappedRange()).set(t.data);
    buffer.unmap();
    this.buffers.set(key, { buffer, print });
    this.bytes += size;
    return buffer;
  }

  get count(): number { return this.buffers.size; }

  dispose(): void {
    for (const b of this.buffers.values()) b.buffer.destroy();
    this.buffers.clear();
    this.bytes = 0;
  }
}

/** 64 evenly spaced values: enough to tell two weights apart, cheap for 10M-value tensors. */
function fingerprint(d: HostData): string {
  const step = Math.max(1, Math.floor(d.length / 64));
  let s = '';
  for (let i = 0; i < d.length; i += step) s += d[i] + ',';
  return s;
}

const pipelineCaches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** Pipelines are cached per device by WGSL text + entry point + override constants. */
export function getPipeline(device: GPUDevice, shader: string, entryPoint: string, constants: Record<string, number> | undefined, label: string): Promise<GPUComputePipeline> {
  let cache = pipelineCaches.get(device);
  if (!cache) pipelineCaches.set(device, (cache = new Map()));
  const key = `${entryPoint}\n${JSON.stringify(constants ?? {})}\n${shader}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const module = device.createShaderModule({ label, code: shader });
      try {
        return await device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint, constants } });
      } catch (e) {
        const info = await module.getCompilationInfo();
        const msgs = info.messages.map((m) => `  ${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
        throw new Error(`kernel ${label}: pipeline creation failed: ${(e as Error).message}${msgs ? '\n' + msgs : ''}`);
      }
    })();
    p.catch(() => cache!.delete(key));
    cache.set(key, p);
  }
  return p;
}

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
  private outputs: { name: string; tensor: Tensor; offset: number; bytes: number; source: GPUBuffer }[] = [];
  private readback!: GPUBuffer;
  private owned: GPUBuffer[] = [];
  private querySet: GPUQuerySet | null = null;
  private queryBuffer: GPUBuffer | null = null;
  private queryReadback: GPUBuffer | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lost: string | null = null;
  private disposed = false;

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
    const maxBinding = this.ctx.device.limits.maxStorageBufferBindingSize;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');

    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const slotBuffers = this.plan.slots.map((s, i) => this.buffer(`${label}.slot${i}`, s.bytes, storage));
    for (const [name, t] of g.inputs) this.inputBuffers.set(name, { tensor: t, buffer: this.buffer(`${label}.in.${name}`, bindingBytes(t), storage) });
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
      else source = this.weights.get(t);
      const bytes = numel(t.shape) * 4;
      this.outputs.push({ name, tensor: t, offset: readbackBytes, bytes, source });
      readbackBytes += Math.ceil(bytes / 256) * 256;
    }
    this.readback = this.buffer(`${label}.readback`, readbackBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);

    const bufferOf = (v: Tensor): GPUBuffer => {
      const t = storageOf(v);
      if (bindingBytes(t) > maxBinding) throw new Error(`tensor ${t.name} (${bindingBytes(t)} bytes) exceeds this adapter's maxStorageBufferBindingSize (${maxBinding}); use a smaller batch or input`);
      if (t.kind === 'weight') return this.weights.get(t);
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
      return getPipeline(device, n.dispatch.shader, n.dispatch.entryPoint ?? 'main', n.dispatch.constants, `${n.kernel}:${n.name}`);
    }));
    this.order.forEach((id, i) => {
      const node = g.nodes[id];
      const entries: GPUBindGroupEntry[] = [...node.inputs, ...node.outputs].map((t, binding) => ({
        binding, resource: { buffer: bufferOf(t), offset: 0, size: bindingBytes(t) },
      }));
      const uo = uniformOffsets.get(id);
      if (uo !== undefined) entries.push({ binding: entries.length, resource: { buffer: uniformBuffer!, offset: uo, size: node.dispatch.uniforms!.byteLength } });
      const bindGroup = device.createBindGroup({ label: node.name, layout: pipelines[i].getBindGroupLayout(0), entries });
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

  /** Runs the graph; concurrent calls are queued, never interleaved. */
  run(inputs: Record<string, HostData>): Promise<Record<string, Float32Array>> {
    if (this.disposed) return Promise.reject(new Error('this model was disposed; create a new one'));
    const p = this.queue.then(() => this.runNow(inputs, false));
    this.queue = p.catch(() => undefined);
    return p.then((r) => r.outputs);
  }

  /** Runs with one timestamped pass per node: GPU time per node (slower than run()). */
  profile(inputs: Record<string, HostData>): Promise<ProfileResult> {
    if (this.disposed) return Promise.reject(new Error('this model was disposed; create a new one'));
    if (!this.ctx.timestamps) return Promise.reject(new Error('profile mode needs the timestamp-query feature, which this adapter does not offer'));
    const p = this.queue.then(() => this.runNow(inputs, true));
    this.queue = p.catch(() => undefined);
    return p as Promise<ProfileResult>;
  }

  private check(inputs: Record<string, HostData>): void {
    if (this.steps.length === 0) throw new Error('this model was disposed; create a new one');
    if (this.lost !== null) throw new DeviceLostError(this.lost);
    for (const [name, { tensor }] of this.inputBuffers) {
      const data = inputs[name];
      if (!data) throw new Error(`missing graph input ${name}`);
      if (data.length !== numel(tensor.shape)) throw new Error(`graph input ${name}: ${data.length} values, expected ${numel(tensor.shape)} for shape [${tensor.shape.join(', ')}]`);
    }
  }

  private async runNow(inputs: Record<string, HostData>, profile: boolean): Promise<ProfileResult> {
    this.check(inputs);
    const { device } = this.ctx;
    for (const [name, { buffer }] of this.inputBuffers) {
      const d = inputs[name];
      device.queue.writeBuffer(buffer, 0, d.buffer, d.byteOffset, d.byteLength);
    }
    const encoder = device.createCommandEncoder();
    if (!profile) {
      const pass = encoder.beginComputePass();
      for (const s of this.steps) {
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.bindGroup);
        pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1], s.workgroups[2]);
      }
      pass.end();
    } else {
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

  /** Frees every GPU buffer this graph owns (not the shared weights), after queued runs finish. */
  dispose(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    this.disposed = true;
    const done = this.queue.then(() => {
      for (const b of this.owned) b.destroy();
      this.owned = [];
      this.querySet?.destroy();
      this.steps = [];
    });
    this.queue = done;
    return done;
  }
}

export type { BufferPlan };

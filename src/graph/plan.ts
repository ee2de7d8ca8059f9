// Buffer planning by lifetime: intermediates whose lifetimes do not overlap share a GPU buffer.
// Each slot is one GPUBuffer (not an offset in one arena) so a dispatch never binds the same
// buffer as both read-only and writable storage, which WebGPU's usage rules forbid.
import type { Graph, Tensor } from './graph.ts';
import { numel, storageOf } from './graph.ts';

export interface PlannedSlot { bytes: number; tensors: Tensor[] }

export interface BufferPlan {
  /** Slot index for each intermediate tensor id. */
  slotOf: Map<number, number>;
  slots: PlannedSlot[];
  /** Bytes of the slots: the memory intermediates really take. */
  peakBytes: number;
  /** Bytes intermediates would take with one buffer each. */
  totalBytes: number;
}

/** Bytes a tensor's binding takes: 16-byte multiples so vec4 views never lose a tail. */
export function bindingBytes(t: Tensor): number {
  return Math.ceil((numel(t.shape) * 4) / 16) * 16;
}

/** Greedy by size (largest first), first fit into a slot whose occupants are dead or unborn. */
export function planBuffers(g: Graph, order: readonly number[]): BufferPlan {
  const step = new Map<number, number>();
  order.forEach((nodeId, i) => step.set(nodeId, i));
  const born = new Map<number, number>();
  const dies = new Map<number, number>();
  for (const id of order) {
    const n = g.nodes[id];
    const s = step.get(id)!;
    for (const t of n.outputs) if (!born.has(t.id)) born.set(t.id, s);
    for (const v of n.inputs) {
      const t = storageOf(v); // a view keeps its base alive
      if (t.kind === 'intermediate') dies.set(t.id, Math.max(dies.get(t.id) ?? -1, s));
    }
  }
  const outputs = new Set([...g.outputs.values()].map((t) => storageOf(t).id));
  const candidates = g.tensors.filter((t) => t.kind === 'intermediate' && born.has(t.id) && !outputs.has(t.id));
  for (const t of candidates) if (!dies.has(t.id)) dies.set(t.id, born.get(t.id)!);
  candidates.sort((a, b) => bindingBytes(b) - bindingBytes(a) || a.id - b.id);

  const slots: PlannedSlot[] = [];
  const slotOf = new Map<number, number>();
  const overlaps = (a: Tensor, b: Tensor) => born.get(a.id)! <= dies.get(b.id)! && born.get(b.id)! <= dies.get(a.id)!;
  let totalBytes = 0;
  for (const t of candidates) {
    const bytes = bindingBytes(t);
    totalBytes += bytes;
    let slot = slots.findIndex((s) => s.bytes >= bytes && s.tensors.every((o) => !overlaps(o, t)));
    if (slot < 0) { slot = slots.length; slots.push({ bytes, tensors: [] }); }
    slots[slot].tensors.push(t);
    slotOf.set(t.id, slot);
  }
  return { slotOf, slots, peakBytes: slots.reduce((s, x) => s + x.bytes, 0), totalBytes };
}

/** Topological order (stable: builder order wins ties); nodes nothing needs are dropped. */
export function orderNodes(g: Graph): number[] {
  const producer = new Map<number, number>();
  for (const n of g.nodes) for (const t of n.outputs) {
    if (producer.has(t.id)) throw new Error(`tensor ${t.name} is written by two nodes: ${g.nodes[producer.get(t.id)!].name} and ${n.name}`);
    producer.set(t.id, n.id);
  }
  const needed = new Set<number>();
  const visit = (tensorId: number) => {
    tensorId = storageOf(g.tensors[tensorId]).id;
    const p = producer.get(tensorId);
    if (p === undefined || needed.has(p)) return;
    needed.add(p);
    for (const t of g.nodes[p].inputs) visit(t.id);
  };
  for (const v of g.outputs.values()) {
    const t = storageOf(v);
    if (t.kind === 'intermediate' && !producer.has(t.id)) throw new Error(`output ${t.name} is never computed`);
    visit(t.id);
  }
  // Kahn's algorithm over the needed nodes, smallest id first.
  const indeg = new Map<number, number>();
  const users = new Map<number, number[]>();
  const depsOf = new Map<number, Set<number>>();
  for (const id of needed) {
    const deps = new Set(g.nodes[id].inputs.map((t) => producer.get(storageOf(t).id)).filter((p): p is number => p !== undefined));
    for (const d of deps) {
      if (d === id) throw new Error(`node ${g.nodes[id].name} reads its own output`);
      (users.get(d) ?? users.set(d, []).get(d)!).push(id);
    }
    indeg.set(id, deps.size);
    depsOf.set(id, deps);
    for (const v of g.nodes[id].inputs) {
      const t = storageOf(v);
      if (t.kind === 'intermediate' && !producer.has(t.id)) throw new Error(`node ${g.nodes[id].name} reads ${t.name}, which nothing computes`);
    }
  }
  const ready = [...needed].filter((id) => indeg.get(id) === 0).sort((a, b) => a - b);
  const order: number[] = [];
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    for (const u of users.get(id) ?? []) {
      indeg.set(u, indeg.get(u)! - 1);
      if (indeg.get(u) === 0) { ready.push(u); ready.sort((a, b) => a - b); }
    }
  }
  if (order.length !== needed.size) {
    // Every unordered node waits on an unordered dependency: walk those back until one repeats.
    const done = new Set(order);
    const path: number[] = [];
    let id = [...needed].find((n) => !done.has(n))!;
    while (!path.includes(id)) { path.push(id); id = [...depsOf.get(id)!].find((d) => !done.has(d))!; }
    const cycle = path.slice(path.indexOf(id)).reverse();
    throw new Error(`graph has a cycle: ${[...cycle, cycle[0]].map((n) => g.nodes[n].name).join(' -> ')}`);
  }
  return order;
}

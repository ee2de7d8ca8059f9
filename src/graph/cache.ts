// The small LRU of compiled graphs by input size that the model (model/trans3dhead.ts) and the
// face detector (detect/detector.ts) keep: a graph is built once per key and reused; a build in
// flight is shared by its callers; a failed build is forgotten (the next call retries); the least
// recently used graph past `max` is disposed once its build settles. A graph its owner disposed
// (the model's prepare() hands graphs out; the GPU check frees each batch's) is built again.

/** What the cache holds: anything that owns a compiled graph. */
export interface HasGraph { cg: { dispose(): unknown; readonly isDisposed?: boolean } }

export class GraphCache<T extends HasGraph> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(readonly max: number) {}

  /** The entry for key, made with build() when absent; marks it most recently used. */
  get(key: string, build: () => Promise<T>): Promise<T> {
    const have = this.entries.get(key);
    if (have) {
      this.entries.delete(key); // LRU: move to the end
      this.entries.set(key, have);
      return have.then((b) => {
        if (!b.cg.isDisposed) return b;
        if (this.entries.get(key) === have) this.entries.delete(key);
        return this.get(key, build);
      });
    }
    const made = build();
    // Only this build's own entry: after an eviction the key may hold a newer build.
    made.catch(() => { if (this.entries.get(key) === made) this.entries.delete(key); });
    this.entries.set(key, made);
    if (this.entries.size > this.max) {
      const [oldKey, old] = this.entries.entries().next().value as [string, Promise<T>];
      this.entries.delete(oldKey);
      old.then((b) => b.cg.dispose(), () => {});
    }
    return made;
  }

  /** How many entries (builds in flight included). */
  get size(): number { return this.entries.size; }

  /** The entries built so far (failed builds left out), awaiting those in flight. */
  async built(): Promise<T[]> {
    const out: T[] = [];
    for (const p of this.entries.values()) {
      const b = await p.catch(() => null);
      if (b) out.push(b);
    }
    return out;
  }

  /** Forgets every entry and disposes each graph once its build settles. */
  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const p of all) await (await p.catch(() => null))?.cg.dispose();
  }
}

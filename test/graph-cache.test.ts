// The LRU of compiled graphs shared by the model and the face detector (src/graph/cache.ts):
// reuse, eviction order, disposal of the evicted and of all on clear, failed builds retried.
// CPU only (stand-in graphs that count their disposals).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphCache } from '../src/graph/cache.ts';

interface Fake { key: string; cg: { disposed: number; dispose(): void; readonly isDisposed: boolean } }
function maker() {
  const built: string[] = [];
  const make = (key: string) => async (): Promise<Fake> => {
    built.push(key);
    const cg = { disposed: 0, dispose() { cg.disposed++; }, get isDisposed() { return cg.disposed > 0; } };
    return { key, cg };
  };
  return { built, make };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

test('graph cache: one build per key, shared while in flight', async () => {
  const { built, make } = maker();
  const c = new GraphCache<Fake>(4);
  const [a, b] = await Promise.all([c.get('a', make('a')), c.get('a', make('a'))]);
  assert.is(a, b);
  assert.is((await c.get('a', make('a'))).key, 'a');
  assert.equal(built, ['a']);
});

test('graph cache: past max the least recently used is evicted and disposed', async () => {
  const { built, make } = maker();
  const c = new GraphCache<Fake>(2);
  const a = await c.get('a', make('a'));
  await c.get('b', make('b'));
  await c.get('a', make('a')); // a is now the most recent: b goes next
  await c.get('c', make('c'));
  await settle();
  assert.is(c.size, 2);
  assert.is(a.cg.disposed, 0);
  await c.get('b', make('b')); // rebuilt; evicts a
  await settle();
  assert.equal(built, ['a', 'b', 'c', 'b']);
  assert.is(a.cg.disposed, 1);
  const live = await c.built();
  assert.equal(live.map((x) => x.key).sort(), ['b', 'c']);
  await c.clear();
  assert.is(c.size, 0);
  for (const x of live) assert.is(x.cg.disposed, 1, x.key);
});

test('graph cache: a failed build is forgotten and retried; it leaves a newer build alone', async () => {
  const { built, make } = maker();
  const c = new GraphCache<Fake>(1);
  let fail!: (e: Error) => void;
  const bad = c.get('a', () => new Promise<Fake>((_, rej) => { fail = rej; }));
  await c.get('b', make('b')); // evicts the pending a
  const a2 = c.get('a', make('a')); // a newer build for the same key
  fail(new Error('no'));
  assert.not.ok(await bad.then(() => true, () => false));
  await settle();
  assert.is(await c.get('a', make('a')), await a2, 'the newer build stays cached');
  assert.equal(built, ['b', 'a']);
  // A failure of the entry itself drops it: the next call builds again.
  const c2 = new GraphCache<Fake>(4);
  await c2.get('x', () => Promise.reject(new Error('no'))).catch(() => {});
  await settle();
  assert.is(c2.size, 0);
  assert.is((await c2.get('x', make('x'))).key, 'x');
});

test('graph cache: a graph its owner disposed is built again, once for concurrent callers', async () => {
  const { built, make } = maker();
  const c = new GraphCache<Fake>(4);
  const a = await c.get('a', make('a'));
  a.cg.dispose();
  const [b, b2] = await Promise.all([c.get('a', make('a')), c.get('a', make('a'))]);
  assert.is.not(b, a);
  assert.is(b, b2);
  assert.is(b.cg.disposed, 0);
  assert.equal(built, ['a', 'a']);
  assert.is(c.size, 1);
});

test.run();

/** The compact id store against a Map model: lookups, slot reuse, churn, arena rewrites, freeze and reload. */
import test from 'ava';
import { IdStore, IdTable, SMALL_SLOTS } from '../../src/engine/id-store.js';

/** Deterministic pseudo-random numbers (the test must fail the same way twice). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return s / 2 ** 32; };
}

function check(t: import('ava').ExecutionContext, store: IdStore, model: Map<string, number>, slots: number): void {
  t.is(store.size, model.size);
  let bytes = 0;
  for (const [id, slot] of model) { bytes += id.length; if (store.get(id) !== slot) t.fail(`get(${JSON.stringify(id)}) = ${store.get(id)}, want ${slot}`); }
  t.is(store.byteLength, bytes);
  const bySlot = new Map([...model].map(([id, s]) => [s, id]));
  for (let s = 0; s < slots; s++) if (store.idAt(s) !== bySlot.get(s)) t.fail(`idAt(${s}) = ${store.idAt(s)}, want ${bySlot.get(s)}`);
}

test('200 000 random operations agree with a Map: binary ids, empty id, reuse of freed slots', (t) => {
  const next = rng(7);
  const store = new IdStore();
  const model = new Map<string, number>();
  const free: number[] = [];
  let slots = 0;
  const bySlot: Array<string | undefined> = [];
  const idFor = (i: number) => (i % 13 === 0 ? `\u0000\u00ff\r\n${i}` : i % 101 === 0 ? '' : `elem:${i}`);
  for (let op = 0; op < 200_000; op++) {
    const id = idFor(Math.floor(next() * 30_000));
    if (next() < 0.6) {
      if (model.has(id)) continue;
      const slot = free.length > 0 && next() < 0.8 ? free.pop()! : slots++;
      store.set(id, slot);
      model.set(id, slot);
      bySlot[slot] = id;
    } else {
      const slot = model.get(id);
      t.is(store.get(id), slot ?? -1);
      if (slot === undefined) continue;
      store.deleteSlot(slot);
      model.delete(id);
      bySlot[slot] = undefined;
      free.push(slot);
    }
    if (op % 50_000 === 0) check(t, store, model, slots);
  }
  check(t, store, model, slots);
  t.is(store.get('never there'), -1);
  t.deepEqual([...store.keys()].sort(), [...model.keys()].sort());
  // Frozen then reloaded: the same ids at the same slots, and the copy is independent.
  const frozen = store.freeze(slots);
  const copy = IdStore.fromTable(frozen);
  check(t, copy, model, slots);
  const someId = model.keys().next().value!;
  store.deleteSlot(model.get(someId)!);
  t.is(copy.get(someId), model.get(someId)!);
});

test('deleting everything shrinks the table and rewrites the arena, and lookups stay exact', (t) => {
  const store = new IdStore();
  const n = 100_000;
  for (let i = 0; i < n; i++) store.set(`id-${i}-${'x'.repeat(i % 7)}`, i);
  const big = store.memoryBytes();
  for (let i = 0; i < n; i += 1) if (i % 1000 !== 0) store.deleteSlot(i);
  t.is(store.size, n / 1000);
  t.true(store.memoryBytes() < big, `${store.memoryBytes()} < ${big}`);
  for (let i = 0; i < n; i += 1000) t.is(store.get(`id-${i}-${'x'.repeat(i % 7)}`), i);
  t.is(store.get('id-1-x'), -1);
});

test('a table from packed lengths and bytes, as the snapshot stores them', (t) => {
  const table = IdTable.fromPacked(Int32Array.from([2, -1, 0, 3]), Buffer.from('abXYZ'));
  t.deepEqual([0, 1, 2, 3].map((s) => table.idAt(s)), ['ab', undefined, '', 'XYZ']);
  t.is(table.count(), 3);
  t.throws(() => IdTable.fromPacked(Int32Array.from([2, 2]), Buffer.from('abc')), { message: /do not match/ });
  t.throws(() => IdTable.fromPacked(Int32Array.from([-2]), Buffer.alloc(0)), { message: /negative/ });
  const store = IdStore.fromTable(table);
  t.is(store.get(''), 2);
  t.is(store.get('XYZ'), 3);
  t.is(store.size, 3);
});

test('a store loaded from a table holds each slot once: a power-of-two count leaves the table half free, misses end', (t) => {
  for (const n of [1, 2, 64, 1024, 4096]) {
    const ids = Array.from({ length: n }, (_, i) => `k${i}`);
    const store = IdStore.fromTable(IdTable.fromArray(ids));
    t.is(store.size, n);
    // A table with every slot inserted twice would be full at a power-of-two count, and a miss would probe forever.
    t.is(store.get('missing'), -1, `n=${n}`);
    t.is(store.get(`k${n - 1}`), n - 1);
    for (let i = 0; i < n; i++) store.deleteSlot(i);
    t.is(store.size, 0);
    for (let i = 0; i < n; i++) t.is(store.get(`k${i}`), -1);
    for (let i = 0; i < 2 * n; i++) store.set(`j${i}`, i);
    t.is(store.get('k0'), -1);
    t.is(store.get(`j${2 * n - 1}`), 2 * n - 1);
  }
});

test('a store of a few slots keeps plain strings; its first slot at SMALL_SLOTS moves every id into an arena of its own', (t) => {
  const store = new IdStore();
  const ids = ['\u0000\u00ff', '', 'el0', 'x'.repeat(300)];
  ids.forEach((id, slot) => store.set(id, slot));
  store.deleteSlot(2);
  store.set('el2', 2);
  const model = new Map(ids.map((id, slot) => [slot === 2 ? 'el2' : id, slot]));
  check(t, store, model, SMALL_SLOTS);
  t.is(store.get('el0'), -1);
  const small = store.memoryBytes();
  // Small tables freeze and load back small.
  check(t, IdStore.fromTable(store.freeze(4)), model, SMALL_SLOTS);
  store.set('late', SMALL_SLOTS + 3);
  model.set('late', SMALL_SLOTS + 3);
  check(t, store, model, SMALL_SLOTS * 2);
  t.true(store.memoryBytes() > small, 'the arena layout is the larger one');
  t.deepEqual([...store.keys()], [...model.keys()]);
  const arenaOf = (s: IdStore) => (s as unknown as { bytes: Buffer }).bytes;
  t.is(arenaOf(store).buffer.byteLength, arenaOf(store).length, 'not a slice of a shared pool');
  // A table whose bytes are a slice of a shared pool: the store copies them rather than keep the pool alive.
  const pooled = Buffer.from('abcdefghij');
  t.true(pooled.buffer.byteLength > pooled.length);
  const table = IdTable.fromPacked(Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), pooled);
  const loaded = IdStore.fromTable(table);
  t.is(arenaOf(loaded).buffer.byteLength, arenaOf(loaded).length);
  t.is(loaded.get('j'), 9);
  t.is(loaded.idAt(0), 'a');
});

test('a large freeze is copied in the background, and reads the cut whatever is written meanwhile: deletes, reused slots, new slots, grown arrays, an arena rewrite', async (t) => {
  const n = 150_000; // above the size a freeze copies at once
  const idOf = (i: number, gen: number) => `e:${i}:${gen}`;
  for (const read of ['after ready()', 'mid-copy'] as const) {
    const store = new IdStore();
    for (let i = 0; i < n; i++) store.set(idOf(i, 0), i);
    for (let i = 7; i < n; i += 11) store.deleteSlot(i); // empty slots at the cut
    const model = new Map<string, number>();
    for (let i = 0; i < n; i++) if (i % 11 !== 7) model.set(idOf(i, 0), i);
    const table = store.freeze(n);
    const arenaOf = () => (store as unknown as { bytes: Buffer }).bytes;
    const arenaAtCut = arenaOf();
    // After the cut, before the copy has run, each kind of write lands first in blocks not yet copied:
    for (let i = 7; i < 50_000; i += 11) store.set(idOf(i, 1), i); // slots empty at the cut, now held
    for (let i = 50_000; i < 140_000; i++) if (i % 11 !== 7) store.deleteSlot(i); // past half the arena: rewritten
    t.not(arenaOf(), arenaAtCut, 'the arena was rewritten (every offset moved, in blocks 140 k-150 k too)');
    for (let i = n; i < 2 * n; i++) store.set(idOf(i, 1), i); // past the cut: the slot arrays grow
    if (read === 'after ready()') await table.ready();
    t.is(table.nextSlot, n);
    t.is(table.count(), model.size, read);
    const loaded = IdStore.fromTable(table);
    t.is(loaded.size, model.size);
    let wrong = 0;
    for (const [id, slot] of model) if (loaded.get(id) !== slot) wrong++;
    for (let i = 7; i < n; i += 11) if (table.idAt(i) !== undefined) wrong++;
    t.is(wrong, 0, read);
    // The live store has every write.
    t.is(store.get(idOf(2, 0)), 2);
    t.is(store.get(idOf(60_000, 0)), -1);
    t.is(store.get(idOf(7, 1)), 7);
    t.is(store.get(idOf(2 * n - 1, 1)), 2 * n - 1);
  }
});

test('writes after a background copy is complete leave the table alone; two freezes at once each keep their own cut', async (t) => {
  const n = 100_000;
  const store = new IdStore();
  for (let i = 0; i < n; i++) store.set(`a${i}`, i);
  const first = store.freeze(n);
  store.deleteSlot(0);
  const second = store.freeze(n);
  store.deleteSlot(1);
  await first.ready();
  await second.ready();
  store.deleteSlot(2);
  t.deepEqual([0, 1, 2].map((s) => first.idAt(s)), ['a0', 'a1', 'a2']);
  t.deepEqual([0, 1, 2].map((s) => second.idAt(s)), [undefined, 'a1', 'a2']);
  t.is(first.count(), n);
  t.is(second.count(), n - 1);
});

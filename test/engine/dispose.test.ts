/**
 * Deleting a set returns its native memory at once. Before, `VectorSet.dispose()` only set a
 * flag nothing read: the graph and vectors (mmap'd by usearch) stayed until the garbage
 * collector happened to finalise the JS wrapper, so a deleted 1 GB set could stay resident.
 */
import test from 'ava';
import { VectorSet, type SetParams } from '../../src/engine/vector-set.js';
import { NativeIndex, nativeMemory } from '../../src/engine/native-index.js';
import { Database } from '../../src/engine/keyspace.js';
import { seeded, normal } from '../helpers/data.js';

const DIM = 128;

function params(): SetParams {
  return { dim: DIM, metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 32, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };
}

/** One buffer for every vector, kept alive by the caller: the JS heap cannot explain an RSS drop. */
function data(n: number, seed: number): Float32Array {
  const rand = seeded(seed);
  return Float32Array.from({ length: n * DIM }, () => normal(rand));
}

async function filled(buf: Float32Array, n: number): Promise<VectorSet> {
  const set = new VectorSet(params());
  for (let i = 0; i < n; i++) set.add(`e${i}`, buf.subarray(i * DIM, (i + 1) * DIM), undefined);
  await set.idle();
  return set;
}

test.serial('DEL (Database.delete) returns the set\'s native memory: addon counters and RSS drop back', async (t) => {
  const n = 20_000;
  const buf = data(n, 1);
  const base = nativeMemory();
  const db = new Database(0);
  const set = await filled(buf, n);
  db.set('big', set);
  const loaded = nativeMemory();
  t.is(loaded.indexes, base.indexes + 1);
  t.true(loaded.usedBytes - base.usedBytes >= n * DIM * 4, 'the vectors are counted');
  t.true(set.indexReservedBytes() >= set.indexUsedBytes(), 'reserved address space covers what is used');
  const rssLoaded = process.memoryUsage().rss;

  t.true(db.delete('big'));
  await set.dispose(); // the same release the keyspace started: settles once it is done
  const after = nativeMemory();
  t.is(after.indexes, base.indexes);
  t.is(after.usedBytes, base.usedBytes);
  t.is(after.reservedBytes, base.reservedBytes);
  // A graph this large (>= 16 MiB of arenas) is destroyed on a thread of its own, so the pages
  // go back shortly after, not before dispose() settles: wait for them (bounded).
  let dropped = 0;
  for (let i = 0; i < 100 && dropped < (n * DIM * 4) / 2; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 20));
    dropped = rssLoaded - process.memoryUsage().rss;
  }
  t.log(`used ${(loaded.usedBytes / 2 ** 20).toFixed(1)} MiB, RSS dropped ${(dropped / 2 ** 20).toFixed(1)} MiB`);
  t.true(dropped >= (n * DIM * 4) / 2, 'usearch unmapped its arenas');
  t.is(buf.length, n * DIM); // keeps the vectors' buffer alive until here
});

test.serial('overwrite and FLUSHALL (Database.set, Database.clear) free the replaced sets too', async (t) => {
  const buf = data(2000, 2);
  const base = nativeMemory().indexes;
  const db = new Database(0);
  const a = await filled(buf, 2000);
  const b = await filled(buf, 1000);
  const c = await filled(buf, 500);
  db.set('k', a);
  db.set('k', b); // overwrite: a leaves the keyspace
  db.set('other', c);
  await a.dispose();
  t.is(nativeMemory().indexes, base + 2);
  t.is(db.clear(), 2);
  await Promise.all([b.dispose(), c.dispose()]);
  t.is(nativeMemory().indexes, base);
});

test.serial('operations queued before dispose complete; later ones throw a clear error, never crash', async (t) => {
  const buf = data(3000, 3);
  const set = await filled(buf, 1000);
  const base = nativeMemory().indexes;
  // A batch insert, a search and a snapshot cut queued in the same turn as the deletion.
  const adds: Array<Promise<void>> = [];
  for (let i = 1000; i < 3000; i++) adds.push(set.add(`e${i}`, buf.subarray(i * DIM, (i + 1) * DIM), undefined).done);
  const search = set.search(buf.subarray(5 * DIM, 6 * DIM), { k: 3, ef: 64 });
  const cut = set.snapshot();
  const disposed = set.dispose();
  await Promise.all(adds);
  t.is((await search)[0].id, 'e5');
  t.true((await cut.graph).length > 3000 * DIM * 4, 'the snapshot taken before the deletion holds every element');
  await disposed;
  t.is(nativeMemory().indexes, base - 1);

  t.throws(() => set.search(buf.subarray(0, DIM), { k: 3, ef: 64 }), { message: /deleted/ });
  t.throws(() => set.add('x', buf.subarray(0, DIM), undefined), { message: /deleted/ });
  t.throws(() => set.remove(['e1']), { message: /deleted/ });
  t.throws(() => set.get('e1'), { message: /deleted/ });
  t.throws(() => set.capacity(), { message: /freed/ });
  await set.dispose(); // idempotent
});

test.serial('NativeIndex.free() with a batch in flight: the batch is cut short or completes, the memory goes when it returns', async (t) => {
  const n = 20_000;
  const buf = data(n, 4);
  const base = nativeMemory().indexes;
  const index = new NativeIndex({ dimensions: DIM, metric: 'cos', scalar: 'f32', connectivity: 16, expansionAdd: 64, expansionSearch: 64 });
  index.reserve(n);
  const slots = Uint32Array.from({ length: n }, (_, i) => i);
  const batch = index.addBatch(slots, buf);
  const searches = index.searchBatch(buf.subarray(0, 4 * DIM), 4, 5, 64);
  t.false(index.free(), 'jobs are in flight: released when they return');
  t.is(nativeMemory().indexes, base + 1);
  const outcome = await batch.then(() => 'completed', (e: Error) => e.message);
  t.true(outcome === 'completed' || /freed/.test(outcome), outcome);
  await searches.catch(() => {});
  t.is(nativeMemory().indexes, base);
  t.throws(() => index.size(), { message: /freed/ });
  t.throws(() => index.search(buf.subarray(0, DIM), 1, 10), { message: /freed/ });
  t.throws(() => index.addBatch(slots, buf), { message: /freed/ });
  t.true(index.free(), 'idempotent');
  t.is(index.inFlight, 0);
});

test('a set grows from inline work to worker batches without losing an element', async (t) => {
  const d = 8;
  const set = new VectorSet({ dim: d, metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 64, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' });
  const rand = seeded(9);
  const vectors: Float32Array[] = [];
  // Batches that arrive together straddle the point where worker contexts are added.
  for (const batch of [1, 100, 200, 500]) {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < batch; i++) {
      const v = Float32Array.from({ length: d }, () => normal(rand));
      vectors.push(v);
      pending.push(set.add(String(vectors.length - 1), v, undefined).done);
    }
    await Promise.all(pending);
    t.is(set.card, vectors.length);
  }
  for (const i of [0, 1, 150, 400, 800]) {
    const hits = await set.search(vectors[i], { k: 1, ef: 64, exact: true });
    t.is(hits[0].id, String(i));
  }
  await set.dispose();
});

test('clone: an independent copy as of the call, whatever either set does next', async (t) => {
  const d = 8;
  const params: SetParams = { dim: d, metric: 'COSINE', quant: 'I8', m: 16, efConstruction: 64, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };
  const set = new VectorSet(params);
  const rand = seeded(4);
  const vectors = Array.from({ length: 600 }, () => Float32Array.from({ length: d }, () => normal(rand)));
  await Promise.all(vectors.map((v, i) => set.add(String(i), v, i % 3 === 0 ? `{"i":${i}}` : undefined).done));
  set.remove(['5']);
  const copy = set.clone();
  // Writes right after the clone, on both sides, before the copy's graph has loaded.
  set.remove(['6']);
  const added = copy.add('new', vectors[0], undefined).done;
  copy.remove(['9']);
  await Promise.all([added, copy.idle(), set.idle()]);
  t.is(copy.card, 600 - 1 + 1 - 1);
  t.is(set.card, 600 - 2);
  t.true(copy.has('6') && !set.has('6'));
  t.true(!copy.has('9') && set.has('9'));
  t.false(copy.has('5'));
  t.is(copy.payloadOf('3'), '{"i":3}');
  t.is(copy.attributesCount, set.attributesCount);
  for (const i of [0, 6, 300, 599]) {
    const hits = await copy.search(vectors[i], { k: 1, ef: 64, exact: true });
    t.true(hits[0].id === String(i) || (i === 0 && hits[0].id === 'new'));
  }
  await set.dispose();
  const after = await copy.search(vectors[300], { k: 1, ef: 64, exact: true });
  t.is(after[0].id, '300', 'the copy outlives its source');
  await copy.dispose();
});

/**
 * Compaction (VectorSet's rebuild past `compactThreshold` tombstones) runs in the background:
 * searches keep being answered from the current index while the fresh one is built, and the
 * writes made meanwhile are all in the fresh index once it is swapped in. Before, the rebuild
 * was one exclusive queue operation: every search on the set waited for it (25 s at 90 k).
 */
import test from 'ava';
import { VectorSet, type SetParams } from '../../src/engine/vector-set.js';
import { nativeMemory } from '../../src/engine/native-index.js';
import { seeded, normal } from '../helpers/data.js';

const DIM = 16;
VectorSet.compactMinimum = 100;

function params(): SetParams {
  return { dim: DIM, metric: 'L2', quant: 'F32', m: 16, efConstruction: 64, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };
}

function vectors(n: number, seed: number): Float32Array[] {
  const rand = seeded(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => normal(rand)));
}

async function filled(n: number, seed: number): Promise<{ set: VectorSet; expected: Map<string, Float32Array> }> {
  const set = new VectorSet(params());
  const expected = new Map<string, Float32Array>();
  vectors(n, seed).forEach((v, i) => { set.add(`e${i}`, v, undefined); expected.set(`e${i}`, v); });
  await set.idle();
  return { set, expected };
}

function gate(): { wait: () => Promise<void>; open: () => void; reached: Promise<void> } {
  let open!: () => void;
  let reach!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  const reached = new Promise<void>((r) => { reach = r; });
  return { wait: () => { reach(); return opened; }, open, reached };
}

/** Every expected element is stored with its vector, nothing else is in the index. */
async function checkContents(t: import('ava').ExecutionContext, set: VectorSet, expected: Map<string, Float32Array>): Promise<void> {
  t.is(set.card, expected.size);
  t.is(set.indexSize(), expected.size, 'the index holds exactly the live elements (none lost, none left over)');
  let wrong = 0;
  for (const [id, v] of expected) {
    const got = await set.get(id);
    if (!got || got.some((x, i) => x !== v[i])) wrong++;
  }
  t.is(wrong, 0, 'every live element has its latest vector');
}

test.serial('a search is answered from the current index while the compaction is in progress, without deleted ids', async (t) => {
  const { set, expected } = await filled(4000, 1);
  const g = gate();
  set.compactionHooks.built = g.wait;
  const deleted: string[] = [];
  for (let i = 0; i < 1500; i++) deleted.push(`e${i}`);
  t.is(set.remove(deleted), deleted.length);
  for (const id of deleted) expected.delete(id);
  t.true(set.compacting, 'past the threshold a compaction starts');
  const compaction = set.compaction!;

  // Searches issued while it runs: each is answered, and the compaction is still running then.
  for (const id of ['e1500', 'e2500', 'e3999']) {
    const hits = await set.search(expected.get(id)!, { k: 10, ef: 64 });
    t.true(set.compacting, 'answered before the compaction finished');
    t.is(hits[0].id, id);
    t.false(hits.some((h) => deleted.includes(h.id)));
  }
  const probe = await set.search(vectors(1500, 1)[7], { k: 50, ef: 64 }); // the vector of a deleted element
  t.false(probe.some((h) => deleted.includes(h.id)));
  await g.reached;
  t.true(set.compacting);

  g.open();
  t.true(await compaction);
  t.false(set.compacting);
  t.true(set.deleted < deleted.length, 'the tombstones went with the old index');
  await checkContents(t, set, expected);
  await set.dispose();
});

test.serial('adds, replacements and deletions made during a compaction are all in the swapped-in index', async (t) => {
  const { set, expected } = await filled(4000, 2);
  const g = gate();
  set.compactionHooks.built = g.wait;
  const first: string[] = [];
  for (let i = 0; i < 1200; i++) first.push(`e${i}`);
  set.remove(first);
  for (const id of first) expected.delete(id);
  const compaction = set.compaction!;
  t.truthy(compaction);

  const fresh = vectors(600, 3);
  const writes = async (from: number, to: number) => {
    // New ids, replacements of live ids, deletions of live and of just-added ids, and a
    // deleted id coming back, in one go and across event-loop turns.
    for (let i = from; i < to; i++) {
      set.add(`n${i}`, fresh[i], undefined); expected.set(`n${i}`, fresh[i]);
      const live = `e${1200 + i}`;
      set.add(live, fresh[599 - i], undefined); expected.set(live, fresh[599 - i]);
      if (i % 3 === 0) { set.remove([`e${3000 + i}`]); expected.delete(`e${3000 + i}`); }
      if (i % 5 === 0) { set.remove([`n${i}`]); expected.delete(`n${i}`); }
      if (i % 7 === 0) { set.add(`e${i}`, fresh[i], undefined); expected.set(`e${i}`, fresh[i]); }
    }
    await set.idle();
  };
  await writes(0, 200);        // while the copy runs
  await g.reached;
  await writes(200, 400);      // after the copy, before the catch-up
  const during = writes(400, 600);
  g.open();                    // and while the missed writes are replayed
  await during;
  t.true(await compaction);
  await set.idle();
  await checkContents(t, set, expected);
  const all = await set.search(fresh[10], { k: expected.size, ef: 64, exact: true });
  t.is(all.length, expected.size);
  t.is(new Set(all.map((h) => h.id)).size, expected.size, 'no duplicates');
  await set.dispose();
});

test.serial('without a hook, a search issued right after the deletion is answered before the compaction completes', async (t) => {
  const { set, expected } = await filled(6000, 4);
  const deleted: string[] = [];
  for (let i = 0; i < 2000; i++) deleted.push(`e${i}`);
  set.remove(deleted);
  const order: string[] = [];
  const compaction = set.compaction!.then((ok) => { order.push('compaction'); return ok; });
  const hits = await set.search(expected.get('e4000')!, { k: 5, ef: 64 });
  order.push('search');
  t.is(hits[0].id, 'e4000');
  t.true(await compaction);
  t.deepEqual(order, ['search', 'compaction']);
  for (const id of deleted) expected.delete(id);
  await checkContents(t, set, expected);
  await set.dispose();
});

test.serial('scattered deletions across several copy steps: the rebuilt index holds exactly the rest, each with its vector', async (t) => {
  // 40 000 rows of 16-d are two copy steps (2 MB each); deletions leave runs of every length.
  const { set, expected } = await filled(40_000, 6);
  const deleted: string[] = [];
  for (let i = 0; i < 40_000; i++) if (i % 3 === 0 || i % 7 === 0 || (i > 20_000 && i < 20_500)) deleted.push(`e${i}`);
  set.remove(deleted);
  for (const id of deleted) expected.delete(id);
  t.true(await set.compaction!);
  t.is(set.deleted, 0);
  await checkContents(t, set, expected);
  await set.dispose();
});

test.serial('disposing a set during its compaction abandons it and frees both indexes', async (t) => {
  const before = nativeMemory().indexes;
  const { set } = await filled(3000, 5);
  const g = gate();
  set.compactionHooks.built = g.wait;
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) ids.push(`e${i}`);
  set.remove(ids);
  const compaction = set.compaction!;
  await g.reached;
  t.is(nativeMemory().indexes, before + 2, 'the current and the fresh index');
  const disposed = set.dispose();
  g.open();
  t.false(await compaction, 'abandoned');
  await disposed;
  t.is(nativeMemory().indexes, before);
  t.throws(() => set.search(new Float32Array(DIM).fill(1), { k: 1, ef: 10 }), { message: /deleted/ });
});

test('NativeIndex.getBatch (the copy step) reads present slots\' vectors on a worker and flags absent ones', async (t) => {
  const { NativeIndex } = await import('../../src/engine/native-index.js');
  const index = new NativeIndex({ dimensions: DIM, metric: 'l2sq', scalar: 'f32', connectivity: 16, expansionAdd: 32, expansionSearch: 32 });
  const vs = vectors(100, 6);
  index.reserve(100);
  vs.forEach((v, i) => index.add(i * 2, v));
  index.remove(10);
  const { vectors: out, found } = await index.getBatch(Uint32Array.from([0, 1, 2, 10, 198, 500]));
  t.deepEqual([...found], [1, 0, 1, 0, 1, 0]);
  t.deepEqual([...out.subarray(0, DIM)], [...vs[0]]);
  t.deepEqual([...out.subarray(2 * DIM, 3 * DIM)], [...vs[1]]);
  t.deepEqual([...out.subarray(4 * DIM, 5 * DIM)], [...vs[99]]);
  index.free();
  t.throws(() => index.getBatch(Uint32Array.from([0])), { message: /freed/ });
});

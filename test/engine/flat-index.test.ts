/**
 * A small index kept flat (no usearch graph until it outgrows FLAT_MAX): it must answer exactly
 * as the graph it becomes, bit for bit, through every call, promotion, and serialisation.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FLAT_MAX, NativeIndex, crc32c, nativeMemory, type NativeIndexOptions, type NativeMetric, type NativeScalar } from '../../src/engine/native-index.js';
import { VectorSet, type SetParams } from '../../src/engine/vector-set.js';
import { clusteredData, rowOf } from '../helpers/data.js';

const D = 24;
const opts = (metric: NativeMetric, scalar: NativeScalar, over: Partial<NativeIndexOptions> = {}): NativeIndexOptions =>
  ({ dimensions: D, metric, scalar, connectivity: 16, expansionAdd: 128, expansionSearch: 64, ...over });
const KINDS: Array<[NativeMetric, NativeScalar]> = [
  ['cos', 'f32'], ['l2sq', 'f32'], ['ip', 'f32'], ['cos', 'f16'], ['cos', 'bf16'], ['cos', 'i8'], ['hamming', 'b1'], ['jaccard', 'b1'],
];

/** Rows scaled into [-1, 1] (what the i8 quantiser expects), with a few exact duplicates for ties. */
function data(n: number, seed: number): Float32Array {
  const out = clusteredData(n, D, { clusters: 4, seed, spread: 0.4 });
  let max = 0;
  for (const x of out) max = Math.max(max, Math.abs(x));
  for (let i = 0; i < out.length; i++) out[i] /= max;
  if (n > 10) out.copyWithin(5 * D, 2 * D, 3 * D);
  return out;
}
const row = (v: Float32Array, i: number) => rowOf(v, D, i);

function fill(index: NativeIndex, v: Float32Array, n: number): void {
  index.reserve(Math.min(n, FLAT_MAX));
  for (let i = 0; i < n; i++) index.add(i * 3 + 1, row(v, i)); // sparse slots
}

/** A dense (graph) index with the same contents, to compare against. */
function graphTwin(o: NativeIndexOptions, v: Float32Array, n: number): NativeIndex {
  const g = new NativeIndex(o);
  g.reserve(n);
  for (let i = 0; i < n; i++) g.add(i * 3 + 1, row(v, i));
  return g;
}

const sorted = (slots: Uint32Array, dist: Float32Array) =>
  Array.from(slots, (s, i) => [dist[i], s] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

test('a new index made without workers is flat; every read equals a graph index bit for bit', (t) => {
  for (const [metric, scalar] of KINDS) {
    const v = data(60, 7);
    const flat = new NativeIndex({ ...opts(metric, scalar), workers: false });
    t.true(flat.flat, `${metric}/${scalar} starts flat`);
    fill(flat, v, 60);
    const graph = graphTwin(opts(metric, scalar), v, 60);
    t.false(graph.flat);
    t.is(flat.size(), 60);
    t.is(flat.tombstones(), 0);
    t.is(flat.maxLevel(), 0);
    t.is(flat.isa(), graph.isa());
    const a = new Float32Array(D), b = new Float32Array(D);
    for (let i = 0; i < 60; i++) {
      t.true(flat.get(i * 3 + 1, a));
      graph.get(i * 3 + 1, b);
      t.deepEqual(a, b, `${metric}/${scalar}: get(${i * 3 + 1})`);
    }
    t.false(flat.get(2, a));
    t.false(flat.contains(0));
    t.true(flat.contains(1));
    for (let q = 0; q < 10; q++) {
      const query = row(data(10, 99), q);
      const f = flat.search(query, 7, 64);
      const g = graph.search(query, 7, 64, { exact: true });
      // Same set of nearest with the same distances (ties may come in another order from usearch).
      t.deepEqual(Array.from(f.distances), Array.from(f.distances).sort((x, y) => x - y), 'nearest first');
      t.deepEqual(sorted(f.slots, f.distances).map((x) => x[0]), sorted(g.slots, g.distances).map((x) => x[0]), `${metric}/${scalar}: distances`);
      const subset = Uint32Array.of(4, 2, 31, 31, 100, 1);
      const fs = flat.searchSubset(query, subset, 3), gs = graph.searchSubset(query, subset, 3);
      t.deepEqual(Array.from(fs.slots), Array.from(gs.slots));
      t.deepEqual(Array.from(fs.distances), Array.from(gs.distances));
    }
    flat.free();
    graph.free();
  }
});

test('flat search: ties by slot, filters, a zero cosine query, remove, k larger than the set', (t) => {
  const v = data(40, 3);
  const index = new NativeIndex({ ...opts('cos', 'f32'), workers: false });
  fill(index, v, 40);
  // Rows 2 and 5 are equal: the lower slot (7) comes before 16.
  const tie = index.search(row(v, 2), 2, 64);
  t.deepEqual(Array.from(tie.slots), [7, 16]);
  t.is(tie.distances[0], tie.distances[1]);
  const bitmap = new Uint8Array(16);
  for (const s of [16, 31, 40]) bitmap[s >> 3] |= 1 << (s & 7);
  const filtered = index.search(row(v, 2), 5, 64, { filter: bitmap });
  t.is(filtered.count, 3);
  t.true(Array.from(filtered.slots).every((s) => [16, 31, 40].includes(s)));
  const zero = index.search(new Float32Array(D), 3, 64);
  t.deepEqual(Array.from(zero.distances), [1, 1, 1]);
  t.true(index.remove(7));
  t.false(index.remove(7));
  t.false(index.contains(7));
  t.is(index.size(), 39);
  t.deepEqual(Array.from(index.search(row(v, 2), 1, 64).slots), [16]);
  const all = index.search(row(v, 0), 1000, 64);
  t.is(all.count, 39);
  index.add(7, row(v, 9));
  t.true(index.contains(7));
  index.free();
});

test('promote(): the graph is built on a worker, reads go on meanwhile, mutations wait; results stay exact', async (t) => {
  const v = data(FLAT_MAX, 11);
  const index = new NativeIndex({ ...opts('cos', 'i8'), workers: false });
  fill(index, v, FLAT_MAX);
  const before = index.search(row(v, 17), 10, 64);
  const vec = new Float32Array(D);
  index.get(52, vec);
  const job = index.promote(FLAT_MAX * 2);
  t.true(index.flat, 'still flat until the job completes');
  t.is(index.search(row(v, 17), 10, 64).slots[0], before.slots[0], 'reads are served meanwhile');
  t.throws(() => index.remove(1), { message: /promoted/ });
  await job;
  t.false(index.flat);
  t.true(index.hasWorkers);
  t.true(index.capacity() >= FLAT_MAX * 2);
  const after = index.search(row(v, 17), 10, 64, { exact: true });
  t.deepEqual(Array.from(after.distances), Array.from(before.distances));
  const again = new Float32Array(D);
  index.get(52, again);
  t.deepEqual(again, vec, 'vectors are carried over in their stored form');
  // A graph walk finds the same nearest neighbour.
  t.is(index.search(row(v, 17), 1, 64).slots[0], before.slots[0]);
  await index.addBatch(Uint32Array.of(2, 5), v.slice(0, 2 * D));
  t.is(index.size(), FLAT_MAX + 2);
  await t.throwsAsync(index.promote(10), { message: /already a graph/ });
  index.free();
});

test('reserve past FLAT_MAX, worker contexts, or links() promote at once', (t) => {
  const v = data(20, 5);
  const a = new NativeIndex({ ...opts('l2sq', 'f32'), workers: false });
  fill(a, v, 20);
  a.reserve(FLAT_MAX);
  t.true(a.flat, 'up to FLAT_MAX a reserve only promises room');
  t.is(a.capacity(), FLAT_MAX);
  a.reserve(FLAT_MAX + 1);
  t.false(a.flat);
  t.is(a.size(), 20);
  const b = new NativeIndex({ ...opts('l2sq', 'f32'), workers: false });
  fill(b, v, 20);
  b.reserve(30, { workers: true });
  t.false(b.flat);
  t.true(b.hasWorkers);
  const c = new NativeIndex({ ...opts('l2sq', 'f32'), workers: false });
  fill(c, v, 20);
  const levels = c.links(4);
  t.false(c.flat);
  t.truthy(levels);
  t.true(levels!.at(-1)!.length > 0, 'level 0 has neighbours');
  for (const x of [a, b, c]) x.free();
});

test('a flat index serialises to its own small format and loads back flat; damaged or foreign bytes are refused', async (t) => {
  const v = data(30, 21);
  const o = opts('cos', 'bf16');
  const index = new NativeIndex({ ...o, workers: false });
  fill(index, v, 30);
  const bytes = await index.serialize();
  t.is(bytes.subarray(0, 8).toString('latin1'), 'ASTFLAT1');
  t.is(bytes.length, 24 + 30 * (4 + D * 2));
  const back = await NativeIndex.deserialize(bytes, o);
  t.true(back.flat);
  t.false(back.hasWorkers, 'a loaded flat index grows its worker contexts back when it needs them');
  t.is(back.size(), 30);
  const x = new Float32Array(D), y = new Float32Array(D);
  for (let i = 0; i < 30; i++) { index.get(i * 3 + 1, x); back.get(i * 3 + 1, y); t.deepEqual(x, y); }
  t.deepEqual(back.search(row(v, 3), 5, 64), index.search(row(v, 3), 5, 64));
  // From a file's byte range, checksummed as read.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'astronaut-flat-'));
  try {
    const file = path.join(dir, 'snap');
    const pad = Buffer.alloc(13, 7);
    writeFileSync(file, Buffer.concat([pad, bytes, pad]));
    const fromFile = await NativeIndex.deserializeFile({ path: file, offset: 13, length: bytes.length, crc: crc32c(bytes) }, o);
    t.true(fromFile.flat);
    t.deepEqual(fromFile.search(row(v, 3), 5, 64), index.search(row(v, 3), 5, 64));
    fromFile.free();
    await t.throwsAsync(NativeIndex.deserializeFile({ path: file, offset: 13, length: bytes.length, crc: crc32c(bytes) ^ 1 }, o), { message: /checksum/ });
    await t.throwsAsync(NativeIndex.deserializeFile({ path: file, offset: 13, length: bytes.length + 13 + 1, crc: 0 }, o), { message: /ends inside/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await t.throwsAsync(NativeIndex.deserialize(bytes, opts('cos', 'f16')), { message: /other dimensions, metric, scalar/ });
  await t.throwsAsync(NativeIndex.deserialize(bytes.subarray(0, bytes.length - 1), o), { message: /header says/ });
  const twice = Buffer.from(bytes);
  twice.writeUInt32LE(twice.readUInt32LE(24), 28); // the second slot repeats the first
  await t.throwsAsync(NativeIndex.deserialize(twice, o), { message: /twice/ });
  const huge = Buffer.from(bytes);
  huge.writeUInt32LE(FLAT_MAX + 1, 20);
  await t.throwsAsync(NativeIndex.deserialize(huge, o), { message: /more than/ });
  // A graph's own serialisation still loads as a graph.
  const graph = graphTwin(o, v, 30);
  const loaded = await NativeIndex.deserialize(await graph.serialize(), o);
  t.false(loaded.flat);
  for (const z of [index, back, graph, loaded]) z.free();
});

test('a flat index costs its vectors, not a graph: memory figures and freeing', (t) => {
  const before = nativeMemory();
  const index = new NativeIndex({ ...opts('cos', 'i8', { dimensions: 128 }), workers: false });
  index.reserve(64);
  index.add(0, new Float32Array(128).fill(0.5));
  const stats = index.memoryStats();
  t.is(stats.graphUsed, 0);
  t.is(stats.vectorsUsed, 128 + 4);
  t.is(index.usedBytes(), 132);
  t.true(index.reservedBytes() < 1024, `reserved ${index.reservedBytes()} B`);
  t.is(nativeMemory().indexes, before.indexes + 1);
  t.true(index.free());
  t.is(nativeMemory().indexes, before.indexes);
});

const params = (over: Partial<SetParams> = {}): SetParams =>
  ({ dim: D, metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 128, ef: 64, explicit: true, projectInputDim: 0, family: 'vec', ...over });

test('a vector set grows out of its flat store on a worker while writes and searches keep coming', async (t) => {
  const n = FLAT_MAX + 200;
  const v = data(n, 33);
  const set = new VectorSet(params({ quant: 'I8' }));
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < FLAT_MAX - 10; i++) pending.push(set.add(`e${i}`, row(v, i), null).done);
  await Promise.all(pending);
  // Past FLAT_MAX in one burst, with searches and removals in between.
  const searches: Array<Promise<unknown> | unknown> = [];
  for (let i = FLAT_MAX - 10; i < n; i++) {
    pending.push(set.add(`e${i}`, row(v, i), null).done);
    if (i % 50 === 0) searches.push(set.search(row(v, i), { k: 3, ef: 64 }));
  }
  set.remove(['e3', 'e4']);
  await Promise.all(pending);
  await Promise.all(searches);
  await set.idle();
  t.is(set.card, n - 2);
  for (const i of [0, 100, FLAT_MAX + 50, n - 1]) {
    const hits = await set.search(row(v, i), { k: 1, ef: 200 });
    t.is(hits[0].id, `e${i}`);
  }
  const gone = await set.search(row(v, 3), { k: 1, ef: 64, exact: true });
  t.not(gone[0].id, 'e3', 'a removed element is never found');
  set.dispose();
});

test('replacing one element of a small set many times never schedules a compaction', async (t) => {
  const set = new VectorSet(params());
  const v = data(4, 1);
  for (let i = 0; i < 3000; i++) await set.add('only', row(v, i % 4), null).done;
  t.is(set.deleted, 0);
  t.false(set.compacting);
  t.is(set.card, 1);
  set.dispose();
});

test('a small set keeps its per-slot state in one array: growth, removal, slot reuse, scales and snapshots stay exact', async (t) => {
  // I8 keeps a scale per slot; 70 slots cross the held bitmap's 32-bit words and several growths.
  const set = new VectorSet(params({ quant: 'I8' }));
  const v = data(70, 5);
  const vec = (i: number) => row(v, i).map((x) => x * (1 + i)); // a different max |x| (scale) per element
  for (let i = 0; i < 70; i++) set.add(`e${i}`, vec(i), null);
  await set.idle();
  const removed = ['e0', 'e31', 'e32', 'e33', 'e69'];
  t.is(set.remove(removed), removed.length);
  await set.idle();
  // Freed slots are reused by later adds, whose state must not leak from the old occupants.
  for (const id of ['n0', 'n1']) set.add(id, vec(7), null);
  await set.idle();
  const live = new Map<string, Float32Array>();
  for (let i = 0; i < 70; i++) if (!removed.includes(`e${i}`)) live.set(`e${i}`, vec(i));
  live.set('n0', vec(7)).set('n1', vec(7));
  t.is(set.card, live.size);
  const checkAll = async (s: VectorSet) => {
    for (const [id, want] of live) {
      const stored = (await s.getStored(id))!;
      let max = 0;
      for (const x of want) max = Math.max(max, Math.abs(x));
      t.is(stored.scale, Math.fround(max), id);
      const got = (await s.get(id))!;
      for (let j = 0; j < D; j++) if (Math.abs(got[j] - want[j]) > max / 100) t.fail(`${id}[${j}] = ${got[j]}, want ${want[j]}`);
    }
    for (const id of removed) t.is(await s.get(id), null);
    t.deepEqual(s.random(live.size).sort(), [...live.keys()].sort());
    for (const id of s.random(-200)) t.true(live.has(id), id);
    const hits = await s.search(vec(31), { k: live.size, ef: 64 });
    t.is(hits.length, live.size);
    t.false(hits.some((h) => removed.includes(h.id)));
  };
  await checkAll(set);
  const { state, graph } = set.snapshot();
  const back = await VectorSet.restore(state, await graph);
  await checkAll(back);
  set.dispose();
  back.dispose();
});

test('sets made alike share one frozen copy of their parameters and index options', (t) => {
  const p = params({ quant: 'I8' });
  const a = new VectorSet(p), b = new VectorSet({ ...p });
  t.is(a.params, b.params);
  t.true(Object.isFrozen(a.params));
  t.not(a.params, p, 'the caller keeps its own object');
  t.not(new VectorSet(params({ quant: 'F32' })).params, a.params);
  const o = opts('cos', 'i8');
  const x = new NativeIndex({ ...o, workers: false }), y = new NativeIndex({ ...o, workers: false });
  t.is(x.options, y.options);
  for (const s of [a, b]) s.dispose();
  x.free(); y.free();
});

/**
 * An FT index's snapshot sections, loaded without a server: the stored
 * graphs are taken back when the documents still match them, a document
 * changed or deleted since is re-read, and a refused section falls back to
 * the rebuild from the documents.
 */
import test from 'ava';
import { pino } from 'pino';
import { Keyspace } from '../../src/engine/keyspace.js';
import { HashValue } from '../../src/hashes/hash-value.js';
import { Registry, alterLayout } from '../../src/search/registry.js';
import { SECTION } from '../../src/store/format/snapshot-schema.js';
import type { SearchIndex } from '../../src/search/search-index.js';
import { f32 } from './helpers.js';

const log = pino({ level: 'silent' });
const N = 300;
const vec = (i: number) => f32([1, (i % 17) / 17, Math.floor(i / 17) / 17, 0.25]);
const CREATE = ['FT.CREATE', 'idx', 'ON', 'HASH', 'PREFIX', '1', 'd:', 'SCHEMA', 't', 'TAG', 'v', 'VECTOR', 'HNSW', '6',
  'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'L2'].map((s) => Buffer.from(s));

function doc(i: number, v = vec(i)): HashValue {
  const h = new HashValue(0);
  h.set('t', i % 2 ? 'odd' : 'even');
  h.set('n', String(i));
  h.set('v', v.toString('latin1'));
  return h;
}

async function bytesOf(data: Uint8Array | Iterable<Uint8Array> | Promise<Uint8Array>): Promise<Buffer> {
  const d = await data;
  return d instanceof Uint8Array ? Buffer.from(d) : Buffer.concat([...d]);
}

/** A registry with one index over N documents, and its snapshot sections. */
async function saved(): Promise<{ ks: Keyspace; sections: Array<{ kind: number; name: string; bytes: Buffer }> }> {
  const ks = new Keyspace(16);
  const reg = new Registry(ks, log, () => false);
  const index = reg.create(CREATE, 0);
  await index.backfill();
  for (let i = 0; i < N; i++) { ks.db(0).set(`d:${i}`, doc(i)); reg.onEvent(0, 'hset', `d:${i}`); }
  const sections = [];
  for (const s of reg.save()) sections.push({ kind: s.kind, name: s.name, bytes: await bytesOf(s.data) });
  for (const name of [...reg.indexes.keys()]) reg.drop(name);
  return { ks, sections };
}

/** Load the sections into a fresh registry over `ks`, as persistence does while data loads. */
async function load(ks: Keyspace, sections: Array<{ kind: number; name: string; bytes: Buffer }>): Promise<{ reg: Registry; index: SearchIndex; done: () => void }> {
  let loading = true;
  const reg = new Registry(ks, log, () => loading);
  for (const s of sections) await reg.load(s.kind, s.name, s.bytes);
  reg.loaded();
  return { reg, index: reg.get('idx')!, done: () => { loading = false; } };
}

async function nearest(index: SearchIndex, v: Buffer): Promise<{ key: string; distance: number } | undefined> {
  const q = new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.length));
  const [hit] = await index.knn(index.field('v')!, q, 1, null, null);
  return hit && { key: hit.key, distance: hit.distance };
}

test('the stored graph is taken back; documents changed or deleted since the cut are re-read', async (t) => {
  const { ks, sections } = await saved();
  t.deepEqual(sections.map((s) => s.kind), [SECTION.SEARCH_INDEXES, SECTION.SEARCH_SET, SECTION.SEARCH_GRAPH]);
  // Not the keyspace of the cut: one vector rewritten, one document deleted, one made invalid.
  ks.db(0).set('d:5', doc(5, f32([9, 9, 9, 9])));
  ks.db(0).delete('d:6');
  ks.db(0).set('d:7', doc(7, Buffer.from('short')));
  const { reg, index, done } = await load(ks, sections);
  t.true(index.current);
  t.false(index.indexing);
  t.is(index.numDocs, N - 2);
  t.is(index.failures, 1);
  const set = index.field('v')!.vector!.set;
  t.is(set.card, N - 2);
  t.deepEqual(await nearest(index, f32([9, 9, 9, 9])), { key: 'd:5', distance: 0 });
  t.deepEqual(await nearest(index, vec(100)), { key: 'd:100', distance: 0 });
  t.false(set.has('d:6'));
  t.false(set.has('d:7'));
  // Current before the WAL replays: the replay's writes reach it through the events.
  ks.db(0).set('d:1000', doc(1000, f32([-5, 0, 0, 0])));
  reg.onEvent(0, 'hset', 'd:1000');
  t.deepEqual(await nearest(index, f32([-5, 0, 0, 0])), { key: 'd:1000', distance: 0 });
  done();
  await reg.backfillAll();
  t.false(index.indexing);
  for (const name of [...reg.indexes.keys()]) reg.drop(name);
});

test('a refused vector section (another version) falls back to the rebuild from the documents', async (t) => {
  const { ks, sections } = await saved();
  const set = sections.find((s) => s.kind === SECTION.SEARCH_SET)!;
  const len = set.bytes.readUInt32LE(0);
  const header = JSON.parse(set.bytes.toString('utf8', 4, 4 + len)) as { version: number };
  header.version = 99;
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(json.length, 0);
  set.bytes = Buffer.concat([head, json, set.bytes.subarray(4 + len)]);
  const { reg, index, done } = await load(ks, sections);
  t.false(index.current);
  t.is(index.numDocs, 0);
  done();
  await reg.backfillAll();
  t.true(index.current);
  t.is(index.numDocs, N);
  t.deepEqual(await nearest(index, vec(100)), { key: 'd:100', distance: 0 });
  for (const name of [...reg.indexes.keys()]) reg.drop(name);
});

test('an older snapshot (definitions only) loads and is rebuilt from the documents', async (t) => {
  const { ks, sections } = await saved();
  const { reg, index, done } = await load(ks, sections.filter((s) => s.kind === SECTION.SEARCH_INDEXES));
  t.false(index.current);
  done();
  await reg.backfillAll();
  t.is(index.numDocs, N);
  t.deepEqual(await nearest(index, vec(42)), { key: 'd:42', distance: 0 });
  for (const name of [...reg.indexes.keys()]) reg.drop(name);
});

test('FT.ALTER and SWAPDB replayed from the WAL after the cut reach a restored index; the fields they add are backfilled once loaded', async (t) => {
  const { ks, sections } = await saved();
  const { reg, index, done } = await load(ks, sections);
  t.true(index.current);
  const alter = ['FT.ALTER', 'idx', 'SCHEMA', 'ADD', 'n', 'NUMERIC'].map((s) => Buffer.from(s));
  const { from, skip } = alterLayout(alter);
  reg.alter(index, alter, from, skip);
  t.true(index.pendingScan);
  // A write replayed meanwhile is indexed at once, the new field included.
  ks.db(0).set('d:2000', doc(2000, f32([0, 0, 7, 0])));
  reg.onEvent(0, 'hset', 'd:2000');
  t.deepEqual(await nearest(index, f32([0, 0, 7, 0])), { key: 'd:2000', distance: 0 });
  done();
  await reg.backfillAll();
  t.false(index.pendingScan);
  t.is(index.field('n')!.present.count(), N + 1);
  t.deepEqual(await nearest(index, vec(3)), { key: 'd:3', distance: 0 });
  // SWAPDB while loading: the index now reads the other (empty) database, refilled once loaded.
  const again = await load(ks, sections);
  ks.swap(0, 1);
  again.reg.onEvent(0, 'swapdb', '');
  t.is(again.index.numDocs, 0);
  t.true(again.index.pendingScan);
  ks.swap(0, 1);
  again.reg.onEvent(0, 'swapdb', '');
  again.done();
  await again.reg.backfillAll();
  t.is(again.index.numDocs, N + 1);
  t.deepEqual(await nearest(again.index, vec(9)), { key: 'd:9', distance: 0 });
  for (const r of [reg, again.reg]) for (const name of [...r.indexes.keys()]) r.drop(name);
});

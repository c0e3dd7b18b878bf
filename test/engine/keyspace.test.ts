/**
 * The keyspace's freeze (the snapshot cut, copy-on-write by key) and its
 * memory accounting. A snapshot reads a frozen keyspace while writes go on:
 * what it reads must be the state at the freeze, and the live view must be
 * the writes' result, before, during and after the release folds them back.
 */
import test from 'ava';
import fc from 'fast-check';
import { Database, INLINE_MAX, Keyspace, StringValue, type StoredValue } from '../../src/engine/keyspace.js';
import { decodeStrings, encodeStringsChunked } from '../../src/store/format/snapshot-schema.js';

/** A stand-in for a vector set: an object value that counts its disposals. */
class Obj implements StoredValue {
  readonly type = 'obj';
  disposed = 0;
  usedBytes(): number { return 1000; }
  dispose(): void { this.disposed++; }
}

type Model = Map<string, string | Obj>;

const str = (v: StoredValue | undefined): string | Obj | undefined => (v instanceof StringValue ? v.value.toString('latin1') : (v as Obj | undefined));

function live(db: Database): Model {
  const m: Model = new Map();
  for (const [k, v] of db.entries) m.set(k, str(v)!);
  return m;
}

function frozenStrings(ks: Keyspace, f: ReturnType<Keyspace['freeze']>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [db, k, v] of f.strings()) out.set(`${db}/${k}`, typeof v === 'string' ? v : v.toString('latin1'));
  void ks;
  return out;
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 30 }), value: fc.oneof(fc.string({ maxLength: 3 }), fc.constant('x'.repeat(INLINE_MAX + 5))) }),
  fc.record({ kind: fc.constant('obj' as const), key: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('del' as const), key: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('rename' as const), key: fc.integer({ min: 0, max: 30 }), to: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('clear' as const) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(db: Database, model: Model, o: Op): void {
  if (o.kind === 'set') {
    db.setString(`k${o.key}`, Buffer.from(o.value, 'latin1'));
    model.set(`k${o.key}`, o.value);
  } else if (o.kind === 'obj') {
    const v = new Obj();
    db.set(`k${o.key}`, v);
    model.set(`k${o.key}`, v);
  } else if (o.kind === 'del') {
    db.delete(`k${o.key}`);
    model.delete(`k${o.key}`);
  } else if (o.kind === 'rename') {
    const from = `k${o.key}`, to = `k${o.to}`;
    if (db.rename(from, to) && from !== to) { model.set(to, model.get(from)!); model.delete(from); }
  } else {
    db.clear();
    model.clear();
  }
}

const sameContents = (a: Model, b: Model): boolean => a.size === b.size && [...a].every(([k, v]) => b.has(k) && b.get(k) === v);

test('a freeze reads the state at the cut whatever is written after; the live view has every write, before and after release', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 10 }), async (before, during, afterRelease) => {
    const ks = new Keyspace(2);
    const db = ks.db(1);
    const model: Model = new Map();
    for (const o of before) apply(db, model, o);
    const atCut = new Map([...model].filter(([, v]) => typeof v === 'string').map(([k, v]) => [`1/${k}`, v as string]));
    const f = ks.freeze();
    for (const o of during) apply(db, model, o);
    if (!sameContents(live(db), model) || db.size !== model.size) return false;
    if (f.stringCount !== atCut.size) return false;
    const seen = frozenStrings(ks, f);
    if (seen.size !== atCut.size || [...atCut].some(([k, v]) => seen.get(k) !== v)) return false;
    const released = f.release();
    // Writes racing the release land on top of it.
    for (const o of afterRelease) apply(db, model, o);
    await released;
    for (const [k, v] of model) if (str(db.peek(k)) !== v) return false;
    return sameContents(live(db), model) && db.size === model.size;
  }), { numRuns: 300 });
  t.pass();
});

test('the strings section streams in chunks and decodes to the frozen strings', (t) => {
  const ks = new Keyspace(3);
  const n = 30_000;
  for (let i = 0; i < n; i++) ks.db(i % 3).setString(`key:${i}`, Buffer.from(i % 1000 === 0 ? 'y'.repeat(INLINE_MAX * 3) : `v${i}\u00ff`, 'latin1'));
  ks.db(2).set('set', new Obj());
  const f = ks.freeze();
  t.is(f.stringCount, n);
  const chunks = [...encodeStringsChunked(f.stringCount, f.strings())];
  t.true(chunks.length > 5, `${chunks.length} chunks`);
  ks.db(0).setString('key:0', Buffer.from('changed')); // after the cut: not in what was already encoded either way
  const decoded = [...decodeStrings(Buffer.concat(chunks))];
  t.is(decoded.length, n);
  for (const [db, k, v] of decoded) {
    const i = Number(k.slice(4));
    t.is(db, i % 3);
    if (i % 1000 === 0) t.is(v.length, INLINE_MAX * 3); else t.is(v.toString('latin1'), `v${i}\u00ff`);
  }
  return f.release();
});

test('objects are listed without the strings, disposed once when they leave, kept across RENAME', (t) => {
  const db = new Database(0);
  for (let i = 0; i < 1000; i++) db.setString(`s${i}`, Buffer.from('v'));
  const a = new Obj(), b = new Obj();
  db.set('a', a);
  db.set('b', b);
  t.deepEqual([...db.objects()].map(([k]) => k), ['a', 'b']);
  db.rename('a', 'c');
  t.is(a.disposed, 0);
  t.deepEqual([...db.objects()].map(([k]) => k).sort(), ['b', 'c']);
  db.setString('b', Buffer.from('now a string'));
  t.is(b.disposed, 1);
  t.deepEqual([...db.objects()].map(([k]) => k), ['c']);
  t.is(db.clear(), 1002);
  t.is(a.disposed, 1);
  t.is(db.size, 0);
  t.deepEqual([...db.objects()], []);
});

test('SET keeps its own copy of the bytes; binary values round-trip', (t) => {
  const db = new Database(0);
  const socket = Buffer.from([0, 1, 2, 255, 128]);
  db.setString('small', socket);
  const big = Buffer.alloc(INLINE_MAX + 1, 7);
  db.setString('big', big);
  socket.fill(9);
  big.fill(9);
  t.deepEqual([...(db.get('small') as StringValue).value], [0, 1, 2, 255, 128]);
  t.true((db.get('big') as StringValue).value.every((x) => x === 7));
  db.setString('empty', Buffer.alloc(0));
  t.true(db.has('empty'));
  t.is((db.peek('empty') as StringValue).value.length, 0);
});

test('datasetBytes follows the keys as they come and go, without walking them', (t) => {
  const db = new Database(0);
  t.is(db.datasetBytes(), 0);
  for (let i = 0; i < 10_000; i++) db.setString(`key:${i}`, Buffer.from('v'));
  const full = db.datasetBytes();
  // ~32 bytes of key string and ~29 of Map entry each: Redis's order of magnitude, not hundreds.
  t.true(full / 10_000 > 40 && full / 10_000 < 100, `${full / 10_000} B/key`);
  for (let i = 0; i < 10_000; i++) db.setString(`key:${i}`, Buffer.from('a longer value now'));
  t.true(db.datasetBytes() > full);
  for (let i = 0; i < 10_000; i++) db.delete(`key:${i}`);
  t.is(db.datasetBytes(), 0);
});

test('a release folding over several turns keeps the writes that race it, and a new freeze folds what is left first', async (t) => {
  const ks = new Keyspace(1);
  const db = ks.db(0);
  const model: Model = new Map();
  const set = (k: string, v: string) => { db.setString(k, Buffer.from(v)); model.set(k, v); };
  for (let i = 0; i < 20_000; i++) set(`k${i}`, 'a');
  let f = ks.freeze();
  for (let i = 0; i < 20_000; i += 2) set(`k${i}`, 'b');
  for (let i = 1; i < 20_000; i += 4) { db.delete(`k${i}`); model.delete(`k${i}`); }
  for (let i = 20_000; i < 30_000; i++) set(`k${i}`, 'c');
  const released = f.release();
  let turns = 0;
  // Writes between the release's slices.
  while (await Promise.race([released.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]) === false) {
    turns++;
    set(`k${turns * 7}`, `t${turns}`);
    db.delete(`k${turns * 11 + 3}`); model.delete(`k${turns * 11 + 3}`);
  }
  t.true(turns >= 2, `${turns} turns`);
  t.true(sameContents(live(db), model));
  // A freeze while a release is still folding: it folds the rest at once, and reads the state at its own cut.
  f = ks.freeze();
  for (let i = 0; i < 12_000; i++) set(`k${i}`, 'd');
  set('k0', 'after');
  const second = f.release();
  await new Promise((r) => setImmediate(r));
  f = ks.freeze();
  await second;
  t.is(str(db.peek('k0')), 'after');
  const cut = new Map([...f.strings()].map(([, k, v]) => [k, v]));
  t.is(cut.get('k0'), 'after');
  t.is(cut.get('k11999'), 'd');
  set('k0', 'later');
  t.is(cut.size, model.size);
  await f.release();
  t.true(sameContents(live(db), model));
});

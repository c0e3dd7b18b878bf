/**
 * The keyspace: numbered databases of keys, each holding a typed value.
 * State only (like mini-redis's db.rs): no RESP, no sockets.
 *
 * Keys are binary-safe: they are stored as latin1 strings, one char per byte,
 * so a JS Map can hold them (split by key hash: sharded-map.ts says why) and
 * `Buffer.from(key, 'latin1')` gives the bytes back.
 *
 * Memory. A plain string value of up to INLINE_MAX bytes is kept as a latin1
 * JS string right in the database's Map, with no object around it: a Buffer
 * alone costs ~100 bytes of JS object before its data (plus a pool slice), and
 * a wrapper object 40 more, while a million tiny keys should cost what Redis's
 * do (~60–70 bytes each). `get`/`peek` hand out a fresh StringValue around the
 * bytes; larger values keep their StringValue and Buffer (the copy GET would
 * otherwise make each time is what matters for them, not the header).
 *
 * Snapshots. `Keyspace.freeze()` takes the dataset as it is at one instant in
 * O(1) per database: the Map itself becomes the snapshot's read-only source and
 * later writes go to a delta Map consulted first (copy-on-write by key). A
 * snapshot encoding a million keys in slices therefore sees exactly the state at
 * its WAL cut: nothing written after it leaks in (writes land in the delta) and
 * nothing is missed (the frozen Map is never written). `release()` folds the
 * delta back in slices once the snapshot has read what it needs.
 *
 * Expiry. Deadlines (absolute Unix ms) live in a second copy-on-write map per
 * database (`CowMap`), frozen and released with the values, so a snapshot
 * holds each key's deadline as of its cut. A key past its deadline is
 * "logically expired": every lookup asks `KeyspaceObserver.expiryMode()`
 * whether to delete it now (and have the observer log a DEL and count it),
 * only hide it (the log cannot take the DEL), or keep it (while loading:
 * replayed commands must see the keys as the primary did, as Redis's
 * expireIfNeeded does when `server.loading`).
 */

import { ShardedMap } from './sharded-map.js';

/** What every value stored under a key provides. */
export interface StoredValue {
  /** The name TYPE answers, e.g. `vectorset`, `string`. */
  readonly type: string;
  /** Approximate bytes in use (MEMORY USAGE, INFO): not address space merely reserved. */
  usedBytes(): number;
  /** Of those, the bytes outside what V8 reports (heapUsed, external): a vector set's native index. */
  indexUsedBytes?(): number;
  /**
   * Release native resources once the value has left the keyspace; every path that drops a
   * value from a Database calls it. A value whose release waits for its queued work (a vector
   * set) returns a promise settled once released, which never rejects.
   */
  dispose(): void | Promise<void>;
  /** OBJECT ENCODING's answer; `raw` when absent. */
  readonly encoding?: string;
  /** A deep, independent copy (COPY); a type without one cannot be copied. */
  clone?(): StoredValue;
}

/**
 * A value a snapshot stores as bytes in a section of its type's kind (hashes,
 * JSON documents): the feature that owns the type registers a `ValueCodec`
 * to rebuild it, so persistence needs no knowledge of the type.
 */
export interface SerializableValue extends StoredValue {
  /** The snapshot section kind (store/format/snapshot-schema.ts) holding values of this type. */
  readonly sectionKind: number;
  /** The value as bytes. Called while a snapshot reads it: it must not change meanwhile (`Database.shared`). */
  serialize(): Buffer;
}

export const isSerializable = (v: StoredValue): v is SerializableValue =>
  typeof (v as Partial<SerializableValue>).serialize === 'function' && typeof (v as Partial<SerializableValue>).sectionKind === 'number';

/** How a serializable type is rebuilt from its bytes (snapshot load); registered by its feature. */
export interface ValueCodec {
  readonly sectionKind: number;
  /** The snapshot section's name. */
  readonly sectionName: string;
  decode(bytes: Buffer): StoredValue;
}

/** One snapshot section of a feature's state (StateCodec.save). */
export interface StateSection {
  readonly kind: number;
  readonly name: string;
  /**
   * The bytes; a promise when they are only known later (a vector graph is
   * serialized after the cut, in its set's queue), or chunks pulled by the writer.
   */
  readonly data: Uint8Array | Iterable<Uint8Array> | Promise<Uint8Array>;
}

/**
 * State a feature keeps beside the keys that a snapshot must carry (FT.*
 * index definitions and their vector graphs): saved at the snapshot's cut,
 * loaded before the WAL is replayed. Registered by its feature, so
 * persistence needs no knowledge of it.
 */
export interface StateCodec {
  /** Every section kind it writes; sections of these kinds are handed to `load`. */
  readonly sectionKinds: readonly number[];
  /** The state at this instant, as sections in the order `load` wants them; called synchronously at the cut. */
  save(): StateSection[];
  /** One of its sections, in file order. */
  load(kind: number, name: string, bytes: Buffer): void | Promise<void>;
  /** Every section of the snapshot is loaded; the WAL after the cut replays next. */
  loaded?(): void | Promise<void>;
}

/** What a logically expired key's lookup does (see the top of the file). */
export type ExpiryMode = 'delete' | 'hide' | 'keep';

/** What the server hooks onto the keyspace: expiry's side effects and WATCH. */
export interface KeyspaceObserver {
  expiryMode(): ExpiryMode;
  /** `key` was just deleted because its deadline passed (log a DEL, count it, notify, WATCH). */
  expired(db: number, key: string): void;
  /** `key`'s value, existence or deadline changed (WATCH). */
  touched(db: number, key: string): void;
  /** Every key of `db` is about to go (FLUSHDB, FLUSHALL). */
  flushing(db: Database): void;
  /** Databases `a` and `b` are about to trade places (SWAPDB). */
  swapping(a: Database, b: Database): void;
  /** `key` did not exist and now does (Redis's "new" event, class n). */
  created?(db: number, key: string): void;
  /** A read found no `key` (Redis's "keymiss" event, class m). */
  missed?(db: number, key: string): void;
}

const NO_OBSERVER: KeyspaceObserver = { expiryMode: () => 'delete', expired: () => {}, touched: () => {}, flushing: () => {}, swapping: () => {} };

/** Values up to this many bytes live in the Map as latin1 strings (see the top of the file). */
export const INLINE_MAX = 1024;

// V8 layout on 64-bit Node (no pointer compression in Node's builds): what INFO and MEMORY USAGE estimate with.
/** A sequential one-byte string: map, hash, length, then the chars, 8-byte aligned. */
const seqStringBytes = (chars: number): number => (16 + chars + 7) & ~7;
/** One Map entry (key, value, chain: 3 words) plus its share of the bucket array (half a word). */
const MAP_ENTRY_BYTES = 28;
/** A StringValue (5 words) and its Buffer (a typed array object, ~12 words), before the data. */
const BOXED_STRING_BYTES = 40 + 96;

/** Heap bytes a string value occupies: V8 shares the empty and one-character strings. */
function valueBytes(length: number): number {
  if (length > INLINE_MAX) return BOXED_STRING_BYTES + ((length + 7) & ~7);
  return length <= 1 ? 0 : seqStringBytes(length);
}

/** A plain Redis string: kept so applications (and tests) can hold a non-vector key next to vector sets. */
export class StringValue implements StoredValue {
  readonly type = 'string';
  constructor(readonly value: Buffer) {}
  /** The value and its share of the key's Map entry (MEMORY USAGE adds the key). */
  usedBytes(): number { return MAP_ENTRY_BYTES + valueBytes(this.value.length); }
  dispose(): void {}
}

export const keyOf = (bytes: Buffer): string => bytes.toString('latin1');
export const keyBytes = (key: string): Buffer => Buffer.from(key, 'latin1');

/** What a Map holds per key: a small string value's bytes (latin1), or the value object. */
type Slot = string | StoredValue;
/** In a delta: the key was removed after the freeze. */
const REMOVED: unique symbol = Symbol('removed');

const wrap = (s: Slot): StoredValue => (typeof s === 'string' ? new StringValue(Buffer.from(s, 'latin1')) : s);
const slotOf = (v: StoredValue): Slot => (v instanceof StringValue && v.value.length <= INLINE_MAX ? v.value.toString('latin1') : v);

/**
 * A Map with the same copy-on-write freeze as a Database's table (see the top
 * of the file): the deadlines, frozen and released together with the values.
 */
export class CowMap<V> {
  private table = new ShardedMap<V>();
  private delta: Map<string, V | typeof REMOVED> | null = null;
  private frozen = false;
  private hidden = false;
  private count = 0;

  get size(): number { return this.count; }

  get(key: string): V | undefined {
    const d = this.delta;
    if (d !== null) {
      const v = d.get(key);
      if (v !== undefined) return v === REMOVED ? undefined : v;
      if (this.hidden) return undefined;
    }
    return this.table.get(key);
  }

  set(key: string, value: V): void {
    if (this.get(key) === undefined) this.count++;
    if (this.delta === null) this.table.set(key, value); else this.delta.set(key, value);
  }

  delete(key: string): boolean {
    if (this.get(key) === undefined) return false;
    this.count--;
    const d = this.delta;
    if (d === null) this.table.delete(key);
    else if (this.hidden || !this.table.has(key)) d.delete(key);
    else d.set(key, REMOVED);
    return true;
  }

  clear(): void {
    if (this.frozen) { this.delta = new Map(); this.hidden = true; } else { this.table = new ShardedMap(); this.delta = null; }
    this.count = 0;
  }

  *entries(): IterableIterator<[string, V]> {
    const d = this.delta;
    if (d === null) { yield* this.table; return; }
    if (!this.hidden) {
      for (const [k, v] of this.table) {
        const o = d.get(k);
        if (o === undefined) yield [k, v];
        else if (o !== REMOVED) yield [k, o];
      }
    }
    for (const [k, o] of d) if (o !== REMOVED && (this.hidden || !this.table.has(k))) yield [k, o];
  }

  /**
   * The keys alone: the Map's own iterator while nothing is frozen, which allocates no
   * [key, value] pair per step (the expire cycle walks every deadline, again and again).
   */
  keys(): IterableIterator<string> {
    return this.delta === null ? this.table.keys() : this.keysWithDelta();
  }

  private *keysWithDelta(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  freeze(): ReadonlyMap<string, V> {
    if (this.delta !== null) while (!this.thawStep(Infinity));
    this.frozen = true;
    this.delta = new Map();
    return this.table;
  }

  thawStep(budget: number): boolean {
    if (this.frozen) {
      this.frozen = false;
      if (this.hidden) { this.table = new ShardedMap(); this.hidden = false; }
    }
    const d = this.delta;
    if (d === null) return true;
    let n = 0;
    for (const [k, v] of d) {
      if (v === REMOVED) this.table.delete(k); else this.table.set(k, v);
      d.delete(k);
      if (++n >= budget) break;
    }
    if (d.size > 0) return false;
    this.delta = null;
    return true;
  }
}

/** One database as of a freeze; `table` is not written until the freeze is released. */
export interface FrozenDatabase {
  readonly index: number;
  readonly table: ReadonlyMap<string, Slot>;
  /** Deadlines (Unix ms) of the keys in `table` that have one. */
  readonly expires: ReadonlyMap<string, number>;
  /** String keys in `table`. */
  readonly strings: number;
}

export class Database {
  /** Key → value. While frozen (`delta` set), only a running release writes to it. */
  private table = new ShardedMap<Slot>();
  /** Writes since the freeze, looked up before `table`: a new slot, or REMOVED. Folded back by `thawStep`. */
  private delta: Map<string, Slot | typeof REMOVED> | null = null;
  /** A snapshot is reading `table`. */
  private frozen = false;
  /** FLUSHDB while frozen: nothing in `table` counts any more. */
  private tableHidden = false;
  /** Bumped when a freeze starts and when its release starts folding (see `iterationEpoch`). */
  private epoch = 0;
  private count = 0;
  /** Values that are not plain strings (vector sets): few, and enumerated at every snapshot cut and INFO. */
  private readonly objectsByKey = new Map<string, StoredValue>();
  /** Bumped by each freeze; see `shared`. */
  private freezes = 0;
  /** Heap bytes of the keys and string values (not the Map's entries), kept as they change so INFO is O(1). */
  private stringBytes = 0;
  /** Deadlines, Unix ms, of the keys that have one. */
  private readonly expires = new CowMap<number>();
  hits = 0;
  misses = 0;
  /** The index changes only when SWAPDB swaps two databases' places. */
  constructor(public index: number, private readonly observer: KeyspaceObserver = NO_OBSERVER) {}

  /** Every key, logically expired ones included until they are reclaimed (DBSIZE counts them, as Redis's does). */
  get size(): number { return this.count; }
  /** Keys with a deadline (INFO keyspace `expires=`). */
  get expiresCount(): number { return this.expires.size; }

  get(key: string): StoredValue | undefined {
    const s = this.live(key);
    if (s === undefined) { this.misses++; this.observer.missed?.(this.index, key); return undefined; }
    this.hits++;
    return wrap(s);
  }

  /** Look up without touching the hit/miss statistics (internal reads). */
  peek(key: string): StoredValue | undefined {
    const s = this.live(key);
    return s === undefined ? undefined : wrap(s);
  }

  has(key: string): boolean { return this.live(key) !== undefined; }

  /** Store a new value: the key's deadline goes unless `keepTtl` (Redis's setKey, SET … KEEPTTL). */
  set(key: string, value: StoredValue, keepTtl = false): void {
    // A hidden expired key (expiryMode 'hide') still holds its slot: count against what is there.
    this.live(key);
    const old = this.slot(key);
    if (old !== value) {
      if (old !== undefined) this.forget(key, old, true);
      else this.count++;
      this.store(key, slotOf(value));
    }
    if (!keepTtl) this.expires.delete(key);
    this.observer.touched(this.index, key);
    if (old === undefined) this.observer.created?.(this.index, key);
  }

  /** SET: `bytes` may be a view into a buffer that will be reused; it is copied. */
  setString(key: string, bytes: Buffer, keepTtl = false): void {
    this.set(key, new StringValue(bytes.length <= INLINE_MAX ? bytes : Buffer.from(bytes)), keepTtl);
  }

  delete(key: string): boolean {
    const old = this.live(key);
    if (old === undefined) return false;
    this.remove(key, old);
    this.observer.touched(this.index, key);
    return true;
  }

  /** Move a value to another key without disposing it (RENAME); its deadline goes with it. */
  rename(from: string, to: string): boolean {
    const s = this.live(from);
    if (s === undefined) return false;
    if (from === to) return true;
    const deadline = this.expires.get(from);
    this.forget(from, s, false);
    this.count--;
    this.put(from, REMOVED);
    this.expires.delete(from);
    this.live(to);
    const old = this.slot(to);
    if (old !== undefined) this.forget(to, old, true);
    else this.count++;
    this.store(to, s);
    if (deadline !== undefined) this.expires.set(to, deadline); else this.expires.delete(to);
    this.observer.touched(this.index, from);
    this.observer.touched(this.index, to);
    // Redis deletes the destination then adds it: "new" even when it existed.
    this.observer.created?.(this.index, to);
    return true;
  }

  /** Take a key's value and deadline out without disposing the value (MOVE); undefined when absent. */
  detach(key: string): { value: StoredValue; deadline: number | undefined } | undefined {
    const s = this.live(key);
    if (s === undefined) return undefined;
    const deadline = this.expires.get(key);
    this.forget(key, s, false);
    this.count--;
    this.put(key, REMOVED);
    this.expires.delete(key);
    this.observer.touched(this.index, key);
    return { value: wrap(s), deadline };
  }

  // ---- expiry ----

  /** The key's deadline (Unix ms), undefined when it has none; null when the key does not exist. */
  deadline(key: string): number | undefined | null {
    if (this.live(key) === undefined) return null;
    return this.expires.get(key);
  }

  /** Give an existing key a deadline (EXPIRE, SET … EX); false when the key does not exist. */
  setDeadline(key: string, at: number): boolean {
    if (this.live(key) === undefined) return false;
    this.expires.set(key, at);
    this.observer.touched(this.index, key);
    return true;
  }

  /** Drop a key's deadline (PERSIST); false when it had none (or does not exist). */
  persist(key: string): boolean {
    if (this.live(key) === undefined || !this.expires.delete(key)) return false;
    this.observer.touched(this.index, key);
    return true;
  }

  /** Past its deadline, whether or not it has been reclaimed yet (KEYS filters on it without deleting, as Redis's). */
  isExpired(key: string): boolean {
    if (this.expires.size === 0) return false;
    const at = this.expires.get(key);
    return at !== undefined && at <= Date.now() && this.observer.expiryMode() !== 'keep';
  }

  /**
   * Reclaim the key if its deadline has passed (and the observer lets it go);
   * true when the key is to be treated as absent. Lookups call it; so do SCAN
   * and the active expire cycle.
   */
  expireIfNeeded(key: string): boolean {
    if (this.expires.size === 0) return false;
    const at = this.expires.get(key);
    if (at === undefined || at > Date.now()) return false;
    const mode = this.observer.expiryMode();
    if (mode === 'keep') return false;
    if (mode === 'hide') return true;
    const s = this.slot(key);
    if (s === undefined) { this.expires.delete(key); return true; }
    this.remove(key, s);
    // Not `touched`: WATCH treats an expiry on its own terms (a key already expired when watched stays unchanged).
    this.observer.expired(this.index, key);
    return true;
  }

  /** Keys with a deadline, as the active expire cycle walks them (a live Map iterator: robust to deletes). */
  expiring(): IterableIterator<string> { return this.expires.keys(); }

  clear(): number {
    this.observer.flushing(this);
    const n = this.count;
    this.expires.clear();
    // Only objects need disposing: plain strings hold nothing outside the heap.
    for (const v of this.objectsByKey.values()) void v.dispose();
    this.objectsByKey.clear();
    if (this.frozen) {
      this.delta = new Map();
      this.tableHidden = true;
    } else {
      this.table = new ShardedMap();
      this.delta = null;
    }
    this.count = 0;
    this.stringBytes = 0;
    return n;
  }

  /** Every (key, value), in insertion order, logically expired ones left out; string values are wrapped as they are reached. */
  *pairs(): IterableIterator<[string, StoredValue]> {
    for (const [k, s] of this.slots()) if (!this.isExpired(k)) yield [k, wrap(s)];
  }

  /** Every key in insertion order, logically expired ones left out. */
  *keys(): IterableIterator<string> {
    for (const [k] of this.slots()) if (!this.isExpired(k)) yield k;
  }

  /**
   * Every key in insertion order, expired ones included (SCAN checks each as it
   * goes). A live iterator: keys deleted before it reaches them are skipped,
   * keys added meanwhile are reached, every other key is reached once.
   */
  allKeys(): IterableIterator<string> {
    const it = this.slots();
    return (function* () { for (const [k] of it) yield k; })();
  }

  /** Map-like iteration, for callers that walk the database (SCAN, KEYS, VEC.LIST). */
  get entries(): Iterable<[string, StoredValue]> & { keys(): IterableIterator<string> } {
    return { [Symbol.iterator]: () => this.pairs(), keys: () => this.keys() };
  }

  /** The values that are not plain strings (vector sets), without walking the string keys. */
  objects(): IterableIterator<[string, StoredValue]> { return this.objectsByKey.entries(); }

  /** Estimated heap bytes of the string keys and values, the keys of the other values and the Map's entries. */
  datasetBytes(): number {
    // A Map's table holds a power-of-two number of entries, grown by doubling.
    const capacity = this.count === 0 ? 0 : 2 ** Math.ceil(Math.log2(this.count));
    return this.stringBytes + capacity * MAP_ENTRY_BYTES;
  }

  // ---- snapshots (see the top of the file) ----

  /**
   * For iterators kept across calls (SCAN): null while there is no delta, and
   * then an iterator made now survives a later freeze and release (it walks
   * the table, which only grows at its end or loses keys). An iterator made
   * while a delta exists walks it too, and a release empties the delta as it
   * folds it: once this value has changed, such an iterator may miss keys.
   */
  get iterationEpoch(): number | null { return this.delta === null ? null : this.epoch; }

  /** @internal Keyspace.freeze */
  freeze(): FrozenDatabase {
    if (this.delta !== null) this.foldAll();
    this.epoch++;
    this.frozen = true;
    this.freezes++;
    this.delta = new Map();
    return { index: this.index, table: this.table, expires: this.expires.freeze(), strings: this.count - this.objectsByKey.size };
  }

  /** @internal Keyspace release: fold up to `budget` delta entries into the table; true once none are left. */
  thawStep(budget: number): boolean {
    if (this.frozen) {
      this.frozen = false;
      this.epoch++;
      if (this.tableHidden) { this.table = new ShardedMap(); this.tableHidden = false; }
    }
    if (!this.expires.thawStep(budget)) return false;
    const d = this.delta;
    if (d === null) return true;
    let n = 0;
    // Writes keep landing in the delta until it is empty, so a value folded later is never older than the table's.
    for (const [k, s] of d) {
      if (s === REMOVED) this.table.delete(k); else this.table.set(k, s);
      d.delete(k);
      if (++n >= budget) break;
    }
    if (d.size > 0) return false;
    this.delta = null;
    return true;
  }

  private foldAll(): void { while (!this.thawStep(Infinity)); }

  /**
   * Values changed in place (a hash's fields, a JSON document's nodes) carry
   * the value epoch they were made or copied in. A frozen table holds value objects,
   * not copies, so while a snapshot reads it a value stamped before the freeze
   * may be the one the snapshot is encoding: `shared` is then true, and the
   * writer stores a copy (stamped `valueEpoch`) and changes that instead.
   */
  get valueEpoch(): number { return this.freezes; }
  shared(stamp: number): boolean { return this.frozen && stamp !== this.freezes; }

  // ---- internals ----

  /** The slot, unless the key is logically expired (then reclaimed when allowed). */
  private live(key: string): Slot | undefined {
    if (this.expires.size !== 0 && this.expireIfNeeded(key)) return undefined;
    return this.slot(key);
  }

  /** Remove a present key for good: its value, its deadline, its count. */
  private remove(key: string, s: Slot): void {
    this.forget(key, s, true);
    this.count--;
    this.put(key, REMOVED);
    this.expires.delete(key);
  }

  private slot(key: string): Slot | undefined {
    const d = this.delta;
    if (d !== null) {
      const s = d.get(key);
      if (s !== undefined) return s === REMOVED ? undefined : s;
      if (this.tableHidden) return undefined;
    }
    return this.table.get(key);
  }

  private *slots(): IterableIterator<[string, Slot]> {
    const d = this.delta;
    if (d === null) { yield* this.table; return; }
    if (!this.tableHidden) {
      for (const [k, s] of this.table) {
        const o = d.get(k);
        if (o === undefined) yield [k, s];
        else if (o !== REMOVED) yield [k, o];
      }
    }
    for (const [k, o] of d) if (o !== REMOVED && (this.tableHidden || !this.table.has(k))) yield [k, o];
  }

  private put(key: string, s: Slot | typeof REMOVED): void {
    const d = this.delta;
    if (d === null) {
      if (s === REMOVED) this.table.delete(key); else this.table.set(key, s);
    } else if (s === REMOVED && (this.tableHidden || !this.table.has(key))) {
      d.delete(key);
    } else {
      d.set(key, s);
    }
  }

  /** Write a slot for a key that has none now, and count it. */
  private store(key: string, s: Slot): void {
    this.put(key, s);
    this.stringBytes += seqStringBytes(key.length);
    if (typeof s === 'string') this.stringBytes += valueBytes(s.length);
    else if (s instanceof StringValue) this.stringBytes += valueBytes(s.value.length);
    else this.objectsByKey.set(key, s);
  }

  /** Uncount a key's slot before it is overwritten, removed or moved; dispose it when it leaves for good. */
  private forget(key: string, s: Slot, dispose: boolean): void {
    this.stringBytes -= seqStringBytes(key.length);
    if (typeof s === 'string') { this.stringBytes -= valueBytes(s.length); return; }
    if (s instanceof StringValue) { this.stringBytes -= valueBytes(s.value.length); return; }
    this.objectsByKey.delete(key);
    if (dispose) void s.dispose();
  }
}

/** The keyspace at one instant (Keyspace.freeze); call `release` once done reading it. */
export interface FrozenKeyspace {
  readonly dbs: readonly FrozenDatabase[];
  /** String keys in all databases. */
  readonly stringCount: number;
  /** Keys with a deadline in all databases. */
  readonly expiresCount: number;
  /** Every (db, key, deadline in Unix ms) of the frozen tables. */
  expires(): IterableIterator<[db: number, key: string, deadline: number]>;
  /** Every (db, key, string value as latin1 or a Buffer) of the frozen tables, in order. */
  strings(): IterableIterator<[db: number, key: string, value: string | Buffer]>;
  /** Fold the writes made since the freeze back in, a slice per event-loop turn; resolves once done. Idempotent. */
  release(): Promise<void>;
}

/** Delta entries folded per event-loop turn on release: a millisecond or two of Map work. */
const THAW_BUDGET = 5_000;

export class Keyspace {
  readonly dbs: Database[];
  /** Bumped by each freeze: a release still folding an older freeze's deltas stops (the new freeze folded them). */
  private generation = 0;
  private frozen = false;
  private readonly codecs = new Map<number, ValueCodec>();
  private readonly stateCodecs = new Map<number, StateCodec>();
  private readonly stateList: StateCodec[] = [];

  constructor(databases: number, private readonly observer: KeyspaceObserver = NO_OBSERVER) {
    this.dbs = Array.from({ length: databases }, (_, i) => new Database(i, observer));
  }

  /** SWAPDB: the two databases trade places (their indexes follow); clients see the other data at once. */
  swap(a: number, b: number): void {
    const da = this.dbs[a], db = this.dbs[b];
    this.observer.swapping(da, db);
    if (a === b) return;
    this.dbs[a] = db; db.index = a;
    this.dbs[b] = da; da.index = b;
  }

  db(index: number): Database { return this.dbs[index]; }

  /** A feature's serializable type: how a snapshot section of its kind is loaded back. */
  registerCodec(codec: ValueCodec): void {
    if (this.codecs.has(codec.sectionKind)) throw new Error(`snapshot section kind ${codec.sectionKind} is registered twice`);
    this.codecs.set(codec.sectionKind, codec);
  }

  codec(sectionKind: number): ValueCodec | undefined { return this.codecs.get(sectionKind); }

  /** A feature's state outside the keys (see StateCodec). */
  registerState(codec: StateCodec): void {
    for (const kind of codec.sectionKinds) {
      if (this.stateCodecs.has(kind) || this.codecs.has(kind)) throw new Error(`snapshot section kind ${kind} is registered twice`);
    }
    for (const kind of codec.sectionKinds) this.stateCodecs.set(kind, codec);
    this.stateList.push(codec);
  }

  /** The codec loading sections of this kind. */
  state(sectionKind: number): StateCodec | undefined { return this.stateCodecs.get(sectionKind); }
  /** Each registered codec once. */
  states(): readonly StateCodec[] { return this.stateList; }

  totalKeys(): number {
    let n = 0;
    for (const d of this.dbs) n += d.size;
    return n;
  }

  flushAll(): number {
    let n = 0;
    for (const d of this.dbs) n += d.clear();
    return n;
  }

  /** Every (db, key, value). Walks every key: prefer `objects()` when only the non-string values matter. */
  *all(): IterableIterator<[Database, string, StoredValue]> {
    for (const d of this.dbs) for (const [k, v] of d.pairs()) yield [d, k, v];
  }

  /** Every value that is not a plain string (vector sets), with its database and key, without walking the strings. */
  *objects(): IterableIterator<[Database, string, StoredValue]> {
    for (const d of this.dbs) for (const [k, v] of d.objects()) yield [d, k, v];
  }

  /**
   * The dataset as it is now, in O(1) per database (see the top of the file).
   * One freeze at a time; what a previous release has not folded yet is folded first, synchronously.
   */
  freeze(): FrozenKeyspace {
    if (this.frozen) throw new Error('the keyspace is already frozen for a snapshot');
    this.frozen = true;
    const generation = ++this.generation;
    const dbs = this.dbs.map((d) => d.freeze());
    let released: Promise<void> | null = null;
    return {
      dbs,
      stringCount: dbs.reduce((a, d) => a + d.strings, 0),
      expiresCount: dbs.reduce((a, d) => a + d.expires.size, 0),
      *expires() {
        for (const d of dbs) for (const [k, at] of d.expires) yield [d.index, k, at];
      },
      *strings() {
        for (const d of dbs) {
          for (const [k, s] of d.table) {
            if (typeof s === 'string') yield [d.index, k, s];
            else if (s instanceof StringValue) yield [d.index, k, s.value];
          }
        }
      },
      release: () => {
        released ??= this.thaw(generation);
        return released;
      },
    };
  }

  private async thaw(generation: number): Promise<void> {
    this.frozen = false;
    for (const d of this.dbs) {
      while (!d.thawStep(THAW_BUDGET)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.generation !== generation) return;
      }
    }
  }
}

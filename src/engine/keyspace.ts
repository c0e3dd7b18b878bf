/**
 * The keyspace: numbered databases of keys, each holding a typed value.
 * State only (like mini-redis's db.rs): no RESP, no sockets.
 *
 * Keys are binary-safe: they are stored as latin1 strings, one char per byte,
 * so a JS Map can hold them and `Buffer.from(key, 'latin1')` gives the bytes back.
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
 */

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
}

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

/** One database as of a freeze; `table` is not written until the freeze is released. */
export interface FrozenDatabase {
  readonly index: number;
  readonly table: ReadonlyMap<string, Slot>;
  /** String keys in `table`. */
  readonly strings: number;
}

export class Database {
  /** Key → value. While frozen (`delta` set), only a running release writes to it. */
  private table = new Map<string, Slot>();
  /** Writes since the freeze, looked up before `table`: a new slot, or REMOVED. Folded back by `thawStep`. */
  private delta: Map<string, Slot | typeof REMOVED> | null = null;
  /** A snapshot is reading `table`. */
  private frozen = false;
  /** FLUSHDB while frozen: nothing in `table` counts any more. */
  private tableHidden = false;
  private count = 0;
  /** Values that are not plain strings (vector sets): few, and enumerated at every snapshot cut and INFO. */
  private readonly objectsByKey = new Map<string, StoredValue>();
  /** Heap bytes of the keys and string values (not the Map's entries), kept as they change so INFO is O(1). */
  private stringBytes = 0;
  hits = 0;
  misses = 0;
  constructor(readonly index: number) {}

  get size(): number { return this.count; }

  get(key: string): StoredValue | undefined {
    const s = this.slot(key);
    if (s === undefined) { this.misses++; return undefined; }
    this.hits++;
    return wrap(s);
  }

  /** Look up without touching the hit/miss statistics (internal reads). */
  peek(key: string): StoredValue | undefined {
    const s = this.slot(key);
    return s === undefined ? undefined : wrap(s);
  }

  has(key: string): boolean { return this.slot(key) !== undefined; }

  set(key: string, value: StoredValue): void {
    const old = this.slot(key);
    if (old === value) return;
    if (old !== undefined) this.forget(key, old, true);
    else this.count++;
    this.store(key, slotOf(value));
  }

  /** SET: `bytes` may be a view into a buffer that will be reused; it is copied. */
  setString(key: string, bytes: Buffer): void {
    this.set(key, new StringValue(bytes.length <= INLINE_MAX ? bytes : Buffer.from(bytes)));
  }

  delete(key: string): boolean {
    const old = this.slot(key);
    if (old === undefined) return false;
    this.forget(key, old, true);
    this.count--;
    this.put(key, REMOVED);
    return true;
  }

  /** Move a value to another key without disposing it (RENAME). */
  rename(from: string, to: string): boolean {
    const s = this.slot(from);
    if (s === undefined) return false;
    if (from === to) return true;
    this.forget(from, s, false);
    this.count--;
    this.put(from, REMOVED);
    const old = this.slot(to);
    if (old !== undefined) this.forget(to, old, true);
    else this.count++;
    this.store(to, s);
    return true;
  }

  clear(): number {
    const n = this.count;
    // Only objects need disposing: plain strings hold nothing outside the heap.
    for (const v of this.objectsByKey.values()) void v.dispose();
    this.objectsByKey.clear();
    if (this.frozen) {
      this.delta = new Map();
      this.tableHidden = true;
    } else {
      this.table = new Map();
      this.delta = null;
    }
    this.count = 0;
    this.stringBytes = 0;
    return n;
  }

  /** Every (key, value), in insertion order; string values are wrapped as they are reached. */
  *pairs(): IterableIterator<[string, StoredValue]> {
    for (const [k, s] of this.slots()) yield [k, wrap(s)];
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.slots()) yield k;
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

  /** @internal Keyspace.freeze */
  freeze(): FrozenDatabase {
    if (this.delta !== null) this.foldAll();
    this.frozen = true;
    this.delta = new Map();
    return { index: this.index, table: this.table, strings: this.count - this.objectsByKey.size };
  }

  /** @internal Keyspace release: fold up to `budget` delta entries into the table; true once none are left. */
  thawStep(budget: number): boolean {
    if (this.frozen) {
      this.frozen = false;
      if (this.tableHidden) { this.table = new Map(); this.tableHidden = false; }
    }
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

  // ---- internals ----

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

  constructor(databases: number) {
    this.dbs = Array.from({ length: databases }, (_, i) => new Database(i));
  }

  db(index: number): Database { return this.dbs[index]; }

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

/**
 * The keyspace: numbered databases of keys, each holding a typed value.
 * State only (like mini-redis's db.rs): no RESP, no sockets.
 *
 * Keys are binary-safe: they are stored as latin1 strings, one char per byte,
 * so a JS Map can hold them and `Buffer.from(key, 'latin1')` gives the bytes back.
 */

/** What every value stored under a key provides. */
export interface StoredValue {
  /** The name TYPE answers, e.g. `vectorset`, `string`. */
  readonly type: string;
  /** Approximate bytes held (MEMORY USAGE, INFO). */
  memoryUsage(): number;
  /** Release native resources once the value has left the keyspace. */
  dispose(): void;
}

/** A plain Redis string: kept so applications (and tests) can hold a non-vector key next to vector sets. */
export class StringValue implements StoredValue {
  readonly type = 'string';
  constructor(public value: Buffer) {}
  memoryUsage(): number { return this.value.length + 64; }
  dispose(): void {}
}

export const keyOf = (bytes: Buffer): string => bytes.toString('latin1');
export const keyBytes = (key: string): Buffer => Buffer.from(key, 'latin1');

export class Database {
  readonly entries = new Map<string, StoredValue>();
  hits = 0;
  misses = 0;
  constructor(readonly index: number) {}

  get size(): number { return this.entries.size; }

  get(key: string): StoredValue | undefined {
    const v = this.entries.get(key);
    if (v) this.hits++; else this.misses++;
    return v;
  }

  /** Look up without touching the hit/miss statistics (internal reads). */
  peek(key: string): StoredValue | undefined { return this.entries.get(key); }

  set(key: string, value: StoredValue): void {
    const old = this.entries.get(key);
    if (old === value) return;
    if (old) { this.entries.delete(key); old.dispose(); }
    this.entries.set(key, value);
  }

  delete(key: string): boolean {
    const old = this.entries.get(key);
    if (!old) return false;
    this.entries.delete(key);
    old.dispose();
    return true;
  }

  /** Move a value to another key without disposing it (RENAME). */
  rename(from: string, to: string): boolean {
    const v = this.entries.get(from);
    if (!v) return false;
    if (from === to) return true;
    this.entries.delete(from);
    this.set(to, v);
    return true;
  }

  clear(): number {
    const n = this.entries.size;
    for (const v of this.entries.values()) v.dispose();
    this.entries.clear();
    return n;
  }
}

export class Keyspace {
  readonly dbs: Database[];
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

  /** Every (db, key, value), for snapshots and INFO. */
  *all(): IterableIterator<[Database, string, StoredValue]> {
    for (const d of this.dbs) for (const [k, v] of d.entries) yield [d, k, v];
  }
}

/**
 * A hash: field → value, both binary-safe.
 *
 * Memory. Fields and values are latin1 JS strings, one char per byte (as the
 * keyspace keeps keys): V8 stores them as one-byte sequential strings, 16
 * bytes of header and the bytes themselves, where a Buffer would cost ~100
 * bytes of object before its data. A vector stored as a 3 KB FLOAT32 blob
 * therefore costs 3 KB and change, and a reply copies it out once.
 * Up to SMALL_FIELDS fields (the typical document: text, metadata, one
 * embedding) live in one flat array `[f0, v0, f1, v1, …]` searched linearly:
 * one object instead of a Map's hash table, and random access for
 * HRANDFIELD for free. Past that, a Map (insertion-ordered, O(1) lookups).
 * The switch is one way, like Redis's listpack → hashtable conversion.
 *
 * OBJECT ENCODING answers what Redis would for the same hash under its
 * defaults (hash-max-listpack-entries 128, hash-max-listpack-value 64):
 * `listpack` until either limit is crossed once, then `hashtable` for good.
 *
 * Snapshots. A hash is changed in place, so writers go through
 * `Database.shared(stamp)` first (see hashes/commands.ts): while a snapshot
 * reads a hash made before its freeze, the writer changes a copy.
 */
import type { SerializableValue } from '../engine/keyspace.js';
import { SECTION, decodeHashBody, encodeHashBody } from '../store/format/snapshot-schema.js';

/** Fields kept in the flat array before the hash becomes a Map. */
const SMALL_FIELDS = 32;
/** Redis's defaults for the listpack encoding, for OBJECT ENCODING. */
const LISTPACK_ENTRIES = 128;
const LISTPACK_VALUE = 64;

// V8 layout on 64-bit Node, as the keyspace estimates it (engine/keyspace.ts).
const seqStringBytes = (chars: number): number => (chars <= 1 ? 0 : (16 + chars + 7) & ~7);
/** The HashValue object, and its share of the key's entry in the database's Map. */
const OBJECT_BYTES = 64 + 28;
/** Per field in a Map: key, value and chain words plus the bucket share. */
const MAP_ENTRY_BYTES = 28;

export class HashValue implements SerializableValue {
  readonly type = 'hash';
  readonly sectionKind = SECTION.HASHES;
  /** The keyspace epoch this object was made in (Database.shared). */
  stamp: number;
  private flat: string[] | null = [];
  private map: Map<string, string> | null = null;
  /** Heap bytes of the field and value strings, kept as they change: MEMORY USAGE and INFO are O(1). */
  private stringBytes = 0;
  /** Sum of field and value lengths: the snapshot body's size. */
  private rawBytes = 0;
  private hashtable = false;

  constructor(stamp: number) { this.stamp = stamp; }

  get size(): number { return this.flat ? this.flat.length >> 1 : this.map!.size; }
  get encoding(): string { return this.hashtable ? 'hashtable' : 'listpack'; }

  get(field: string): string | undefined {
    const f = this.flat;
    if (f === null) return this.map!.get(field);
    for (let i = 0; i < f.length; i += 2) if (f[i] === field) return f[i + 1];
    return undefined;
  }

  has(field: string): boolean { return this.get(field) !== undefined; }

  /** True when the field is new. */
  set(field: string, value: string): boolean {
    if (!this.hashtable && (field.length > LISTPACK_VALUE || value.length > LISTPACK_VALUE)) this.hashtable = true;
    const f = this.flat;
    let old: string | undefined;
    if (f !== null) {
      for (let i = 0; i < f.length; i += 2) {
        if (f[i] === field) { old = f[i + 1]; f[i + 1] = value; break; }
      }
      if (old === undefined) {
        if (f.length >= 2 * SMALL_FIELDS) {
          this.toMap();
          this.map!.set(field, value);
        } else {
          f.push(field, value);
        }
      }
    } else {
      old = this.map!.get(field);
      this.map!.set(field, value);
    }
    if (old !== undefined) {
      this.stringBytes += seqStringBytes(value.length) - seqStringBytes(old.length);
      this.rawBytes += value.length - old.length;
      return false;
    }
    this.stringBytes += seqStringBytes(field.length) + seqStringBytes(value.length);
    this.rawBytes += field.length + value.length;
    if (this.size > LISTPACK_ENTRIES) this.hashtable = true;
    return true;
  }

  delete(field: string): boolean {
    const f = this.flat;
    let old: string | undefined;
    if (f !== null) {
      for (let i = 0; i < f.length; i += 2) {
        if (f[i] === field) { old = f[i + 1]; f.splice(i, 2); break; }
      }
    } else {
      old = this.map!.get(field);
      if (old !== undefined) this.map!.delete(field);
    }
    if (old === undefined) return false;
    this.stringBytes -= seqStringBytes(field.length) + seqStringBytes(old.length);
    this.rawBytes -= field.length + old.length;
    return true;
  }

  /** Every (field, value), in insertion order. */
  *entries(): IterableIterator<[string, string]> {
    const f = this.flat;
    if (f === null) { yield* this.map!; return; }
    for (let i = 0; i < f.length; i += 2) yield [f[i]!, f[i + 1]!];
  }

  /** The fields and values as parallel arrays (HRANDFIELD picks by index). A fresh copy for a Map. */
  pairsArray(): string[] {
    if (this.flat) return this.flat;
    const out: string[] = [];
    for (const [k, v] of this.map!) out.push(k, v);
    return out;
  }

  /**
   * HSCAN: a small hash answers whole (cursor 0, as Redis does for a listpack);
   * a large one from position `cursor` in insertion order, `count` fields at a time.
   */
  scan(cursor: number, count: number): { next: number; pairs: Array<[string, string]> } {
    const pairs: Array<[string, string]> = [];
    if (this.flat) {
      for (const p of this.entries()) pairs.push(p);
      return { next: 0, pairs };
    }
    let pos = 0;
    for (const p of this.map!) {
      if (pos++ < cursor) continue;
      pairs.push(p);
      if (pairs.length >= count) return { next: pos < this.map!.size ? pos : 0, pairs };
    }
    return { next: 0, pairs };
  }

  get isSmall(): boolean { return this.flat !== null; }

  private toMap(): void {
    const m = new Map<string, string>();
    const f = this.flat!;
    for (let i = 0; i < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
    this.map = m;
    this.flat = null;
  }

  usedBytes(): number {
    const n = this.size;
    const container = this.flat ? 16 + 8 * this.flat.length : MAP_ENTRY_BYTES * 2 ** Math.ceil(Math.log2(Math.max(n, 2)));
    return OBJECT_BYTES + container + this.stringBytes;
  }

  dispose(): void {
    // Nothing outside the heap. A snapshot may still be reading a deleted hash: leave it whole.
  }

  clone(stamp = -1): HashValue {
    const c = new HashValue(stamp);
    c.flat = this.flat ? this.flat.slice() : null;
    c.map = this.map ? new Map(this.map) : null;
    c.stringBytes = this.stringBytes;
    c.rawBytes = this.rawBytes;
    c.hashtable = this.hashtable;
    return c;
  }

  serialize(): Buffer { return encodeHashBody(this.size, this.rawBytes, this.entries()); }

  static decode(bytes: Buffer): HashValue {
    const h = new HashValue(-1);
    for (const [f, v] of decodeHashBody(bytes)) h.set(f, v);
    return h;
  }
}

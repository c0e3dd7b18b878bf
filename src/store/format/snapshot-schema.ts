/**
 * What a snapshot's sections hold: the dataset schema on top of the
 * container format (snapshot-format.ts). Described in docs/formats.md; a
 * replica receiving a full sync reads exactly these sections.
 *
 *   META    "meta"      JSON {format, databases, sets}
 *   STRINGS "strings"   u32 count, then per key: u32 db, u32 keyLength, key, u32 valueLength, value
 *   SET     "set:<i>"   u32 db, u32 keyLength, key, then the set body (set-body.ts)
 *   GRAPH   "graph:<i>" usearch's own serialization of set i's index; always right after its SET
 *   HASHES  "hashes"    u32 count, then per key: u32 db, u32 keyLength, key, u32 bodyLength, hash body
 *   JSON    "json"      u32 count, then per key: u32 db, u32 keyLength, key, u32 bodyLength, JSON text (UTF-8)
 *   EXPIRES "expires"   u32 count, then per key: u32 db, u32 keyLength, key, f64 deadline (Unix ms, an integer)
 *   SEARCH_INDEXES "search-indexes"  JSON {version: 1, indexes: [{db, commands: [[base64 arg…]…]}]}: each FT
 *                       index's FT.CREATE and FT.ALTER lines, replayed at load (src/search/registry.ts)
 *   SEARCH_SET "ft-set:<i>"  one FT index's VECTOR field as of the cut: which index and field, each
 *                       slot's vector fingerprint, then the set body (src/search/index-snapshot.ts)
 *   SEARCH_GRAPH "ft-graph:<i>"  usearch's serialization of that field's graph; always right after its SEARCH_SET
 *
 * HASHES and JSON share the STRINGS layout (encodeStringsChunked/decodeStrings),
 * with the value's own serialization as the value (see docs/formats.md).
 *
 * `format` in META is the schema version: a reader refuses a newer one by name.
 */

import { ChunkBuffer } from './chunks.js';

export const SECTION = { META: 1, STRINGS: 2, SET: 3, GRAPH: 4, HASHES: 5, JSON: 6, EXPIRES: 7, SEARCH_INDEXES: 8, SEARCH_SET: 9, SEARCH_GRAPH: 10 } as const;

/**
 * The schema version this build writes and the newest it reads. 2: HASHES and
 * JSON sections, which an older build would skip (losing the data) and so
 * must refuse. Version 1 snapshots hold neither and load unchanged.
 * 3: the SEARCH_INDEXES section (FT index definitions), which an older
 * build would skip, losing the indexes. Versions 1 and 2 load unchanged.
 * SEARCH_SET and SEARCH_GRAPH came later without a bump: they only spare the
 * rebuild of an index's graphs, so a build that skips them loses nothing.
 * 4: the set body's layout 2 (set-body.ts), which an older build would
 * misread. Versions 1 to 3 (layout 1) load unchanged.
 * 5: a set's GRAPH section may hold a flat vector store instead of a usearch
 * graph (sets of up to 256 elements, docs/formats.md), which an older build
 * would refuse as a damaged section. Version 4 loads unchanged.
 */
export const SCHEMA_VERSION = 5;

export interface SnapshotMeta { format: number; databases: number; sets: number }

export function encodeMeta(meta: SnapshotMeta): Buffer { return Buffer.from(JSON.stringify(meta)); }

export function decodeMeta(bytes: Buffer): SnapshotMeta {
  const meta = JSON.parse(bytes.toString('utf8')) as SnapshotMeta;
  if (typeof meta.format !== 'number' || meta.format > SCHEMA_VERSION) {
    throw new Error(`snapshot schema version ${String(meta.format)} is newer than this build reads (${SCHEMA_VERSION}): upgrade Astronaut`);
  }
  return meta;
}

export const setSectionName = (i: number) => `set:${i}`;
export const graphSectionName = (i: number) => `graph:${i}`;
/** The SET section a GRAPH section belongs to. */
export const setOfGraph = (graphName: string) => graphName.replace(/^graph:/, 'set:');

/** The prefix of a SET section: which database and key the set lives at. */
export function encodeSetHeader(db: number, key: Buffer): Buffer {
  const prefix = Buffer.alloc(8 + key.length);
  prefix.writeUInt32LE(db, 0);
  prefix.writeUInt32LE(key.length, 4);
  key.copy(prefix, 8);
  return prefix;
}

/** Splits a SET section into its location and its body. */
export function decodeSetHeader(bytes: Buffer): { db: number; key: string; body: Buffer } {
  const db = bytes.readUInt32LE(0);
  const keyLength = bytes.readUInt32LE(4);
  return { db, key: bytes.toString('latin1', 8, 8 + keyLength), body: bytes.subarray(8 + keyLength) };
}

/**
 * The STRINGS section as a stream of chunks, for the snapshot writer to pull
 * one at a time between its awaited writes (a million keys never hold the event
 * loop: each chunk is built from the iterator as it is pulled). `count` goes
 * first and must match what `entries` yields. Keys, and values given as strings,
 * are latin1 (one char per byte), as the keyspace keeps them.
 */
export function* encodeStringsChunked(count: number, entries: Iterable<readonly [db: number, key: string, value: string | Buffer]>): Generator<Buffer> {
  yield* encodeKeyedChunked('strings', count, entries, (v) => 4 + v.length, (out, o, v) => {
    o = out.writeUInt32LE(v.length, o);
    return o + (typeof v === 'string' ? out.write(v, o, 'latin1') : v.copy(out, o));
  });
}

/**
 * The layout the STRINGS and EXPIRES sections share: u32 count, then per key u32 db,
 * u32 key length, the key (latin1), then the value as `write` puts it (`size` bytes).
 */
function* encodeKeyedChunked<V>(section: string, count: number, entries: Iterable<readonly [db: number, key: string, value: V]>,
  size: (v: V) => number, write: (out: Buffer, o: number, v: V) => number): Generator<Buffer> {
  const c = new ChunkBuffer();
  c.o = c.out.writeUInt32LE(count, 0);
  let written = 0;
  for (const [db, k, v] of entries) {
    const full = c.room(8 + k.length + size(v));
    if (full) yield full;
    const out = c.out;
    let o = c.o;
    o = out.writeUInt32LE(db, o);
    o = out.writeUInt32LE(k.length, o);
    o += out.write(k, o, 'latin1');
    c.o = write(out, o, v);
    written++;
  }
  if (written !== count) throw new Error(`internal: the ${section} section announced ${count} keys and holds ${written}`);
  const rest = c.rest();
  if (rest) yield rest;
}

/**
 * Reads what encodeKeyedChunked wrote; `read` returns the value and the offset past it.
 * With `exact`, bytes left after the last key are an error naming that section.
 */
function* decodeKeyed<V>(b: Buffer, read: (b: Buffer, o: number) => [V, number], exact?: string): Generator<[db: number, key: string, value: V]> {
  const n = b.readUInt32LE(0);
  let o = 4;
  for (let i = 0; i < n; i++) {
    const db = b.readUInt32LE(o);
    const kl = b.readUInt32LE(o + 4);
    o += 8;
    const key = b.toString('latin1', o, o + kl);
    const [value, next] = read(b, o + kl);
    o = next;
    yield [db, key, value];
  }
  if (exact && o !== b.length) throw new Error(`snapshot ${exact} section holds ${b.length - o} bytes after its ${n} keys`);
}

/** Hash bodies: `u32 fieldCount`, then per field `u32 length, field, u32 length, value`. */
export function encodeHashBody(fields: number, bytes: number, pairs: Iterable<readonly [string, string]>): Buffer {
  const out = Buffer.allocUnsafe(4 + 8 * fields + bytes);
  let o = out.writeUInt32LE(fields, 0);
  let n = 0;
  for (const [f, v] of pairs) {
    o = out.writeUInt32LE(f.length, o);
    o += out.write(f, o, 'latin1');
    o = out.writeUInt32LE(v.length, o);
    o += out.write(v, o, 'latin1');
    n++;
  }
  if (n !== fields || o !== out.length) throw new Error(`internal: a hash announced ${fields} fields (${bytes} bytes) and holds ${n}`);
  return out;
}

/** Fields and values as latin1 strings (one char per byte), as the hash keeps them. */
export function* decodeHashBody(b: Buffer): Generator<[field: string, value: string]> {
  const n = b.readUInt32LE(0);
  let o = 4;
  for (let i = 0; i < n; i++) {
    const fl = b.readUInt32LE(o);
    const field = b.toString('latin1', o + 4, o + 4 + fl);
    o += 4 + fl;
    const vl = b.readUInt32LE(o);
    const value = b.toString('latin1', o + 4, o + 4 + vl);
    o += 4 + vl;
    yield [field, value];
  }
  if (o !== b.length) throw new Error(`a hash body holds ${b.length - o} bytes after its ${n} fields`);
}

/** Values are views into `b`: copy one to keep it (Database.setString does). */
export function* decodeStrings(b: Buffer): Generator<[db: number, key: string, value: Buffer]> {
  yield* decodeKeyed(b, (buf, o) => {
    const vl = buf.readUInt32LE(o);
    return [buf.subarray(o + 4, o + 4 + vl), o + 4 + vl];
  });
}

/**
 * The EXPIRES section: every key's deadline at the cut, whatever its type, as
 * a stream of chunks like the strings. Loaded after every other section (the
 * keys must exist), and kept as they are even when past: the WAL replayed
 * next holds the DELs of the keys that expired before the crash.
 */
export function* encodeExpiresChunked(count: number, entries: Iterable<readonly [db: number, key: string, deadline: number]>): Generator<Buffer> {
  yield* encodeKeyedChunked('expires', count, entries, () => 8, (out, o, at) => out.writeDoubleLE(at, o));
}

export function* decodeExpires(b: Buffer): Generator<[db: number, key: string, deadline: number]> {
  yield* decodeKeyed(b, (buf, o) => {
    const at = buf.readDoubleLE(o);
    if (!Number.isSafeInteger(at)) throw new Error(`snapshot expires section: deadline ${at} of a key is not an integer`);
    return [at, o + 8];
  }, 'expires');
}

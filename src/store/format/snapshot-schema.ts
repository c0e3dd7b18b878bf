/**
 * What a snapshot's sections hold: the dataset schema on top of the
 * container format (snapshot-format.ts). Described in docs/formats.md; a
 * replica receiving a full sync reads exactly these sections.
 *
 *   META    "meta"      JSON {format, databases, sets}
 *   STRINGS "strings"   u32 count, then per key: u32 db, u32 keyLength, key, u32 valueLength, value
 *   SET     "set:<i>"   u32 db, u32 keyLength, key, then the set body (set-body.ts)
 *   GRAPH   "graph:<i>" usearch's own serialization of set i's index; always right after its SET
 *
 * `format` in META is the schema version: a reader refuses a newer one by name.
 */

export const SECTION = { META: 1, STRINGS: 2, SET: 3, GRAPH: 4 } as const;

/** The schema version this build writes and the newest it reads. */
export const SCHEMA_VERSION = 1;

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

/** Keys are binary-safe latin1 strings in the keyspace. */
export function encodeStrings(entries: ReadonlyArray<readonly [db: number, key: Buffer, value: Buffer]>): Buffer {
  let size = 4;
  for (const [, k, v] of entries) size += 12 + k.length + v.length;
  const out = Buffer.allocUnsafe(size);
  let o = out.writeUInt32LE(entries.length, 0);
  for (const [db, k, v] of entries) {
    o = out.writeUInt32LE(db, o);
    o = out.writeUInt32LE(k.length, o);
    o += k.copy(out, o);
    o = out.writeUInt32LE(v.length, o);
    o += v.copy(out, o);
  }
  return out;
}

export function* decodeStrings(b: Buffer): Generator<[db: number, key: string, value: Buffer]> {
  const n = b.readUInt32LE(0);
  let o = 4;
  for (let i = 0; i < n; i++) {
    const db = b.readUInt32LE(o);
    const kl = b.readUInt32LE(o + 4);
    o += 8;
    const key = b.toString('latin1', o, o + kl);
    o += kl;
    const vl = b.readUInt32LE(o);
    o += 4;
    yield [db, key, Buffer.from(b.subarray(o, o + vl))];
    o += vl;
  }
}

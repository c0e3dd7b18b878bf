/**
 * The snapshot file format (ours, versioned, checksummed end to end).
 *
 *   header (40 bytes)
 *      0 magic      "ASTRSNAP"
 *      8 version    u32 = 1
 *     12 flags      u32 = 0
 *     16 seq        u64  first WAL sequence number NOT contained (the cut)
 *     24 createdMs  u64  wall-clock ms when the snapshot was started
 *     32 reserved   u32 = 0
 *     36 crc32c     u32  of bytes 0..35
 *   sections, back to back, each:
 *     section header: magic u32 "SECT" | kind u32 | nameLen u32 | name (UTF-8) | crc32c u32 of the preceding header bytes
 *     data (opaque bytes)
 *     section trailer: length u64 | dataCrc u32 (CRC32C of data) | crc32c u32 of the preceding 12 bytes
 *   index:
 *     count u32, then per section: offset u64 (of its header) | length u64 | kind u32 | dataCrc u32 | nameLen u32 | name
 *   trailer (40 bytes, at end of file)
 *      0 magic       "ASTRSEND"
 *      8 indexOffset u64
 *     16 indexLength u64
 *     24 count       u32
 *     28 indexCrc    u32  CRC32C of the index
 *     32 headerCrc   u32  copy of the header's crc (binds header and trailer)
 *     36 crc32c      u32  of bytes 0..35 of the trailer: the file's "root" checksum, recorded in the manifest
 *
 * Every byte of the file is covered by exactly one checksum, and the reader
 * checks that structures tile the file with no gap, so any single-bit flip
 * (and any truncation or extension) is detected before a section is handed
 * out (spec: never hand usearch bytes whose length and checksum we have not
 * verified).
 */
import { crc32c } from './crc32c.js';
import { readU64, writeU64 } from './bytes.js';

export const SNAPSHOT_MAGIC = Buffer.from('ASTRSNAP', 'latin1');
export const SNAPSHOT_END_MAGIC = Buffer.from('ASTRSEND', 'latin1');
export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_HEADER_SIZE = 40;
export const SNAPSHOT_TRAILER_SIZE = 40;
export const SECTION_MAGIC = 0x54434553; // "SECT" little-endian
export const SECTION_TRAILER_SIZE = 16;
export const MAX_SECTION_NAME = 4096;
/** The index is read into memory; bigger than this is damage. */
export const MAX_INDEX_SIZE = 64 << 20;

export interface SnapshotHeader {
  seq: number;
  createdMs: number;
  crc: number;
}

export function encodeSnapshotHeader(seq: number, createdMs: number): Buffer {
  const h = Buffer.alloc(SNAPSHOT_HEADER_SIZE);
  SNAPSHOT_MAGIC.copy(h, 0);
  h.writeUInt32LE(SNAPSHOT_VERSION, 8);
  writeU64(h, seq, 16);
  writeU64(h, createdMs, 24);
  h.writeUInt32LE(crc32c(h.subarray(0, 36)), 36);
  return h;
}

export function decodeSnapshotHeader(h: Buffer): SnapshotHeader | string {
  if (h.length < SNAPSHOT_HEADER_SIZE) return 'file too short for a header';
  if (!h.subarray(0, 8).equals(SNAPSHOT_MAGIC)) return 'bad magic (not an Astronaut snapshot)';
  const crc = h.readUInt32LE(36);
  if (crc !== crc32c(h.subarray(0, 36))) return 'header checksum mismatch';
  const version = h.readUInt32LE(8);
  if (version !== SNAPSHOT_VERSION) return `unsupported snapshot version ${version}`;
  if (h.readUInt32LE(12) !== 0 || h.readUInt32LE(32) !== 0) return 'unknown header flags';
  const seq = readU64(h, 16);
  const createdMs = readU64(h, 24);
  if (seq < 0 || createdMs < 0) return 'header field out of range';
  return { seq, createdMs, crc };
}

export function encodeSectionHeader(kind: number, name: Buffer): Buffer {
  const h = Buffer.alloc(12 + name.length + 4);
  h.writeUInt32LE(SECTION_MAGIC, 0);
  h.writeUInt32LE(kind, 4);
  h.writeUInt32LE(name.length, 8);
  name.copy(h, 12);
  h.writeUInt32LE(crc32c(h.subarray(0, 12 + name.length)), 12 + name.length);
  return h;
}

export function encodeSectionTrailer(length: number, dataCrc: number): Buffer {
  const t = Buffer.alloc(SECTION_TRAILER_SIZE);
  writeU64(t, length, 0);
  t.writeUInt32LE(dataCrc, 8);
  t.writeUInt32LE(crc32c(t.subarray(0, 12)), 12);
  return t;
}

export interface IndexEntry {
  /** Offset of the section header. */
  offset: number;
  length: number;
  kind: number;
  crc: number;
  name: Buffer;
}

export function encodeIndex(entries: IndexEntry[]): Buffer {
  let size = 4;
  for (const e of entries) size += 28 + e.name.length;
  const b = Buffer.alloc(size);
  b.writeUInt32LE(entries.length, 0);
  let p = 4;
  for (const e of entries) {
    writeU64(b, e.offset, p);
    writeU64(b, e.length, p + 8);
    b.writeUInt32LE(e.kind, p + 16);
    b.writeUInt32LE(e.crc, p + 20);
    b.writeUInt32LE(e.name.length, p + 24);
    e.name.copy(b, p + 28);
    p += 28 + e.name.length;
  }
  return b;
}

export function decodeIndex(b: Buffer, count: number): IndexEntry[] | string {
  if (b.length < 4 || b.readUInt32LE(0) !== count) return 'index count mismatch';
  const out: IndexEntry[] = [];
  let p = 4;
  for (let i = 0; i < count; i++) {
    if (p + 28 > b.length) return 'index truncated';
    const offset = readU64(b, p);
    const length = readU64(b, p + 8);
    const nameLen = b.readUInt32LE(p + 24);
    if (offset < 0 || length < 0 || nameLen > MAX_SECTION_NAME || p + 28 + nameLen > b.length) return 'index entry out of range';
    out.push({ offset, length, kind: b.readUInt32LE(p + 16), crc: b.readUInt32LE(p + 20), name: b.subarray(p + 28, p + 28 + nameLen) });
    p += 28 + nameLen;
  }
  if (p !== b.length) return 'index has trailing bytes';
  return out;
}

export interface SnapshotTrailer {
  indexOffset: number;
  indexLength: number;
  count: number;
  indexCrc: number;
  headerCrc: number;
  /** The root checksum. */
  crc: number;
}

export function encodeTrailer(t: Omit<SnapshotTrailer, 'crc'>): Buffer {
  const b = Buffer.alloc(SNAPSHOT_TRAILER_SIZE);
  SNAPSHOT_END_MAGIC.copy(b, 0);
  writeU64(b, t.indexOffset, 8);
  writeU64(b, t.indexLength, 16);
  b.writeUInt32LE(t.count, 24);
  b.writeUInt32LE(t.indexCrc, 28);
  b.writeUInt32LE(t.headerCrc, 32);
  b.writeUInt32LE(crc32c(b.subarray(0, 36)), 36);
  return b;
}

export function decodeTrailer(b: Buffer): SnapshotTrailer | string {
  if (b.length !== SNAPSHOT_TRAILER_SIZE) return 'file too short for a trailer';
  if (!b.subarray(0, 8).equals(SNAPSHOT_END_MAGIC)) return 'bad trailer magic (file truncated or not a snapshot)';
  const crc = b.readUInt32LE(36);
  if (crc !== crc32c(b.subarray(0, 36))) return 'trailer checksum mismatch';
  const indexOffset = readU64(b, 8);
  const indexLength = readU64(b, 16);
  if (indexOffset < 0 || indexLength < 0) return 'trailer field out of range';
  return { indexOffset, indexLength, count: b.readUInt32LE(24), indexCrc: b.readUInt32LE(28), headerCrc: b.readUInt32LE(32), crc };
}

const SNAPSHOT_RE = /^snap-(\d{12})\.snap$/;

/** Snapshot files are numbered in creation order; the store never reuses a number in a directory. */
export function snapshotFileName(generation: number): string {
  return `snap-${String(generation).padStart(12, '0')}.snap`;
}

export function parseSnapshotFileName(name: string): number | null {
  const m = SNAPSHOT_RE.exec(name);
  return m ? Number(m[1]) : null;
}

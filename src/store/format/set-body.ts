/**
 * The binary form of a vector set's metadata inside a snapshot section (the
 * graph itself is usearch's own serialization, in a section of its own).
 * docs/formats.md ("Set body") has the layout. Layout 2 stores the ids as two
 * blocks, lengths per slot and the bytes back to back, so loading a set is a
 * few memory copies and one pass over typed arrays (no object per element);
 * layout 1 (one record per element) is still read.
 *
 * Encoding yields chunks so a million-element set never blocks the event loop
 * for long; the snapshot writer checksums and writes each as it comes.
 */
import os from 'node:os';
import { IdTable } from '../../engine/id-store.js';
import type { VectorSetState } from '../../engine/vector-set.js';
import { ChunkBuffer } from './chunks.js';

/** The layout encodeSetState writes. */
export const SET_BODY_LAYOUT = 2;
/** Id bytes copied per yielded chunk: ~1 ms of work between two turns of the event loop. */
const ID_CHUNK = 256 << 10;
const LITTLE_ENDIAN = os.endianness() === 'LE';

interface Header {
  params: VectorSetState['params']; nextSlot: number; tombstones: number; count: number; hasScales: boolean;
  layout?: number; idBytes?: number; zero?: number; payloads?: number;
}

export function* encodeSetState(state: VectorSetState): Generator<Buffer> {
  const ids = state.ids;
  const n = state.nextSlot;
  // Counted by the set itself when it can: a pass over a million slots is ~20 ms before the first chunk.
  let count = ids.totals?.count ?? 0, idBytes = ids.totals?.idBytes ?? 0, payloads = state.payloadCount ?? 0;
  if (!ids.totals) { const lengths = ids.lengths; for (let s = 0; s < n; s++) if (lengths[s] >= 0) { count++; idBytes += lengths[s]; } }
  if (state.payloadCount === undefined) state.payloads.forEach((p, s) => { if (p !== undefined && s < n) payloads++; });
  const header: Header = {
    params: state.params, nextSlot: n, tombstones: state.tombstones, count, hasScales: state.scales !== null,
    layout: SET_BODY_LAYOUT, idBytes, zero: state.zero.length, payloads,
  };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(4 + json.length);
  head.writeUInt32LE(json.length, 0);
  json.copy(head, 4);
  yield head;
  yield le32(ids.lengths.subarray(0, n));
  yield* packedIds(ids, n);
  if (state.scales) yield le32(state.scales.subarray(0, n));
  yield le32(Uint32Array.from(state.zero));
  // Attributes one record each: u32 slot, u32 length, UTF-8, written straight into chunks.
  const c = new ChunkBuffer();
  for (let slot = 0; slot < state.payloads.length && slot < n; slot++) {
    const payload = state.payloads[slot];
    if (payload === undefined) continue;
    const length = Buffer.byteLength(payload, 'utf8');
    const full = c.room(8 + length);
    if (full) yield full;
    let o = c.out.writeUInt32LE(slot, c.o);
    o = c.out.writeUInt32LE(length, o);
    c.o = o + c.out.write(payload, o, 'utf8');
  }
  const rest = c.rest();
  if (rest) yield rest;
}

/**
 * The ids' bytes back to back in slot order, in chunks; runs already contiguous in the arena are
 * copied at once. The table's arrays are read once: through its getters (two per slot) a chunk of
 * ~26 000 ids took 4.4 ms in process at 1 M, 0.5 ms without.
 */
function* packedIds(ids: IdTable, n: number): Generator<Buffer> {
  const lengths = ids.lengths, offsets = ids.offsets, bytes = ids.bytes;
  let out = Buffer.allocUnsafe(ID_CHUNK), o = 0;
  for (let s = 0; s < n;) {
    const len = lengths[s];
    if (len < 0) { s++; continue; }
    let from = offsets[s], to = from + len;
    s++;
    while (s < n && lengths[s] >= 0 && offsets[s] === to && to - from < ID_CHUNK) to += lengths[s++];
    if (o + (to - from) > out.length) {
      if (o > 0) yield out.subarray(0, o);
      out = Buffer.allocUnsafe(Math.max(ID_CHUNK, to - from));
      o = 0;
    }
    o += bytes.copy(out, o, from, to);
  }
  if (o > 0) yield out.subarray(0, o);
}

/** A typed array's bytes in little-endian order (a view where the host is little-endian). */
function le32(a: Int32Array | Uint32Array | Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) out.writeFloatLE(a[i], i * 4);
    else out.writeInt32LE(a[i] | 0, i * 4);
  }
  return out;
}

/** `n` little-endian 32-bit values at `o` into a fresh, aligned typed array. */
function read32<T extends Int32Array | Uint32Array | Float32Array>(make: new (n: number) => T, buf: Buffer, o: number, n: number): T {
  const out = new make(n);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(buf.subarray(o, o + n * 4));
  else for (let i = 0; i < n; i++) out[i] = out instanceof Float32Array ? buf.readFloatLE(o + i * 4) : buf.readInt32LE(o + i * 4);
  return out;
}

/** Decode what encodeSetState wrote (either layout); throws on any inconsistency (the section's CRC was checked already). */
export function decodeSetState(buf: Buffer): VectorSetState {
  const fail = (why: string): never => { throw new Error(`vector set section is malformed: ${why}`); };
  if (buf.length < 4) fail('too short');
  const headerLength = buf.readUInt32LE(0);
  if (4 + headerLength > buf.length) fail('header runs past the end');
  const header = JSON.parse(buf.toString('utf8', 4, 4 + headerLength)) as Header;
  const body = 4 + headerLength;
  if (header.layout === undefined || header.layout === 1) return decodeRecords(buf, body, header, fail);
  if (header.layout !== SET_BODY_LAYOUT) fail(`layout ${String(header.layout)} is newer than this build reads`);
  const n = header.nextSlot, idBytes = header.idBytes ?? -1, zeros = header.zero ?? -1, payloads = header.payloads ?? -1;
  if (!(n >= 0 && idBytes >= 0 && zeros >= 0 && payloads >= 0)) fail('bad header');
  let o = body;
  const need = (bytes: number) => { if (o + bytes > buf.length) fail('block runs past the end'); };
  need(n * 4);
  const lengths = read32(Int32Array, buf, o, n);
  o += n * 4;
  need(idBytes);
  let ids: IdTable;
  try { ids = IdTable.fromPacked(lengths, Buffer.from(buf.subarray(o, o + idBytes))); } catch (err) { return fail((err as Error).message); }
  o += idBytes;
  let scales: Float32Array | null = null;
  if (header.hasScales) { need(n * 4); scales = read32(Float32Array, buf, o, n); o += n * 4; }
  need(zeros * 4);
  const zero = Array.from(read32(Uint32Array, buf, o, zeros));
  o += zeros * 4;
  const state: VectorSetState = { params: header.params, nextSlot: n, tombstones: header.tombstones, ids, payloads: [], scales, zero };
  for (let i = 0; i < payloads; i++) {
    need(8);
    const slot = buf.readUInt32LE(o), length = buf.readUInt32LE(o + 4);
    o += 8;
    if (slot >= n || lengths[slot] < 0) fail('attribute of a free slot');
    need(length);
    state.payloads[slot] = buf.toString('utf8', o, o + length);
    o += length;
  }
  if (o !== buf.length) fail('trailing bytes');
  if (ids.count() !== header.count) fail('element count does not match');
  for (const slot of zero) if (slot >= n || lengths[slot] < 0) fail('zero vector in a free slot');
  return state;
}

/**
 * Layout 1: per live slot, u32 slot, u32 idLength, id bytes, f32 scale,
 * u8 flags (1: zero vector, 2: has payload), [u32 payloadLength, payload UTF-8].
 */
function decodeRecords(buf: Buffer, from: number, header: Header, fail: (why: string) => never): VectorSetState {
  const ids = new Array<string | undefined>(header.nextSlot);
  const state: VectorSetState = {
    params: header.params, nextSlot: header.nextSlot, tombstones: header.tombstones,
    ids: IdTable.fromArray([]), payloads: [],
    scales: header.hasScales ? new Float32Array(header.nextSlot) : null, zero: [],
  };
  let o = from;
  for (let i = 0; i < header.count; i++) {
    if (o + 8 > buf.length) fail('element runs past the end');
    const slot = buf.readUInt32LE(o);
    const idLength = buf.readUInt32LE(o + 4);
    o += 8;
    if (slot >= header.nextSlot || o + idLength + 5 > buf.length) fail('bad slot or id length');
    ids[slot] = buf.toString('latin1', o, o + idLength);
    o += idLength;
    const scale = buf.readFloatLE(o);
    if (state.scales) state.scales[slot] = scale;
    const flags = buf[o + 4];
    o += 5;
    if (flags & 1) state.zero.push(slot);
    if (flags & 2) {
      if (o + 4 > buf.length) fail('payload length runs past the end');
      const n = buf.readUInt32LE(o);
      o += 4;
      if (o + n > buf.length) fail('payload runs past the end');
      state.payloads[slot] = buf.toString('utf8', o, o + n);
      o += n;
    }
  }
  if (o !== buf.length) fail('trailing bytes');
  state.ids = IdTable.fromArray(ids, header.nextSlot);
  return state;
}

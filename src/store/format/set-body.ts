/**
 * The binary form of a vector set's metadata inside a snapshot section (the
 * graph itself is usearch's own serialization, in a section of its own).
 *
 *   u32 headerLength, header JSON (params, nextSlot, tombstones, count, hasScales)
 *   then per live slot: u32 slot, u32 idLength, id bytes (binary-safe),
 *                       f32 scale, u8 flags (1: zero vector, 2: has payload),
 *                       [u32 payloadLength, payload UTF-8]
 *
 * Encoding yields chunks so a million-element set never blocks the event loop
 * for long; the snapshot writer checksums and writes each as it comes.
 */
import type { VectorSetState } from '../../engine/vector-set.js';
import { ChunkBuffer } from './chunks.js';


export function* encodeSetState(state: VectorSetState): Generator<Buffer> {
  let count = 0;
  for (let s = 0; s < state.nextSlot; s++) if (state.ids[s] !== undefined) count++;
  const header = Buffer.from(JSON.stringify({
    params: state.params, nextSlot: state.nextSlot, tombstones: state.tombstones, count, hasScales: state.scales !== null,
  }));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(header.length, 0);
  yield Buffer.concat([head, header]);
  const zero = new Set(state.zero);
  // Elements are written straight into a chunk buffer: no Buffer per element (a million
  // small allocations and a concat per chunk were most of the encoding time).
  const c = new ChunkBuffer();
  for (let slot = 0; slot < state.nextSlot; slot++) {
    const id = state.ids[slot];
    if (id === undefined) continue;
    const payload = state.payloads[slot];
    const payloadLength = payload === undefined ? -1 : Buffer.byteLength(payload, 'utf8');
    const full = c.room(4 + 4 + id.length + 4 + 1 + (payloadLength >= 0 ? 4 + payloadLength : 0));
    if (full) yield full;
    const out = c.out;
    let o = c.o;
    o = out.writeUInt32LE(slot, o);
    o = out.writeUInt32LE(id.length, o);
    o += out.write(id, o, 'latin1');
    o = out.writeFloatLE(state.scales ? state.scales[slot] : 1, o);
    o = out.writeUInt8((zero.has(slot) ? 1 : 0) | (payloadLength >= 0 ? 2 : 0), o);
    if (payloadLength >= 0) {
      o = out.writeUInt32LE(payloadLength, o);
      o += out.write(payload!, o, 'utf8');
    }
    c.o = o;
  }
  const rest = c.rest();
  if (rest) yield rest;
}

/** Decode what encodeSetState wrote; throws on any inconsistency (the section's CRC was checked already). */
export function decodeSetState(buf: Buffer): VectorSetState {
  const fail = (why: string): never => { throw new Error(`vector set section is malformed: ${why}`); };
  if (buf.length < 4) fail('too short');
  const headerLength = buf.readUInt32LE(0);
  if (4 + headerLength > buf.length) fail('header runs past the end');
  const header = JSON.parse(buf.toString('utf8', 4, 4 + headerLength)) as {
    params: VectorSetState['params']; nextSlot: number; tombstones: number; count: number; hasScales: boolean;
  };
  const state: VectorSetState = {
    params: header.params, nextSlot: header.nextSlot, tombstones: header.tombstones,
    ids: new Array<string | undefined>(header.nextSlot), payloads: new Array<string | undefined>(header.nextSlot),
    scales: header.hasScales ? new Float32Array(header.nextSlot) : null, zero: [],
  };
  let o = 4 + headerLength;
  for (let i = 0; i < header.count; i++) {
    if (o + 8 > buf.length) fail('element runs past the end');
    const slot = buf.readUInt32LE(o);
    const idLength = buf.readUInt32LE(o + 4);
    o += 8;
    if (slot >= header.nextSlot || o + idLength + 5 > buf.length) fail('bad slot or id length');
    state.ids[slot] = buf.toString('latin1', o, o + idLength);
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
  return state;
}

/**
 * The WAL's on-disk format.
 *
 * Segment file `wal-<firstSeq, 20 digits>.log`:
 *
 *   header (32 bytes)
 *     0  magic     "ASTRWAL\0"
 *     8  version   u32 = 1
 *    12  flags     u32 = 0
 *    16  firstSeq  u64   (equals the number in the file name)
 *    24  reserved  u32 = 0
 *    28  crc32c    u32   of bytes 0..27
 *   records, back to back
 *
 * Record frame (spec "WAL records are framed and checksummed"):
 *
 *     0  length  u32   payload bytes
 *     4  crc32c  u32   over length ‖ seq ‖ payload (bytes 0..3 and 8..end)
 *     8  seq     u64
 *    16  payload
 *
 * The CRC covers the length too, so a flipped length bit is a checksum
 * failure, not a silently different framing. All integers little-endian.
 */
import { crc32c } from './crc32c.js';
import { readU64, writeU64 } from './bytes.js';

export const SEGMENT_MAGIC = Buffer.from('ASTRWAL\0', 'latin1');
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 32;
export const FRAME_HEADER_SIZE = 16;
/** Largest payload accepted; anything bigger on disk is damage, not data. */
export const MAX_RECORD_SIZE = 1 << 30;

const SEQ_DIGITS = 20;
const SEGMENT_RE = /^wal-(\d{20})\.log$/;

export function segmentFileName(firstSeq: number): string {
  return `wal-${String(firstSeq).padStart(SEQ_DIGITS, '0')}.log`;
}

/** The first sequence number a segment file name carries, or null for other names. */
export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

export function encodeSegmentHeader(firstSeq: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_SIZE);
  SEGMENT_MAGIC.copy(h, 0);
  h.writeUInt32LE(SEGMENT_VERSION, 8);
  h.writeUInt32LE(0, 12);
  writeU64(h, firstSeq, 16);
  h.writeUInt32LE(0, 24);
  h.writeUInt32LE(crc32c(h.subarray(0, 28)), 28);
  return h;
}

/** The firstSeq of a valid header, or a reason it is not one. */
export function decodeSegmentHeader(h: Buffer): { firstSeq: number } | { error: string } {
  if (h.length < SEGMENT_HEADER_SIZE) return { error: `header is ${h.length} bytes, expected ${SEGMENT_HEADER_SIZE}` };
  if (!h.subarray(0, 8).equals(SEGMENT_MAGIC)) return { error: 'bad magic (not an Astronaut WAL segment)' };
  if (h.readUInt32LE(28) !== crc32c(h.subarray(0, 28))) return { error: 'header checksum mismatch' };
  const version = h.readUInt32LE(8);
  if (version !== SEGMENT_VERSION) return { error: `unsupported WAL version ${version}` };
  const firstSeq = readU64(h, 16);
  if (firstSeq < 0) return { error: 'firstSeq out of range' };
  return { firstSeq };
}

/** Frame one record. */
export function encodeFrame(seq: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  writeU64(frame, seq, 8);
  frame.set(payload, FRAME_HEADER_SIZE);
  frame.writeUInt32LE(frameCrc(frame, 0, payload.length), 4);
  return frame;
}

/** CRC of the frame starting at `at` in `buf` whose payload is `length` bytes. */
export function frameCrc(buf: Buffer, at: number, length: number): number {
  const c = crc32c(buf.subarray(at, at + 4));
  return crc32c(buf.subarray(at + 8, at + FRAME_HEADER_SIZE + length), c);
}

export type FrameCheck =
  | { ok: true; seq: number; length: number }
  | { ok: false; reason: 'incomplete' | 'too-large' | 'checksum' };

/**
 * Check the frame starting at `at` in `buf`. `incomplete` means the frame runs
 * past the end of `buf`: when `buf` ends where the file ends, that is what a
 * torn write looks like; otherwise the caller must read more first.
 */
export function checkFrame(buf: Buffer, at: number): FrameCheck {
  if (buf.length - at < FRAME_HEADER_SIZE) return { ok: false, reason: 'incomplete' };
  const length = buf.readUInt32LE(at);
  if (length > MAX_RECORD_SIZE) return { ok: false, reason: 'too-large' };
  if (buf.length - at < FRAME_HEADER_SIZE + length) return { ok: false, reason: 'incomplete' };
  if (buf.readUInt32LE(at + 4) !== frameCrc(buf, at, length)) return { ok: false, reason: 'checksum' };
  const seq = readU64(buf, at + 8);
  if (seq < 0) return { ok: false, reason: 'checksum' };
  return { ok: true, seq, length };
}

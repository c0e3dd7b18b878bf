/**
 * The replication stream (docs/formats.md, "Replication"): after the
 * handshake's `+FULLRESYNC` or `+CONTINUE` line, everything the primary sends
 * is a frame:
 *
 *   u8 type | u32 length | u32 crc32c(payload) | payload
 *
 * A full sync is SECTION_BEGIN / SECTION_DATA… per snapshot section, then
 * SNAPSHOT_END; the stream proper is RECORD (a WAL command record, as the WAL
 * holds it), PING and GETACK frames. Offsets count the bytes of stream frames
 * only (never snapshot frames), so they are equal on primary and replica for
 * the same position.
 */
import { crc32c } from '../store/index.js';

export const FRAME = {
  SECTION_BEGIN: 1,
  SECTION_DATA: 2,
  SNAPSHOT_END: 3,
  RECORD: 16,
  PING: 17,
  GETACK: 18,
} as const;

export const FRAME_HEADER = 9;
/** A record may be as large as the WAL allows (1 GiB); snapshot data is cut into chunks far below it. */
export const MAX_FRAME = 1024 * 1024 * 1024;
/** Snapshot data goes out in frames of at most this much, so back-pressure applies within a large graph. */
export const DATA_CHUNK = 1024 * 1024;

export function frame(type: number, payload: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out.set(frameHeader(type, payload), 0);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** A frame's header alone: snapshot data is sent as header then payload, never copied into one buffer. */
export function frameHeader(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER);
  out[0] = type;
  out.writeUInt32LE(payload.length, 1);
  out.writeUInt32LE(crc32c(payload), 5);
  return out;
}

const EMPTY = new Uint8Array(0);

export function sectionBegin(kind: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const p = Buffer.allocUnsafe(4 + n.length);
  p.writeUInt32LE(kind, 0);
  n.copy(p, 4);
  return frame(FRAME.SECTION_BEGIN, p);
}

export function decodeSectionBegin(payload: Buffer): { kind: number; name: string } {
  if (payload.length < 4 || payload.length > 4 + 4096) throw new StreamError('bad section header');
  return { kind: payload.readUInt32LE(0), name: payload.subarray(4).toString('utf8') };
}

/** The stream cannot be trusted any more: the link is dropped and sync starts over. */
export class StreamError extends Error {}

/**
 * A frame as received. `parts` is its payload in the pieces it arrived in (views of the
 * received chunks, not copied): a full sync's data frames are kept that way and joined
 * once per section. `payload` and `raw` (the whole frame, which a replica keeps in its
 * own backlog unchanged) are joined on first use.
 */
export class Frame {
  #payload: Buffer | null = null;

  constructor(readonly type: number, readonly header: Buffer, readonly parts: Buffer[], readonly length: number) {}

  get payload(): Buffer {
    this.#payload ??= this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    return this.#payload;
  }

  get raw(): Buffer { return Buffer.concat([this.header, ...this.parts], FRAME_HEADER + this.length); }
}

/**
 * Cuts received bytes into handshake lines, then frames. Chunks are kept as
 * received; a frame's payload is the pieces of them it spans, never copied here.
 * Joining each 1 MiB snapshot frame into a buffer of its own, then the frames
 * into their section, copied a full sync twice and made ~600 buffers that V8
 * counted as new external memory (a replica's collections, on the cores the
 * primary needs).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private total = 0;

  /** A chunk as received: kept, not copied, so it must not be written afterwards (a socket's never is). */
  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  get buffered(): number { return this.total; }

  /** A `+…` or `-…` line without its CRLF, or null until one is complete. */
  line(maxLength = 64 * 1024): string | null {
    const all = this.join();
    const end = all.indexOf('\r\n');
    if (end < 0) {
      if (all.length > maxLength) throw new StreamError('handshake reply line too long');
      return null;
    }
    this.take(end + 2);
    return all.subarray(0, end).toString('latin1');
  }

  /** The next complete frame, or null until one is. */
  next(): Frame | null {
    if (this.total < FRAME_HEADER) return null;
    const head = this.peek(FRAME_HEADER);
    const type = head[0];
    const length = head.readUInt32LE(1);
    if (length > MAX_FRAME) throw new StreamError(`frame of ${length} bytes`);
    if (!isFrameType(type)) throw new StreamError(`unknown frame type ${type}`);
    if (this.total < FRAME_HEADER + length) return null;
    // `head` stays valid once taken: chunks are never written after they are fed.
    this.take(FRAME_HEADER);
    const parts = this.take(length);
    let crc = 0;
    for (const p of parts) crc = crc32c(p, crc);
    if (crc !== head.readUInt32LE(5)) throw new StreamError('frame checksum mismatch');
    return new Frame(type, head, parts, length);
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.total)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** The first n bytes (n ≤ total), copied only when they straddle chunks. */
  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    return Buffer.concat(this.take(n, false), n);
  }

  /** The first n bytes (n ≤ total) as views of the chunks they span; removed unless `remove` is false. */
  private take(n: number, remove = true): Buffer[] {
    const parts: Buffer[] = [];
    let need = n, i = 0;
    while (need > 0) {
      const c = this.chunks[i];
      if (c.length <= need) {
        parts.push(c);
        need -= c.length;
        if (remove) this.chunks.shift(); else i++;
      } else {
        parts.push(c.subarray(0, need));
        if (remove) this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    if (remove) this.total -= n;
    return parts;
  }
}

function isFrameType(t: number): boolean {
  return t === FRAME.SECTION_BEGIN || t === FRAME.SECTION_DATA || t === FRAME.SNAPSHOT_END
    || t === FRAME.RECORD || t === FRAME.PING || t === FRAME.GETACK;
}

/** RESP encoding of a command the replica sends its primary. */
export function respCommand(args: readonly string[]): Buffer {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return Buffer.from(s);
}

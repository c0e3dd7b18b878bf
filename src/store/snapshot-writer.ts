/**
 * Streams a snapshot file: header, then sections as they come, then the index
 * and trailer; fsync; close. Writing goes through the Fs in chunks (1 MiB by
 * default), each chunk checksummed then written with an await in between, so
 * a multi-hundred-MB section never blocks the event loop for more than one
 * chunk's CRC (spec "Non-blocking BGSAVE").
 *
 * The writer only produces the file at the path it is given (the store gives
 * it a temporary name and renames it once fsynced). Calls may be issued
 * concurrently: sections are written one after another in call order.
 */
import type { Fs, FsFile } from './fs.js';
import { writeAll } from './fs.js';
import { crc32c } from './crc32c.js';
import {
  MAX_SECTION_NAME,
  encodeIndex,
  encodeSectionHeader,
  encodeSectionTrailer,
  encodeSnapshotHeader,
  encodeTrailer,
} from './snapshot-format.js';
import type { IndexEntry } from './snapshot-format.js';

/** Section data: one buffer, or a stream of chunks (e.g. `fs.createReadStream`). Buffers must not change while being written. */
export type SectionSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** A section's chunks, whatever form it came in: `for await` walks either kind of iterable. */
export function chunksOf(data: SectionSource): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data;
}

export interface SnapshotWriterOptions {
  /** The cut: first WAL sequence number not contained. */
  seq: number;
  createdMs?: number;
  /** Bytes per write. Default 1 MiB. */
  chunkSize?: number;
}

export interface SnapshotFileInfo {
  path: string;
  size: number;
  /** Root checksum (trailer CRC). */
  crc: number;
  seq: number;
  createdMs: number;
  sections: number;
}

export class SnapshotWriter {
  readonly seq: number;
  readonly createdMs: number;
  readonly path: string;
  private readonly fs: Fs;
  private readonly chunkSize: number;
  private file: FsFile | null = null;
  private offset = 0;
  private headerCrc = 0;
  private readonly entries: IndexEntry[] = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private state: 'open' | 'finished' | 'aborted' = 'open';

  /** Nothing touches the disk until the first call; `path` is created (or truncated) then. */
  constructor(fs: Fs, path: string, opts: SnapshotWriterOptions) {
    this.fs = fs;
    this.path = path;
    this.seq = opts.seq;
    this.createdMs = opts.createdMs ?? Date.now();
    this.chunkSize = opts.chunkSize ?? 1 << 20;
  }

  /** Append a section. `kind` is the caller's type tag (u32); `name` is UTF-8, at most 4096 bytes. */
  addSection(kind: number, name: string, data: SectionSource): Promise<void> {
    if (!Number.isInteger(kind) || kind < 0 || kind > 0xffffffff) return Promise.reject(new RangeError(`section kind ${kind} is not a u32`));
    const nameBuf = Buffer.from(name, 'utf8');
    if (nameBuf.length > MAX_SECTION_NAME) return Promise.reject(new RangeError(`section name longer than ${MAX_SECTION_NAME} bytes`));
    return this.enqueue(() => this.writeSection(kind, nameBuf, data));
  }

  /** Number of sections written or queued so far. */
  get sectionCount(): number {
    return this.entries.length;
  }

  /** Write index and trailer, fsync, close. The file is complete and durable (its directory entry is the caller's business). */
  finish(): Promise<SnapshotFileInfo> {
    let info: SnapshotFileInfo | null = null;
    const p = this.enqueue(async () => {
      const file = await this.ensureOpen();
      const index = encodeIndex(this.entries);
      const indexOffset = this.offset;
      await this.put(index);
      const trailer = encodeTrailer({
        indexOffset,
        indexLength: index.length,
        count: this.entries.length,
        indexCrc: crc32c(index),
        headerCrc: this.headerCrc,
      });
      await this.put(trailer);
      await file.sync();
      this.file = null;
      await file.close();
      this.state = 'finished';
      info = { path: this.path, size: this.offset, crc: trailer.readUInt32LE(36), seq: this.seq, createdMs: this.createdMs, sections: this.entries.length };
    });
    return p.then(() => info!);
  }

  /** Give up: close and remove the partial file. Never throws for a file that was never created. */
  async abort(): Promise<void> {
    this.state = 'aborted';
    await this.chain;
    const f = this.file;
    this.file = null;
    if (f) await f.close().catch(() => undefined); // being abandoned; the unlink below is what matters
    try {
      await this.fs.unlink(this.path);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.failure) throw this.failure;
      if (this.state !== 'open') throw new Error(`snapshot writer is ${this.state}`);
      try {
        await op();
      } catch (err) {
        this.failure ??= err;
        throw err;
      }
    };
    const p = this.chain.then(run);
    // The chain itself must never reject (later operations check `failure`); the caller gets `p`.
    this.chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private async ensureOpen(): Promise<FsFile> {
    if (this.file) return this.file;
    const file = await this.fs.open(this.path, 'w');
    this.file = file;
    const header = encodeSnapshotHeader(this.seq, this.createdMs);
    this.headerCrc = header.readUInt32LE(36);
    this.offset = 0;
    await this.put(header);
    return file;
  }

  private async put(buf: Uint8Array): Promise<void> {
    await writeAll(this.file!, buf, this.offset);
    this.offset += buf.length;
  }

  private async writeSection(kind: number, name: Buffer, data: SectionSource): Promise<void> {
    await this.ensureOpen();
    const offset = this.offset;
    await this.put(encodeSectionHeader(kind, name));
    let crc = 0;
    let length = 0;
    const writeChunk = async (chunk: Uint8Array): Promise<void> => {
      for (let p = 0; p < chunk.length; p += this.chunkSize) {
        const piece = chunk.subarray(p, Math.min(chunk.length, p + this.chunkSize));
        crc = crc32c(piece, crc);
        await this.put(piece);
        length += piece.length;
      }
    };
    for await (const c of chunksOf(data)) await writeChunk(c);
    await this.put(encodeSectionTrailer(length, crc));
    this.entries.push({ offset, length, kind, crc, name });
  }
}

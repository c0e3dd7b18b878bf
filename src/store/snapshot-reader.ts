/**
 * Opens a snapshot and verifies it before any section can be read: header,
 * every section's header, trailer and length, the index and the file trailer,
 * that these tile the file exactly, and every section's data checksum (spec:
 * usearch aborts the process on a truncated file and loads a flipped byte
 * silently). Verification streams the file in chunks, awaiting each read, so a
 * large snapshot does not block the event loop.
 *
 * A caller that checksums a section's data while it loads it anyway (a graph
 * streamed into usearch, which is most of the file) may ask for that
 * section's data checksum to be left to it (`deferCrc`): reading the file
 * twice was a quarter to a third of a restart. Such a section is marked
 * `crcChecked: false`; `readSection` checks it as it reads, and `intact()`
 * tells a loader that failed whether the bytes are at fault.
 */
import type { Fs, FsFile } from './fs.js';
import { readFully } from './fs.js';
import { crc32c, crc32cAsync } from './crc32c.js';
import { CorruptionError } from './errors.js';
import { readU64 } from './bytes.js';
import {
  MAX_INDEX_SIZE,
  SECTION_MAGIC,
  SECTION_TRAILER_SIZE,
  SNAPSHOT_HEADER_SIZE,
  SNAPSHOT_TRAILER_SIZE,
  decodeIndex,
  decodeSnapshotHeader,
  decodeTrailer,
} from './snapshot-format.js';

export interface SnapshotSection {
  /** Position in the file's section list. */
  index: number;
  kind: number;
  name: string;
  /** Offset of the data in the file. */
  dataOffset: number;
  length: number;
  crc: number;
  /** The data checksum was verified at open; false for a section left to its loader (`deferCrc`). */
  crcChecked: boolean;
}

export interface SnapshotReadOptions {
  /** What the manifest recorded: a different size or root checksum means "not the file we committed". */
  expect?: { size: number; crc: number };
  /** Read size during verification. Default 1 MiB. */
  chunkSize?: number;
  /** Sections whose data checksum the caller will check while loading them (structure is still verified). */
  deferCrc?: (section: { kind: number; name: string; length: number }) => boolean;
}

export class SnapshotReader {
  private file: FsFile | null;
  private constructor(
    file: FsFile,
    readonly path: string,
    readonly seq: number,
    readonly createdMs: number,
    readonly size: number,
    /** Root checksum (trailer CRC). */
    readonly crc: number,
    readonly sections: readonly SnapshotSection[],
  ) {
    this.file = file;
  }

  /** Open and verify the whole file. Throws `CorruptionError` (kind `bad-snapshot`) on any mismatch, the fs error (e.g. ENOENT) otherwise. */
  static async open(fs: Fs, path: string, opts: SnapshotReadOptions = {}): Promise<SnapshotReader> {
    const file = await fs.open(path, 'r');
    try {
      const v = await verify(file, path, opts);
      return new SnapshotReader(file, path, v.seq, v.createdMs, v.size, v.crc, v.sections);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** The first section with this name (and kind, if given). */
  find(name: string, kind?: number): SnapshotSection | undefined {
    return this.sections.find((s) => s.name === name && (kind === undefined || s.kind === kind));
  }

  /**
   * The bytes of a section, checksummed as read (for a section verified at
   * open, this guards against the file changing since).
   */
  async readSection(s: SnapshotSection | number): Promise<Buffer> {
    const sec = this.own(s);
    const buf = Buffer.allocUnsafe(sec.length);
    const n = await readFully(this.file!, buf, 0, sec.length, sec.dataOffset);
    if (n !== sec.length || (await crc32cAsync(buf)) !== sec.crc) throw this.damaged(sec);
    return buf;
  }

  /** Whether a section's data still matches its checksum (for a loader that failed on a section left to it). */
  async intact(s: SnapshotSection | number, chunkSize = 1 << 20): Promise<boolean> {
    const sec = this.own(s);
    return (await dataCrc(this.file!, sec.dataOffset, sec.length, chunkSize)) === sec.crc;
  }

  /** The error for a section whose data does not match its checksum. */
  damaged(s: SnapshotSection): CorruptionError {
    const what = s.crcChecked ? 'changed on disk since it was verified' : 'is damaged (data checksum mismatch)';
    return new CorruptionError('bad-snapshot', `snapshot ${this.path}: section "${s.name}" ${what}`, this.path, s.dataOffset);
  }

  private own(s: SnapshotSection | number): SnapshotSection {
    const sec = typeof s === 'number' ? this.sections[s] : s;
    if (!sec || this.sections[sec.index] !== sec) throw new RangeError('no such section in this snapshot');
    if (!this.file) throw new Error('snapshot reader is closed');
    return sec;
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = null;
    if (f) await f.close();
  }
}

interface Verified {
  seq: number;
  createdMs: number;
  size: number;
  crc: number;
  sections: SnapshotSection[];
}

async function verify(file: FsFile, path: string, opts: SnapshotReadOptions): Promise<Verified> {
  const bad = (detail: string, offset?: number): CorruptionError =>
    new CorruptionError('bad-snapshot', `snapshot ${path} is damaged: ${detail}${offset !== undefined ? ` (offset ${offset})` : ''}`, path, offset);
  const chunkSize = opts.chunkSize ?? 1 << 20;
  const size = await file.size();
  const readAt = async (position: number, length: number): Promise<Buffer> => {
    const b = Buffer.allocUnsafe(length);
    const n = await readFully(file, b, 0, length, position);
    if (n !== length) throw bad('file shorter than its structure says', position);
    return b;
  };

  if (size < SNAPSHOT_HEADER_SIZE + 4 + SNAPSHOT_TRAILER_SIZE) throw bad(`file is ${size} bytes, too short to be a snapshot`);
  if (opts.expect && opts.expect.size !== size) throw bad(`size is ${size}, the manifest recorded ${opts.expect.size}`);
  const trailer = decodeTrailer(await readAt(size - SNAPSHOT_TRAILER_SIZE, SNAPSHOT_TRAILER_SIZE));
  if (typeof trailer === 'string') throw bad(trailer, size - SNAPSHOT_TRAILER_SIZE);
  if (opts.expect && opts.expect.crc !== trailer.crc) throw bad('root checksum differs from the one the manifest recorded');
  if (trailer.indexOffset + trailer.indexLength + SNAPSHOT_TRAILER_SIZE !== size || trailer.indexOffset < SNAPSHOT_HEADER_SIZE) {
    throw bad('trailer does not match the file length', size - SNAPSHOT_TRAILER_SIZE);
  }
  if (trailer.indexLength > MAX_INDEX_SIZE) throw bad('index too large', trailer.indexOffset);

  const header = decodeSnapshotHeader(await readAt(0, SNAPSHOT_HEADER_SIZE));
  if (typeof header === 'string') throw bad(header, 0);
  if (header.crc !== trailer.headerCrc) throw bad('header and trailer do not belong together', 0);

  const indexBytes = await readAt(trailer.indexOffset, trailer.indexLength);
  if (crc32c(indexBytes) !== trailer.indexCrc) throw bad('index checksum mismatch', trailer.indexOffset);
  const entries = decodeIndex(indexBytes, trailer.count);
  if (typeof entries === 'string') throw bad(entries, trailer.indexOffset);

  const sections: SnapshotSection[] = [];
  let pos = SNAPSHOT_HEADER_SIZE;
  for (const [i, e] of entries.entries()) {
    if (e.offset !== pos) throw bad(`section ${i} is not where the index says`, pos);
    const hlen = 12 + e.name.length + 4;
    if (pos + hlen + e.length + SECTION_TRAILER_SIZE > trailer.indexOffset) throw bad(`section ${i} runs into the index`, pos);
    const h = await readAt(pos, hlen);
    if (
      h.readUInt32LE(0) !== SECTION_MAGIC ||
      h.readUInt32LE(4) !== e.kind ||
      h.readUInt32LE(8) !== e.name.length ||
      !h.subarray(12, 12 + e.name.length).equals(e.name) ||
      h.readUInt32LE(12 + e.name.length) !== crc32c(h.subarray(0, 12 + e.name.length))
    ) {
      throw bad(`section ${i} header is damaged or disagrees with the index`, pos);
    }
    pos += hlen;
    const dataOffset = pos;
    const name = e.name.toString('utf8');
    const crcChecked = !opts.deferCrc?.({ kind: e.kind, name, length: e.length });
    if (crcChecked) {
      const crc = await dataCrc(file, dataOffset, e.length, chunkSize, (at) => bad('file shorter than its structure says', at));
      if (crc !== e.crc) throw bad(`section ${i} ("${name}") data checksum mismatch`, dataOffset);
    }
    pos += e.length;
    const t = await readAt(pos, SECTION_TRAILER_SIZE);
    if (readU64(t, 0) !== e.length || t.readUInt32LE(8) !== e.crc || t.readUInt32LE(12) !== crc32c(t.subarray(0, 12))) {
      throw bad(`section ${i} trailer is damaged or disagrees with the index`, pos);
    }
    pos += SECTION_TRAILER_SIZE;
    sections.push({ index: i, kind: e.kind, name, dataOffset, length: e.length, crc: e.crc, crcChecked });
  }
  if (pos !== trailer.indexOffset) throw bad('bytes between the last section and the index', pos);
  return { seq: header.seq, createdMs: header.createdMs, size, crc: trailer.crc, sections };
}

/** The CRC of `length` bytes at `offset`, read in chunks (awaited: the event loop keeps turning). */
async function dataCrc(file: FsFile, offset: number, length: number, chunkSize: number, short?: (at: number) => Error): Promise<number> {
  // One buffer for every chunk: a fresh one each time cost its page faults (most of the pass).
  const chunk = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(1, length)));
  let crc = 0;
  for (let done = 0; done < length; ) {
    const n = Math.min(chunk.length, length - done);
    if ((await readFully(file, chunk, 0, n, offset + done)) !== n) {
      if (short) throw short(offset + done);
      return -1;
    }
    crc = crc32c(chunk.subarray(0, n), crc);
    done += n;
  }
  return crc;
}

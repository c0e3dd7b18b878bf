/**
 * Reading the WAL back: replay, recovery scan and the check tool share one
 * iterator, so they agree on what is a torn tail and what is corruption.
 *
 * Rules (spec "Recovery"):
 * - zeros from a record boundary to the end of a segment are space the writer
 *   preallocated and never wrote: the clean end of that segment, not damage;
 * - a bad or incomplete record at the end of the LAST segment, with no valid
 *   record after it, is a torn tail: truncated away (logged) or reported;
 * - a bad record anywhere else (including a bad record in the last segment
 *   followed by valid ones), a gap in sequence numbers or a missing segment
 *   is corruption: a `CorruptionError`, unless `repair` is set, in which case
 *   the damaged bytes are skipped (resynchronising on the next valid record),
 *   the loss is logged, and reading goes on.
 */
import * as nodePath from 'node:path';
import type { Fs, FsFile } from './fs.js';
import { RealFs, readFully, writeAll } from './fs.js';
import { CorruptionError, isNotFound } from './errors.js';
import type { Logger } from './logger.js';
import { SILENT_LOGGER } from './logger.js';
import { readU64 } from './bytes.js';
import {
  FRAME_HEADER_SIZE,
  MAX_RECORD_SIZE,
  SEGMENT_HEADER_SIZE,
  checkFrame,
  decodeSegmentHeader,
  encodeSegmentHeader,
  frameCrc,
  parseSegmentFileName,
} from './wal-format.js';
import type { WalSegmentRef } from './wal-writer.js';

export interface WalRecord {
  seq: number;
  /** The record's bytes. A view into a read buffer: copy it to keep it long. */
  payload: Buffer;
}

export type WalProblemKind = 'torn-tail' | 'torn-header' | 'bad-record' | 'seq-gap' | 'missing-segment' | 'bad-segment-header';

export interface WalProblem {
  kind: WalProblemKind;
  file: string;
  offset?: number;
  detail: string;
  /** Bytes dropped (torn tail, skipped damage). */
  bytes?: number;
  /** A torn tail was truncated / a torn header rewritten. */
  fixed?: boolean;
}

export interface WalSegmentReport {
  file: string;
  firstSeq: number;
  /** File size as found (0 when missing). */
  size: number;
  /** End of the last valid record (the size a fixed file has). */
  validEnd: number;
  /** Zero-filled bytes after the last record: preallocated by the writer, never written (not damage). */
  reserved: number;
  records: number;
  /** Last sequence number in the segment (firstSeq - 1 when it holds none). */
  lastSeq: number;
  status: 'ok' | 'missing' | 'torn-tail' | 'damaged';
}

export interface WalScanReport {
  segments: WalSegmentReport[];
  problems: WalProblem[];
  /** Records at or after `fromSeq` read. */
  records: number;
  /** Payload bytes of those records. */
  bytes: number;
  /** Last sequence number read (`fromSeq - 1` when none). */
  lastSeq: number;
}

export interface WalReadOptions {
  /** First sequence number wanted; earlier records are verified where read but not returned. Default 1. */
  fromSeq?: number;
  /** Accept corruption, gaps and missing segments: skip the damage, log it, go on. */
  repair?: boolean;
  /** Check mode: never throw for damage, record every problem in the report. */
  collect?: boolean;
  /** At a torn tail: `truncate` the file (recovery, `check --fix`) or just `report` it. Default `report`. */
  tornTail?: 'truncate' | 'report';
  logger?: Logger;
  /** Read size. Default 1 MiB. */
  chunkSize?: number;
}

export function emptyScanReport(fromSeq: number): WalScanReport {
  return { segments: [], problems: [], records: 0, bytes: 0, lastSeq: fromSeq - 1 };
}

/** WAL segments in `dir`, sorted by first sequence number. */
export async function listSegments(fs: Fs, dir: string): Promise<WalSegmentRef[]> {
  const out: WalSegmentRef[] = [];
  for (const name of await fs.readdir(dir)) {
    const firstSeq = parseSegmentFileName(name);
    if (firstSeq !== null) out.push({ file: name, firstSeq });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * Records with seq ≥ `fromSeq` from the segments found in `dir` (no manifest
 * involved: the segment chain alone). See `walRecords` for the rules.
 */
export async function* readWal(dir: string, fromSeq: number, opts: WalReadOptions & { fs?: Fs } = {}, report?: WalScanReport): AsyncGenerator<WalRecord> {
  const fs = opts.fs ?? new RealFs();
  const segments = await listSegments(fs, dir);
  yield* walRecords(fs, dir, segments, { ...opts, fromSeq }, report);
}

/** Verify without returning records; returns what was found. */
export async function scanWal(fs: Fs, dir: string, segments: WalSegmentRef[], opts: WalReadOptions): Promise<WalScanReport> {
  const report = emptyScanReport(opts.fromSeq ?? 1);
  const records = walRecords(fs, dir, segments, opts, report);
  while (!(await records.next()).done); // verification only: the records themselves are not needed
  return report;
}

/** Where reading a segment stands. Buffers are never reused, so yielded payloads stay valid. */
class SegmentCursor {
  buf: Buffer = Buffer.alloc(0);
  /** File offset of buf[0]. */
  base = 0;
  pos = 0;
  constructor(readonly file: FsFile, readonly size: number, readonly chunk: number) {}

  get offset(): number {
    return this.base + this.pos;
  }

  /** Make at least `n` bytes from the current position available (fewer at end of file). */
  async ensure(n: number): Promise<void> {
    const have = this.buf.length - this.pos;
    if (have >= n) return;
    const fileLeft = this.size - (this.base + this.buf.length);
    if (fileLeft <= 0) return;
    const want = Math.min(fileLeft, Math.max(this.chunk, n - have));
    const next = Buffer.allocUnsafe(have + want);
    this.buf.copy(next, 0, this.pos);
    const got = await readFully(this.file, next, have, want, this.base + this.buf.length);
    this.base += this.pos;
    this.pos = 0;
    this.buf = got === want ? next : next.subarray(0, have + got);
  }

  atEof(): boolean {
    return this.offset >= this.size;
  }

  /** Everything from the current position to the end of the file. */
  async rest(): Promise<Buffer> {
    await this.ensure(this.size - this.offset);
    return this.buf.subarray(this.pos);
  }

  /** Continue at `pos` within the buffer `rest()` returned. */
  reposition(rest: Buffer, startOffset: number, at: number): void {
    this.buf = rest;
    this.base = startOffset;
    this.pos = at;
  }
}

/**
 * The first valid frame in `tail` after position 0 whose seq could follow
 * `expected` (at most one record per 16 bytes skipped), or null.
 */
export function resync(tail: Buffer, expected: number): { pos: number; seq: number } | null {
  // A frame's header is never all zeros, so none starts in a zero-filled (preallocated) stretch at the end.
  let end = tail.length;
  while (end > 0 && tail[end - 1] === 0) end--;
  for (let p = 1; p + FRAME_HEADER_SIZE <= tail.length && p < end; p++) {
    const len = tail.readUInt32LE(p);
    if (len > MAX_RECORD_SIZE || p + FRAME_HEADER_SIZE + len > tail.length) continue;
    const seq = readU64(tail, p + 8);
    if (seq < expected || seq > expected + Math.ceil(p / FRAME_HEADER_SIZE) + 1) continue;
    if (tail.readUInt32LE(p + 4) === frameCrc(tail, p, len)) return { pos: p, seq };
  }
  return null;
}

/**
 * The core iterator. `segments` is the chain to read (sorted; missing files
 * are reported). Reading starts at the last segment whose firstSeq ≤ fromSeq.
 * `report`, when given, is filled in as reading goes.
 */
export async function* walRecords(
  fs: Fs,
  dir: string,
  segmentsIn: WalSegmentRef[],
  opts: WalReadOptions,
  reportIn?: WalScanReport,
): AsyncGenerator<WalRecord> {
  const fromSeq = opts.fromSeq ?? 1;
  const log = opts.logger ?? SILENT_LOGGER;
  const tolerant = opts.repair === true || opts.collect === true;
  const chunk = opts.chunkSize ?? 1 << 20;
  const report = reportIn ?? emptyScanReport(fromSeq);
  const segments = [...segmentsIn].sort((a, b) => a.firstSeq - b.firstSeq);

  const problem = (p: WalProblem, kind: ConstructorParameters<typeof CorruptionError>[0]): void => {
    report.problems.push(p);
    if (!tolerant) {
      throw new CorruptionError(
        kind,
        `WAL ${p.kind} in ${nodePath.join(dir, p.file)}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.detail}. ` +
          `Refusing to start. Run \`astronaut check ${dir}\` to see what is damaged and what a repair would drop, then start once with \`--repair\` (same --dir and options) to skip the damage (logged) and snapshot what is left.`,
        p.file,
        p.offset,
      );
    }
    if (opts.repair) log.error({ ...p }, `WAL ${p.kind}: ${p.detail}; repair: skipping it`);
  };

  let start = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= fromSeq) start = i;
  let expected = fromSeq;
  if (segments.length > 0 && segments[start]!.firstSeq > fromSeq) {
    problem(
      { kind: 'missing-segment', file: segments[start]!.file, detail: `records ${fromSeq}..${segments[start]!.firstSeq - 1} are in no segment` },
      'missing-segment',
    );
    expected = segments[start]!.firstSeq;
  } else if (segments.length > 0) {
    expected = segments[start]!.firstSeq;
  }

  for (let i = start; i < segments.length; i++) {
    const seg = segments[i]!;
    const isLast = i === segments.length - 1;
    const path = nodePath.join(dir, seg.file);
    const rep: WalSegmentReport = { file: seg.file, firstSeq: seg.firstSeq, size: 0, validEnd: 0, reserved: 0, records: 0, lastSeq: seg.firstSeq - 1, status: 'ok' };
    report.segments.push(rep);

    if (seg.firstSeq !== expected) {
      const detail =
        seg.firstSeq > expected
          ? `records ${expected}..${seg.firstSeq - 1} are missing before this segment`
          : `segment starts at ${seg.firstSeq} but the previous one ends at ${expected - 1}`;
      problem({ kind: seg.firstSeq > expected ? 'missing-segment' : 'seq-gap', file: seg.file, detail }, seg.firstSeq > expected ? 'missing-segment' : 'seq-gap');
      if (seg.firstSeq > expected) expected = seg.firstSeq;
    }

    let file: FsFile;
    try {
      file = await fs.open(path, 'r');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      rep.status = 'missing';
      problem({ kind: 'missing-segment', file: seg.file, detail: 'segment file is missing' }, 'missing-segment');
      continue;
    }
    try {
      const size = await file.size();
      rep.size = size;
      const cur = new SegmentCursor(file, size, chunk);
      await cur.ensure(SEGMENT_HEADER_SIZE);
      const headerBytes = cur.buf.subarray(0, Math.min(SEGMENT_HEADER_SIZE, cur.buf.length));
      if (size < SEGMENT_HEADER_SIZE) {
        const want = encodeSegmentHeader(seg.firstSeq);
        const isPrefix = headerBytes.every((b, k) => b === want[k] || b === 0);
        if (isLast && isPrefix) {
          // Created but its header never reached the disk: an empty segment.
          const p: WalProblem = { kind: 'torn-header', file: seg.file, offset: 0, detail: `segment header is incomplete (${size} bytes)`, bytes: size };
          if (opts.tornTail === 'truncate') {
            await rewriteHeader(fs, path, seg.firstSeq);
            p.fixed = true;
            log.warn({ file: seg.file }, 'WAL: rewrote the incomplete header of the last segment');
            rep.size = SEGMENT_HEADER_SIZE;
          }
          report.problems.push(p);
          rep.validEnd = SEGMENT_HEADER_SIZE;
          rep.status = 'torn-tail';
          continue;
        }
      }
      const h = decodeSegmentHeader(Buffer.from(headerBytes));
      const headerError = 'error' in h ? h.error : h.firstSeq !== seg.firstSeq ? `header says firstSeq ${h.firstSeq}, name says ${seg.firstSeq}` : null;
      if (headerError !== null) {
        rep.status = 'damaged';
        problem({ kind: 'bad-segment-header', file: seg.file, offset: 0, detail: headerError }, 'bad-segment-header');
        continue;
      }
      cur.pos = SEGMENT_HEADER_SIZE;
      rep.validEnd = SEGMENT_HEADER_SIZE;

      while (!cur.atEof()) {
        await cur.ensure(FRAME_HEADER_SIZE);
        if (cur.buf.length - cur.pos >= FRAME_HEADER_SIZE) {
          const len = cur.buf.readUInt32LE(cur.pos);
          if (len <= MAX_RECORD_SIZE) await cur.ensure(FRAME_HEADER_SIZE + len);
        }
        const at = cur.offset;
        const fc = checkFrame(cur.buf, cur.pos);
        if (fc.ok) {
          cur.pos += FRAME_HEADER_SIZE + fc.length;
          if (fc.seq !== expected) {
            if (fc.seq < expected) {
              problem({ kind: 'seq-gap', file: seg.file, offset: at, detail: `record ${fc.seq} repeats or goes back (expected ${expected})` }, 'seq-gap');
              rep.validEnd = cur.offset;
              continue; // tolerant: drop the duplicate
            }
            problem({ kind: 'seq-gap', file: seg.file, offset: at, detail: `records ${expected}..${fc.seq - 1} are missing` }, 'seq-gap');
          }
          expected = fc.seq + 1;
          rep.records++;
          rep.lastSeq = fc.seq;
          rep.validEnd = cur.offset;
          if (fc.seq >= fromSeq) {
            report.records++;
            report.bytes += fc.length;
            report.lastSeq = fc.seq;
            const s = cur.pos - fc.length;
            yield { seq: fc.seq, payload: cur.buf.subarray(s, s + fc.length) };
          }
          continue;
        }
        // A bad frame: the preallocated end, a torn tail, or damage?
        const tail = await cur.rest();
        if (isAllZero(tail)) {
          rep.reserved = tail.length;
          break;
        }
        const next = resync(tail, expected);
        const what = fc.reason === 'incomplete' ? 'incomplete record' : fc.reason === 'too-large' ? 'impossible record length' : 'checksum mismatch';
        if (isLast && next === null) {
          const p: WalProblem = { kind: 'torn-tail', file: seg.file, offset: at, bytes: size - at, detail: `${what}; the last ${size - at} bytes are a torn write` };
          rep.status = 'torn-tail';
          if (opts.tornTail === 'truncate') {
            await truncateDurably(fs, path, at);
            p.fixed = true;
            log.warn({ file: seg.file, offset: at, bytes: size - at }, 'WAL: truncated a torn tail (a write cut short by a crash)');
          } else if (!opts.collect) {
            log.warn({ file: seg.file, offset: at, bytes: size - at }, 'WAL: torn tail found (not truncated)');
          }
          report.problems.push(p);
          break;
        }
        rep.status = 'damaged';
        const skipped = next ? next.pos : tail.length;
        problem(
          {
            kind: 'bad-record',
            file: seg.file,
            offset: at,
            bytes: skipped,
            detail: `${what} (expected record ${expected})${next ? `; next valid record ${next.seq} at offset ${at + next.pos}` : isLast ? '' : ' and nothing valid after it in a segment that is not the last'}`,
          },
          'bad-record',
        );
        if (!next) break;
        cur.reposition(tail, at, next.pos);
      }
      // The next segment continues where this one ended.
    } finally {
      await file.close();
    }
  }
  report.lastSeq = Math.max(report.lastSeq, expected - 1);
}

function isAllZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

async function truncateDurably(fs: Fs, path: string, length: number): Promise<void> {
  const f = await fs.open(path, 'r+');
  try {
    await f.truncate(length);
    await f.datasync();
  } finally {
    await f.close();
  }
}

async function rewriteHeader(fs: Fs, path: string, firstSeq: number): Promise<void> {
  const f = await fs.open(path, 'r+');
  try {
    await f.truncate(0);
    await writeAll(f, encodeSegmentHeader(firstSeq), 0);
    await f.datasync();
  } finally {
    await f.close();
  }
}

/**
 * The WAL writer: sequence numbers, group commit, fsync policy, segment
 * rotation and the error rules of the spec.
 *
 * `append()` is synchronous and cheap (it frames the record in memory); it is
 * called on the request path. `commit()` resolves once everything appended
 * before the call is durable per `appendfsync` (spec "Group commit"):
 * - `always`: after the write and an fdatasync;
 * - `everysec`: after the write; a timer fdatasyncs in the background each
 *   interval, concurrently with later writes;
 * - `no`: after the write; the kernel decides when it reaches the disk.
 *
 * One flush loop runs at a time. Records appended while a write or fsync is in
 * flight wait for the next batch, and each batch is written with one write
 * call (more only if the kernel returns a short write), so a burst of commits
 * from one event-loop turn costs one write (and, with `always`, one fsync).
 *
 * Errors (spec "fsync errors are not retryable", "Short writes happen"):
 * - a failed write is truncated back to the last complete record and its
 *   records stay queued; the writer turns unhealthy and the batch's commits
 *   reject with a non-fatal `WalWriteError` (the server answers `-MISCONF`
 *   and refuses writes);
 * - a failed fsync under `everysec`/`no` makes the writer unhealthy; because
 *   the kernel may have dropped the dirty pages, recovery rewrites every byte
 *   written since the last good fsync (kept in memory, bounded) before
 *   fsyncing again;
 * - a failed fsync under `always` is fatal: the commit rejects with
 *   `fatal: true` and the caller must stop the process without acknowledging.
 * `probe()` (and the interval timer) retry: the writer is healthy again once a
 * write and an fsync have succeeded.
 */
import * as nodePath from 'node:path';
import type { Fs, FsFile } from './fs.js';
import { writeAll } from './fs.js';
import { WalWriteError, describeError, errnoCode } from './errors.js';
import type { Logger } from './logger.js';
import { SILENT_LOGGER } from './logger.js';
import { MAX_RECORD_SIZE, SEGMENT_HEADER_SIZE, encodeFrame, encodeSegmentHeader, segmentFileName } from './wal-format.js';

export type Appendfsync = 'always' | 'everysec' | 'no';

export function isAppendfsync(v: string): v is Appendfsync {
  return v === 'always' || v === 'everysec' || v === 'no';
}

/** A WAL segment: its file name (relative to the directory) and first sequence number. */
export interface WalSegmentRef {
  file: string;
  firstSeq: number;
}

export interface WalWriterOptions {
  fs: Fs;
  dir: string;
  appendfsync: Appendfsync;
  /** The sequence number the next `append` gets. */
  nextSeq: number;
  /**
   * Continue the existing last segment after recovery: its valid length (torn
   * tail already removed). Without it a new segment starting at `nextSeq` is
   * created.
   */
  resume?: WalSegmentRef & { size: number };
  /** Rotate to a new segment once the current one reaches this many bytes. Default 64 MiB. */
  segmentSize?: number;
  /** The `everysec` fsync interval, also the retry interval when unhealthy. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Bytes written since the last good fsync kept for a rewrite after a failed fsync. Default 64 MiB. */
  retainLimit?: number;
  logger?: Logger;
  /** Called once a new segment is durable (file and directory fsynced), before records go into it. */
  onSegmentCreated?: (segment: WalSegmentRef) => Promise<void>;
  /** Observability (tests, metrics): called after each successful fsync with the last sequence number it covers. */
  onFsync?: (syncedSeq: number) => void;
}

interface Waiter {
  seq: number;
  /** Needs an fsync whatever the policy (flush/close). */
  sync: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

interface RotateRequest {
  cut: number;
  resolve(cut: number): void;
  reject(err: unknown): void;
}

interface Retained {
  start: number;
  buf: Buffer;
}

const DEFAULT_SEGMENT_SIZE = 64 << 20;
const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_RETAIN_LIMIT = 64 << 20;

export class WalWriter {
  private readonly fs: Fs;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly segmentLimit: number;
  private readonly intervalMs: number;
  private readonly retainLimit: number;
  private readonly onSegmentCreated: ((s: WalSegmentRef) => Promise<void>) | undefined;
  private readonly onFsync: ((syncedSeq: number) => void) | undefined;
  private policy: Appendfsync;

  private file: FsFile | null = null;
  private segment: WalSegmentRef = { file: '', firstSeq: 0 };
  /** End of the last complete record written to the current segment. */
  private offset = 0;
  /** Offset covered by the last successful fsync of the current segment. */
  private syncedOffset = 0;

  private nextSeqValue: number;
  private writtenSeqValue: number;
  private syncedSeqValue: number;
  private queue: Buffer[] = [];
  private waiters: Waiter[] = [];
  private rotations: RotateRequest[] = [];

  private retained: Retained[] = [];
  private retainedBytes = 0;
  /** Retention overflowed since the last good fsync: a failed fsync cannot be repaired by rewriting. */
  private retainLost = false;
  /** A failed write may have left a partial record past `offset` that a truncate has not removed yet. */
  private needsTruncate = false;

  private running: Promise<void> | null = null;
  private bgSync: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** No more appends (close() in progress or done). */
  private closing = false;
  private closed = false;
  private killed = false;

  private healthyValue = true;
  private lastErrorValue: WalWriteError | null = null;
  private fatalError: WalWriteError | null = null;

  /** Bytes of records written since this writer started (all segments). */
  bytesWritten = 0;
  /** Number of batch writes issued (group-commit observability). */
  batches = 0;
  /** Wall-clock ms of the last successful fsync. */
  lastFsyncMs = 0;

  private constructor(opts: WalWriterOptions) {
    this.fs = opts.fs;
    this.dir = opts.dir;
    this.log = opts.logger ?? SILENT_LOGGER;
    this.policy = opts.appendfsync;
    this.segmentLimit = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.intervalMs = opts.fsyncIntervalMs ?? DEFAULT_INTERVAL_MS;
    this.retainLimit = opts.retainLimit ?? DEFAULT_RETAIN_LIMIT;
    this.onSegmentCreated = opts.onSegmentCreated;
    this.onFsync = opts.onFsync;
    this.nextSeqValue = opts.nextSeq;
    this.writtenSeqValue = opts.nextSeq - 1;
    this.syncedSeqValue = opts.nextSeq - 1;
  }

  /** Open the WAL for writing: resume the given segment, or create one starting at `nextSeq`. */
  static async create(opts: WalWriterOptions): Promise<WalWriter> {
    if (!Number.isSafeInteger(opts.nextSeq) || opts.nextSeq < 1) throw new RangeError(`bad nextSeq ${opts.nextSeq}`);
    const w = new WalWriter(opts);
    if (opts.resume) {
      const r = opts.resume;
      const file = await w.fs.open(nodePath.join(w.dir, r.file), 'r+');
      try {
        if ((await file.size()) !== r.size) await file.truncate(r.size);
        // What recovery read may still be only in the page cache: make it durable before adding to it.
        await file.datasync();
      } catch (err) {
        await file.close().catch(() => undefined);
        throw err;
      }
      w.file = file;
      w.segment = { file: r.file, firstSeq: r.firstSeq };
      w.offset = r.size;
      w.syncedOffset = r.size;
    } else {
      await w.openSegment(opts.nextSeq);
    }
    w.timer = setInterval(() => w.tick(), w.intervalMs);
    w.timer.unref();
    return w;
  }

  // ---- request path ---------------------------------------------------------

  /**
   * Frame `payload` as the next record and queue it; returns its sequence
   * number. Synchronous, no I/O: `commit()` makes it durable. The payload is
   * copied, the caller may reuse the buffer.
   */
  append(payload: Uint8Array): number {
    if (this.closing) throw new Error('WAL writer is closed');
    if (payload.length > MAX_RECORD_SIZE) throw new RangeError(`WAL record of ${payload.length} bytes exceeds ${MAX_RECORD_SIZE}`);
    const seq = this.nextSeqValue++;
    this.queue.push(encodeFrame(seq, payload));
    return seq;
  }

  /**
   * Resolves when every record appended before this call is durable per the
   * policy. Rejects with a `WalWriteError` if its batch could not be written
   * (`fatal` when the process must stop).
   */
  commit(): Promise<void> {
    return this.waitFor(this.nextSeqValue - 1, false);
  }

  /** Like `commit`, but also fsyncs whatever the policy (graceful shutdown, tests). */
  flush(): Promise<void> {
    return this.waitFor(this.nextSeqValue - 1, true);
  }

  /**
   * Start a new segment at the current end of the log. The cut is taken
   * synchronously: records appended before this call go to the old segment
   * (written and fsynced before the switch), records appended after it go to
   * the new one. Resolves with the new segment's first sequence number (the
   * snapshot cut). If the current segment holds no record yet it is reused.
   */
  rotate(): Promise<number> {
    if (this.closing) return Promise.reject(new Error('WAL writer is closed'));
    const cut = this.nextSeqValue;
    return new Promise<number>((resolve, reject) => {
      this.rotations.push({ cut, resolve, reject });
      this.kick();
    });
  }

  // ---- state -------------------------------------------------------------------

  get appendfsync(): Appendfsync {
    return this.policy;
  }

  /** Switch the fsync policy at run time (CONFIG SET appendfsync). */
  setAppendfsync(policy: Appendfsync): void {
    this.policy = policy;
    if (this.waiters.length > 0) this.kick();
  }

  /** False while writes must be refused (`-MISCONF`). */
  get healthy(): boolean {
    return this.healthyValue;
  }

  /** The error that made the writer unhealthy (kept after recovery, for INFO). */
  get lastError(): WalWriteError | null {
    return this.lastErrorValue;
  }

  /** Set after a failed fsync under `always`: the process must stop. */
  get fatal(): WalWriteError | null {
    return this.fatalError;
  }

  /** The sequence number the next append gets. */
  get nextSeq(): number {
    return this.nextSeqValue;
  }

  /** Last sequence number handed to the kernel. */
  get writtenSeq(): number {
    return this.writtenSeqValue;
  }

  /** Last sequence number known to be on stable storage. */
  get syncedSeq(): number {
    return this.syncedSeqValue;
  }

  get currentSegment(): WalSegmentRef & { size: number } {
    return { ...this.segment, size: this.offset };
  }

  /**
   * Try to become healthy again: rewrite what an earlier failure may have
   * lost, write queued records, fsync. True when that all succeeded.
   */
  async probe(): Promise<boolean> {
    if (this.running) await this.running;
    if (this.fatalError || this.killed) return false;
    if (!this.healthyValue || this.queue.length > 0) {
      this.kick();
      if (this.running) await this.running;
    }
    return this.healthyValue;
  }

  /** Graceful close: write everything, fsync, close the segment. Throws if that failed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    let failure: unknown = null;
    try {
      await this.waitFor(this.nextSeqValue - 1, true);
    } catch (err) {
      failure = err;
    }
    this.closed = true;
    this.stopTimer();
    if (this.running) await this.running;
    if (this.bgSync) await this.bgSync;
    for (const r of this.rotations.splice(0)) r.reject(new Error('WAL writer closed'));
    if (this.file) {
      const f = this.file;
      this.file = null;
      try {
        await f.close();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
  }

  /**
   * Simulate a crash (tests): stop timers, drop everything queued, close the
   * file without writing or syncing anything more.
   */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    this.closing = true;
    this.closed = true;
    this.stopTimer();
    const err = new Error('WAL writer killed');
    for (const w of this.waiters.splice(0)) w.reject(err);
    for (const r of this.rotations.splice(0)) r.reject(err);
    this.queue = [];
    if (this.running) await this.running;
    if (this.bgSync) await this.bgSync;
    const f = this.file;
    this.file = null;
    // The simulated process is gone: a close error has nobody to report to.
    if (f) await f.close().catch(() => undefined);
  }

  // ---- the flush loop ---------------------------------------------------------

  private waitFor(seq: number, sync: boolean): Promise<void> {
    if (this.killed) return Promise.reject(new Error('WAL writer killed'));
    if (this.fatalError) return Promise.reject(this.fatalError);
    const w: Waiter = { seq, sync, resolve: () => undefined, reject: () => undefined };
    if (this.acked(w)) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('WAL writer is closed'));
    return new Promise<void>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
      this.waiters.push(w);
      this.kick();
    });
  }

  private acked(w: Waiter): boolean {
    return w.sync || this.policy === 'always' ? w.seq <= this.syncedSeqValue : w.seq <= this.writtenSeqValue;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.acked(w)) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private failWaiters(err: unknown): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (this.acked(w)) w.resolve();
      else w.reject(err);
    }
  }

  /**
   * Start the flush loop unless it runs. The start is deferred to the check
   * phase of the event loop (setImmediate), after the poll phase has
   * delivered every connection's data: all commands of one event-loop turn,
   * across connections, land in one batch (spec "Group commit").
   */
  private kick(): void {
    if (this.running || this.killed) return;
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run())
      .finally(() => {
        this.running = null;
        // A commit that arrived between the loop's last look and now must not be stranded.
        if (!this.killed && (this.rotations.length > 0 || this.waiters.some((w) => !this.acked(w)))) this.kick();
      });
  }

  /**
   * Drain the queue in batches. Makes at most one attempt at anything that
   * fails: on failure the pending commits reject and the loop stops; the next
   * commit, `probe()` or timer tick starts a new attempt.
   */
  private async run(): Promise<void> {
    try {
      if (!this.healthyValue && !this.fatalError) await this.repair();
      while (!this.killed) {
        if (this.fatalError || !this.healthyValue) {
          this.failWaiters(this.fatalError ?? this.lastErrorValue);
          const rs = this.rotations.splice(0);
          for (const r of rs) r.reject(this.fatalError ?? this.lastErrorValue);
          return;
        }
        const rot = this.rotations[0];
        if (rot && this.writtenSeqValue >= rot.cut - 1) {
          this.rotations.shift();
          if (this.segment.firstSeq === rot.cut) {
            rot.resolve(rot.cut);
          } else if (await this.switchSegment(rot.cut)) {
            rot.resolve(rot.cut);
          } else {
            rot.reject(this.lastErrorValue);
          }
          continue;
        }
        if (this.queue.length > 0) {
          if (this.offset >= this.segmentLimit && this.writtenSeqValue >= this.segment.firstSeq) {
            await this.switchSegment(this.writtenSeqValue + 1);
            continue;
          }
          const limit = rot ? rot.cut - 1 - this.writtenSeqValue : this.queue.length;
          const frames = this.queue.splice(0, Math.min(limit, this.queue.length));
          await this.writeBatch(frames);
          continue;
        }
        if (this.waiters.some((w) => !this.acked(w) && w.seq <= this.writtenSeqValue)) {
          await this.syncNow();
          continue;
        }
        this.settleWaiters();
        return;
      }
    } catch (err) {
      // Not an I/O error the loop models (those are handled above): a bug. Fail safe.
      this.log.error({ err }, 'WAL flush loop failed unexpectedly');
      this.markUnhealthy(err, 'flush', false);
      this.failWaiters(this.lastErrorValue);
    }
  }

  private async writeBatch(frames: Buffer[]): Promise<boolean> {
    const file = this.file!;
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes);
    const start = this.offset;
    const lastSeq = this.writtenSeqValue + frames.length;
    this.batches++;
    try {
      await writeAll(file, buf, start);
    } catch (err) {
      this.queue = frames.concat(this.queue);
      this.markUnhealthy(err, 'write', false);
      // Spec "Short writes": truncate back to the last complete record.
      try {
        await file.truncate(start);
      } catch (terr) {
        this.needsTruncate = true;
        this.log.error({ err: terr, file: this.segment.file, offset: start }, 'WAL: could not truncate a failed write; will retry before the next write');
      }
      return false;
    }
    this.offset += buf.length;
    this.writtenSeqValue = lastSeq;
    this.bytesWritten += buf.length;
    this.retain(start, buf);
    if (this.policy === 'always') return this.syncNow();
    this.settleWaiters();
    return true;
  }

  private retain(start: number, buf: Buffer): void {
    if (this.retainLost) return;
    if (this.retainedBytes + buf.length > this.retainLimit) {
      this.retained = [];
      this.retainedBytes = 0;
      this.retainLost = true;
      return;
    }
    this.retained.push({ start, buf });
    this.retainedBytes += buf.length;
  }

  private markSynced(upTo: number, seq: number): void {
    if (upTo > this.syncedOffset) this.syncedOffset = upTo;
    if (seq > this.syncedSeqValue) this.syncedSeqValue = seq;
    this.lastFsyncMs = Date.now();
    while (this.retained.length > 0 && this.retained[0]!.start + this.retained[0]!.buf.length <= this.syncedOffset) {
      this.retainedBytes -= this.retained.shift()!.buf.length;
    }
    if (this.retainLost && this.syncedOffset >= this.offset) this.retainLost = false;
    this.onFsync?.(this.syncedSeqValue);
  }

  private async syncNow(): Promise<boolean> {
    if (this.bgSync) await this.bgSync;
    if (!this.healthyValue) return false;
    const upTo = this.offset;
    const seq = this.writtenSeqValue;
    try {
      await this.file!.datasync();
    } catch (err) {
      this.markUnhealthy(err, 'fsync', this.policy === 'always');
      return false;
    }
    this.markSynced(upTo, seq);
    this.settleWaiters();
    return true;
  }

  private tick(): void {
    if (this.closed) return;
    if (!this.healthyValue) {
      if (!this.fatalError && !this.running) this.kick();
      return;
    }
    if (this.policy === 'everysec' && this.offset > this.syncedOffset && !this.bgSync) {
      this.bgSync = this.backgroundSync().finally(() => {
        this.bgSync = null;
      });
    }
  }

  /** The `everysec` fsync: runs alongside writes; never rejects. */
  private async backgroundSync(): Promise<void> {
    const file = this.file!;
    const upTo = this.offset;
    const seq = this.writtenSeqValue;
    try {
      await file.datasync();
    } catch (err) {
      if (!this.killed) this.markUnhealthy(err, 'fsync', false);
      return;
    }
    if (file === this.file) this.markSynced(upTo, seq);
  }

  /**
   * Become healthy again after a failure: remove a partial write, rewrite the
   * bytes written since the last good fsync (a failed fsync may have dropped
   * them from the page cache even though they read back fine), fsync.
   */
  private async repair(): Promise<boolean> {
    if (this.bgSync) await this.bgSync;
    const file = this.file!;
    try {
      if (!this.retainLost && this.retained.length > 0) {
        const start = this.retained[0]!.start;
        await file.truncate(start);
        this.needsTruncate = false;
        await writeAll(file, Buffer.concat(this.retained.map((r) => r.buf)), start);
      } else if (this.needsTruncate) {
        await file.truncate(this.offset);
        this.needsTruncate = false;
      }
      if (this.retainLost) {
        this.log.warn({ file: this.segment.file }, 'WAL: records written since the last fsync were too many to keep; after the failed fsync they may not survive a power loss');
      }
      await file.datasync();
    } catch (err) {
      this.markUnhealthy(err, 'recovery', false);
      return false;
    }
    this.markSynced(this.offset, this.writtenSeqValue);
    this.retained = [];
    this.retainedBytes = 0;
    this.healthyValue = true;
    this.log.info({ file: this.segment.file }, 'WAL writes succeed again; accepting writes');
    return true;
  }

  private markUnhealthy(err: unknown, op: string, fatal: boolean): void {
    const msg = `WAL ${op} failed on ${this.segment.file}: ${describeError(err)}`;
    this.lastErrorValue = new WalWriteError(msg, err, fatal);
    this.healthyValue = false;
    if (fatal) {
      this.fatalError = this.lastErrorValue;
      this.log.error({ err, code: errnoCode(err), file: this.segment.file }, 'WAL fsync failed with appendfsync always: the process must stop');
    } else {
      this.log.error({ err, code: errnoCode(err), file: this.segment.file }, `WAL ${op} failed; refusing writes until the disk accepts them again`);
    }
  }

  /** Finish the current segment (fsync) and continue in a new one starting at `firstSeq`. */
  private async switchSegment(firstSeq: number): Promise<boolean> {
    if (this.bgSync) await this.bgSync;
    if (this.offset > this.syncedOffset || this.needsTruncate) {
      // Non-last segments must be complete on disk: a torn record there is "corruption", not a torn tail.
      if (!(await this.syncNow())) return false;
    }
    const old = this.file;
    try {
      await this.openSegment(firstSeq);
    } catch (err) {
      this.markUnhealthy(err, 'segment creation', false);
      return false;
    }
    if (old) {
      try {
        await old.close();
      } catch (err) {
        this.log.warn({ err }, 'WAL: closing the previous segment failed (it was fsynced)');
      }
    }
    return true;
  }

  /** Create `wal-<firstSeq>.log` with its header, durable (file and directory) before any record goes in. */
  private async openSegment(firstSeq: number): Promise<void> {
    const name = segmentFileName(firstSeq);
    const path = nodePath.join(this.dir, name);
    const file = await this.fs.open(path, 'wx');
    try {
      await writeAll(file, encodeSegmentHeader(firstSeq), 0);
      await file.datasync();
      await this.fs.syncDir(this.dir);
    } catch (err) {
      await file.close().catch(() => undefined);
      await this.fs.unlink(path).catch(() => undefined);
      throw err;
    }
    this.file = file;
    this.segment = { file: name, firstSeq };
    this.offset = SEGMENT_HEADER_SIZE;
    this.syncedOffset = SEGMENT_HEADER_SIZE;
    this.retained = [];
    this.retainedBytes = 0;
    this.retainLost = false;
    this.needsTruncate = false;
    if (this.onSegmentCreated) {
      try {
        await this.onSegmentCreated({ file: name, firstSeq });
      } catch (err) {
        // Recovery accepts a contiguous segment the manifest does not list yet.
        this.log.warn({ err, file: name }, 'WAL: recording the new segment in the manifest failed');
      }
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}


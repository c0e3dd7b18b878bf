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
 *
 * Disk space (issue "nothing is half-written"): a record is applied by the
 * server before it is written here, so a write that fails for want of space
 * would leave a change in memory that was never logged. The writer therefore
 * keeps `reserve` bytes preallocated (zero-filled) past the write position and
 * `refusal(bytes)` admits a record only when it fits in what is reserved:
 * writing into space the file already owns does not meet ENOSPC on ordinary
 * (non copy-on-write) file systems. The reserve is topped up after batches,
 * off the request path; when it cannot be, the writer refuses every write
 * (`disk-full`) until a retry succeeds. Readers take a zero-filled tail as the
 * clean end of the log; `close()` trims it.
 *
 * A segment deleted under the writer (link count 0, checked with each batch
 * and each interval) turns it `lost`: writes are refused, commits of records
 * that went into the deleted file are held, and the owner must take a snapshot
 * (`rotate()` then opens a fresh segment at the cut; `reestablished(cut)` once
 * the snapshot is committed releases the held commits).
 */
import * as nodePath from 'node:path';
import type { Fs, FsFile } from './fs.js';
import { writeAll } from './fs.js';
import { StoreUnwritableError, WalWriteError, describeError, errnoCode } from './errors.js';
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
  resume?: WalSegmentRef & {
    size: number;
    /** File size when everything from `size` on was found to be zeros (preallocated, never written): kept as reserve. */
    allocated?: number;
  };
  /** Rotate to a new segment once the current one reaches this many bytes. Default 64 MiB. */
  segmentSize?: number;
  /** The `everysec` fsync interval, also the retry interval when unhealthy. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Bytes written since the last good fsync kept for a rewrite after a failed fsync. Default 64 MiB. */
  retainLimit?: number;
  /**
   * Disk space kept preallocated ahead of the write position, so that writing
   * an admitted record cannot fail for want of space. 0 turns it off.
   * Default 4 MiB (at most the segment size).
   */
  reserve?: number;
  /** Called when the segment being written is found deleted: take a snapshot to re-establish durability. */
  onLost?: (segment: WalSegmentRef) => void;
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
const DEFAULT_RESERVE = 4 << 20;
const ZERO_CHUNK = 1 << 20;
let zeroChunk: Buffer | null = null;

/** Space reserved for a segment cannot be had: ENOSPC/EDQUOT say "full", anything else is an I/O failure. */
function isNoSpace(err: unknown): boolean {
  const c = errnoCode(err);
  return c === 'ENOSPC' || c === 'EDQUOT';
}

export class WalWriter {
  private readonly fs: Fs;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly segmentLimit: number;
  private readonly intervalMs: number;
  private readonly retainLimit: number;
  private readonly onSegmentCreated: ((s: WalSegmentRef) => Promise<void>) | undefined;
  private readonly onFsync: ((syncedSeq: number) => void) | undefined;
  private readonly onLost: ((s: WalSegmentRef) => void) | undefined;
  private readonly reserveTarget: number;
  private policy: Appendfsync;

  private file: FsFile | null = null;
  private segment: WalSegmentRef = { file: '', firstSeq: 0 };
  /** End of the last complete record written to the current segment. */
  private offset = 0;
  /** Offset covered by the last successful fsync of the current segment. */
  private syncedOffset = 0;
  /** End of the space the current segment owns (records, then preallocated zeros). */
  private allocEnd = 0;
  /** Bytes of records appended and not yet written (queued or in flight). */
  private pendingBytes = 0;
  /** The reserve could not be topped up: writes are refused until a retry succeeds. */
  private reserveError: WalWriteError | null = null;
  /** The interval asked for another try at the reserve. */
  private reserveRetry = false;
  /** A record refused for want of reserved space needs this many bytes: reserve them for its retry. */
  private wantReserve = 0;
  /** No size-triggered rotation before this time (a new segment could not be created). */
  private rotateRetryAt = 0;
  private linkCheck: Promise<void> | null = null;
  /** Why the last segment switch failed, when the writer itself is fine. */
  private switchError: WalWriteError | null = null;
  /** The segment being written was deleted; until a snapshot re-establishes durability, writes are refused. */
  private lostValue = false;
  /** The current file is the deleted one (no fresh segment opened yet). */
  private orphan = false;
  /** While lost, commits of records from this sequence number on are held. */
  private heldFrom = Infinity;

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
    this.onLost = opts.onLost;
    this.reserveTarget = Math.max(0, opts.reserve ?? Math.min(DEFAULT_RESERVE, this.segmentLimit));
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
      let allocated = r.size;
      try {
        const size = await file.size();
        // Zeros recovery verified past the last record are reserve already owned: keep them (the disk may be full).
        if (r.allocated !== undefined && r.allocated > r.size && size === r.allocated) allocated = size;
        else if (size !== r.size) await file.truncate(r.size);
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
      w.allocEnd = allocated;
      if (w.needsExtension()) await w.extend();
    } else {
      await w.openSegment(opts.nextSeq, 0);
    }
    // A throw from a timer would end the process: the tick's failures are the writer's state, logged, never thrown.
    w.timer = setInterval(() => { try { w.tick(); } catch (e) { w.log.error({ err: e }, 'WAL timer failed'); } }, w.intervalMs);
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
    const frame = encodeFrame(seq, payload);
    this.queue.push(frame);
    this.pendingBytes += frame.length;
    return seq;
  }

  /**
   * Why a record of `bytes` (framed size; 0: any write at all) must not be
   * appended now, or null. Asked before the change is applied, so a refusal
   * leaves nothing to undo; an admitted record fits in space already reserved.
   */
  refusal(bytes = 0): StoreUnwritableError | null {
    if (this.fatalError) return new StoreUnwritableError('write-failed', this.fatalError.message, this.fatalError);
    if (this.lostValue) return new StoreUnwritableError('wal-deleted', this.lastErrorValue?.message ?? 'the WAL segment was deleted', this.lastErrorValue);
    if (!this.healthyValue) return new StoreUnwritableError('write-failed', this.lastErrorValue?.message ?? 'WAL write failed', this.lastErrorValue);
    if (this.reserveTarget === 0 || this.closing) return null;
    if (this.reserveError) {
      return new StoreUnwritableError(isNoSpace(this.reserveError.cause) ? 'disk-full' : 'write-failed', this.reserveError.message, this.reserveError);
    }
    const free = this.freeBytes;
    if (bytes > free) {
      this.wantReserve = Math.max(this.wantReserve, bytes);
      this.kick();
      // A record larger than the whole reserve (a big MULTI/EXEC or HTTP batch) would be
      // refused on every retry: admit it while the disk is healthy and let the writer reserve
      // for it before writing (it then loses only the ENOSPC-before-apply guarantee).
      if (bytes > this.reserveTarget) return null;
      return new StoreUnwritableError('reserving', `this write needs ${bytes} bytes of WAL space and ${Math.max(0, free)} are reserved; reserving more`);
    }
    return null;
  }

  /** Reserved space not yet promised to an appended record. */
  private get freeBytes(): number {
    return this.allocEnd - this.offset - this.pendingBytes;
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

  /** False after a failed write or fsync, or while the segment is lost, until recovered. */
  get healthy(): boolean {
    return this.healthyValue;
  }

  /** The segment being written was deleted and no snapshot has re-established durability yet. */
  get lost(): boolean {
    return this.lostValue;
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
    if (this.fatalError || this.killed || this.lostValue) return false;
    if (!this.healthyValue || this.queue.length > 0 || this.reserveError) {
      this.reserveRetry = true;
      this.kick();
      if (this.running) await this.running;
    }
    return this.healthyValue && !this.reserveError;
  }

  /**
   * After `lost`: a snapshot at `cut` (a `rotate()` made while lost) is
   * committed, so every record before it is durable again. Releases the held
   * commits and accepts writes.
   */
  reestablished(cut: number): void {
    if (!this.lostValue || this.orphan || this.segment.firstSeq > cut) return;
    this.lostValue = false;
    this.heldFrom = Infinity;
    this.healthyValue = true;
    if (cut - 1 > this.writtenSeqValue) this.writtenSeqValue = cut - 1;
    if (cut - 1 > this.syncedSeqValue) this.syncedSeqValue = cut - 1;
    this.settleWaiters();
    this.log.info({ file: this.segment.file, cut }, 'WAL: a snapshot re-established durability after the segment was deleted; accepting writes');
    if (this.queue.length > 0 || this.waiters.length > 0) this.kick();
  }

  /**
   * Closing while lost: commits still held can no longer be made durable.
   * (A failed snapshot does not get here: held commits wait for the next one,
   * as their writes are already applied and visible.)
   */
  private failHeld(err: unknown): void {
    if (!this.lostValue) return;
    const e = new WalWriteError(`${this.lastErrorValue?.message ?? 'the WAL segment was deleted'}, and no snapshot replaced it before ${describeError(err)}`, err, false);
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (this.acked(w)) w.resolve();
      else w.reject(e);
    }
  }

  /** Graceful close: write everything, fsync, close the segment. Throws if that failed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    let failure: unknown = null;
    if (this.lostValue) this.failHeld(new Error('the store closed'));
    try {
      await this.waitFor(this.nextSeqValue - 1, true);
    } catch (err) {
      failure = err;
    }
    this.closed = true;
    this.stopTimer();
    if (this.running) await this.running;
    if (this.bgSync) await this.bgSync;
    if (this.linkCheck) await this.linkCheck;
    for (const r of this.rotations.splice(0)) r.reject(new Error('WAL writer closed'));
    if (this.file) {
      const f = this.file;
      this.file = null;
      // A cleanly closed segment ends at its last record; the reserve is only for a running writer.
      if (!failure && this.allocEnd > this.offset && !this.needsTruncate) {
        try {
          await f.truncate(this.offset);
        } catch (err) {
          this.log.warn({ err, file: this.segment.file }, 'WAL: could not trim the preallocated tail at close (harmless: readers skip it)');
        }
      }
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
    this.pendingBytes = 0;
    if (this.running) await this.running;
    if (this.bgSync) await this.bgSync;
    if (this.linkCheck) await this.linkCheck;
    const f = this.file;
    this.file = null;
    // The simulated process is gone: a close error has nobody to report to.
    if (f) await f.close().catch(() => undefined);
  }

  // ---- the flush loop ---------------------------------------------------------

  private waitFor(seq: number, sync: boolean): Promise<void> {
    if (this.killed) return Promise.reject(new Error('WAL writer killed'));
    if (this.fatalError) return Promise.reject(this.fatalError);
    if (this.lostValue && seq >= this.heldFrom && (sync || this.closing)) return Promise.reject(this.lastErrorValue);
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
    // Written into the deleted segment: durable only once the snapshot that replaces it is committed.
    if (w.seq >= this.heldFrom) return false;
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
      else if (w.seq >= this.heldFrom) this.waiters.push(w);
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
      if (!this.healthyValue && !this.fatalError && !this.lostValue) await this.repair();
      while (!this.killed) {
        if (this.lostValue) {
          await this.runLost();
          return;
        }
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
            rot.reject(this.switchError ?? this.lastErrorValue);
          }
          continue;
        }
        if (this.queue.length > 0) {
          if (this.offset >= this.segmentLimit && this.writtenSeqValue >= this.segment.firstSeq && Date.now() >= this.rotateRetryAt) {
            // On failure the records go on into the current segment, whose reserve holds them.
            if (!(await this.switchSegment(this.writtenSeqValue + 1))) this.rotateRetryAt = Date.now() + this.intervalMs;
            continue;
          }
          const limit = rot ? rot.cut - 1 - this.writtenSeqValue : this.queue.length;
          const frames = this.queue.splice(0, Math.min(limit, this.queue.length));
          let bytes = 0;
          for (const f of frames) bytes += f.length;
          if (this.reserveTarget > 0 && this.offset + bytes > this.allocEnd) {
            // Not admitted through refusal() (a caller that does not ask): reserve first, so a full disk fails here, before the write.
            this.log.warn({ bytes, reserved: this.allocEnd - this.offset }, 'WAL: records beyond the reserved space; reserving before writing them');
            await this.extend(this.offset + bytes - this.allocEnd + this.reserveTarget);
          }
          // The batch's replies are released inside writeBatch; topping up the reserve after it
          // delays only the next batch, and under steady load this is the only point it runs.
          if ((await this.writeBatch(frames)) && this.needsExtension()) await this.extend();
          continue;
        }
        if (this.waiters.some((w) => !this.acked(w) && w.seq <= this.writtenSeqValue && w.seq < this.heldFrom)) {
          await this.syncNow();
          continue;
        }
        this.settleWaiters();
        if (this.needsExtension()) await this.extend();
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
    let links: number | null = null;
    try {
      // The link count is read alongside the write: a deleted segment is noticed before this batch is acknowledged.
      const [, n] = await Promise.all([writeAll(file, buf, start), this.linkCount(file)]);
      links = n;
    } catch (err) {
      this.queue = frames.concat(this.queue);
      this.markUnhealthy(err, 'write', false);
      // Spec "Short writes": truncate back to the last complete record.
      try {
        await file.truncate(start);
        this.allocEnd = start;
      } catch (terr) {
        this.needsTruncate = true;
        this.log.error({ err: terr, file: this.segment.file, offset: start }, 'WAL: could not truncate a failed write; will retry before the next write');
      }
      return false;
    }
    this.offset += buf.length;
    if (this.offset > this.allocEnd) this.allocEnd = this.offset;
    this.pendingBytes -= buf.length;
    this.writtenSeqValue = lastSeq;
    this.bytesWritten += buf.length;
    this.retain(start, buf);
    if (links === 0 && file === this.file) {
      this.segmentDeleted(lastSeq - frames.length + 1);
      return false;
    }
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
    if (this.closed || this.lostValue) return;
    if (!this.healthyValue) {
      if (!this.fatalError && !this.running) this.kick();
      return;
    }
    if (this.reserveError && !this.running) {
      this.reserveRetry = true;
      this.kick();
    }
    if (this.policy === 'everysec' && this.offset > this.syncedOffset && !this.bgSync) {
      this.bgSync = this.backgroundSync().finally(() => {
        this.bgSync = null;
      });
    }
    // Also while idle: a deleted segment must refuse the next write, not acknowledge it.
    const file = this.file;
    if (file && !this.linkCheck) {
      this.linkCheck = this.linkCount(file)
        .then((n) => {
          if (n === 0 && file === this.file && !this.closed && !this.lostValue) this.segmentDeleted(this.writtenSeqValue + 1);
        })
        .finally(() => {
          this.linkCheck = null;
        });
    }
  }

  /** The file's link count, or null when it cannot be read (not worth failing writes over). */
  private async linkCount(file: FsFile): Promise<number | null> {
    if (!file.links) return null;
    try {
      return await file.links();
    } catch {
      return null;
    }
  }

  /** The segment being written has no name left: whatever goes into it is lost at the next restart. */
  private segmentDeleted(heldFrom: number): void {
    if (this.lostValue) return;
    this.lostValue = true;
    this.orphan = true;
    this.heldFrom = heldFrom;
    this.healthyValue = false;
    const cause = Object.assign(new Error(`${nodePath.join(this.dir, this.segment.file)} was deleted while in use`), { code: 'ENOENT' });
    this.lastErrorValue = new WalWriteError(`WAL segment ${this.segment.file} was deleted while in use`, cause, false);
    this.log.error(
      { file: this.segment.file, heldFrom },
      'WAL: the segment being written was deleted; refusing writes until a snapshot re-establishes durability',
    );
    this.onLost?.({ ...this.segment });
  }

  /**
   * The loop while lost: only rotations are served. Records before the cut
   * are not written (the snapshot at the cut holds them); the new segment
   * starts at the cut.
   */
  private async runLost(): Promise<void> {
    if (this.bgSync) await this.bgSync;
    while (!this.killed && this.rotations.length > 0) {
      const rot = this.rotations.shift()!;
      const drop = Math.max(0, Math.min(this.queue.length, rot.cut - 1 - this.writtenSeqValue));
      for (const f of this.queue.splice(0, drop)) this.pendingBytes -= f.length;
      if (rot.cut - 1 > this.writtenSeqValue) this.writtenSeqValue = rot.cut - 1;
      if (!this.orphan && this.segment.firstSeq === rot.cut) {
        rot.resolve(rot.cut);
        continue;
      }
      const old = this.file;
      try {
        await this.fs.mkdir(this.dir); // the whole directory may have been removed
        await this.openSegment(rot.cut, this.pendingBytes);
      } catch (err) {
        this.log.error({ err }, 'WAL: could not open a new segment to replace the deleted one');
        rot.reject(new WalWriteError(`could not open a new WAL segment: ${describeError(err)}`, err, false));
        continue;
      }
      this.orphan = false;
      if (old) await old.close().catch(() => undefined);
      rot.resolve(rot.cut);
    }
  }

  private needsExtension(): boolean {
    if (this.reserveTarget === 0 || !this.file || this.closed) return false;
    if (this.reserveError && !this.reserveRetry) return false;
    const free = this.freeBytes;
    return free < this.reserveTarget / 2 || this.wantReserve > free || (this.reserveError !== null && free < this.reserveTarget);
  }

  /**
   * Top the reserve up to its target (or to what a refused record asked for),
   * writing zeros past the end of the current segment. On failure writes are
   * refused (`disk-full`) unless only an oversized request could not be met.
   */
  private async extend(minBytes = 0): Promise<boolean> {
    const file = this.file;
    if (!file) return false;
    this.reserveRetry = false;
    const free = this.freeBytes;
    const want = Math.max(minBytes, this.reserveTarget - free, this.wantReserve + this.reserveTarget / 2 - free);
    // Only an oversized request is at stake when the ordinary reserve is still there.
    const forOversized = this.wantReserve > free && free >= this.reserveTarget / 2 && minBytes === 0 && this.reserveError === null;
    this.wantReserve = 0;
    if (want <= 0) return true;
    const bytes = Math.ceil(want / 4096) * 4096;
    const r = await this.fill(file, this.allocEnd, bytes);
    if (file !== this.file) return false;
    this.allocEnd += r.done;
    if (r.err) {
      if (forOversized) {
        this.log.warn({ err: r.err, bytes }, 'WAL: could not reserve space for an oversized write (refused); the normal reserve is intact');
        return true;
      }
      const first = this.reserveError === null;
      this.reserveError = new WalWriteError(`no space to reserve for the WAL in ${this.segment.file}: ${describeError(r.err)}`, r.err, false);
      if (first) {
        this.log.error({ err: r.err, code: errnoCode(r.err), file: this.segment.file }, 'WAL: cannot reserve disk space; refusing writes until space is freed');
      }
      return false;
    }
    if (this.reserveError) {
      this.reserveError = null;
      this.log.info({ file: this.segment.file }, 'WAL: disk space reserved again; accepting writes');
    }
    return true;
  }

  /** Write `bytes` zeros at `at`; how many landed, and the error that stopped it. */
  private async fill(file: FsFile, at: number, bytes: number): Promise<{ done: number; err: unknown }> {
    zeroChunk ??= Buffer.alloc(ZERO_CHUNK);
    let done = 0;
    while (done < bytes) {
      const n = Math.min(ZERO_CHUNK, bytes - done);
      try {
        await writeAll(file, zeroChunk.subarray(0, n), at + done);
      } catch (err) {
        const landed = (err as { bytesWritten?: unknown }).bytesWritten;
        return { done: done + (typeof landed === 'number' ? landed : 0), err };
      }
      done += n;
    }
    return { done, err: null };
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
        this.allocEnd = start;
        this.needsTruncate = false;
        await writeAll(file, Buffer.concat(this.retained.map((r) => r.buf)), start);
        this.allocEnd = Math.max(this.allocEnd, this.offset);
      } else if (this.needsTruncate) {
        await file.truncate(this.offset);
        this.allocEnd = this.offset;
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
    this.switchError = null;
    if (this.bgSync) await this.bgSync;
    if (this.offset > this.syncedOffset || this.needsTruncate) {
      // Non-last segments must be complete on disk: a torn record there is "corruption", not a torn tail.
      if (!(await this.syncNow())) return false;
    }
    const old = this.file;
    const oldEnd = this.offset;
    const oldName = this.segment.file;
    try {
      // The new segment must hold the records already queued for it before it takes over.
      await this.openSegment(firstSeq, this.pendingBytes);
    } catch (err) {
      // The current segment goes on (its reserve holds what is queued); only the rotation fails.
      this.switchError = new WalWriteError(`could not start WAL segment ${segmentFileName(firstSeq)}: ${describeError(err)}`, err, false);
      this.log.warn({ err, firstSeq }, 'WAL: could not start a new segment; continuing in the current one');
      return false;
    }
    if (old) {
      // Only the segment being written keeps a reserve; a finished one ends at its last record.
      try {
        await old.truncate(oldEnd);
      } catch (err) {
        this.log.warn({ err, file: oldName }, 'WAL: could not trim the previous segment (harmless: readers skip its zero tail)');
      }
      try {
        await old.close();
      } catch (err) {
        this.log.warn({ err }, 'WAL: closing the previous segment failed (it was fsynced)');
      }
    }
    return true;
  }

  /**
   * Create `wal-<firstSeq>.log` with its header, durable (file and directory)
   * before any record goes in, and its reserve. `need` bytes (records already
   * queued for it) must fit or the segment is not used; short of the full
   * reserve, it is used and writes are refused until more is had.
   */
  private async openSegment(firstSeq: number, need: number): Promise<void> {
    const name = segmentFileName(firstSeq);
    const path = nodePath.join(this.dir, name);
    const file = await this.fs.open(path, 'wx');
    let allocated = SEGMENT_HEADER_SIZE;
    let shortOfReserve: unknown = null;
    try {
      await writeAll(file, encodeSegmentHeader(firstSeq), 0);
      if (this.reserveTarget > 0) {
        const r = await this.fill(file, SEGMENT_HEADER_SIZE, Math.ceil((need + this.reserveTarget) / 4096) * 4096);
        allocated += r.done;
        if (r.err) {
          if (r.done < need) throw r.err;
          shortOfReserve = r.err;
        }
      }
      // The reserve's allocation becomes durable with the header: later fdatasyncs of records
      // inside it have no file size to update.
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
    this.allocEnd = allocated;
    if (shortOfReserve) {
      this.reserveError = new WalWriteError(`no space to reserve for the WAL in ${name}: ${describeError(shortOfReserve)}`, shortOfReserve, false);
      this.log.error({ err: shortOfReserve, file: name }, 'WAL: cannot reserve disk space; refusing writes until space is freed');
    } else if (this.reserveTarget > 0 && this.reserveError) {
      this.reserveError = null;
      this.log.info({ file: name }, 'WAL: disk space reserved again; accepting writes');
    }
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


/**
 * Giving memory back once a busy period is over (MEMORY PURGE does the same on demand).
 *
 * Three things keep the resident size at a burst's peak long after the burst:
 * - V8's young generation grows to 32 MiB under a stream of commands and stays
 *   there: V8 shrinks it only in a GC meant to reduce memory, which its own
 *   memory reducer starts only after seconds without any JavaScript running,
 *   and a server's timers always run;
 * - glibc keeps freed pages in its arenas (request buffers, replies, index
 *   growth copies) and returns them only on malloc_trim;
 * - a large Buffer nobody references (a snapshot read at start, a bulk reply)
 *   is freed only when V8 next collects, and an idle server allocates nothing
 *   that would make it collect.
 * At 100 k × 128 vectors that was about 45 % of the set's own size after an
 * ingest, and the whole snapshot file after a restart (bench/scale.ts). The
 * reclaimer looks once a second: QUIET_TICKS quiet seconds in a row after
 * activity (a busy second, the end of loading, or RSS moving by 16 MiB) start
 * one memory-reducing GC and trim malloc a second later, at most every 10 s.
 *
 * Not the first quiet second: a memory-reducing GC also makes V8 throw away
 * optimized code of the request path (`--trace-deopt`: 22-24 functions,
 * "weak objects": the parser, dispatcher, encoder, Node's stream and timer
 * internals), so the next burst starts unoptimized while TurboFan recompiles
 * (~70 ms of a core). With bursts a second or two apart that happened every
 * 10 s: redis-benchmark's PING -P 16 p99 read 4.4-4.9 ms in the runs right
 * after a reclaim, 1.3-2.9 ms in the others.
 *
 * That first reclaim comes too early for what the burst's last commands still
 * held (their arguments, the last read chunks, replies on their way out): at
 * 100 k x 128 about 13 MB of V8 heap and the malloc behind its Buffers, 25-38
 * bytes per vector, which an idle server then never collects. So once the
 * server has been quiet for SETTLE_MS (jemalloc's default decay time, after
 * which Redis's allocator gives dirty pages back too) it makes one more, full,
 * reclaim. Not sooner: it shrinks the young generation, and a burst that
 * follows within seconds regrows it (15-20 % off a short ingest when this came
 * 2 s after the first). A quiet server is left alone after that; a busy one
 * never pays the GC (its young generation is in use).
 */
import { mallocFreeBytes, reduceHeap, trimMemory } from '../engine/native-index.js';

/** A second with at most this many commands is quiet. */
const QUIET_COMMANDS = 100;
/** Quiet seconds in a row before the automatic reclaim: the burst is over, not pausing. */
const QUIET_TICKS = 5;
/** RSS moving this much without commands (loading, a big free) also calls for a reclaim. */
const RSS_MOVED = 16 << 20;
/** Automatic reclaims at most this often (RSS keeps moving during a BGSAVE, for one). */
const MIN_INTERVAL_MS = 10_000;
/** Free bytes in malloc from which a trim is worth walking the arenas. */
const FREE_WORTH_TRIMMING = 4 << 20;
/** Quiet time after activity before the settling reclaim (see above). */
const SETTLE_MS = 10_000;

export class MemoryReclaimer {
  reclaims = 0;
  /** Milliseconds the last reclaim held the event loop (starting the GC, or making it; the trim). */
  lastMs = 0;
  /** RSS the last reclaim gave back (may be negative if something else grew meanwhile). */
  lastFreedBytes = 0;
  private seen: number;
  /** Activity since the last reclaim. */
  private armed = false;
  private wasLoading = true;
  /** RSS after the last reclaim (or at start). */
  private settledRss = process.memoryUsage.rss();
  private lastAt = -Infinity;
  private rssBefore = 0;
  private trimDue = false;
  /** An automatic reclaim was made since the last activity, and the settling one is still to come. */
  private settleDue = false;
  private lastActive = performance.now();
  /** Quiet ticks since the last active one. */
  private quietTicks = 0;

  /**
   * `loading`: whether the server is still loading its data (the end of a load is activity).
   * `streaming`: whether a snapshot or a full sync is under way. No reclaim is made meanwhile:
   * the memory-reducing GC ends in a pause (up to ~30-40 ms seen at 100 k x 128 with
   * --trace-gc) that would land in the middle of the save, for buffers about to go anyway.
   * The end of one counts as activity.
   */
  constructor(
    private readonly commandsProcessed: () => number,
    private readonly loading: () => boolean,
    private readonly streaming: () => boolean = () => false,
    private readonly settleMs = SETTLE_MS,
    private readonly quietTicksNeeded = QUIET_TICKS,
  ) {
    this.seen = commandsProcessed();
  }

  /** Whether a trim is due at the next tick that is neither loading nor streaming. */
  get trimPending(): boolean { return this.trimDue; }

  /** Called once a second. */
  tick(): void {
    const loading = this.loading() || this.streaming();
    // The trim waits out a load or a save too: after a million inserts glibc's heap is in
    // pieces, and walking it (mallinfo2, then consolidating its free lists) took 13 ms of
    // the event loop, in the middle of the BGSAVE that followed the reclaim (1 M x 128).
    if (this.trimDue && !loading) this.finish();
    const n = this.commandsProcessed();
    const busy = n - this.seen > QUIET_COMMANDS;
    this.seen = n;
    const now = performance.now();
    if (busy || loading) { this.armed = true; this.wasLoading = loading; this.lastActive = now; this.quietTicks = 0; return; }
    this.quietTicks++;
    if (this.wasLoading) { this.wasLoading = false; this.armed = true; }
    if (Math.abs(process.memoryUsage.rss() - this.settledRss) >= RSS_MOVED) this.armed = true;
    if (this.armed && this.quietTicks >= this.quietTicksNeeded && now - this.lastAt >= MIN_INTERVAL_MS) {
      this.armed = false;
      this.settleDue = true;
      this.reclaim(false);
      return;
    }
    if (this.settleDue && now - Math.max(this.lastActive, this.lastAt) >= this.settleMs) {
      this.settleDue = false;
      this.reclaim(true);
    }
  }

  /**
   * Reclaim: `now` (MEMORY PURGE) collects and trims at once; the automatic one starts V8's
   * incremental memory-reducing GC, which marks in small steps instead of stopping the loop
   * for two full collections (~25 ms measured with a 10 MB heap), and trims at the next tick,
   * once what that GC freed is back in malloc.
   */
  reclaim(now: boolean): void {
    this.lastAt = performance.now();
    this.rssBefore = process.memoryUsage.rss();
    this.reclaims++;
    reduceHeap(now);
    this.lastMs = performance.now() - this.lastAt;
    if (now) this.finish(); else this.trimDue = true;
  }

  private finish(): void {
    this.trimDue = false;
    const start = performance.now();
    // Skipped while engine jobs run on the pool: tried again at the next quiet second.
    if (mallocFreeBytes() >= FREE_WORTH_TRIMMING && !trimMemory()) this.armed = true;
    this.lastMs += performance.now() - start;
    this.settledRss = process.memoryUsage.rss();
    this.lastFreedBytes = this.rssBefore - this.settledRss;
  }
}

/**
 * The active expire cycle: reclaims keys past their deadline that nobody
 * reads (lookups reclaim the others, keyspace.ts). Redis's algorithm
 * (activeExpireCycle), fitted to one event loop: each tick walks the keys
 * that have a deadline, 20 at a time per database, and goes on with a
 * database while more than a quarter of the last 20 had expired. A tick never
 * works longer than SLICE_MS; when it stops for that reason the next one
 * comes after a millisecond instead of a tenth of a second, so a mass expiry
 * proceeds at full speed in short slices with clients served in between.
 *
 * Instead of Redis's random samples the walk is a live iterator over each
 * database's deadlines, resumed where the last tick left it: every key is
 * looked at once per pass, so none waits on luck.
 */
import { performance } from 'node:perf_hooks';
import type { Database, Keyspace } from '../engine/keyspace.js';
import type { Logger } from '../log.js';
import { safeTimeout } from './guard.js';

/** Keys looked at per round and database (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP). */
const KEYS_PER_ROUND = 20;
/** Work per tick: a client waits at most this long for it, plus a young-generation GC it may run into. */
const SLICE_MS = 1;
/** Between ticks when the last one finished its work (Redis's hz 10). */
const IDLE_MS = 100;
/** Between ticks when the last one ran out of time. */
const BUSY_MS = 1;

export class ExpireCycle {
  private timer: NodeJS.Timeout | null = null;
  private readonly cursors = new Map<Database, Iterator<string>>();
  /** Where the next tick starts, so a tick cut short does not starve the later databases. */
  private nextDb = 0;

  constructor(
    private readonly keyspace: Keyspace,
    private readonly log: Logger,
    private readonly paused: () => boolean,
    /** Runs a tick so that the DELs it logs make one WAL record (Dispatcher.propagating). */
    private readonly batched: (tick: () => boolean) => boolean = (tick) => tick(),
  ) {}

  start(): void {
    if (this.timer) return;
    this.schedule(IDLE_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.timer = safeTimeout(this.log, 'active expire cycle', ms, () => {
      let busy = false;
      try { busy = this.batched(() => this.tick()); } finally { if (this.timer) this.schedule(busy ? BUSY_MS : IDLE_MS); }
    });
  }

  /** One tick; true when it ran out of time with work left. */
  tick(deadlineMs = SLICE_MS): boolean {
    if (this.paused()) return false;
    const start = performance.now();
    const dbs = this.keyspace.dbs;
    for (let n = 0; n < dbs.length; n++) {
      const i = (this.nextDb + n) % dbs.length;
      const db = dbs[i];
      if (db.expiresCount === 0) { this.cursors.delete(db); continue; }
      for (;;) {
        let sampled = 0, expired = 0, wrapped = false;
        while (sampled < KEYS_PER_ROUND) {
          let it = this.cursors.get(db);
          if (!it) { it = db.expiring(); this.cursors.set(db, it); }
          const r = it.next();
          if (r.done) {
            // A pass is over: the next round starts a fresh one (the old iterator may predate a snapshot's freeze).
            this.cursors.delete(db);
            wrapped = true;
            break;
          }
          sampled++;
          // expireIfNeeded reads the key's current deadline (the walk carries keys only: no pair allocated per step).
          if (db.expireIfNeeded(r.value)) expired++;
        }
        if (performance.now() - start >= deadlineMs) {
          this.nextDb = i;
          return true;
        }
        if (wrapped || expired * 4 <= sampled) break;
      }
    }
    this.nextDb = 0;
    return false;
  }
}

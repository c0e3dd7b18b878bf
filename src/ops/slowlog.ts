/**
 * The operator's record of slow commands: SLOWLOG entries (Redis's shape and
 * trimming rules) and LATENCY events (per event, the latest spike and a
 * per-second history). Both are fed from the dispatcher's one `slowlog` hook,
 * called with the duration of every executed command.
 */

/** Redis keeps at most this many arguments per entry, the last one replaced by a count. */
const MAX_ARGC = 32;
/** …and this many bytes per argument. */
const MAX_ARG_BYTES = 128;
/** LATENCY HISTORY keeps one sample per second for this many seconds, as Redis does. */
const HISTORY_LEN = 160;

export interface SlowLogEntry {
  id: number;
  /** Unix time, seconds, at which the command finished. */
  time: number;
  /** Microseconds. */
  duration: number;
  argv: Buffer[];
  addr: string;
  name: string;
}

export class SlowLog {
  /** Newest first, cut (see `entries`). */
  private list: SlowLogEntry[] = [];
  /** Recorded this turn, oldest first, their arguments not yet copied. */
  private pending: SlowLogEntry[] = [];
  private maxLen = 128;
  private settling = false;
  private nextId = 0;

  /** Newest first. */
  get entries(): SlowLogEntry[] {
    this.settle();
    return this.list;
  }

  /**
   * Record a command if it ran at least `slowerThan` µs (negative: never), then
   * trim to `maxLen`. `argv` is copied and cut, so no socket buffer is pinned, at the end of
   * the current task: a burst of slow commands (the 100 000 VEC.ADDs of one HTTP batch, each
   * timed until its add job completes) copied 4 000 argument lists in one turn and held the
   * event loop ~30 ms for entries trimmed away right after. Only the newest `maxLen` of a
   * burst are copied.
   */
  push(argv: Buffer[], usec: number, client: { addr: string; name: string }, slowerThan: number, maxLen: number): void {
    if (slowerThan < 0 || usec < slowerThan) return;
    this.maxLen = maxLen;
    const pending = this.pending;
    pending.push({ id: this.nextId++, time: Math.floor(Date.now() / 1000), duration: Math.round(usec), argv, addr: client.addr, name: client.name });
    // Dropped in halves, so a long burst costs O(1) per entry.
    if (pending.length >= 2 * Math.max(1, maxLen)) pending.splice(0, pending.length - maxLen);
    if (!this.settling) {
      this.settling = true;
      queueMicrotask(() => this.settle());
    }
  }

  reset(): void {
    this.settle();
    this.list.length = 0;
  }

  /** Copies and cuts the turn's newest entries into the list. */
  private settle(): void {
    this.settling = false;
    const pending = this.pending;
    if (pending.length === 0) return;
    this.pending = [];
    const from = Math.max(0, pending.length - this.maxLen);
    const fresh: SlowLogEntry[] = [];
    for (let i = pending.length - 1; i >= from; i--) fresh.push({ ...pending[i], argv: cutArgv(pending[i].argv) });
    this.list = fresh.length >= this.maxLen ? fresh : fresh.concat(this.list);
    if (this.list.length > this.maxLen) this.list.length = this.maxLen;
  }
}

/** Arguments as SLOWLOG shows them: 32 at most (the last saying how many more), 128 bytes each. */
export function cutArgv(argv: Buffer[]): Buffer[] {
  const n = Math.min(argv.length, MAX_ARGC);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (n !== argv.length && i === n - 1) {
      out.push(Buffer.from(`... (${argv.length - n + 1} more arguments)`));
    } else if (argv[i].length > MAX_ARG_BYTES) {
      out.push(Buffer.concat([argv[i].subarray(0, MAX_ARG_BYTES), Buffer.from(`... (${argv[i].length - MAX_ARG_BYTES} more bytes)`)]));
    } else {
      out.push(Buffer.from(argv[i]));
    }
  }
  return out;
}

export interface LatencyEvent {
  /** Unix seconds of the latest spike. */
  latestTime: number;
  /** Milliseconds. */
  latest: number;
  max: number;
  /** [unix seconds, ms], oldest first; one sample per second (the worst of that second). */
  history: Array<[number, number]>;
}

/**
 * LATENCY's events (Redis's latency monitor): a command that took at least
 * `latency-monitor-threshold` ms is a `command` event, or `fast-command` for
 * commands flagged fast. 0 turns the monitor off, as in Redis.
 */
export class LatencyMonitor {
  readonly events = new Map<string, LatencyEvent>();

  record(event: string, ms: number): void {
    const now = Math.floor(Date.now() / 1000);
    let e = this.events.get(event);
    if (!e) { e = { latestTime: now, latest: ms, max: ms, history: [] }; this.events.set(event, e); }
    e.latestTime = now;
    e.latest = ms;
    if (ms > e.max) e.max = ms;
    const last = e.history[e.history.length - 1];
    if (last && last[0] === now) { if (ms > last[1]) last[1] = ms; }
    else {
      e.history.push([now, ms]);
      if (e.history.length > HISTORY_LEN) e.history.shift();
    }
  }

  /** Forget the named events (all when none are named); returns how many were reset. */
  reset(names: string[]): number {
    if (names.length === 0) { const n = this.events.size; this.events.clear(); return n; }
    let n = 0;
    for (const name of names) if (this.events.delete(name)) n++;
    return n;
  }
}

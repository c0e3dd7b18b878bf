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
  /** Newest first. */
  readonly entries: SlowLogEntry[] = [];
  private nextId = 0;

  /**
   * Record a command if it ran at least `slowerThan` µs (negative: never), then
   * trim to `maxLen`. `argv` is copied and cut, so no socket buffer is pinned.
   */
  push(argv: Buffer[], usec: number, client: { addr: string; name: string }, slowerThan: number, maxLen: number): void {
    if (slowerThan < 0 || usec < slowerThan) return;
    this.entries.unshift({
      id: this.nextId++, time: Math.floor(Date.now() / 1000), duration: Math.round(usec),
      argv: cutArgv(argv), addr: client.addr, name: client.name,
    });
    if (this.entries.length > maxLen) this.entries.length = maxLen;
  }

  reset(): void { this.entries.length = 0; }
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

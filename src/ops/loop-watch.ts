/**
 * The `event-loop` latency event: how long clients could not be served at
 * all. A command's own time is the `command` event; this one also catches
 * what runs outside commands (a snapshot's slices, a full sync's frames, the
 * expire cycle, GC pauses) and time the process waited for a CPU. It is what
 * a client's PING sees of the server, without the client's own delays.
 *
 * A 1 ms timer measures its own lateness. It runs only while
 * `latency-monitor-threshold` is above 0, as the monitor itself does in Redis:
 * a thousand wake-ups a second are not free.
 */
import { performance } from 'node:perf_hooks';

const PERIOD_MS = 1;

export class LoopWatch {
  private timer: NodeJS.Timeout | null = null;
  private last = 0;

  constructor(private readonly threshold: () => number, private readonly record: (ms: number) => void) {}

  /** Follow the threshold: watch while it is above 0. */
  configure(): void {
    if (this.threshold() > 0) this.start(); else this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = Math.floor(now - this.last - PERIOD_MS);
      this.last = now;
      const threshold = this.threshold();
      if (threshold > 0 && late >= threshold) this.record(late);
    }, PERIOD_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

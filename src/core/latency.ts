/**
 * Per-command latency histograms for INFO latencystats and /metrics. Buckets
 * are log-linear (each power of two split in 8), so recording is a few integer
 * operations and percentiles are within ~12 % of the true value, the same
 * trade Redis makes with its HDR histograms.
 */
const SUB = 8;
const MAX_POW = 40; // 2^40 µs ≈ 12 days: nothing takes longer
const TWO_POW_31 = 2 ** 31;

export class Histogram {
  readonly counts = new Float64Array(MAX_POW * SUB);
  total = 0;
  sum = 0;

  record(usec: number): void {
    const v = usec < 1 ? 1 : usec;
    let pow: number, base: number;
    if (v < TWO_POW_31) {
      // floor(log2(v)) from the integer part's leading zeros: no Math.log2 per command.
      pow = 31 - Math.clz32(v);
      base = 1 << pow;
    } else {
      pow = Math.min(MAX_POW - 1, Math.floor(Math.log2(v)));
      base = 2 ** pow;
    }
    const sub = Math.min(SUB - 1, Math.floor(((v - base) / base) * SUB));
    this.counts[pow * SUB + sub]++;
    this.total++;
    this.sum += usec;
  }

  /** Upper bound of the bucket holding the q-quantile (0 < q ≤ 1), in µs. */
  percentile(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= want) {
        const pow = Math.floor(i / SUB), sub = i % SUB;
        return 2 ** pow * (1 + (sub + 1) / SUB);
      }
    }
    return 2 ** MAX_POW;
  }

  /** Cumulative counts at the given bounds (µs), for Prometheus buckets. */
  cumulative(boundsUsec: readonly number[]): number[] {
    const out: number[] = [];
    let seen = 0, i = 0;
    for (const bound of boundsUsec) {
      while (i < this.counts.length) {
        const pow = Math.floor(i / SUB), sub = i % SUB;
        const upper = 2 ** pow * (1 + (sub + 1) / SUB);
        if (upper > bound) break;
        seen += this.counts[i++];
      }
      out.push(seen);
    }
    return out;
  }
}

export class LatencyTracker {
  enabled = true;
  readonly byCommand = new Map<string, Histogram>();
  /** How many times `reset()` ran: histograms handed out before are no longer counted. */
  resets = 0;

  record(command: string, usec: number): void {
    if (!this.enabled) return;
    this.histogram(command).record(usec);
  }

  /** The command's histogram, created on first use. Held by the dispatcher, so only `reset()` may drop one. */
  histogram(command: string): Histogram {
    let h = this.byCommand.get(command);
    if (!h) { h = new Histogram(); this.byCommand.set(command, h); }
    return h;
  }

  reset(): void { this.byCommand.clear(); this.resets++; }
}

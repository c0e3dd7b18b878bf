/** Small statistics and formatting helpers shared by every benchmark. */

/** Nearest-rank percentile (p in [0, 100]) of unsorted samples; NaN when empty. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Several percentiles with one sort. */
export function percentiles(samples: ArrayLike<number>, ps: number[]): number[] {
  if (samples.length === 0) return ps.map(() => NaN);
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]);
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** 12345 → "12.3 k", 1234567 → "1.23 M". */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)} k`;
  return x.toFixed(0);
}

/** Microseconds, shown in µs below 10 ms and in ms above. */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us.toFixed(0)} µs`;
}

export function fmtMs(ms: number): string { return fmtUs(ms * 1000); }

export function fmtRatio(x: number): string { return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–'; }

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return '–';
  if (Math.abs(b) >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  if (Math.abs(b) >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} KiB`;
  return `${b.toFixed(0)} B`;
}

export function fmtRecall(r: number): string { return Number.isFinite(r) ? r.toFixed(4) : '–'; }

export function fmtPct(x: number): string { return Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : '–'; }

/** Monotonic now in microseconds. */
export function nowUs(): number { return Number(process.hrtime.bigint()) / 1000; }

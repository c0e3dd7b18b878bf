/**
 * The planner's evidence about one set: how well the HNSW walk answers the
 * queries this set actually receives. Whether the graph is right depends less
 * on the set's size than on where the queries fall: queries drawn like the
 * data are found at EF 64 with recall ~0.99 at any size, queries far from
 * every cluster lose half their neighbours by 20 k elements (bench/planner.ts,
 * workloads `mixture` and `far`). No static threshold serves both, so the
 * planner measures: a sample of real queries runs both ways, the exact answer
 * is returned and the walk's agreement with it is recorded.
 *
 * A set whose sampled recall is at or above the target is searched through the
 * graph, re-sampled one query in `trustedProbeEvery(n, beam)`: as rarely as
 * keeps the probes' scans near PROBE_COST_SHARE of the walks' work (a fixed one
 * in 256 cost 3 % at 20 k elements and 8 % at 100 k, where a scan costs 8 and
 * 21 walks). One below it is scanned exactly
 * while small enough, and the walk is re-sampled one query in
 * PROBE_EVERY_DISTRUSTED (the walk is the cheap side there), so a set whose
 * queries change is noticed either way within a window of probes. A set too
 * large to scan (but not too large to sample) whose walk misses gets a wider
 * beam instead, doubled per window of probes until it meets the target (see
 * MAX_WIDEN); a caller's explicit EF is never widened.
 */
import type { SearchResult } from './native-index.js';

/** Probes a decision rests on: the first WINDOW candidate queries are all probes. */
export const WINDOW = 16;
/**
 * A set too large to scan whose walk misses the target gets a wider beam: twice as wide per
 * step, up to 2^MAX_WIDEN times the set's EF and never past MAX_BEAM. Measured in process
 * (far workload, 50 k × 128 F32, 100 queries): EF 64 finds 0.57 of the true 10, 256 0.82,
 * 512 0.91, 1024 0.99 at 2.1x the speed of a scan.
 */
export const MAX_WIDEN = 5;
export const MAX_BEAM = 4096;
/** Recall a doubling of the beam must add to be kept. */
export const MIN_GAIN = 0.01;
/**
 * A doubling that added this much is not the last one tried, even when its window was
 * trusted. Sixteen probes that all found the true 10 give a bound of 1 while the walk may miss
 * on one query in ten: test/vectors/planner.test.ts's far queries on 6 k × 64 were trusted at
 * beam 128 on such a window in 2 of 8 runs (unseen queries then found 0.944 and 0.958), and
 * found 1.000 at 256. Recall grows ever slower with the beam, so a doubling that gained 0.05
 * near the target is likely followed by one that gains more than MIN_GAIN; if not, that one is
 * undone after its window.
 */
export const STEEP_GAIN = 0.05;
/** A trusted walk is re-sampled at least this rarely, however cheap a scan. */
export const PROBE_EVERY_TRUSTED = 256;
export const PROBE_EVERY_DISTRUSTED = 8;
/** The share of a trusted set's search work its probes' scans may add. */
export const PROBE_COST_SHARE = 0.01;

/**
 * One query in this many is probed on a set whose walk is trusted (or that is too large to
 * scan), so that the probes' scans add about PROBE_COST_SHARE to the walks' work. A scan of n
 * elements costs about sqrt(n) / 15 walks at EF 64, and a walk's cost grows with its beam
 * (bench/planner.ts, 128-d, graph ÷ exact QPS: 1.4 at 512 elements, 3.4 at 2 000, 7.6 at
 * 20 k, 21 at 100 k; the fit is within 25 % from 512 to 100 k). A change in a set's queries is
 * still noticed after a few probes: at 20 k, a few thousand queries.
 */
export function trustedProbeEvery(n: number, beam: number): number {
  const scanInWalks = (Math.sqrt(n) / 15) * (64 / Math.max(1, beam));
  return Math.max(PROBE_EVERY_TRUSTED, Math.ceil(scanInWalks / PROBE_COST_SHARE));
}

export type Route = 'graph' | 'exact' | 'probe';

export class GraphTrust {
  /** Recall@k the walk must reach on sampled queries (`vec-planner-recall`; 0: never probe, always walk). */
  static target = 0.95;

  private readonly recalls = new Float32Array(WINDOW);
  private filled = 0;
  private next = 0;
  private sum = 0;
  private sumSquares = 0;
  private sinceProbe = 0;
  /** The beam is the set's EF times 2^widen (see MAX_WIDEN). */
  private widen = 0;
  private canScan = true;
  /** What the beam's last doubling added, summed over this window's probes; whether the beam has stopped changing. */
  private gainSum = 0;
  private settled = false;
  /**
   * The previous beam's recalls as a sum, sum of squares and count: the window that asked for
   * the doubling (unless that window was trusted) and the new window's walks at that beam.
   */
  private previousSum = 0;
  private previousSquares = 0;
  private previousCount = 0;

  /**
   * How to answer the next candidate query on a set of `n` elements walked with a beam of
   * `ef` (before widening). `canScan`: the set is small enough to be scanned when the walk
   * misses; otherwise a miss widens the beam instead.
   */
  route(canScan: boolean, n: number, ef: number): Route {
    this.canScan = canScan;
    if (this.filled < WINDOW) return 'probe';
    const trusted = this.trusted();
    // Past the scan limit a probe costs a long scan: re-sample as rarely as a trusted walk.
    const every = trusted || !canScan ? trustedProbeEvery(n, this.beam(ef)) : PROBE_EVERY_DISTRUSTED;
    if (++this.sinceProbe >= every) {
      this.sinceProbe = 0;
      return 'probe';
    }
    return trusted || !canScan ? 'graph' : 'exact';
  }

  /** The beam a walk on this set uses when its caller gave no EF: `ef` widened as measured. */
  beam(ef: number, widen = this.widen): number {
    return widen <= 0 ? ef : Math.max(ef, Math.min(MAX_BEAM, ef * 2 ** widen));
  }

  /** The beam before the last doubling, which probes also walk to measure what it added; null at the base. */
  previousBeam(ef: number): number | null {
    return this.widen === 0 || this.settled ? null : this.beam(ef, this.widen - 1);
  }

  /**
   * Whether the walk's recall meets the target with confidence: the window's mean less two
   * standard errors (false until the window is full). Sixteen probes estimate a recall of 0.95
   * give or take ~0.02: with the bare mean, a set whose walk found 0.94 of the true
   * neighbours was walked whenever its first window happened to score 0.95.
   */
  trusted(): boolean {
    return this.filled >= WINDOW && confidentlyAbove(this.sum, this.sumSquares, WINDOW, GraphTrust.target);
  }

  /** The sampled recall over the window (NaN before any probe). */
  recall(): number {
    return this.filled === 0 ? NaN : this.sum / this.filled;
  }

  get probes(): number { return this.filled; }

  /**
   * One probe: the walk's recall, and (once the beam was widened) that of a walk with the
   * previous beam on the same query.
   */
  record(recall: number, previous = NaN): void {
    if (!(recall >= 0 && recall <= 1)) return;
    if (this.widen > 0 && this.filled < WINDOW && previous >= 0) {
      this.gainSum += recall - previous;
      this.previousSum += previous;
      this.previousSquares += previous * previous;
      this.previousCount++;
    }
    if (this.filled === WINDOW) {
      const old = this.recalls[this.next];
      this.sum -= old;
      this.sumSquares -= old * old;
    } else this.filled++;
    this.recalls[this.next] = recall;
    this.sum += recall;
    this.sumSquares += recall * recall;
    this.next = (this.next + 1) % WINDOW;
    if (this.filled === WINDOW && !this.canScan && !this.settled) this.adjustBeam();
  }

  /**
   * A full window on a set too large to scan: widen the beam while the walk misses the target
   * and each doubling buys recall. A doubling that gains less than MIN_GAIN is undone and the
   * beam stays: queries like the data average ~0.98 with a few probes far lower, so the
   * confident bound can miss where a wider beam finds nothing more, at twice the cost. The
   * doubling is also undone when the narrower beam, over both windows' walks at it (32
   * probes), is confidently on target after all: such queries' first window can miss the
   * bound on a few poor probes (bench/planner.ts, mixture BF16 50 k: 0.977 at EF 64, widened
   * to 128 for +0.010 at 0.73x the speed). A trusted window whose doubling gained STEEP_GAIN
   * tries one more.
   */
  private adjustBeam(): void {
    // Paired on the same queries (each probe also walked the previous beam): far steadier than
    // comparing two windows of different queries.
    if (this.widen > 0 && (this.gainSum / WINDOW < MIN_GAIN
      || confidentlyAbove(this.previousSum, this.previousSquares, this.previousCount, GraphTrust.target))) {
      this.widen--;
      this.settled = true;
      return;
    }
    const steep = this.widen > 0 && this.gainSum / WINDOW >= STEEP_GAIN;
    const trusted = this.trusted();
    if ((trusted && !steep) || this.widen >= MAX_WIDEN) return;
    // The window that asked for this doubling is evidence about the beam it leaves, unless it
    // was trusted: a steep doubling is tried because such a window is doubted.
    this.previousSum = trusted ? 0 : this.sum;
    this.previousSquares = trusted ? 0 : this.sumSquares;
    this.previousCount = trusted ? 0 : WINDOW;
    this.widen++;
    this.filled = 0;
    this.next = 0;
    this.sum = 0;
    this.sumSquares = 0;
    this.gainSum = 0;
  }

  /** Whether the planner walks this set (trusted, or too large to scan). */
  walks(): boolean { return this.trusted() || !this.canScan; }

  /** How many times the beam was doubled. */
  get widened(): number { return this.widen; }
}

/** Whether `count` recalls (their sum and sum of squares) have a mean less two standard errors at or above `target`. */
function confidentlyAbove(sum: number, squares: number, count: number, target: number): boolean {
  if (count < 2) return false;
  const mean = sum / count;
  const variance = Math.max(0, squares / count - mean * mean) * count / (count - 1);
  return mean - 2 * Math.sqrt(variance / count) >= target - 1e-9;
}

/**
 * Recall@k of `walk` against the exact answer: the share of the true k found.
 * By distance rather than by slot, so that ties at the k-th distance (duplicate
 * vectors) count as found whichever of them the walk returned. NaN when the
 * scan found nothing to compare.
 */
export function agreement(truth: SearchResult, walk: SearchResult, k: number): number {
  const want = Math.min(k, truth.count);
  if (want === 0) return NaN;
  const kth = truth.distances[want - 1];
  const bound = kth + Math.abs(kth) * 1e-6 + 1e-7;
  let found = 0;
  for (let i = 0; i < walk.count && i < want; i++) if (walk.distances[i] <= bound) found++;
  return found / want;
}

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
 * graph, re-sampled one query in PROBE_EVERY_TRUSTED (a scan costs ~5 graph
 * walks at 20 k elements, ~8 at 32 k: 2-3 % more work). One below it is scanned exactly
 * while small enough, and the walk is re-sampled one query in
 * PROBE_EVERY_DISTRUSTED (the walk is the cheap side there), so a set whose
 * queries change is noticed either way within a window of probes.
 */
import type { SearchResult } from './native-index.js';

/** Probes a decision rests on: the first WINDOW candidate queries are all probes. */
export const WINDOW = 16;
export const PROBE_EVERY_TRUSTED = 256;
export const PROBE_EVERY_DISTRUSTED = 8;

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

  /** How to answer the next candidate query. */
  route(): Route {
    if (this.filled < WINDOW) return 'probe';
    const trusted = this.trusted();
    if (++this.sinceProbe >= (trusted ? PROBE_EVERY_TRUSTED : PROBE_EVERY_DISTRUSTED)) {
      this.sinceProbe = 0;
      return 'probe';
    }
    return trusted ? 'graph' : 'exact';
  }

  /**
   * Whether the walk's recall meets the target with confidence: the window's mean less two
   * standard errors (false until the window is full). Sixteen probes estimate a recall of 0.95
   * give or take ~0.02: with the bare mean, a set whose walk found 0.94 of the true
   * neighbours was walked whenever its first window happened to score 0.95.
   */
  trusted(): boolean {
    if (this.filled < WINDOW) return false;
    const mean = this.sum / WINDOW;
    const variance = Math.max(0, this.sumSquares / WINDOW - mean * mean) * WINDOW / (WINDOW - 1);
    return mean - 2 * Math.sqrt(variance / WINDOW) >= GraphTrust.target - 1e-9;
  }

  /** The sampled recall over the window (NaN before any probe). */
  recall(): number {
    return this.filled === 0 ? NaN : this.sum / this.filled;
  }

  get probes(): number { return this.filled; }

  record(recall: number): void {
    if (!(recall >= 0 && recall <= 1)) return;
    if (this.filled === WINDOW) {
      const old = this.recalls[this.next];
      this.sum -= old;
      this.sumSquares -= old * old;
    } else this.filled++;
    this.recalls[this.next] = recall;
    this.sum += recall;
    this.sumSquares += recall * recall;
    this.next = (this.next + 1) % WINDOW;
  }
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

/**
 * REDUCE: the fixed random projection of Redis 8 vector sets
 * (Redis 8's VADD … REDUCE): out[i] = Σ_j P[i][j]·x[j] with
 * P[i][j] = +1/√in when popcount(i & j) is even, −1/√in when it is odd.
 *
 * The matrix is a function of (in, out) alone, so nothing is stored with the
 * set: its params keep `projectInputDim` (in) and `dim` (out), and the same
 * projection is recomputed (and cached) from them, after a restart as well.
 * The matrix is never materialised: (−1)^popcount(i & j) is the entry of the
 * Sylvester–Hadamard matrix H_N (N a power of two), so P·x is the first `out`
 * components of a fast Walsh–Hadamard transform of x zero-padded to
 * N = the next power of two ≥ max(in, out), times 1/√in: O(N log N) per
 * vector instead of in × out. `sign` keeps the entry form, for tests.
 */

/** 1 when x has an odd number of set bits. */
function parity(x: number): number {
  x ^= x >>> 16; x ^= x >>> 8; x ^= x >>> 4; x ^= x >>> 2; x ^= x >>> 1;
  return x & 1;
}

export class Projection {
  readonly inputDim: number;
  readonly outputDim: number;
  private readonly scale: number;
  /** Transform length: the next power of two ≥ max(in, out). */
  private readonly n: number;
  /** Scratch for the transform (projections run synchronously, one at a time). */
  private readonly work: Float64Array;

  constructor(inputDim: number, outputDim: number) {
    if (!Number.isInteger(inputDim) || inputDim < 1 || inputDim > 65536) throw new RangeError(`projection input dimension ${inputDim} out of range`);
    if (!Number.isInteger(outputDim) || outputDim < 1 || outputDim > 65536) throw new RangeError(`projection output dimension ${outputDim} out of range`);
    this.inputDim = inputDim;
    this.outputDim = outputDim;
    this.scale = 1 / Math.sqrt(inputDim);
    let n = 1;
    while (n < inputDim || n < outputDim) n *= 2;
    this.n = n;
    this.work = new Float64Array(n);
  }

  /** The sign of P[i][j]: +1 or −1 (the magnitude is 1/√in for every entry). */
  sign(i: number, j: number): 1 | -1 {
    return parity(i & j) ? -1 : 1;
  }

  /** P·x for a vector of `inputDim` components. */
  project(x: Float32Array): Float32Array {
    if (x.length !== this.inputDim) throw new RangeError(`projection expects ${this.inputDim} components, got ${x.length}`);
    const w = this.work;
    const n = this.n;
    w.fill(0);
    for (let j = 0; j < x.length; j++) w[j] = x[j];
    // In-place Walsh–Hadamard butterflies: after them w[i] = Σ_j (−1)^popcount(i & j) x[j].
    for (let h = 1; h < n; h *= 2) {
      for (let i = 0; i < n; i += 2 * h) {
        for (let j = i; j < i + h; j++) {
          const a = w[j], b = w[j + h];
          w[j] = a + b;
          w[j + h] = a - b;
        }
      }
    }
    const out = new Float32Array(this.outputDim);
    for (let i = 0; i < out.length; i++) out[i] = w[i] * this.scale;
    return out;
  }
}

const cache = new Map<string, Projection>();
const CACHE_LIMIT = 64;

/** The projection for (in, out), shared by every set with those dimensions. */
export function projectionFor(inputDim: number, outputDim: number): Projection {
  const key = `${inputDim}x${outputDim}`;
  let p = cache.get(key);
  if (!p) {
    p = new Projection(inputDim, outputDim);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, p);
  }
  return p;
}

/** The projection a set's parameters describe (REDUCE), or null for a set without one. */
export function projectionOf(params: { dim: number; projectInputDim: number }): Projection | null {
  return params.projectInputDim > 0 ? projectionFor(params.projectInputDim, params.dim) : null;
}

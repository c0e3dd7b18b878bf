/**
 * Seeded synthetic data: a mixture of Gaussians (clustered, like embeddings of
 * topics), and the helpers to move vectors onto the wire.
 *
 * Why a mixture and not uniform noise: uniform vectors in 128 dimensions have
 * no near neighbours at all (every distance is about the same), which makes
 * HNSW look worse and brute force look better than on real embeddings.
 */

/** mulberry32: small, fast, good enough for benchmark data; the same seed gives the same bytes everywhere. */
export class Rng {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) { this.state = seed >>> 0; }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6D2B79F5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box–Muller, both values used). */
  gauss(): number {
    if (this.spare !== null) { const s = this.spare; this.spare = null; return s; }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  int(n: number): number { return Math.floor(this.next() * n); }
}

export interface MixtureSpec {
  dim: number;
  clusters: number;
  seed: number;
  /** Per-cluster standard deviation is drawn uniformly from this range (centres are N(0, 1)). */
  spread: [number, number];
}

/** A Gaussian mixture from which base vectors and queries are both drawn. */
export class Mixture {
  readonly centres: Float32Array;
  readonly sigmas: Float32Array;
  constructor(readonly spec: MixtureSpec) {
    const rng = new Rng(spec.seed);
    this.centres = new Float32Array(spec.clusters * spec.dim);
    for (let i = 0; i < this.centres.length; i++) this.centres[i] = rng.gauss();
    this.sigmas = new Float32Array(spec.clusters);
    const [lo, hi] = spec.spread;
    for (let c = 0; c < spec.clusters; c++) this.sigmas[c] = lo + (hi - lo) * rng.next();
  }

  /** `n` draws, row-major; `stream` separates independent sequences (base set, queries). */
  sample(n: number, stream: number): Float32Array {
    const { dim, clusters, seed } = this.spec;
    const rng = new Rng((seed * 0x9E3779B1 + stream * 0x85EBCA77) >>> 0);
    const out = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = rng.int(clusters);
      const s = this.sigmas[c];
      const base = c * dim;
      for (let j = 0; j < dim; j++) out[i * dim + j] = this.centres[base + j] + s * rng.gauss();
    }
    return out;
  }
}

export interface Dataset {
  n: number;
  dim: number;
  /** n × dim, row-major. */
  vectors: Float32Array;
  q: number;
  /** q × dim, drawn from the same mixture, not from the base set. */
  queries: Float32Array;
  spec: MixtureSpec;
}

/** The standard benchmark set: `n` base vectors and `q` queries from one seeded mixture. */
export function clustered(n: number, dim: number, q: number, seed: number): Dataset {
  const spec: MixtureSpec = { dim, clusters: Math.max(8, Math.round(n / 1000)), seed, spread: [0.6, 1.0] };
  const mix = new Mixture(spec);
  return { n, dim, vectors: mix.sample(n, 1), q, queries: mix.sample(q, 2), spec };
}

/** Row i as its own array (never a view: see src/engine/native-index.ts on usearch and byteOffset). */
export function row(m: Float32Array, i: number, dim: number): Float32Array {
  return m.slice(i * dim, (i + 1) * dim);
}

/** Little-endian float32 bytes of row i, as `FP32` expects (x86 and ARM are little-endian). */
export function rowBlob(m: Float32Array, i: number, dim: number): Buffer {
  return Buffer.from(m.buffer, m.byteOffset + i * dim * 4, dim * 4).subarray();
}

/** Every row's blob, copied once so the client never re-encodes. */
export function blobs(m: Float32Array, count: number, dim: number): Buffer[] {
  const out = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) out[i] = Buffer.from(rowBlob(m, i, dim));
  return out;
}

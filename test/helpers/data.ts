/**
 * Test data: seeded clustered vectors (a mixture of Gaussians, the realistic
 * case for HNSW) and exact cosine neighbours to measure recall against.
 */

/** A small seeded PRNG (mulberry32) returning floats in [0, 1). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
export function normal(rand: () => number): number {
  let u = rand();
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** n × d row-major vectors scattered around `clusters` random centres. */
export function clusteredData(n: number, d: number, { clusters = 100, spread = 0.35, seed = 7 } = {}): Float32Array {
  const rand = seeded(seed);
  const centres = new Float32Array(clusters * d);
  for (let i = 0; i < centres.length; i++) centres[i] = normal(rand);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * clusters);
    for (let j = 0; j < d; j++) out[i * d + j] = centres[c * d + j] + spread * normal(rand);
  }
  return out;
}

export function rowOf(data: Float32Array, d: number, i: number): Float32Array {
  return data.subarray(i * d, (i + 1) * d);
}

/** The little-endian float32 bytes of a vector (FP32 blobs). */
export function fp32(v: Float32Array | number[]): Buffer {
  const f = v instanceof Float32Array ? v : Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/** Indexes of the k rows nearest to q by cosine, nearest first; `keep` restricts the candidates. */
export function exactCosine(data: Float32Array, d: number, q: Float32Array, k: number, keep?: (i: number) => boolean): number[] {
  const n = data.length / d;
  let qq = 0;
  for (let j = 0; j < d; j++) qq += q[j] * q[j];
  const qn = Math.sqrt(qq);
  const scored: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    if (keep && !keep(i)) continue;
    let dot = 0, nn = 0;
    const o = i * d;
    for (let j = 0; j < d; j++) { dot += q[j] * data[o + j]; nn += data[o + j] * data[o + j]; }
    scored.push([1 - dot / (qn * Math.sqrt(nn)), i]);
  }
  scored.sort((a, b) => a[0] - b[0]);
  return scored.slice(0, k).map((s) => s[1]);
}

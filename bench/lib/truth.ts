/**
 * Exact ground truth, computed here in plain TypeScript so that it is an
 * oracle independent of usearch and of the server: cosine (on unit vectors)
 * and Hamming on sign bits, optionally over a subset (filtered truth).
 * The scan is split across worker threads, one per core.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';

export type TruthMetric = 'cos' | 'hamming';

export interface Truth {
  k: number;
  /** q × k element indices, nearest first (-1 where fewer than k exist). */
  ids: Int32Array;
  /** q × k distances (1 − cos, or differing bits). */
  distances: Float32Array;
}

/** What a truth worker receives (shared memory, no copies). */
export interface TruthJob {
  metric: TruthMetric;
  dim: number;
  k: number;
  /** cos: n × dim unit float32; hamming: n × words uint32 of sign bits. */
  base: SharedArrayBuffer;
  queries: SharedArrayBuffer;
  /** Element indices to scan, or null for all. */
  subset: SharedArrayBuffer | null;
  n: number;
  from: number;
  to: number;
  outIds: SharedArrayBuffer;
  outDistances: SharedArrayBuffer;
}

function unitShared(m: Float32Array, rows: number, dim: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(rows * dim * 4);
  const out = new Float32Array(sab);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += m[i * dim + j] * m[i * dim + j];
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) out[i * dim + j] = m[i * dim + j] * inv;
  }
  return sab;
}

/** Sign bits (x > 0, as the server's B1 stores them), packed LSB-first into u32 words. */
export function signBits(m: Float32Array, rows: number, dim: number, shared = false): Uint32Array {
  const words = Math.ceil(dim / 32);
  const out = new Uint32Array(shared ? new SharedArrayBuffer(rows * words * 4) : new ArrayBuffer(rows * words * 4));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) if (m[i * dim + j] > 0) out[i * words + (j >>> 5)] |= 1 << (j & 31);
  }
  return out;
}

export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0F0F0F0F;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Exact k nearest of every query among `base` (or among `subset` of it).
 * Vectors are raw float32 rows; they are normalised / binarised here.
 */
export async function exactKnn(metric: TruthMetric, base: Float32Array, n: number, queries: Float32Array, q: number, dim: number,
  k: number, subset: Uint32Array | null = null): Promise<Truth> {
  const baseSab = metric === 'cos' ? unitShared(base, n, dim) : signBits(base, n, dim, true).buffer as SharedArrayBuffer;
  const querySab = metric === 'cos' ? unitShared(queries, q, dim) : signBits(queries, q, dim, true).buffer as SharedArrayBuffer;
  let subsetSab: SharedArrayBuffer | null = null;
  if (subset) { subsetSab = new SharedArrayBuffer(subset.byteLength); new Uint32Array(subsetSab).set(subset); }
  const outIds = new SharedArrayBuffer(q * k * 4);
  const outDistances = new SharedArrayBuffer(q * k * 4);
  const workers = Math.max(1, Math.min(os.availableParallelism(), q));
  const per = Math.ceil(q / workers);
  const jobs: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    const job: TruthJob = { metric, dim, k, base: baseSab, queries: querySab, subset: subsetSab, n,
      from: w * per, to: Math.min(q, (w + 1) * per), outIds, outDistances };
    if (job.from >= job.to) continue;
    jobs.push(new Promise<void>((resolve, reject) => {
      const worker = new Worker(new URL('./truth-worker.js', import.meta.url), { workerData: job });
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => { if (code !== 0) reject(new Error(`truth worker exited with ${code}`)); });
    }));
  }
  await Promise.all(jobs);
  return { k, ids: new Int32Array(outIds), distances: new Float32Array(outDistances) };
}

/**
 * recall@k of one answer: the share of the true k nearest found. For Hamming,
 * distances tie a lot, so an answer counts when its true distance is within the
 * k-th true distance (`answerDistances` are recomputed exactly by the caller).
 */
export function recallOf(truth: Truth, qi: number, answer: ArrayLike<number>, answerDistances?: ArrayLike<number>): number {
  const k = truth.k;
  let valid = 0;
  for (let j = 0; j < k; j++) if (truth.ids[qi * k + j] >= 0) valid++;
  if (valid === 0) return 1;
  let hit = 0;
  if (answerDistances) {
    const kth = truth.distances[qi * k + valid - 1];
    for (let j = 0; j < Math.min(answer.length, k); j++) if (answerDistances[j] <= kth + 1e-6) hit++;
  } else {
    for (let j = 0; j < Math.min(answer.length, k); j++) {
      const id = answer[j];
      for (let t = 0; t < valid; t++) if (truth.ids[qi * k + t] === id) { hit++; break; }
    }
  }
  return Math.min(1, hit / valid);
}

/** Mean recall over the queries that have an answer (`answers[qi]` undefined: not asked). */
export function meanRecall(truth: Truth, answers: Array<ArrayLike<number> | undefined>,
  distancesOf?: (qi: number, ids: ArrayLike<number>) => ArrayLike<number>): { recall: number; queries: number } {
  let sum = 0, count = 0;
  answers.forEach((a, qi) => {
    if (!a) return;
    sum += recallOf(truth, qi, a, distancesOf ? distancesOf(qi, a) : undefined);
    count++;
  });
  return { recall: count ? sum / count : NaN, queries: count };
}

/**
 * The in-process yardstick: the stock `usearch` npm package (its own binding,
 * not Astronaut's addon), built from the same data with the same parameters.
 * Its expansion_search is fixed at construction, so one built index is saved
 * once and loaded into an index per EF.
 */
import usearch from 'usearch';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nowUs, percentiles } from './stats.js';
import { row } from './data.js';

export type StockIndex = InstanceType<typeof usearch.Index>;

export interface StockConfig { dim: number; metric: 'cos' | 'hamming'; quantization: 'f32' | 'f16' | 'bf16' | 'i8' | 'b1'; m: number; efConstruction: number; ef: number }

export function newStock(c: StockConfig): StockIndex {
  return new usearch.Index({
    dimensions: c.dim, metric: c.metric as never, quantization: c.quantization as never,
    connectivity: c.m, expansion_add: c.efConstruction, expansion_search: c.ef, multi: false,
  });
}

export function keysFor(from: number, to: number): BigUint64Array {
  const keys = new BigUint64Array(to - from);
  for (let i = from; i < to; i++) keys[i - from] = BigInt(i);
  return keys;
}

export interface StockBuild {
  index: StockIndex;
  /** The saved index, for loading at other EFs; removed by `dispose`. */
  file: string;
  seconds: number;
  /** CPU seconds of this process during the build (all threads). */
  cpuSeconds: number;
  config: StockConfig;
  dispose(): void;
}

/** Batch add of every vector on `threads` threads (usearch's own executor), timed. */
export function buildStock(c: StockConfig, vectors: Float32Array, n: number, threads: number): StockBuild {
  const index = newStock(c);
  const keys = keysFor(0, n);
  const cpu0 = process.cpuUsage();
  const t0 = nowUs();
  index.add(keys, vectors, threads);
  const seconds = (nowUs() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const file = path.join(os.tmpdir(), `bench-usearch-${process.pid}-${Date.now()}.usearch`);
  index.save(file);
  return { index, file, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, config: c, dispose: () => rmSync(file, { force: true }) };
}

/** The built index loaded into a fresh one searching at `ef`. */
export function atEf(b: StockBuild, ef: number): StockIndex {
  const ix = newStock({ ...b.config, ef });
  ix.load(b.file);
  return ix;
}

export interface StockSearch {
  qps: number;
  /** Answers (element indices) per query. */
  answers: number[][];
  cpuSeconds: number;
  seconds: number;
  p50Us?: number;
  p99Us?: number;
}

/** All queries as one 2-D batch on `threads` threads, repeated for at least `minMs`. */
export function batchSearch(ix: StockIndex, queries: Float32Array, q: number, k: number, threads: number, minMs: number): StockSearch {
  const first = ix.search(queries, k, threads) as InstanceType<typeof usearch.BatchMatches>; // warm-up, and the answers
  const answers: number[][] = [];
  for (let i = 0; i < q; i++) answers.push(Array.from(first.get(i).keys, Number));
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = nowUs();
  let el = 0;
  while (el < minMs * 1000) {
    ix.search(queries, k, threads);
    done += q;
    el = nowUs() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  return { qps: done / (el / 1e6), answers, cpuSeconds: (cpu.user + cpu.system) / 1e6, seconds: el / 1e6 };
}

/** One query per call on the calling thread, timed call by call, for at least `minMs`. */
export function singleSearch(ix: StockIndex, queries: Float32Array, q: number, dim: number, k: number, minMs: number): StockSearch {
  const rows = Array.from({ length: q }, (_, i) => row(queries, i, dim));
  const answers: number[][] = rows.map((r) => Array.from((ix.search(r, k, 1) as InstanceType<typeof usearch.Matches>).keys, Number));
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = nowUs();
  let now = t0;
  for (let i = 0; now - t0 < minMs * 1000; i = (i + 1) % q) {
    const a = now;
    ix.search(rows[i], k, 1);
    now = nowUs();
    lat.push(now - a);
  }
  const cpu = process.cpuUsage(cpu0);
  const [p50, p99] = percentiles(lat, [50, 99]);
  return { qps: lat.length / ((now - t0) / 1e6), answers, cpuSeconds: (cpu.user + cpu.system) / 1e6, seconds: (now - t0) / 1e6, p50Us: p50, p99Us: p99 };
}

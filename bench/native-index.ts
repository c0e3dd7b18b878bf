/**
 * Our usearch addon (src/engine/native-index.ts) against the stock `usearch` JS binding, same
 * data, same machine, same run: 100k × 128 clustered vectors, cosine, f32, M 16,
 * ef_construction 128. Measures insert rate on the thread pool, single-query search QPS at
 * ef 64 and 128 with recall@10, batch search QPS, filtered search at 1 % selectivity (graph
 * walk vs exact scan of the matches), (de)serialisation time and the longest event-loop stall
 * each causes. Run `node dist/bench/native-index.js [n]` (default n 100000).
 */
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import usearch from 'usearch';
import { NativeIndex, threads, capabilities, type SearchResult } from '../src/engine/native-index.js';

const N = Number(process.argv[2] ?? 100_000);
const D = 128, NQ = 1000, K = 10, CLUSTERS = 100;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
}
/** Mixture of Gaussians; queries come from the same centres (same seed), new noise. */
function clustered(n: number, seed: number, noiseSeed: number): Float32Array {
  const rand = rng(seed), noise = rng(noiseSeed);
  const centres = new Float32Array(CLUSTERS * D).map(() => gaussian(rand));
  const out = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(noise() * CLUSTERS);
    for (let j = 0; j < D; j++) out[i * D + j] = centres[c * D + j] + 0.35 * gaussian(noise);
  }
  return out;
}

function report(what: string, ours: string, stock: string): void {
  console.log(`${what.padEnd(50)} ${ours.padStart(22)} ${stock.padStart(22)}`);
}

function recallOf(found: (i: number) => ArrayLike<number | bigint>, truth: SearchResult[]): number {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) {
    const want = new Set(Array.from(truth[i].slots));
    for (const s of Array.from(found(i))) if (want.has(Number(s))) hits++;
  }
  return hits / (truth.length * K);
}

interface Rate { wall: number; cpu: number } // operations per wall second and per CPU second

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/**
 * Runs rounds of `a` and `b` alternately (each round `ops` operations) until `budgetMs` passed,
 * so both see the same machine load (this host is shared and noisy). Rates per wall second and
 * per CPU second (all threads of this process): the latter is robust to load from elsewhere.
 */
async function duel(ops: number, a: () => unknown, b: (() => unknown) | null, budgetMs = 4000): Promise<[Rate, Rate | null]> {
  await a(); if (b) await b(); // warm up
  const acc = [{ wall: 0, cpu: 0, n: 0 }, { wall: 0, cpu: 0, n: 0 }];
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs) {
    for (const [i, f] of [[0, a], [1, b]] as const) {
      if (!f) continue;
      const c0 = process.cpuUsage(), w0 = performance.now();
      await f();
      acc[i].wall += (performance.now() - w0) / 1000;
      acc[i].cpu += cpuSeconds(c0);
      acc[i].n += ops;
    }
  }
  const rate = (x: { wall: number; cpu: number; n: number }): Rate => ({ wall: x.n / x.wall, cpu: x.n / x.cpu });
  return [rate(acc[0]), b ? rate(acc[1]) : null];
}

const fmt = (r: Rate | null): string => (r ? `${(r.wall / 1000).toFixed(2)} k/s (${(r.cpu / 1000).toFixed(2)})` : '-');

/**
 * The longest event-loop stall while `work` runs, from a 1 ms timer histogram (a spinning
 * setImmediate probe would itself eat a core and slow the thread pool down).
 */
async function withStall<T>(work: () => Promise<T> | T): Promise<{ value: T; ms: number; stallMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  const value = await work();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return { value, ms, stallMs: h.max / 1e6 };
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} threads, ` +
    `load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; SIMD ${capabilities.simd}; usearch ${capabilities.usearch}`);
  console.log(`${N} × ${D} clustered (${CLUSTERS} centres), cos f32, M 16, ef_construction 128, ${NQ} queries, k ${K}\n`);
  const data = clustered(N, 1, 2);
  const queries = clustered(NQ, 1, 3);
  const slots = new Uint32Array(N).map((_, i) => i);
  const keys = BigUint64Array.from(slots, (s) => BigInt(s));
  console.log('rates: per wall second (per CPU second of this process, robust to load from elsewhere)');
  console.log(`${'measure'.padEnd(50)} ${'astronaut addon'.padStart(22)} ${'stock usearch'.padStart(22)}`);

  // Build: alternate quarters between the two, so both see the same load.
  const ours = new NativeIndex({ dimensions: D, metric: 'cos', scalar: 'f32', connectivity: 16, expansionAdd: 128, expansionSearch: 64 });
  ours.reserve(N);
  const stock = new usearch.Index({ dimensions: D, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.F32,
    connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false });
  const addRate = [{ wall: 0, cpu: 0, stall: 0 }, { wall: 0, cpu: 0, stall: 0 }];
  const part = Math.ceil(N / 4);
  for (let from = 0; from < N; from += part) {
    const to = Math.min(N, from + part);
    const jobs = [
      () => ours.addBatch(slots.subarray(from, to), data.subarray(from * D, to * D)),
      () => stock.add(keys.subarray(from, to), data.subarray(from * D, to * D), threads),
    ];
    for (let i = 0; i < 2; i++) {
      const c0 = process.cpuUsage();
      const r = await withStall(jobs[i]);
      addRate[i].wall += r.ms / 1000;
      addRate[i].cpu += cpuSeconds(c0);
      addRate[i].stall = Math.max(addRate[i].stall, r.stallMs);
    }
  }
  const addFmt = (i: number): string => fmt({ wall: N / addRate[i].wall, cpu: N / addRate[i].cpu });
  report(`add ${N}, batches on ${threads} threads`, addFmt(0), addFmt(1));
  report('  longest event-loop stall meanwhile', `${addRate[0].stall.toFixed(0)} ms`, `${addRate[1].stall.toFixed(0)} ms`);
  report('memory: usearch reserved / in use', `${(ours.reservedBytes() / N).toFixed(0)} / ${(ours.memoryStats().used / N).toFixed(0)} B/vector`, '-');

  // Ground truth: exact search (the tests check it against a JS brute force).
  const truth = await ours.searchBatch(queries, NQ, K, K, { exact: true });

  // Stock at ef 128: the stock binding fixes ef at construction; save and load into a second index.
  const dir = mkdtempSync(join(tmpdir(), 'astronaut-bench-'));
  const stockSave = await withStall(() => stock.save(join(dir, 'stock.usearch')));
  const stock128 = new usearch.Index({ dimensions: D, metric: usearch.MetricKind.Cos, quantization: usearch.ScalarKind.F32,
    connectivity: 16, expansion_add: 128, expansion_search: 128, multi: false });
  const stockLoad = await withStall(() => stock128.load(join(dir, 'stock.usearch')));
  rmSync(dir, { recursive: true, force: true });

  for (const [ef, stockIndex] of [[64, stock], [128, stock128]] as const) {
    const one: SearchResult[] = [];
    const stockOne: ArrayLike<bigint>[] = [];
    const [oursSync, stockSync] = await duel(NQ,
      () => { for (let q = 0; q < NQ; q++) one[q] = ours.search(queries.subarray(q * D, (q + 1) * D), K, ef); },
      () => { for (let q = 0; q < NQ; q++) stockOne[q] = stockIndex.search(queries.subarray(q * D, (q + 1) * D), K, 1).keys; });
    report(`search, 1 query per call, JS thread, ef ${ef}`, fmt(oursSync), fmt(stockSync));
    report(`  recall@${K}`, recallOf((i) => one[i].slots, truth).toFixed(3), recallOf((i) => stockOne[i], truth).toFixed(3));
    let batch: SearchResult[] = [];
    let stockBatchKeys: BigUint64Array = new BigUint64Array(0);
    const [oursBatch, stockBatch] = await duel(NQ,
      async () => { batch = await ours.searchBatch(queries, NQ, K, ef); },
      () => { stockBatchKeys = stockIndex.search(queries, K, threads).keys; });
    report(`search, batch of ${NQ} on ${threads} threads, ef ${ef}`, fmt(oursBatch), fmt(stockBatch));
    report(`  recall@${K}`, recallOf((i) => batch[i].slots, truth).toFixed(3),
      recallOf((i) => stockBatchKeys.subarray(i * K, (i + 1) * K), truth).toFixed(3));
  }

  const [exact] = await duel(NQ, () => ours.searchBatch(queries, NQ, K, K, { exact: true }), null, 2000);
  report(`exact search, batch on ${threads} threads`, fmt(exact), '-');

  // Filtered at 1 %: graph walk with a bitmap vs exact scan of the matching slots.
  const rand = rng(9);
  const bits = new Uint8Array(Math.ceil(N / 8));
  const allowed: number[] = [];
  for (let s = 0; s < N; s++) if (rand() < 0.01) { bits[s >> 3] |= 1 << (s & 7); allowed.push(s); }
  const allowedSlots = Uint32Array.from(allowed);
  const filteredTruth = await ours.searchBatch(queries, NQ, K, K, { exact: true, filter: bits });
  let filtered: SearchResult[] = [];
  const [graphFiltered] = await duel(NQ, async () => { filtered = await ours.searchBatch(queries, NQ, K, 64, { filter: bits }); }, null, 2000);
  report(`filter 1 % (${allowed.length}), graph walk, batch, ef 64`, fmt(graphFiltered), '-');
  report(`  recall@${K}`, recallOf((i) => filtered[i].slots, filteredTruth).toFixed(3), '-');
  const subset: SearchResult[] = [];
  const [subsetRate] = await duel(NQ, () => {
    for (let q = 0; q < NQ; q++) subset[q] = ours.searchSubset(queries.subarray(q * D, (q + 1) * D), allowedSlots, K);
  }, null, 2000);
  report('filter 1 %, exact scan of the matches, 1 per call', fmt(subsetRate), '-');
  report(`  recall@${K}`, recallOf((i) => subset[i].slots, filteredTruth).toFixed(3), '-');

  // Serialisation: ours off-thread, stock synchronous (to a file; ours to a Buffer).
  const ser = await withStall(() => ours.serialize());
  report(`save (${(ser.value.length / 2 ** 20).toFixed(1)} MB)`, `${ser.ms.toFixed(0)} ms`, `${stockSave.ms.toFixed(0)} ms`);
  report('  longest event-loop stall meanwhile', `${ser.stallMs.toFixed(0)} ms`, `${stockSave.stallMs.toFixed(0)} ms`);
  const de = await withStall(() => NativeIndex.deserialize(ser.value, ours.options));
  report('load', `${de.ms.toFixed(0)} ms`, `${stockLoad.ms.toFixed(0)} ms`);
  report('  longest event-loop stall meanwhile', `${de.stallMs.toFixed(0)} ms`, `${stockLoad.stallMs.toFixed(0)} ms`);
  const check = de.value.search(queries.subarray(0, D), K, 64);
  if (check.slots.join() !== ours.search(queries.subarray(0, D), K, 64).slots.join()) throw new Error('round trip differs');

  // Graph reachability: a beam as wide as the index from the first query.
  const reach = ours.search(queries.subarray(0, D), N, N).count;
  report('nodes reachable by the graph walk', `${reach} / ${N}`, '-');
}

await main();

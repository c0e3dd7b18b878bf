/**
 * Planner: below which set size is a brute-force scan faster than the HNSW
 * graph, at equal or better recall? The answer sets the default of
 * `vec-exact-search-below`.
 *
 * In process, through `VectorSet.search` (the code the server plans with, op
 * queue and worker round trip included, no network): for each workload, set
 * size and quantization (F32, F16, BF16, I8 under COSINE; B1 under HAMMING),
 * one set of `dim`-d seeded vectors, then single queries one at a time, as one
 * client connection sends them:
 * - exact: `search({ exact: true })`, the scan the planner runs when it picks
 *   exact (inline `searchSubset` up to 2048 elements, usearch's brute force on a
 *   worker above);
 * - graph: `search({ exact: false })` with the planner's threshold at 0, the
 *   HNSW walk at the default EF (64). Sizes ≤ EF have no graph figure: the
 *   planner scans them whatever the threshold (the beam covers the whole set).
 * Rounds of all queries alternate, so all see the same machine load: two
 * passes of the three, then graph and planner pairs until the time budget is
 * spent on those two (the planner's verdict is their median paired ratio). A row
 * that reads SLOWER runs as many passes again, once, and is judged on all of
 * them: a median of ~40 pairs is read to about ±3 %, so among the ~60 rows
 * judged on speed one or two fell below 0.95 by chance in most sweeps (at
 * 83bf8e3 mixture I8 50 k read 0.947 on 46 pairs spread 0.55–1.44), where a
 * real cost stays below it on twice the pairs. Recall@k of each is against exact
 * float64 ground truth (bench/lib/truth.ts; B1: Hamming on sign bits, ties
 * counted). The crossover per workload and quantization is the largest size at
 * which the scan is faster than the graph at equal or better recall.
 *
 * Workloads (both seeded Gaussian mixtures, bench/lib/data.ts):
 * - mixture: the benchmarks' standard set (n/1000 centres, σ 0.6–1.0), queries
 *   drawn from the same mixture: the graph's easy case;
 * - far: 100 tight centres (σ 0.35, as test/helpers/data.ts and the acceptance
 *   checks make them), queries drawn around *other* centres: every query is far
 *   from the data and its neighbours straddle clusters, the graph's hard case.
 *
 *   node dist/bench/planner.js [--quick] [--workloads mixture,far] [--sizes 1000,5000] [--quants F32,I8] [--ef 64] [--dim 128] [--budget 2]
 *   npm run bench -- --only planner [--quick]
 *
 * Writes bench/results/planner.json (planner-quick.json for --quick or a custom sweep).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VectorSet, PROBE_SPAN, type Quant, type Metric, type SetParams } from '../src/engine/vector-set.js';
import type { Context } from './lib/context.js';
import { clustered, row, Mixture, type Dataset } from './lib/data.js';
import { exactKnn, meanRecall, signBits, popcount32, type Truth } from './lib/truth.js';
import { fmtRate, fmtRatio, fmtRecall, fmtUs, percentile, nowUs } from './lib/stats.js';
import { printTable } from './lib/report.js';
import { ROOT } from './lib/server.js';
import { EXACT_BELOW_DEFAULT, PLANNER_RECALL_DEFAULT, PLANNER_SCAN_MAX_DEFAULT } from '../src/config.js';
import { GraphTrust } from '../src/engine/graph-trust.js';

/** The crossover sits below 1k at dim 128 and EF 64: the sweep starts under it. */
export const FULL_SIZES = [128, 256, 512, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];
export const QUICK_SIZES = [128, 256, 512, 1_000, 5_000, 20_000];
export type Workload = 'mixture' | 'far';
export const WORKLOADS: readonly Workload[] = ['mixture', 'far'];

/** The data of one workload (see the header). */
function dataset(w: Workload, n: number, dim: number, q: number, seed: number): Dataset {
  if (w === 'mixture') return clustered(n, dim, q, seed);
  const spec = { dim, clusters: 100, seed, spread: [0.35, 0.35] as [number, number] };
  const queries = new Mixture({ ...spec, seed: seed + 1 }).sample(q, 2);
  return { n, dim, vectors: new Mixture(spec).sample(n, 1), q, queries, spec };
}

/** Graph/planner pairs a row needs at least, whatever the budget: a median over fewer swung ±5 % at 50 k under load. */
const MIN_PAIRS = 30;
const VARIANTS: Array<{ quant: Quant; metric: Metric }> = [
  { quant: 'F32', metric: 'COSINE' },
  { quant: 'F16', metric: 'COSINE' },
  { quant: 'BF16', metric: 'COSINE' },
  { quant: 'I8', metric: 'COSINE' },
  { quant: 'B1', metric: 'HAMMING' },
];

export interface PlannerOptions {
  workloads: Workload[];
  sizes: number[];
  quants: Quant[];
  dim: number;
  /** Queries per round (recall is averaged over them). */
  q: number;
  k: number;
  ef: number;
  m: number;
  efConstruction: number;
  seed: number;
  /** Wall time per (quantization, size) for the alternating rounds, ms. */
  budgetMs: number;
  quick: boolean;
}

interface Side {
  qps: number;
  p50Us: number;
  p99Us: number;
  /** CPU time of this process (every thread) per query: what many clients would compete for. */
  cpuUs: number;
  recall: number;
  queries: number;
}

export interface PlannerRow {
  workload: Workload;
  quant: Quant;
  metric: Metric;
  n: number;
  exact: Side;
  graph: Side;
  /** The default planner (threshold, sampling, scan fallback) as the server ships it. */
  planner: Side;
  /**
   * Planner ÷ graph speed, the median over alternating rounds of the ratio of each round's
   * pair (the two sides run back to back): a drift of the machine's load between rounds
   * cancels, where the ratio of the two totals carries it.
   */
  plannerOverGraph: number;
  /** Each pass's graph ÷ planner round time, in order (what the median above is taken over). */
  pairedRatios: number[];
  /** It read SLOWER after its passes and ran as many again: the verdict is on all of them. */
  remeasured: boolean;
  /** The bar: the planner is never slower than the graph at equal recall. */
  plannerVerdict: 'as fast' | 'more recall' | 'no graph' | 'same walk' | 'SLOWER';
  /** The planner's first round (its sampling window included), ms: what a new set pays once. */
  plannerFirstRoundMs: number;
  /** graph ÷ exact speed, the median over passes of the exact round's time ÷ the graph round's of the same pass: above 1 the graph is faster. */
  graphOverExact: number;
  exactWins: boolean;
  buildSeconds: number;
}

/** Within noise of the graph's speed, or slower only where it buys recall the walk did not find. */
function verdict(planner: Side, graph: Side, speed: number, n: number): PlannerRow['plannerVerdict'] {
  if (graph.queries === 0) return 'no graph';
  // Past PROBE_SPAN × vec-planner-scan-max the planner runs the very same walk: any difference is noise.
  if (n > PLANNER_SCAN_MAX_DEFAULT * PROBE_SPAN) return 'same walk';
  if (planner.recall >= graph.recall + 0.01 && speed < 0.95) return 'more recall';
  if (speed >= 0.95) return 'as fast';
  if (planner.recall >= graph.recall + 0.01) return 'more recall';
  return 'SLOWER';
}

const settle = () => new Promise((r) => setTimeout(r, 50));

/** One (quantization, size) cell: build the set, then alternate rounds of exact and graph single queries. */
async function measure(o: PlannerOptions, workload: Workload, quant: Quant, metric: Metric, n: number,
  truth: (metric: 'cos' | 'hamming') => Promise<{ truth: Truth; ds: Dataset }>): Promise<PlannerRow> {
  const { truth: t, ds } = await truth(metric === 'HAMMING' ? 'hamming' : 'cos');
  const params: SetParams = { dim: o.dim, metric, quant, m: o.m, efConstruction: o.efConstruction, ef: o.ef, explicit: true, projectInputDim: 0, family: 'vec' };
  const set = new VectorSet(params);
  const tb = nowUs();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) pending.push(set.add(String(i), row(ds.vectors, i, o.dim), undefined).done);
  await Promise.all(pending);
  const buildSeconds = (nowUs() - tb) / 1e6;
  const queries = Array.from({ length: ds.q }, (_, i) => row(ds.queries, i, o.dim));

  // B1 answers are scored by their true Hamming distance (ties), as bench/quant.ts does.
  const words = Math.ceil(o.dim / 32);
  const baseBits = metric === 'HAMMING' ? signBits(ds.vectors, n, o.dim) : null;
  const queryBits = metric === 'HAMMING' ? signBits(ds.queries, ds.q, o.dim) : null;
  const hamming = (qi: number, ids: ArrayLike<number>) => Array.from(ids, (id) => {
    let d = 0;
    for (let w = 0; w < words; w++) d += popcount32(baseBits![id * words + w] ^ queryBits![qi * words + w]);
    return d;
  });

  const side0 = () => ({ lat: [] as number[], wallUs: 0, cpuUs: 0, count: 0, answerRounds: [] as number[][][], rounds: [] as number[], passes: [] as number[] });
  const sides = { exact: side0(), graph: side0(), planner: side0() };
  const round = async (which: 'exact' | 'graph' | 'planner', record: boolean, pass = -1) => {
    const s = sides[which];
    const exact = which === 'exact';
    // graph: the walk alone (no threshold, no sampling); planner: everything as shipped.
    VectorSet.exactBelow = which === 'planner' ? EXACT_BELOW_DEFAULT : 0;
    GraphTrust.target = which === 'planner' ? PLANNER_RECALL_DEFAULT : 0;
    VectorSet.scanMax = PLANNER_SCAN_MAX_DEFAULT;
    const c0 = process.cpuUsage();
    const w0 = nowUs();
    // Every round's answers: the planner may change its walk between rounds (a re-sample that
    // widens the beam), and its recall must be that of the rounds timed, not of the first only.
    const answers: number[][] = [];
    for (let qi = 0; qi < queries.length; qi++) {
      const t0 = nowUs();
      const hits = await set.search(queries[qi], { k: o.k, ef: o.ef, exact });
      const dt = nowUs() - t0;
      if (record) {
        s.lat.push(dt);
        answers.push(hits.map((h) => Number(h.id)));
      }
    }
    if (record) {
      s.answerRounds.push(answers);
      const roundUs = nowUs() - w0;
      s.rounds.push(roundUs);
      s.passes.push(pass);
      s.wallUs += roundUs;
      const c = process.cpuUsage(c0);
      s.cpuUs += c.user + c.system;
      s.count += queries.length;
    }
  };
  // A beam as wide as the set: the planner scans whatever the threshold, so there is no graph figure.
  const graphable = n > o.ef;
  const side = (which: 'exact' | 'graph' | 'planner'): Side => {
    const s = sides[which];
    if (s.count === 0) return { qps: NaN, p50Us: NaN, p99Us: NaN, cpuUs: NaN, recall: NaN, queries: 0 };
    const recallOf = (a: number[][]) => (metric === 'HAMMING' ? meanRecall(t, a, hamming).recall : meanRecall(t, a).recall);
    const recall = s.answerRounds.reduce((sum, a) => sum + recallOf(a), 0) / s.answerRounds.length;
    return { qps: s.count / (s.wallUs / 1e6), p50Us: percentile(s.lat, 50), p99Us: percentile(s.lat, 99), cpuUs: s.cpuUs / s.count,
      recall, queries: s.count };
  };
  // The verdict on the passes run so far (see `verdict`).
  const pairedRatios = () => sides.graph.rounds.map((g, i) => g / sides.planner.rounds[i]);
  const verdictNow = () => verdict(side('planner'), side('graph'), percentile(pairedRatios(), 50), n);
  let passes = MIN_PAIRS;
  const saved = [VectorSet.exactBelow, GraphTrust.target, VectorSet.scanMax] as const;
  let learnUs = 0;
  try {
    await settle();
    await round('exact', false); // warm-up (caches, worker threads, JIT)
    if (graphable) await round('graph', false);
    // The planner's warm-up rounds are also where it samples its first windows (16 queries
    // answered by a scan and a walk both, per beam tried): a one-time cost per set, reported apart.
    // Three rounds: a set too large to scan may also try a wider beam (a window of 16 more probes).
    const l0 = nowUs();
    await round('planner', false);
    learnUs = nowUs() - l0;
    await round('planner', false);
    await round('planner', false);
    // Passes alternate who goes first (E G P, P G E …) until the budget is spent on graph and
    // planner rounds, and at least MIN_PAIRS of them ran. The exact side joins a pass only while
    // its rounds have taken no longer than the graph's: a 50 k exact round costs ~10 walk rounds,
    // and running it every pass left 7-16 graph/planner pairs in a 2 s budget, whose ratios
    // swung 0.46-1.52 under load.
    let pass = 0;
    let pairedUs = 0, exactUs = 0, graphUs = 0;
    const enough = () => pass >= 2 && pairedUs >= o.budgetMs * 1000 && (!graphable || pass >= passes);
    for (;;) {
      if (enough()) {
        // A row that reads slower runs as many passes again once, judged on all of them.
        if (passes > MIN_PAIRS || !graphable || verdictNow() !== 'SLOWER') break;
        passes = 2 * pass;
        pairedUs = 0;
        continue;
      }
      const order = pass % 2 === 0 ? (['exact', 'graph', 'planner'] as const) : (['planner', 'graph', 'exact'] as const);
      for (const which of order) {
        if (which === 'graph' && !graphable) continue;
        if (which === 'exact' && graphable && pass >= 2 && exactUs > graphUs) continue;
        const r0 = nowUs();
        await round(which, true, pass);
        const us = nowUs() - r0;
        if (which === 'exact') exactUs += us;
        if (which === 'graph') graphUs += us;
        if (which !== 'exact' || !graphable) pairedUs += us;
      }
      pass++;
    }
  } finally {
    [VectorSet.exactBelow, GraphTrust.target, VectorSet.scanMax] = saved;
  }
  const exact = side('exact'), graph = side('graph'), planner = side('planner');
  // Ratios of rounds run in the same pass (E G P or P G E), so that load drift between passes cancels.
  const paired = pairedRatios();
  const plannerOverGraph = paired.length ? percentile(paired, 50) : NaN;
  const graphRoundOfPass = new Map(sides.graph.passes.map((p, i) => [p, sides.graph.rounds[i]]));
  const exactOverGraphRounds = sides.exact.rounds.flatMap((e, i) => {
    const g = graphRoundOfPass.get(sides.exact.passes[i]);
    return g === undefined ? [] : [e / g];
  });
  const graphOverExact = exactOverGraphRounds.length ? percentile(exactOverGraphRounds, 50) : graph.qps / exact.qps;
  set.dispose();
  return { workload, quant, metric, n, exact, graph, planner, plannerOverGraph, pairedRatios: paired.map((x) => Math.round(x * 1000) / 1000), remeasured: passes > MIN_PAIRS, plannerVerdict: verdict(planner, graph, plannerOverGraph, n), plannerFirstRoundMs: learnUs / 1000, graphOverExact,
    exactWins: !graphable || (graphOverExact < 1 && exact.recall >= graph.recall - 1e-9), buildSeconds };
}

export interface Crossover {
  /** Largest swept size at which the scan won (0: none). */
  largestExactWin: number;
  /** Where graph ÷ exact QPS crosses 1, log-linear between that size and the next. */
  interpolated: number;
  /** Every size up to the crossover won by the scan, every one past it by the graph. */
  monotone: boolean;
  /** Smallest swept size past EF whose graph recall is below 0.95 (0: none). */
  graphRecallBelow95From: number;
  /** Lowest graph recall seen. */
  graphRecallMin: number;
}

/** The crossover of one workload × quantization. */
export function crossover(rows: PlannerRow[]): Crossover {
  const sorted = rows.slice().sort((a, b) => a.n - b.n);
  let largest = 0;
  for (const r of sorted) if (r.exactWins) largest = r.n;
  let interpolated = largest;
  const at = sorted.findIndex((r) => r.n === largest);
  if (at >= 0 && at + 1 < sorted.length) {
    const a = sorted[at], b = sorted[at + 1];
    const la = Math.log(a.graphOverExact), lb = Math.log(b.graphOverExact); // la ≤ 0 < lb
    const f = !Number.isFinite(la) || !Number.isFinite(lb) || lb === la ? 0 : Math.min(1, Math.max(0, (0 - la) / (lb - la)));
    interpolated = Math.round(Math.exp(Math.log(a.n) + f * (Math.log(b.n) - Math.log(a.n))));
  }
  const monotone = sorted.every((r, i) => i === 0 || !r.exactWins || sorted[i - 1].exactWins);
  const graphed = sorted.filter((r) => r.graph.queries > 0);
  return {
    largestExactWin: largest, interpolated, monotone,
    graphRecallBelow95From: graphed.find((r) => r.graph.recall < 0.95)?.n ?? 0,
    graphRecallMin: Math.min(...graphed.map((r) => r.graph.recall)),
  };
}

export type Crossovers = Record<string, Crossover>; // keyed `${workload} ${quant}`

export async function sweep(o: PlannerOptions, truthFor?: Context['truthFor']): Promise<{ rows: PlannerRow[]; crossovers: Crossovers }> {
  const rows: PlannerRow[] = [];
  const variants = VARIANTS.filter((v) => o.quants.includes(v.quant));
  for (const w of o.workloads) {
    for (const n of o.sizes) {
      const ds = dataset(w, n, o.dim, o.q, o.seed);
      const truths = new Map<string, Promise<Truth>>();
      const truth = (metric: 'cos' | 'hamming') => {
        let p = truths.get(metric);
        if (!p) {
          p = truthFor ? truthFor(ds, metric, `planner-${w}`) : exactKnn(metric, ds.vectors, n, ds.queries, ds.q, o.dim, o.k);
          truths.set(metric, p);
        }
        return p.then((t) => ({ truth: t, ds }));
      };
      for (const v of variants) {
        const r = await measure(o, w, v.quant, v.metric, n, truth);
        rows.push(r);
        console.log(`   · ${w.padEnd(7)} ${v.quant.padEnd(4)} n ${String(n).padStart(6)}: exact ${fmtRate(r.exact.qps).padStart(7)} QPS (recall ${r.exact.recall.toFixed(3)}), ` +
          `graph ${fmtRate(r.graph.qps).padStart(7)} QPS (recall ${r.graph.recall.toFixed(3)}), graph ÷ exact ${fmtRatio(r.graphOverExact)}, ` +
          `planner ${fmtRate(r.planner.qps).padStart(7)} QPS (recall ${r.planner.recall.toFixed(3)}, paired ÷ graph ${fmtRatio(r.plannerOverGraph)}${r.remeasured ? `, ${r.pairedRatios.length} pairs: re-measured` : ''}) ${r.plannerVerdict}, ` +
          `load ${os.loadavg()[0].toFixed(2)}`);
      }
    }
  }
  const crossovers: Crossovers = {};
  for (const w of o.workloads) {
    for (const v of variants) crossovers[`${w} ${v.quant}`] = crossover(rows.filter((r) => r.workload === w && r.quant === v.quant));
  }
  return { rows, crossovers };
}

function report(o: PlannerOptions, rows: PlannerRow[], crossovers: Crossovers): void {
  const below = `< ${Math.min(...o.sizes)}`;
  printTable(`Planner: exact scan vs HNSW graph, single queries one at a time, ${o.dim}-d, k ${o.k}, EF ${o.ef}, M ${o.m}, EF_CONSTRUCTION ${o.efConstruction}`,
    ['workload', 'set', 'n', 'exact QPS', 'exact p50', 'exact CPU/q', 'exact recall', 'graph QPS', 'graph p50', 'graph CPU/q', 'graph recall', 'graph ÷ exact', 'faster',
      'planner QPS', 'planner recall', 'planner ÷ graph', 'bar'],
    rows.map((r) => [r.workload, `${r.quant} ${r.metric}`, r.n, fmtRate(r.exact.qps), fmtUs(r.exact.p50Us), fmtUs(r.exact.cpuUs), fmtRecall(r.exact.recall),
      fmtRate(r.graph.qps), fmtUs(r.graph.p50Us), fmtUs(r.graph.cpuUs), fmtRecall(r.graph.recall), fmtRatio(r.graphOverExact),
      r.graph.queries === 0 ? 'exact (EF ≥ n)' : r.exactWins ? 'exact' : 'graph',
      fmtRate(r.planner.qps), fmtRecall(r.planner.recall), r.graph.queries === 0 ? '–' : fmtRatio(r.plannerOverGraph), r.plannerVerdict]),
    'In process through VectorSet.search (op queue and worker round trip included, no network). QPS: queries ÷ wall time of\n' +
    'alternating rounds; CPU/q: this process\'s CPU time (all threads) per query. Recall@k against exact float64 truth (B1: Hamming on sign bits, ties counted).\n' +
    'mixture: queries from the data\'s own mixture; far: tight clusters, queries around other centres (as the tests and acceptance checks draw them).\n' +
    'planner: the defaults as shipped (scan up to vec-exact-search-below, then the walk where its sampled recall meets vec-planner-recall, else the scan up to\n' +
    'vec-planner-scan-max), after a first round (its first sampling window: the JSON has its time as plannerFirstRoundMs), re-sampling included. planner ÷ graph: the median over passes of the speed ratio of the two rounds of a pass (run back to back). bar: "as fast" (≥ 0.95× the graph), "more recall" (slower, but ≥ 0.01 more recall: a scan, or a beam widened\n' +
    'past the scan limit), "same walk" (past 8 × vec-planner-scan-max the planner runs the walk itself: a difference is noise), or SLOWER. A row that reads\n' +
    'SLOWER runs as many passes again, once, and is judged on all of them ("re-measured").');
  printTable('Crossover: largest set size at which the exact scan is faster than the graph at equal or better recall',
    ['workload', 'set', 'largest swept size won by exact', 'interpolated crossover', 'monotone', 'graph recall < 0.95 from', 'lowest graph recall'],
    Object.entries(crossovers).map(([key, c]) => [...key.split(' '), c.largestExactWin || `none (${below})`, c.interpolated || below, c.monotone ? 'yes' : 'no (noise)',
      c.graphRecallBelow95From || 'never', fmtRecall(c.graphRecallMin)]),
    `vec-exact-search-below default: ${EXACT_BELOW_DEFAULT} elements (src/config.ts): the planner always scans sets of at most that many (and any set with EF ≥ its size).\n` +
    `Smallest interpolated crossover in this run: ${smallest(crossovers, o)} (a limit above it sends sets to a slower scan).`);
}

function smallest(crossovers: Crossovers, o: PlannerOptions): string {
  const m = Math.min(...Object.values(crossovers).map((c) => c.interpolated));
  return m > 0 ? String(m) : `< ${Math.min(...o.sizes)}`;
}

function write(o: PlannerOptions, rows: PlannerRow[], crossovers: Crossovers, name: string): void {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = {
    date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(),
    loadAverage: os.loadavg(), options: o, exactBelowDefault: EXACT_BELOW_DEFAULT, crossovers, rows,
  };
  writeFileSync(path.join(dir, name), JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  console.log(`wrote bench/results/${name}`);
}

/** From `npm run bench` (bench/run.ts). */
export async function run(ctx: Context): Promise<void> {
  const c = ctx.opts;
  const o: PlannerOptions = { workloads: [...WORKLOADS], sizes: c.quick ? QUICK_SIZES : FULL_SIZES, quants: VARIANTS.map((v) => v.quant), dim: c.dim,
    q: c.quick ? 100 : 200, k: c.k, ef: c.defaultEf, m: c.m, efConstruction: c.efConstruction, seed: c.seed, budgetMs: c.quick ? 700 : 2000, quick: c.quick };
  const { rows, crossovers } = await sweep(o, ctx.truthFor.bind(ctx));
  report(o, rows, crossovers);
  write(o, rows, crossovers, c.quick || c.dim !== 128 || c.defaultEf !== 64 ? 'planner-quick.json' : 'planner.json');
  ctx.results.planner = { options: o, crossovers, rows };
  ctx.bars.add('Planner', 'sizes × quantizations × workloads where the default planner is slower than the graph at equal recall',
    rows.filter((r) => r.plannerVerdict === 'SLOWER').length, '<=', 0, '', `of ${rows.length}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false }, workloads: { type: 'string' }, sizes: { type: 'string' }, quants: { type: 'string' },
      dim: { type: 'string' }, ef: { type: 'string' }, queries: { type: 'string' }, budget: { type: 'string' }, seed: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick;
  const num = (s: string | undefined, def: number) => (s === undefined ? def : Number(s));
  const o: PlannerOptions = {
    workloads: values.workloads ? values.workloads.split(',').map((s) => s.trim() as Workload) : [...WORKLOADS],
    sizes: values.sizes ? values.sizes.split(',').map(Number) : quick ? QUICK_SIZES : FULL_SIZES,
    quants: values.quants ? values.quants.split(',').map((s) => s.trim().toUpperCase() as Quant) : VARIANTS.map((v) => v.quant),
    dim: num(values.dim, 128), q: num(values.queries, quick ? 100 : 200), k: 10, ef: num(values.ef, 64), m: 16, efConstruction: 128,
    seed: num(values.seed, 42), budgetMs: num(values.budget, quick ? 0.7 : 2) * 1000, quick,
  };
  for (const w of o.workloads) if (!WORKLOADS.includes(w)) throw new Error(`--workloads: ${WORKLOADS.join(', ')}, got ${w}`);
  for (const s of o.sizes) if (!Number.isInteger(s) || s < 1) throw new Error(`--sizes: positive integers, got ${values.sizes}`);
  for (const q of o.quants) if (!VARIANTS.some((v) => v.quant === q)) throw new Error(`--quants: one of ${VARIANTS.map((v) => v.quant).join(', ')}, got ${q}`);
  for (const [name, v] of [['dim', o.dim], ['ef', o.ef], ['queries', o.q]] as const) if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: a positive integer`);
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} threads, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at start`);
  const { rows, crossovers } = await sweep(o);
  report(o, rows, crossovers);
  const standard = !quick && !values.sizes && !values.quants && !values.workloads && o.dim === 128 && o.ef === 64;
  write(o, rows, crossovers, standard ? 'planner.json' : 'planner-quick.json');
  console.log(`load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at end`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exit(1);
  });
}

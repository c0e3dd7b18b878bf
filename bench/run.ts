/**
 * `npm run bench`: every benchmark in one run, on one machine, side by side.
 *
 *   npm run bench                       # everything, default sizes (~10–15 min on 2 cores)
 *   npm run bench -- --quick            # small sizes (~3 min)
 *   npm run bench -- --only planner     # exact scan vs graph by set size (~10 min; ~2 min with --quick)
 *   npm run bench -- --only search,latency --n 50000 --efs 32,64,128 --duration 5
 *
 * Flags (or BENCH_* environment variables): --n (BENCH_N), --queries (BENCH_Q),
 * --dim, --efs (BENCH_EFS), --duration seconds per measurement (BENCH_DURATION),
 * --clients (BENCH_CLIENTS), --seed (BENCH_SEED), --quant-n (BENCH_QUANT_N),
 * --ping-n (BENCH_PING_N), --driver raw|ioredis (BENCH_DRIVER; the search and latency load generator). --only takes: ping, ingest, search, latency,
 * filtered, vsim, get, ft (FT.SEARCH and indexed HSET ingest beside VEC.SEARCH and VEC.ADD, own server), quant (alias memory), planner (exact scan vs graph by set size, in process),
 * stalls (PING p99/max while heavy operations run; --big (BENCH_BIG=1) adds BGSAVE of 1 M × 128 vectors),
 * expiry (100 k keys with 1–3 s TTLs: lateness, PING max meanwhile, none resurrected by a SIGKILL; --quick: 20 k),
 * scale (bytes per vector per quantization, snapshot/WAL restarts, search, at 10 k and 100 k × 128
 * (--quick: 10 k; --big adds 1 M); also writes bench/results/scale.json; ~4 min, ~25 min with --big).
 *
 * Prints one table per question plus the bars (measured ÷ bar), and writes
 * bench/results/latest.json and bench/results/recall-qps.svg (a --quick run:
 * latest-quick.json and recall-qps-quick.svg; an --only run: latest[-quick]-only-<names>.json and its chart,
 * so partial runs never overwrite the full record). The machine is shared and
 * noisy: only ratios taken in the same run mean anything.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Context, type Options } from './lib/context.js';
import { runEnv } from './lib/env.js';
import { ROOT } from './lib/server.js';
import { printBars, printTable } from './lib/report.js';
import { recallQpsSvg } from './lib/chart.js';
import type { CurvePoint } from './search.js';

type Script = { run: (ctx: Context) => Promise<void> };
const SCRIPTS: Array<[string, () => Promise<Script>]> = [
  ['ping', () => import('./ping.js')],
  ['ingest', () => import('./ingest.js')],
  ['search', () => import('./search.js')],
  ['latency', () => import('./latency.js')],
  ['filtered', () => import('./filtered.js')],
  ['vsim', () => import('./vsim.js')],
  ['get', () => import('./get.js')],
  ['ft', () => import('./ft.js')],
  ['quant', () => import('./quant.js')],
  ['planner', () => import('./planner.js')],
  ['stalls', () => import('./stalls.js')],
  ['expiry', () => import('./expiry.js')],
  ['scale', () => import('./scale.js')],
];
/** Benchmarks that use the main set's server; it is stopped before the ones after them. */
const USES_FIXTURE = new Set(['ingest', 'search', 'latency', 'filtered', 'vsim', 'get']);

function driverOf(v: string): 'raw' | 'ioredis' {
  if (v !== 'raw' && v !== 'ioredis') throw new Error(`--driver: raw or ioredis, got ${v}`);
  return v;
}

function options(): { opts: Options; only: Set<string> | null } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      n: { type: 'string' }, queries: { type: 'string' }, dim: { type: 'string' }, efs: { type: 'string' },
      duration: { type: 'string' }, clients: { type: 'string' }, seed: { type: 'string' }, driver: { type: 'string' },
      'quant-n': { type: 'string' }, 'ping-n': { type: 'string' },
      big: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const env = process.env;
  const quick = values.quick || env.BENCH_QUICK === '1';
  const int = (flag: string | undefined, envName: string, def: number) => {
    const raw = flag ?? env[envName];
    if (raw === undefined || raw === '') return def;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${envName}/flag must be a positive number, got ${raw}`);
    return v;
  };
  const efsRaw = values.efs ?? env.BENCH_EFS;
  const opts: Options = {
    quick,
    n: int(values.n, 'BENCH_N', quick ? 20_000 : 100_000),
    dim: int(values.dim, 'BENCH_DIM', 128),
    q: int(values.queries, 'BENCH_Q', quick ? 200 : 500),
    k: 10,
    seed: int(values.seed, 'BENCH_SEED', 42),
    m: 16,
    efConstruction: 128,
    defaultEf: 64,
    efs: efsRaw ? efsRaw.split(',').map(Number) : quick ? [64, 128, 256] : [64, 128, 256, 512],
    clients: int(values.clients, 'BENCH_CLIENTS', 50),
    driver: driverOf(values.driver ?? env.BENCH_DRIVER ?? 'raw'),
    durationMs: int(values.duration, 'BENCH_DURATION', quick ? 2.5 : 8) * 1000,
    warmupMs: quick ? 500 : 1000,
    ingestConnections: 4,
    ingestPipeline: 1000,
    pingRequests: int(values['ping-n'], 'BENCH_PING_N', quick ? 50_000 : 200_000),
    pingRepeats: 3,
    quantN: int(values['quant-n'], 'BENCH_QUANT_N', quick ? 5_000 : 20_000),
    threads: os.availableParallelism(),
    big: values.big || env.BENCH_BIG === '1',
  };
  if (opts.efs.some((e) => !Number.isInteger(e) || e < 1)) throw new Error(`--efs must be positive integers, got ${efsRaw}`);
  const onlyRaw = values.only ?? env.BENCH_ONLY;
  let only: Set<string> | null = null;
  if (onlyRaw) {
    only = new Set(onlyRaw.split(',').map((s) => (s.trim() === 'memory' ? 'quant' : s.trim())));
    for (const s of only) if (!SCRIPTS.some(([name]) => name === s)) throw new Error(`--only: unknown benchmark '${s}' (use ${SCRIPTS.map(([n]) => n).join(', ')})`);
  }
  return { opts, only };
}

async function main(): Promise<void> {
  const { opts, only } = options();
  const env = await runEnv();
  const started = Date.now();
  printTable('Astronaut benchmarks', ['', ''], [
    ['node', env.node], ['cpu', `${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB`], ['commit', env.commit],
    ['redis-server', env.redisServer], ['redis-benchmark', env.redisBenchmark], ['stock usearch (npm)', env.usearchStock], ['astronaut addon', env.addon],
    ['load average at start', env.loadAverage], ['sizes', `main set ${opts.n} × ${opts.dim}, ${opts.q} queries, k ${opts.k}; quant sets ${opts.quantN}; EFs ${opts.efs.join(', ')}; ${opts.clients} clients; ${opts.durationMs / 1000} s per measurement${opts.quick ? ' (--quick)' : ''}`],
  ], 'The machine is shared and noisy (±30 %): compare ratios measured side by side in this run, not absolute figures across runs.');

  const ctx = new Context(opts, env);
  const selected = SCRIPTS.filter(([name]) => !only || only.has(name));
  const lastFixtureUser = selected.map(([n]) => n).filter((n) => USES_FIXTURE.has(n)).pop();
  const timings: Record<string, number> = {};
  const failures: Record<string, string> = {};
  try {
    for (const [name, load] of selected) {
      const t = Date.now();
      console.log(`\n>> ${name}`);
      // One benchmark failing (a server that would not start, an error reply) must not lose the others' figures.
      try {
        await (await load()).run(ctx);
      } catch (e) {
        failures[name] = e instanceof Error ? e.stack ?? e.message : String(e);
        console.error(`!! ${name} failed: ${failures[name]}`);
      }
      timings[name] = (Date.now() - t) / 1000;
      if (name === lastFixtureUser) await ctx.releaseFixture().catch(() => undefined);
    }
  } finally {
    await ctx.dispose();
  }
  printBars(ctx.bars);
  const totalSeconds = (Date.now() - started) / 1000;
  console.log(`\ntotal ${totalSeconds.toFixed(0)} s (${Object.entries(timings).map(([n, s]) => `${n} ${s.toFixed(0)} s`).join(', ')})`);

  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // A --quick or --only run must not overwrite the record of the last full run.
  const suffix = (opts.quick ? '-quick' : '') + (only ? `-only-${[...only].join('-')}` : '');
  const jsonName = `latest${suffix}.json`;
  const svgName = `recall-qps${suffix}.svg`;
  const out = { env, options: opts, only: only ? [...only] : null, totalSeconds, timings, failures, results: ctx.results, bars: ctx.bars.list };
  writeFileSync(path.join(dir, jsonName), JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  const search = ctx.results.search as { curves: Record<'server' | 'batch' | 'single', CurvePoint[]>; n: number; dim: number; clients: number } | undefined;
  if (search) {
    const svg = recallQpsSvg(`Recall vs throughput, ${search.n.toLocaleString('en')} × ${search.dim} clustered, cosine, k ${opts.k}`,
      `HNSW M ${opts.m}, EF_CONSTRUCTION ${opts.efConstruction}; points are EF = ${opts.efs.join(', ')}. Up and right is better.`,
      [
        { name: `Astronaut, ${search.clients} conns`, color: '#d62728', points: search.curves.server },
        { name: `usearch batch, ${opts.threads} threads`, color: '#1f77b4', points: search.curves.batch },
        { name: 'usearch, 1 query/call', color: '#7f7f7f', points: search.curves.single },
      ],
      `${env.date} · node ${env.node} · ${env.cpu} × ${env.cores} · commit ${env.commit}\nusearch ${env.usearchStock} (stock npm) in process vs Astronaut through RESP with ${opts.driver === 'raw' ? 'lean raw-socket' : 'ioredis'} clients on the same machine`);
    writeFileSync(path.join(dir, svgName), svg);
    console.log(`wrote bench/results/${jsonName} and bench/results/${svgName}`);
  } else {
    console.log(`wrote bench/results/${jsonName}`);
  }
  if (Object.keys(failures).length > 0) {
    console.error(`\nfailed: ${Object.keys(failures).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});

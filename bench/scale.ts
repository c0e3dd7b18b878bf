/**
 * The scale sweep of issue 14: what a set costs and how fast the server comes
 * back, at 10 k and 100 k × 128 (1 M with --big), each figure beside in-process
 * usearch on the same data in the same run.
 *
 *   node dist/bench/scale.js [--sizes 10000,100000] [--big] [--queries 200] [--seed 42] [--attempts 2]
 *   npm run bench -- --only scale [--big]          (--quick: 10 k only)
 *
 * Per size, one table:
 * - bytes per vector for F32 (VEC.CREATE … QUANT F32 + VEC.ADD), I8 (VEC.CREATE
 *   … QUANT I8 + VEC.ADD) and Q8 (VADD, Redis 8's default): the server's RSS
 *   delta (/proc VmRSS after it stops moving), `INFO memory used_memory` delta,
 *   `MEMORY USAGE key` and `VEC.INFO memory_bytes`, against stock usearch's RSS
 *   for the same index in a fresh process (bench/lib/usearch-memory.ts) plus
 *   10 bytes of id per vector, and against Redis 8's 883 B (measured.md);
 * - RSS after FLUSHALL against the same server fresh;
 * - snapshot: size, SAVE time, BGSAVE's worst side-connection PING (every ~1 ms,
 *   bench/stalls.ts's probe), load time and MB/s on restart, first answered
 *   VEC.SEARCH after spawn;
 * - WAL replay (no snapshot, auto-rewrite off) in vectors/s against usearch's
 *   batch add on every core;
 * - VEC.SEARCH QPS (4 connections) and recall@10 at each set's default EF against
 *   usearch's batch search.
 * Once per run: 1000 one-element VADD sets (RSS per set) and FLUSHALL after them.
 *
 * The machine is shared. The timed half of a size (usearch's build rate, the
 * restarts, BGSAVE, searches) is run again when the 1-minute load average was
 * above 1.5 at its start or end (--attempts, default 2), and the attempt under
 * the lower load is kept; figures still taken under load are marked `*`.
 * Memory figures are taken once: RSS does not depend on the load.
 * Writes bench/results/scale.json (a --quick run: scale-quick.json).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { Context, type Options } from './lib/context.js';
import { runEnv } from './lib/env.js';
import { blobs, clustered, rowBlob, type Dataset } from './lib/data.js';
import { meanRecall, type Truth } from './lib/truth.js';
import { ROOT, freePort, rssBytes, spawnAstronautIn, type PersistentServer } from './lib/server.js';
import { closeAll, closedLoop, connect, connectMany, pipelinedLoad, roundRobin } from './lib/client.js';
import { batchSearch, newStock } from './lib/baseline.js';
import { printBars, printTable, type Cell } from './lib/report.js';
import { fmtBytes, fmtRate, fmtRecall } from './lib/stats.js';
import { underProbe } from './stalls.js';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`   · ${s}`);

const DIM = 128;
const M = 16;
const EF_CONSTRUCTION = 128;
const K = 10;
/** The issue's ids are "about 10 bytes": `v:` and eight digits. */
const ID_BYTES = 10;
const idOf = (i: number) => `v:${String(i).padStart(8, '0')}`;
const SEARCH_CONNS = 4;
const LOAD_LIMIT = 1.5;
/** Redis 8.0.2's Q8 set, 20 k × 128: RSS per vector measured on this kind of machine (README, Benchmarks). */
const REDIS_Q8 = 883;

const BAR = {
  f32VsUsearch: 1.1, q8Bytes: 500, accounting: 0.10, oneSetBytes: 8192, flush: 1.2,
  loadMBps: 1000, firstQueryMs: 1500, stallMs: 20, replayVsUsearch: 0.8,
} as const;
/** The issue sets the bytes-per-vector bars at 100 k and 1 M (below, fixed costs are a larger share). */
const MEMORY_BAR_FROM = 100_000;

/** Persistence as a user of restarts runs it; auto-rewrite off so the WAL alone holds the data until we SAVE. */
const PERSIST_ARGS = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--auto-aof-rewrite-percentage', '0', '--loglevel', 'notice'];

type QuantName = 'F32' | 'I8' | 'Q8';
const QUANTS: QuantName[] = ['F32', 'I8', 'Q8'];

export interface ScaleOptions { sizes: number[]; q: number; seed: number; attempts: number; searchMs: number }

const kOf = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1000} k`);
const load1 = () => os.loadavg()[0];

// ---- the server's own figures ----

interface MemReading { rss: number; used: number; dataset: number }

/** RSS once it stops moving (two readings 250 ms apart within 0.2 %), or after `maxMs`: freed pages and background threads take a moment. */
async function settledRss(pid: number, maxMs: number): Promise<number> {
  const t0 = Date.now();
  await sleep(300);
  let prev = rssBytes(pid), quiet = 0;
  while (Date.now() - t0 < maxMs) {
    await sleep(250);
    const now = rssBytes(pid);
    // Three seconds without RSS moving (callers wait for the server's reclaims first: `reading`).
    if (Math.abs(now - prev) <= 0.002 * prev) { if (++quiet >= 12) return now; } else quiet = 0;
    prev = now;
  }
  return rssBytes(pid);
}

function infoNumber(text: string, field: string): number {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function reclaims(c: Redis): Promise<number> { return infoNumber(await c.info('memory'), 'mem_reclaims'); }

/**
 * `reclaimsBefore` (INFO's mem_reclaims before a burst; 0 for a fresh server, whose start
 * is its burst): first wait, up to 30 s, for the two reclaims the server makes after it
 * (five quiet seconds in, at most every 10 s, then once settled, 10 s later:
 * src/ops/reclaim.ts), so the reading is the steady state and not the burst's garbage.
 */
async function reading(c: Redis, pid: number, maxMs: number, reclaimsBefore = 0): Promise<MemReading> {
  const end = Date.now() + 30_000;
  while (Date.now() < end && (await reclaims(c)) < reclaimsBefore + 2) await sleep(250);
  const rss = await settledRss(pid, maxMs);
  const text = await c.info('memory');
  return { rss, used: infoNumber(text, 'used_memory'), dataset: infoNumber(text, 'used_memory_dataset') };
}

async function vecInfo(c: Redis, key: string): Promise<Record<string, string>> {
  const r = (await c.call('VEC.INFO', key)) as unknown[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < r.length; i += 2) out[String(r[i])] = String(r[i + 1]);
  return out;
}

/** The fields of the last JSON log line with this message. */
function logFields(out: string, msg: string): Record<string, number> | null {
  const lines = out.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].includes(`"msg":"${msg}"`)) continue;
    try { return JSON.parse(lines[i]) as Record<string, number>; } catch { /* a line cut by the 4 MB cap */ }
  }
  return null;
}

/** A connected client once the server answers PING (polled on raw sockets: a refused ioredis connect reports errors of its own). */
async function untilPong(srv: PersistentServer, timeoutMs = 600_000): Promise<Redis> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void srv.exited.then(() => { exited = true; });
  const ping = resp(['PING']);
  for (;;) {
    if (exited) throw new Error(`server exited:\n${srv.output().slice(-2000)}`);
    const sock = await connectRaw(srv.port);
    if (sock) {
      const line = await firstLine(sock, ping).catch(() => '');
      sock.destroy();
      if (line === '+PONG') return connect(srv.port);
    }
    if (performance.now() > deadline) throw new Error(`no PONG within ${timeoutMs} ms:\n${srv.output().slice(-2000)}`);
    await sleep(20);
  }
}

function resp(args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Writes `cmd` and resolves with the reply's first line (enough to tell -LOADING from an array). */
function firstLine(sock: net.Socket, cmd: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const at = buf.indexOf('\r\n');
      if (at >= 0) { done(); resolve(buf.slice(0, at)); }
    };
    const onEnd = () => { done(); reject(new Error('connection closed')); };
    const done = () => { sock.off('data', onData); sock.off('close', onEnd); sock.off('error', onEnd); };
    sock.on('data', onData);
    sock.once('close', onEnd);
    sock.once('error', onEnd);
    sock.write(cmd);
  });
}

function connectRaw(port: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.removeAllListeners('error'); s.on('error', () => undefined); resolve(s); });
    s.once('error', () => { s.destroy(); resolve(null); });
  });
}

/**
 * Milliseconds from spawn to the first VEC.SEARCH answered with elements: what a
 * client polling a restarting server sees (refused connections and -LOADING retried every 2 ms).
 */
async function firstQuery(srv: PersistentServer, key: string, query: Buffer, timeoutMs: number): Promise<{ ms: number; loadingReplies: number }> {
  const cmd = resp(['VEC.SEARCH', key, 'FP32', query, 'COUNT', String(K)]);
  const deadline = srv.spawnedAt + timeoutMs;
  let exited = false;
  void srv.exited.then(() => { exited = true; });
  let loadingReplies = 0, last = '';
  while (performance.now() < deadline) {
    if (exited) throw new Error(`server exited while loading:\n${srv.output().slice(-2000)}`);
    const sock = await connectRaw(srv.port);
    if (!sock) { await sleep(2); continue; }
    try {
      while (performance.now() < deadline) {
        const line = await firstLine(sock, cmd);
        if (/^\*[1-9]/.test(line)) return { ms: performance.now() - srv.spawnedAt, loadingReplies };
        if (line.startsWith('-LOADING')) loadingReplies++;
        else last = line;
        await sleep(2);
      }
    } catch { /* closed under us: connect again */ } finally { sock.destroy(); }
  }
  throw new Error(`no answer to VEC.SEARCH within ${timeoutMs} ms (last reply ${last})`);
}

function newestSnapshot(dir: string): { file: string; bytes: number } | null {
  const snaps = readdirSync(dir).filter((f) => /^snap-\d+\.snap$/.test(f)).sort();
  const file = snaps.pop();
  return file ? { file, bytes: statSync(path.join(dir, file)).size } : null;
}

// ---- stock usearch ----

interface StockChild { rss0: number; rssHalf: number; rssFull: number; size: number; addSeconds: number }

async function stockChild(n: number, q: number, seed: number, quantization: 'f32' | 'i8', save: string | undefined): Promise<StockChild> {
  const spec = { n, dim: DIM, q, seed, quantization, metric: 'cos', m: M, efConstruction: EF_CONSTRUCTION, threads: os.availableParallelism(),
    scaleToMaxAbs: quantization === 'i8', save };
  const { stdout } = await exec(process.execPath, [path.join(here, 'lib', 'usearch-memory.js'), JSON.stringify(spec)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as StockChild;
}

function maxAbsRows(m: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) {
    let max = 0;
    for (let j = 0; j < DIM; j++) max = Math.max(max, Math.abs(m[i * DIM + j]));
    const inv = max > 0 ? 1 / max : 0;
    for (let j = 0; j < DIM; j++) out[i * DIM + j] = m[i * DIM + j] * inv;
  }
  return out;
}

interface SearchFigures { qps: number; recall: number; p50Us?: number; p99Us?: number; ef: number; planner?: string }

function stockSearch(file: string, quantization: 'f32' | 'i8', ef: number, ds: Dataset, truth: Truth, minMs: number): SearchFigures {
  const ix = newStock({ dim: DIM, metric: 'cos', quantization, m: M, efConstruction: EF_CONSTRUCTION, ef });
  ix.load(file);
  // Built from vectors scaled to max |x| = 1 (usearch's i8 wants components in [-1, 1]): the queries likewise.
  const queries = quantization === 'i8' ? maxAbsRows(ds.queries, ds.q) : ds.queries;
  const r = batchSearch(ix, queries, ds.q, K, os.availableParallelism(), minMs);
  return { qps: r.qps, recall: meanRecall(truth, r.answers).recall, ef };
}

// ---- building the sets ----

interface Built {
  quant: QuantName;
  how: string;
  key: string;
  port: number;
  pid: number;
  fresh: MemReading;
  loaded: MemReading;
  memoryUsage: number;
  memoryBytes: number;
  reservedBytes: number;
  ef: number;
  ingestRate: number;
}

async function ingest(port: number, n: number, cmd: (i: number) => [string, ...(string | Buffer)[]]): Promise<number> {
  const conns = await connectMany(port, 4);
  const t = performance.now();
  try { await pipelinedLoad(conns, n, 1000, cmd); } finally { closeAll(conns); }
  return n / ((performance.now() - t) / 1000);
}

async function buildSet(quant: QuantName, srvPort: number, pid: number, c: Redis, ds: Dataset, settleMs: number): Promise<Built> {
  const key = `scale:${quant.toLowerCase()}`;
  const fresh = await reading(c, pid, settleMs);
  const before = await reclaims(c);
  const blob = (i: number) => rowBlob(ds.vectors, i, DIM);
  let ingestRate: number;
  let how: string;
  if (quant === 'Q8') {
    how = 'VADD (Q8, M 16, EF 200: its defaults)';
    ingestRate = await ingest(srvPort, ds.n, (i) => ['VADD', key, 'FP32', blob(i), idOf(i)]);
  } else {
    how = `VEC.CREATE … QUANT ${quant}, VEC.ADD`;
    await c.call('VEC.CREATE', key, 'DIM', String(DIM), 'METRIC', 'COSINE', 'QUANT', quant, 'M', String(M), 'EF_CONSTRUCTION', String(EF_CONSTRUCTION));
    ingestRate = await ingest(srvPort, ds.n, (i) => ['VEC.ADD', key, idOf(i), 'FP32', blob(i)]);
  }
  const card = Number(await c.call('VEC.CARD', key));
  if (card !== ds.n) throw new Error(`${quant}: VEC.CARD ${card} after adding ${ds.n}`);
  const loaded = await reading(c, pid, settleMs, before);
  const info = await vecInfo(c, key);
  return {
    quant, how, key, port: srvPort, pid, fresh, loaded, ingestRate,
    memoryUsage: Number(await c.call('MEMORY', 'USAGE', key)),
    memoryBytes: Number(info.memory_bytes), reservedBytes: Number(info.index_reserved_bytes), ef: Number(info.ef),
  };
}

/** VEC.SEARCH at the set's default EF: QPS over a closed loop, then recall over every query once (after the planner has seen the loop's queries). */
async function serverSearch(port: number, pid: number, key: string, qb: Buffer[], truth: Truth, durationMs: number): Promise<SearchFigures> {
  const clients = await connectMany(port, SEARCH_CONNS);
  try {
    const k = String(K);
    const loop = await closedLoop(clients, {
      durationMs, warmupMs: 300, next: roundRobin(qb.length), serverPid: pid,
      send: (c, qi) => c.callBuffer('VEC.SEARCH', key, 'FP32', qb[qi], 'COUNT', k),
    });
    if (loop.errors) throw new Error(`VEC.SEARCH failed: ${loop.firstError}`);
    const p = clients[0].pipeline();
    for (const b of qb) p.callBuffer('VEC.SEARCH', key, 'FP32', b, 'COUNT', k);
    const answers = ((await p.exec()) ?? []).map(([err, r]) => {
      if (err) throw err;
      return (r as Buffer[]).map((id) => Number(id.toString('latin1').slice(2)));
    });
    const info = await vecInfo(clients[0], key);
    return { qps: loop.qps, p50Us: loop.p50Us, p99Us: loop.p99Us, recall: meanRecall(truth, answers).recall, ef: Number(info.ef), planner: info.planner };
  } finally { closeAll(clients); }
}

// ---- one size ----

interface Attempt {
  loadStart: number;
  loadEnd: number;
  stockF32: StockChild;
  replay: { records: number; ms: number; vectorsPerSecond: number; firstQueryMs: number; loadingReplies: number; rssAfter: number };
  snapshot: { bytes: number; saveSeconds: number; bgsavePingMaxMs: number; bgsavePingP99Ms: number; bgsaveSeconds: number; serverStallMs: number;
    loadMs: number; loadBytes: number; mbPerSecond: number; firstQueryMs: number; rssAfter: number };
  search: Record<QuantName, SearchFigures>;
  stockSearch: { f32: SearchFigures; i8: SearchFigures };
  flushF32?: { fresh: MemReading; after: MemReading };
}

export interface SizeResult {
  n: number;
  loadStart: number;
  loadEnd: number;
  sets: Built[];
  stockMemory: { f32: StockChild; i8: StockChild };
  usearchFileBytes: number;
  attempts: Attempt[];
  kept: number;
  flush: Record<QuantName, { fresh: MemReading; after: MemReading; ratio: number }>;
}

async function runSize(ctx: Context, o: ScaleOptions, n: number): Promise<SizeResult> {
  const loadStart = load1();
  log(`${kOf(n)} × ${DIM}: load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const settleMs = n >= 1_000_000 ? 20_000 : 8000;
  const ds = clustered(n, DIM, o.q, o.seed);
  const truth = await ctx.truthFor(ds, 'cos');
  const qb = blobs(ds.queries, ds.q, DIM);
  const firstQueryTimeout = 1_800_000;
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    // Phase 1, memory: one server per quantization, each with the WAL on as shipped (appendonly yes: the WAL's
    // buffers are part of what a vector costs). F32's directory is then the WAL-only restart case.
    const sets: Built[] = [];
    const others = new Map<QuantName, PersistentServer>();
    let walDir = '';
    for (const quant of QUANTS) {
      const dir = mkdtempSync(path.join(os.tmpdir(), `bench-scale-${quant.toLowerCase()}-`));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const srv = spawnAstronautIn(dir, await freePort(), PERSIST_ARGS);
      cleanups.push(() => srv.kill());
      const c = await untilPong(srv);
      const b = await buildSet(quant, srv.port, srv.pid, c, ds, settleMs);
      c.disconnect();
      sets.push(b);
      log(`${quant}: ${(b.loaded.rss - b.fresh.rss) / n | 0} B/vector RSS, ingest ${fmtRate(b.ingestRate)}/s`);
      if (quant === 'F32') {
        walDir = dir;
        await sleep(1200); // appendfsync everysec: let the last writes reach the file before the crash
        await srv.kill();
      } else others.set(quant, srv);
    }
    const setOf = (q: QuantName) => sets.find((s) => s.quant === q)!;

    // Phase 2, timed: repeated when the machine was busy.
    const stockFile = path.join(os.tmpdir(), `bench-scale-usearch-${process.pid}-${n}.usearch`);
    const stockI8File = path.join(os.tmpdir(), `bench-scale-usearch-i8-${process.pid}-${n}.usearch`);
    cleanups.push(() => { rmSync(stockFile, { force: true }); rmSync(stockI8File, { force: true }); });
    let stockMemory: { f32: StockChild; i8: StockChild } | null = null;
    const attempts: Attempt[] = [];
    for (let a = 0; a < o.attempts; a++) {
      const aStart = load1();
      const stockF32 = await stockChild(n, o.q, o.seed, 'f32', a === 0 ? stockFile : undefined);
      if (a === 0) stockMemory = { f32: stockF32, i8: await stockChild(n, o.q, o.seed, 'i8', stockI8File) };
      log(`usearch f32 batch add: ${fmtRate(n / stockF32.addSeconds)}/s on ${os.availableParallelism()} threads`);

      // Restart with the data only in the WAL.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-scale-restart-'));
      cpSync(walDir, dir, { recursive: true });
      let attempt: Attempt;
      try {
        const srv = spawnAstronautIn(dir, await freePort(), PERSIST_ARGS);
        cleanups.push(() => srv.kill());
        const fqWal = await firstQuery(srv, setOf('F32').key, qb[0], firstQueryTimeout);
        const c = await untilPong(srv);
        const card = Number(await c.call('VEC.CARD', setOf('F32').key));
        if (card !== n) throw new Error(`WAL replay restored ${card} of ${n} vectors`);
        const replayed = logFields(srv.output(), 'WAL replayed');
        if (!replayed) throw new Error(`no "WAL replayed" line in the log:\n${srv.output().slice(-2000)}`);
        const rssReplay = (await reading(c, srv.pid, settleMs)).rss;
        log(`WAL replay: ${replayed.records} records in ${replayed.ms} ms; first query ${(fqWal.ms / 1000).toFixed(2)} s after spawn`);
        const searchF32 = await serverSearch(srv.port, srv.pid, setOf('F32').key, qb, truth, o.searchMs);

        const ts = performance.now();
        await c.call('SAVE');
        const saveSeconds = (performance.now() - ts) / 1000;
        const snap = newestSnapshot(dir);
        if (!snap) throw new Error('SAVE wrote no snap-*.snap');
        let status: string | null = null;
        const probe = await underProbe(srv.port, async () => {
          await c.call('BGSAVE');
          while (infoNumber(await c.info('persistence'), 'rdb_bgsave_in_progress') === 1) await sleep(5);
          status = /rdb_last_bgsave_status:(\w+)/.exec(await c.info('persistence'))?.[1] ?? null;
        });
        if (status !== 'ok') throw new Error(`BGSAVE status ${status}`);
        const serverStallMs = infoNumber(await c.info('persistence'), 'rdb_last_bgsave_max_stall_ms');
        log(`snapshot ${fmtBytes(snap.bytes)}: SAVE ${saveSeconds.toFixed(2)} s; BGSAVE ${probe.seconds.toFixed(2)} s, PING max ${probe.maxMs.toFixed(1)} ms (server: ${serverStallMs} ms)`);
        c.disconnect();
        await srv.kill();

        // Restart from the snapshot (the WAL after its cut is empty).
        const srv2 = spawnAstronautIn(dir, await freePort(), PERSIST_ARGS);
        try {
          const fqSnap = await firstQuery(srv2, setOf('F32').key, qb[0], firstQueryTimeout);
          const loaded = logFields(srv2.output(), 'snapshot loaded');
          if (!loaded) throw new Error(`no "snapshot loaded" line in the log:\n${srv2.output().slice(-2000)}`);
          const c2 = await untilPong(srv2);
          const card2 = Number(await c2.call('VEC.CARD', setOf('F32').key));
          if (card2 !== n) throw new Error(`snapshot restored ${card2} of ${n} vectors`);
          const rssSnap = (await reading(c2, srv2.pid, settleMs)).rss;
          log(`snapshot load: ${loaded.ms} ms for ${fmtBytes(loaded.bytes)}; first query ${(fqSnap.ms / 1000).toFixed(2)} s after spawn`);
          let flushF32: Attempt['flushF32'];
          if (a === 0) {
            const before = await reclaims(c2);
            await c2.call('FLUSHALL');
            flushF32 = { fresh: setOf('F32').fresh, after: await reading(c2, srv2.pid, settleMs, before) };
          }
          c2.disconnect();
          const search = { F32: searchF32 } as Record<QuantName, SearchFigures>;
          for (const quant of ['I8', 'Q8'] as const) {
            const s = others.get(quant)!;
            search[quant] = await serverSearch(s.port, s.pid, setOf(quant).key, qb, truth, o.searchMs);
          }
          const stockSearches = {
            f32: stockSearch(stockFile, 'f32', searchF32.ef, ds, truth, o.searchMs / 2),
            i8: stockSearch(stockI8File, 'i8', search.I8.ef, ds, truth, o.searchMs / 2),
          };
          attempt = {
            loadStart: aStart, loadEnd: load1(), stockF32,
            replay: { records: replayed.records, ms: replayed.ms, vectorsPerSecond: n / (replayed.ms / 1000), firstQueryMs: fqWal.ms,
              loadingReplies: fqWal.loadingReplies, rssAfter: rssReplay },
            snapshot: { bytes: snap.bytes, saveSeconds, bgsavePingMaxMs: probe.maxMs, bgsavePingP99Ms: probe.p99Ms, bgsaveSeconds: probe.seconds, serverStallMs,
              loadMs: loaded.ms, loadBytes: loaded.bytes, mbPerSecond: loaded.bytes / 1e6 / (loaded.ms / 1000), firstQueryMs: fqSnap.ms, rssAfter: rssSnap },
            search, stockSearch: stockSearches, flushF32,
          };
        } finally { await srv2.kill(); }
      } finally { rmSync(dir, { recursive: true, force: true }); }
      attempts.push(attempt);
      log(`attempt ${a + 1}: load ${attempt.loadStart.toFixed(2)} → ${attempt.loadEnd.toFixed(2)}`);
      if (Math.max(attempt.loadStart, attempt.loadEnd) <= LOAD_LIMIT) break;
    }
    const busy = (x: Attempt) => Math.max(x.loadStart, x.loadEnd);
    const kept = attempts.reduce((best, x, i) => (busy(x) < busy(attempts[best]) ? i : best), 0);

    // RSS given back: FLUSHALL on the I8 and Q8 servers (F32's was taken on its restarted server).
    const flush = {} as SizeResult['flush'];
    const f32Flush = attempts[0].flushF32!;
    flush.F32 = { ...f32Flush, ratio: f32Flush.after.rss / (f32Flush.fresh.rss + Math.max(0, f32Flush.after.dataset)) };
    for (const quant of ['I8', 'Q8'] as const) {
      const s = others.get(quant)!;
      const c = await connect(s.port);
      const before = await reclaims(c);
      await c.call('FLUSHALL');
      const after = await reading(c, s.pid, settleMs, before);
      c.disconnect();
      const fresh = setOf(quant).fresh;
      flush[quant] = { fresh, after, ratio: after.rss / (fresh.rss + Math.max(0, after.dataset)) };
      await s.kill();
    }
    const usearchFileBytes = statSync(stockFile).size;
    return { n, loadStart, loadEnd: load1(), sets, stockMemory: stockMemory!, usearchFileBytes, attempts, kept, flush };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

// ---- one-element sets ----

export interface OneElementResult { sets: number; fresh: MemReading; loaded: MemReading; after: MemReading; memoryUsage: number; reservedBytes: number; perSetRss: number; flushRatio: number }

export async function oneElementSets(count: number, seed: number): Promise<OneElementResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-scale-one-'));
  const srv = spawnAstronautIn(dir, await freePort(), PERSIST_ARGS);
  try {
    const c = await untilPong(srv);
    const ds = clustered(count, DIM, 1, seed);
    const fresh = await reading(c, srv.pid, 10_000);
    const before = await reclaims(c);
    const p = c.pipeline();
    for (let i = 0; i < count; i++) p.callBuffer('VADD', `one:${i}`, 'FP32', rowBlob(ds.vectors, i, DIM), idOf(i));
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
    const loaded = await reading(c, srv.pid, 10_000, before);
    const memoryUsage = Number(await c.call('MEMORY', 'USAGE', 'one:0'));
    const reservedBytes = Number((await vecInfo(c, 'one:0')).index_reserved_bytes);
    const flushed = await reclaims(c);
    await c.call('FLUSHALL');
    const after = await reading(c, srv.pid, 10_000, flushed);
    c.disconnect();
    return { sets: count, fresh, loaded, after, memoryUsage, reservedBytes, perSetRss: (loaded.rss - fresh.rss) / count,
      flushRatio: after.rss / (fresh.rss + Math.max(0, after.dataset)) };
  } finally {
    await srv.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report ----

const B = (x: number) => (Number.isFinite(x) ? `${Math.round(x).toLocaleString('en').replace(/,/g, ' ')} B` : '–');
const X = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
const S = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '–');
const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

function reportSize(ctx: Context, r: SizeResult): void {
  const n = r.n;
  const at = r.attempts[r.kept];
  const busyLoad = Math.max(at.loadStart, at.loadEnd);
  const mark = busyLoad > LOAD_LIMIT ? ' *' : '';
  const q = `scale ${kOf(n)}`;
  const memoryBars = n >= MEMORY_BAR_FROM;
  const rows: Cell[][] = [];
  const verdict = (pass: boolean, timed = false) => (pass ? 'pass' : 'MISS') + (timed ? mark : '');
  const stockPer = { F32: (r.stockMemory.f32.rssFull - r.stockMemory.f32.rss0) / n, I8: (r.stockMemory.i8.rssFull - r.stockMemory.i8.rss0) / n };

  const worst = { memoryUsage: 0, used: 0, memoryBytes: 0 };
  for (const s of r.sets) {
    const rssPer = (s.loaded.rss - s.fresh.rss) / n;
    const usedPer = (s.loaded.used - s.fresh.used) / n;
    const usearchPer = s.quant === 'F32' ? stockPer.F32 : stockPer.I8;
    const vsStock = rssPer / (usearchPer + ID_BYTES);
    const vsRedis = rssPer / REDIS_Q8;
    let bar: string, result: string;
    if (s.quant === 'F32') {
      bar = `≤ ${BAR.f32VsUsearch}× usearch + ids`;
      result = memoryBars ? verdict(vsStock <= BAR.f32VsUsearch) : 'bar at ≥ 100 k';
      if (memoryBars) ctx.bars.add(q, `F32 RSS/vector ÷ (usearch ${usearchPer.toFixed(0)} + ids ${ID_BYTES} B)`, vsStock, '<=', BAR.f32VsUsearch, '×', `${rssPer.toFixed(0)} B/vector`);
    } else {
      bar = `≤ ${BAR.q8Bytes} B (${(BAR.q8Bytes / REDIS_Q8).toFixed(2)}× Redis 8)`;
      result = memoryBars ? verdict(rssPer <= BAR.q8Bytes) : 'bar at ≥ 100 k';
      if (memoryBars) ctx.bars.add(q, `${s.quant} RSS/vector (${s.quant === 'Q8' ? 'VADD' : 'VEC.ADD'}; Redis 8: ${REDIS_Q8} B)`, rssPer, '<=', BAR.q8Bytes, 'B', `${vsRedis.toFixed(2)}× Redis 8`);
    }
    rows.push([`${s.quant} B/vector, RSS Δ (${s.how})`, B(rssPer),
      `usearch ${s.quant === 'F32' ? 'f32' : 'i8'} ${B(usearchPer)} + ids ${ID_BYTES} B${s.quant === 'F32' ? '' : `; Redis 8 ${REDIS_Q8} B`}`,
      s.quant === 'F32' ? X(vsStock) : `${X(vsStock)}; ${X(vsRedis)} Redis`, bar, result]);
    const rss = s.loaded.rss - s.fresh.rss;
    const acc = { memoryUsage: s.memoryUsage / rss, used: (s.loaded.used - s.fresh.used) / rss, memoryBytes: s.memoryBytes / rss };
    worst.memoryUsage = Math.max(worst.memoryUsage, Math.abs(acc.memoryUsage - 1));
    worst.used = Math.max(worst.used, Math.abs(acc.used - 1));
    worst.memoryBytes = Math.max(worst.memoryBytes, Math.abs(acc.memoryBytes - 1));
    const ok = [acc.memoryUsage, acc.used, acc.memoryBytes].every((x) => Math.abs(x - 1) <= BAR.accounting);
    rows.push([`${s.quant} accounting: MEMORY USAGE / used_memory Δ / VEC.INFO memory_bytes`,
      `${B(s.memoryUsage / n)} / ${B(usedPer)} / ${B(s.memoryBytes / n)}`, '÷ RSS Δ',
      `${X(acc.memoryUsage)} / ${X(acc.used)} / ${X(acc.memoryBytes)}`, `each within ±${BAR.accounting * 100} %`, verdict(ok)]);
  }
  // What deleting the set gives back, on the server that built it (the F32 server is restarted
  // for the timed half, so its FLUSHALL runs in another process): the RSS Δ of the ingest also
  // holds what the process keeps once the set is gone (code, heap and allocator growth).
  const gaveBack = r.sets.filter((s) => s.quant !== 'F32').map((s) => ({ s, back: s.loaded.rss - r.flush[s.quant].after.rss }));
  rows.push([`${gaveBack.map((g) => g.s.quant).join(' / ')}: MEMORY USAGE ÷ RSS FLUSHALL gave back (same server)`,
    gaveBack.map((g) => B(g.back / n)).join(' / '), `kept after FLUSHALL: ${gaveBack.map((g) => fmtBytes(r.flush[g.s.quant].after.rss - g.s.fresh.rss)).join(' / ')}`,
    gaveBack.map((g) => X(g.s.memoryUsage / g.back)).join(' / '), 'context, not a bar', '']);
  ctx.bars.add(q, 'MEMORY USAGE ÷ RSS Δ: worst |x − 1| over F32, I8, Q8', worst.memoryUsage, '<=', BAR.accounting);
  ctx.bars.add(q, 'INFO used_memory Δ ÷ RSS Δ: worst |x − 1|', worst.used, '<=', BAR.accounting);
  ctx.bars.add(q, 'VEC.INFO memory_bytes ÷ RSS Δ: worst |x − 1|', worst.memoryBytes, '<=', BAR.accounting);

  const f32 = r.sets.find((s) => s.quant === 'F32')!;
  rows.push(['F32 B/vector after restart: snapshot / WAL replay', `${B((at.snapshot.rssAfter - f32.fresh.rss) / n)} / ${B((at.replay.rssAfter - f32.fresh.rss) / n)}`,
    `after ingest ${B((f32.loaded.rss - f32.fresh.rss) / n)}`, `${X((at.snapshot.rssAfter - f32.fresh.rss) / (f32.loaded.rss - f32.fresh.rss))} / ${X((at.replay.rssAfter - f32.fresh.rss) / (f32.loaded.rss - f32.fresh.rss))}`, '', '']);
  const flushWorst = Math.max(...QUANTS.map((x) => r.flush[x].ratio));
  rows.push(['RSS after FLUSHALL: F32 / I8 / Q8', QUANTS.map((x) => fmtBytes(r.flush[x].after.rss)).join(' / '),
    `fresh ${QUANTS.map((x) => fmtBytes(r.flush[x].fresh.rss)).join(' / ')}`, QUANTS.map((x) => X(r.flush[x].ratio)).join(' / '),
    `≤ ${BAR.flush}× fresh + what remains`, verdict(flushWorst <= BAR.flush)]);
  ctx.bars.add(q, 'RSS after FLUSHALL ÷ (fresh + what remains), worst of F32, I8, Q8', flushWorst, '<=', BAR.flush, '×');
  rows.push(['ingest over the wire (4 conns, pipelines of 1000): F32 / I8 / Q8', r.sets.map((s) => `${fmtRate(s.ingestRate)}/s`).join(' / '),
    `usearch f32 batch add ${fmtRate(n / at.stockF32.addSeconds)}/s`, '', '', '']);

  const sn = at.snapshot;
  rows.push(['snapshot on disk (after SAVE)', `${MB(sn.bytes)} (${B(sn.bytes / n)}/vector)`, `usearch f32 index file ${MB(r.usearchFileBytes)}`, X(sn.bytes / r.usearchFileBytes), '', '']);
  rows.push(['SAVE', S(sn.saveSeconds * 1000), `${(sn.bytes / 1e6 / sn.saveSeconds).toFixed(0)} MB/s`, '', '', mark.trim()]);
  rows.push(['BGSAVE: worst PING (every ~1 ms, side connection)', `${sn.bgsavePingMaxMs.toFixed(1)} ms`,
    `p99 ${sn.bgsavePingP99Ms.toFixed(1)} ms; server's own longest stall ${sn.serverStallMs} ms; took ${sn.bgsaveSeconds.toFixed(2)} s`, '', `≤ ${BAR.stallMs} ms (at 1 M)`, verdict(sn.bgsavePingMaxMs <= BAR.stallMs, true)]);
  rows.push(['snapshot load (server log)', `${sn.loadMs} ms, ${sn.mbPerSecond.toFixed(0)} MB/s`, `${MB(sn.loadBytes)}, page cache`, '', `≥ ${BAR.loadMBps} MB/s (at 1 M)`, verdict(sn.mbPerSecond >= BAR.loadMBps, true)]);
  rows.push(['first VEC.SEARCH answered after spawn (snapshot)', S(sn.firstQueryMs), 'spawn → first reply with elements', '', `≤ ${S(BAR.firstQueryMs)} (at 1 M)`, verdict(sn.firstQueryMs <= BAR.firstQueryMs, true)]);
  const rp = at.replay;
  const stockAdd = n / at.stockF32.addSeconds;
  rows.push(['WAL replay (no snapshot)', `${fmtRate(rp.vectorsPerSecond)} vectors/s`, `usearch f32 batch add ${fmtRate(stockAdd)}/s, ${os.availableParallelism()} threads; ${rp.records} records in ${S(rp.ms)}`,
    X(rp.vectorsPerSecond / stockAdd), `≥ ${BAR.replayVsUsearch}× (at 1 M)`, verdict(rp.vectorsPerSecond / stockAdd >= BAR.replayVsUsearch, true)]);
  rows.push(['first VEC.SEARCH answered after spawn (WAL)', S(rp.firstQueryMs), '', '', '', mark.trim()]);
  const note = `load ${at.loadStart.toFixed(2)} → ${at.loadEnd.toFixed(2)}${mark ? ' (busy: upper bound)' : ''}`;
  ctx.bars.add(q, 'BGSAVE: worst side PING (bar set at 1 M)', sn.bgsavePingMaxMs, '<=', BAR.stallMs, 'ms', note);
  ctx.bars.add(q, 'snapshot load MB/s, page cache (bar set at 1 M)', sn.mbPerSecond, '>=', BAR.loadMBps, '', note);
  ctx.bars.add(q, 'first query after spawn, from a snapshot (bar set at 1 M)', sn.firstQueryMs, '<=', BAR.firstQueryMs, 'ms', note);
  ctx.bars.add(q, 'WAL replay ÷ usearch batch add (bar set at 1 M)', rp.vectorsPerSecond / stockAdd, '>=', BAR.replayVsUsearch, '×', note);

  for (const quant of QUANTS) {
    const s = at.search[quant];
    const stock = quant === 'F32' ? at.stockSearch.f32 : at.stockSearch.i8;
    rows.push([`VEC.SEARCH ${quant} (${SEARCH_CONNS} conns, EF ${s.ef}, planner ${s.planner})`, `${fmtRate(s.qps)} QPS, recall ${fmtRecall(s.recall)}`,
      `usearch ${quant === 'F32' ? 'f32' : 'i8'} batch EF ${stock.ef}: ${fmtRate(stock.qps)} QPS, recall ${fmtRecall(stock.recall)}`, X(s.qps / stock.qps), '', mark.trim()]);
  }
  const attemptsText = r.attempts.map((x, i) => `${i + 1}: ${x.loadStart.toFixed(2)} → ${x.loadEnd.toFixed(2)}${i === r.kept ? ' (kept)' : ''}`).join('; ');
  printTable(`Scale ${kOf(n)} × ${DIM} clustered, cosine, M ${M}; ids ${ID_BYTES} B, no payloads`,
    ['figure', 'Astronaut', 'beside it (same run)', 'ratio', 'bar', 'result'], rows,
    `Load average (1 min): ${r.loadStart.toFixed(2)} at the start of this size, ${r.loadEnd.toFixed(2)} at its end on ${os.availableParallelism()} cores; timed attempts ${attemptsText}.\n`
    + `${mark ? `* timed under a load above ${LOAD_LIMIT}: an upper bound on the server's own times. ` : ''}Memory was measured once (RSS does not depend on the load).\n`
    + "RSS Δ: VmRSS after loading − before creating the set, each read once it stops moving; usearch: the same in a fresh process (stock npm package, same data; i8 fed each vector ÷ its max |x|, as Redis 8's Q8 does).\n"
    + 'All three servers run as shipped for persistence (appendonly yes, everysec), with --save "" and auto-rewrite off so that the WAL alone holds the data.\n'
    + 'Restarts are SIGKILL then spawn on the same directory; "after spawn" counts Node\'s start-up. I8 and Q8 are searched against usearch i8 (built at EF_CONSTRUCTION 128; Q8 sets use 200).');
}

function reportOne(ctx: Context, r: OneElementResult): void {
  printTable(`${r.sets} one-element sets (VADD, Q8, 128-d)`, ['figure', 'Astronaut', 'beside it', 'bar', 'result'], [
    ['RSS per set', B(r.perSetRss), `used_memory Δ ${B((r.loaded.used - r.fresh.used) / r.sets)}/set; MEMORY USAGE ${B(r.memoryUsage)}; index_reserved_bytes ${B(r.reservedBytes)}`,
      `≤ ${B(BAR.oneSetBytes)}`, r.perSetRss <= BAR.oneSetBytes ? 'pass' : 'MISS'],
    ['10 000 such sets (extrapolated)', fmtBytes(r.perSetRss * 10_000), '', '≤ 100 MB', r.perSetRss * 10_000 <= 100e6 ? 'pass' : 'MISS'],
    ['RSS after FLUSHALL', fmtBytes(r.after.rss), `fresh ${fmtBytes(r.fresh.rss)}; loaded ${fmtBytes(r.loaded.rss)}; what remains ${fmtBytes(Math.max(0, r.after.dataset))}`,
      `≤ ${BAR.flush}× fresh + what remains`, `${X(r.flushRatio)} ${r.flushRatio <= BAR.flush ? 'pass' : 'MISS'}`],
  ]);
  ctx.bars.add('scale sets', 'RSS per one-element set', r.perSetRss, '<=', BAR.oneSetBytes, 'B');
  ctx.bars.add('scale sets', `RSS after FLUSHALL of ${r.sets} one-element sets ÷ (fresh + what remains)`, r.flushRatio, '<=', BAR.flush, '×');
}

// ---- entry points ----

export async function sweep(ctx: Context, o: ScaleOptions): Promise<{ oneElement: OneElementResult; sizes: SizeResult[] }> {
  console.log(`   · scale sweep: sizes ${o.sizes.map(kOf).join(', ')}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const oneElement = await oneElementSets(1000, o.seed);
  reportOne(ctx, oneElement);
  const sizes: SizeResult[] = [];
  for (const n of o.sizes) {
    const r = await runSize(ctx, o, n);
    reportSize(ctx, r);
    sizes.push(r);
  }
  return { oneElement, sizes };
}

/** `name`: scale.json for a full run; a --quick one must not overwrite it. */
function writeJson(ctx: Context, o: ScaleOptions, out: unknown, name = 'scale.json'): void {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), JSON.stringify({ env: ctx.env, options: o, ...(out as object),
    bars: ctx.bars.list.filter((b) => b.question.startsWith('scale')) }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  console.log(`wrote bench/results/${name}`);
}

/** From `npm run bench` (bench/run.ts): 10 k and 100 k (--quick: 10 k), plus 1 M with --big. */
export async function run(ctx: Context): Promise<void> {
  const sizes = ctx.opts.quick ? [10_000] : [10_000, 100_000];
  if (ctx.opts.big) sizes.push(1_000_000);
  const o: ScaleOptions = { sizes, q: 200, seed: ctx.opts.seed, attempts: 2, searchMs: 1500 };
  const out = await sweep(ctx, o);
  ctx.results.scale = out;
  writeJson(ctx, o, out, ctx.opts.quick ? 'scale-quick.json' : 'scale.json');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, big: { type: 'boolean', default: false }, queries: { type: 'string' }, seed: { type: 'string' }, attempts: { type: 'string' } },
    strict: true,
  });
  const sizes = (values.sizes ?? '10000,100000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1000)) throw new Error(`--sizes: integers ≥ 1000, got ${values.sizes}`);
  if (values.big && !sizes.includes(1_000_000)) sizes.push(1_000_000);
  const q = Number(values.queries ?? 200), seed = Number(values.seed ?? 42), attempts = Number(values.attempts ?? 2);
  const o: ScaleOptions = { sizes, q, seed, attempts, searchMs: 1500 };
  const env = await runEnv();
  const opts: Options = {
    quick: false, n: sizes[0], dim: DIM, q, k: K, seed, m: M, efConstruction: EF_CONSTRUCTION, defaultEf: 64, efs: [64], clients: SEARCH_CONNS, driver: 'raw',
    durationMs: o.searchMs, warmupMs: 500, ingestConnections: 4, ingestPipeline: 1000, pingRequests: 0, pingRepeats: 0, quantN: 0,
    threads: os.availableParallelism(), big: values.big,
  };
  const ctx = new Context(opts, env);
  console.log(`node ${env.node}, ${env.cpu}, ${env.cores} cores, commit ${env.commit}, usearch ${env.usearchStock} (npm) / ${env.addon}`);
  const t0 = performance.now();
  const out = await sweep(ctx, o);
  printBars(ctx.bars);
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s; load average now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  writeJson(ctx, o, out);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exit(1);
  });
}

/**
 * What replication costs, with 0, 1 and 2 replicas on loopback:
 *
 *   node dist/bench/replication.js [--seconds 5] [--clients 8] [--sync 100000] [--dim 128] [--from <data dir>] [--nice-replica]
 *
 * - write throughput: `clients` connections pipelining VEC.ADD (dim-d FP32, 64 per
 *   pipeline) against the primary for `seconds`;
 * - replication lag while that load runs: a side connection sends SET then WAIT 1 0
 *   every 10 ms; the time until one replica acknowledged the write (p50/p99, ms);
 * - full-sync time: a replica attached to a primary holding `sync` × dim vectors,
 *   from REPLICAOF to master_link_status:up (snapshot captured, shipped, loaded: graph included),
 *   and the primary's slowest PING meanwhile, beside its own longest event-loop stall
 *   (LATENCY's `event-loop` event: the PING probe lives in this process, on the same two
 *   cores as both servers, and its own delays show in its figure). `--from` starts the primary on a copy of an
 *   existing data directory instead (a 1 M set takes long to build), and checks that
 *   DEBUG DIGEST is equal on both once the link is up. `--nice-replica` runs the replica
 *   at nice 19: the stand-in, on one machine, for a replica on a machine of its own
 *   (loading a snapshot keeps about a core busy, which the primary otherwise waits for).
 *
 * Each server is a child process (`bin/astronaut.js`, appendonly yes, everysec).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { watchLoopStalls } from './lib/loop-stall.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, clients: { type: 'string', default: '8' }, sync: { type: 'string', default: '100000' }, dim: { type: 'string', default: '128' }, from: { type: 'string' }, 'nice-replica': { type: 'boolean', default: false } } });
const SECONDS = Number(values.seconds), CLIENTS = Number(values.clients), SYNC = Number(values.sync), DIM = Number(values.dim);

const dirs: string[] = [];
const children: ChildProcess[] = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

async function start(args: string[] = [], copyFrom?: string, niced = false): Promise<{ port: number; r: Redis; child: ChildProcess }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'astronaut-bench-repl-'));
  dirs.push(dir);
  if (copyFrom) for (const f of readdirSync(copyFrom)) if (f !== 'LOCK') copyFileSync(path.join(copyFrom, f), path.join(dir, f));
  const argv = [path.join(ROOT, 'bin/astronaut.js'), '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', '', ...args];
  const child = niced ? spawn('nice', ['-n', '19', process.execPath, ...argv], { stdio: 'ignore' }) : spawn(process.execPath, argv, { stdio: 'ignore' });
  children.push(child);
  for (;;) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try { await r.connect(); if ((await r.ping()) === 'PONG') return { port, r, child }; } catch { /* not yet */ }
    r.disconnect();
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function linkUp(r: Redis): Promise<void> {
  for (;;) {
    if (/master_link_status:up/.test(await r.info('replication'))) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const SKIP_THROUGHPUT = process.env.REPL_BENCH_SYNC_ONLY === '1';
const vec = () => { const v = new Float32Array(DIM); for (let i = 0; i < DIM; i++) v[i] = Math.random(); return Buffer.from(v.buffer); };
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };

async function throughput(replicas: number): Promise<{ ops: number; p50: number; p99: number }> {
  const p = await start();
  const rs = [];
  for (let i = 0; i < replicas; i++) rs.push(await start(['--replicaof', `127.0.0.1 ${p.port}`]));
  for (const r of rs) await linkUp(r.r);
  const writers = Array.from({ length: CLIENTS }, () => new Redis({ port: p.port, host: '127.0.0.1' }));
  let done = 0;
  const until = Date.now() + SECONDS * 1000;
  const lags: number[] = [];
  const probe = new Redis({ port: p.port, host: '127.0.0.1' });
  const probing = (async () => {
    let i = 0;
    while (Date.now() < until && replicas > 0) {
      const t0 = performance.now();
      await probe.set('lag', String(i++));
      const n = await probe.call('WAIT', 1, 0) as number;
      if (n >= 1) lags.push(performance.now() - t0);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  let id = 0;
  await Promise.all(writers.map(async (w) => {
    while (Date.now() < until) {
      const pipe = w.pipeline();
      for (let i = 0; i < 64; i++) pipe.call('VEC.ADD', 'bench', `e${id++}`, 'FP32', vec());
      await pipe.exec();
      done += 64;
    }
  }));
  await probing;
  const ops = done / SECONDS;
  for (const w of [...writers, probe, p.r, ...rs.map((x) => x.r)]) w.disconnect();
  for (const c of [p.child, ...rs.map((x) => x.child)]) c.kill('SIGKILL');
  return { ops, p50: pct(lags, 0.5), p99: pct(lags, 0.99) };
}

async function fullSync(): Promise<{ loadS: number; syncS: number; pingMax: number; loopMax: number }> {
  const debug = ['--enable-debug-command', 'yes'];
  const p = await start(debug, values.from);
  // PING answers while the data loads: the sync (and the probe) start once it is in.
  while (/^loading:1/m.test(await p.r.info('persistence'))) await new Promise((res) => setTimeout(res, 100));
  const t0 = performance.now();
  const w = new Redis({ port: p.port, host: '127.0.0.1' });
  for (let i = 0; i < (values.from ? 0 : SYNC); i += 1000) {
    const pipe = w.pipeline();
    for (let j = i; j < Math.min(SYNC, i + 1000); j++) pipe.call('VEC.ADD', 'big', `e${j}`, 'FP32', vec());
    await pipe.exec();
  }
  const loadS = (performance.now() - t0) / 1000;
  const s = await start(debug, undefined, values['nice-replica']);
  const t1 = performance.now();
  // The primary keeps serving while it ships the snapshot: the slowest PING meanwhile.
  let syncing = true, pingMax = 0;
  const loopStall = await watchLoopStalls(p.r);
  const probe = new Redis({ port: p.port, host: '127.0.0.1' });
  const probing = (async () => {
    while (syncing) {
      const t = performance.now();
      await probe.ping();
      pingMax = Math.max(pingMax, performance.now() - t);
      await new Promise((res) => setTimeout(res, 1));
    }
  })();
  await s.r.call('REPLICAOF', '127.0.0.1', String(p.port));
  await linkUp(s.r);
  const syncS = (performance.now() - t1) / 1000;
  syncing = false;
  await probing;
  probe.disconnect();
  const loopMax = await loopStall();
  if (values.from) {
    const [a, b] = [await p.r.call('DEBUG', 'DIGEST'), await s.r.call('DEBUG', 'DIGEST')];
    if (a !== b) throw new Error(`DEBUG DIGEST differs: primary ${String(a)}, replica ${String(b)}`);
  } else {
    const n = await s.r.call('VCARD', 'big');
    if (n !== SYNC) throw new Error(`replica holds ${String(n)} of ${SYNC}`);
  }
  w.disconnect(); p.r.disconnect(); s.r.disconnect();
  p.child.kill('SIGKILL'); s.child.kill('SIGKILL');
  return { loadS, syncS, pingMax, loopMax };
}

const cpus = os.cpus();
console.log(`node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? '?'}, load ${os.loadavg()[0].toFixed(2)}`);
console.log(`| replicas | VEC.ADD/s (${DIM}-d, ${CLIENTS} clients × 64 pipelined) | SET → acknowledged by a replica, p50 / p99 ms |`);
console.log('| --- | --- | --- |');
for (const n of SKIP_THROUGHPUT ? [] : [0, 1, 2]) {
  const r = await throughput(n);
  console.log(`| ${n} | ${Math.round(r.ops)} | ${n === 0 ? '–' : `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`} |`);
}
const f = await fullSync();
const what = (values.from ? `the data in ${values.from} (digests equal after)` : `${SYNC} × ${DIM} F32 (building it on the primary took ${f.loadS.toFixed(1)} s)`)
  + (values['nice-replica'] ? ', the replica at nice 19' : '');
console.log(`full sync of ${what}: ${f.syncS.toFixed(2)} s from REPLICAOF to link up; slowest PING to the primary meanwhile ${f.pingMax.toFixed(1)} ms, its longest event-loop stall ${f.loopMax} ms; load ${os.loadavg()[0].toFixed(2)}`);
process.exit(0);

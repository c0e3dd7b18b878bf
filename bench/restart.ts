/**
 * `node dist/bench/restart.js [--n 1000000] [--replay 100000]`: the durability
 * figures of issue "Durability": BGSAVE of N × 128 F32 vectors (duration, the
 * longest event-loop stall the server reports, the worst PING a client saw
 * meanwhile), restart from that snapshot (load rate in MB/s, time to the first
 * served query), and WAL replay rate (records/s) without a snapshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/astronaut.js');
const D = 128;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg('n', 1_000_000);
const REPLAY = arg('replay', 100_000);

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

interface Srv { child: ChildProcess; log: () => string; exited: Promise<void> }

function spawnServer(port: number, dir: string, extra: string[]): Srv {
  const child = spawn(process.execPath, [BIN, '--port', String(port), '--dir', dir, '--save', '', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  return { child, log: () => log, exited: new Promise((res) => child.on('exit', () => res())) };
}

async function waitFor(port: number, args: string[], accept: (reply: string) => boolean, timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let out = '';
      s.on('error', () => resolve(''));
      s.on('connect', () => s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')));
      s.on('data', (d) => { out += d; if (out.includes('\r\n')) { s.destroy(); resolve(out); } });
    });
    if (accept(reply)) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`gave up waiting: ${reply}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Seeded clustered vectors, generated per batch so a million never sit in memory twice. */
function* batches(n: number, size: number): Generator<Float32Array> {
  let s = 12345;
  const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; };
  const centers = Array.from({ length: 100 }, () => Float32Array.from({ length: D }, () => rnd() * 2 - 1));
  for (let i = 0; i < n; i += size) {
    const m = Math.min(size, n - i);
    const out = new Float32Array(m * D);
    for (let j = 0; j < m; j++) {
      const c = centers[Math.floor(rnd() * 100)];
      for (let k = 0; k < D; k++) out[j * D + k] = c[k] + (rnd() - 0.5) * 0.5;
    }
    yield out;
  }
}

async function ingest(port: number, n: number): Promise<number> {
  const conns = await Promise.all([0, 1, 2, 3].map(async () => { const r = new Redis({ port, protocol: 2, lazyConnect: true }); await r.connect(); return r; }));
  const t0 = performance.now();
  let id = 0, turn = 0;
  const inflight: Array<Promise<unknown>> = [];
  for (const batch of batches(n, 1000)) {
    const r = conns[turn++ % conns.length];
    const p = r.pipeline();
    for (let j = 0; j < batch.length / D; j++) p.call('VEC.ADD', 'big', `e${id++}`, 'FP32', Buffer.from(batch.buffer, j * D * 4, D * 4));
    inflight.push(p.exec());
    if (inflight.length >= 8) await inflight.shift();
    if (id % 100_000 === 0) process.stdout.write(`\r  ingested ${id}`);
  }
  await Promise.all(inflight);
  process.stdout.write('\n');
  for (const c of conns) c.disconnect();
  return n / ((performance.now() - t0) / 1000);
}

const logField = (log: string, msg: string, field: string): number | null => {
  for (const line of log.split('\n').reverse()) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const m = new RegExp(`"${field}":(\\d+)`).exec(line);
    if (m) return Number(m[1]);
  }
  return null;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'astronaut-restart-'));
  const port = await freePort();
  console.log(`restart bench: ${N} × ${D} F32 vectors, Node ${process.version}`);
  let srv = spawnServer(port, dir, ['--appendonly', 'yes', '--appendfsync', 'everysec']);
  await waitFor(port, ['PING'], (r) => r.startsWith('+PONG'));
  const rate = await ingest(port, N);
  console.log(`  ingest over the wire: ${Math.round(rate)} vectors/s`);

  // BGSAVE while a client PINGs every 2 ms: the worst PING is what a user feels.
  const pinger = new Redis({ port, protocol: 2 });
  let worstPing = 0, stop = false;
  const pings = (async () => { while (!stop) { const t = performance.now(); await pinger.ping(); worstPing = Math.max(worstPing, performance.now() - t); await new Promise((r) => setTimeout(r, 2)); } })();
  const admin = new Redis({ port, protocol: 2 });
  const t0 = performance.now();
  await admin.call('BGSAVE');
  let info = '';
  for (;;) { info = await admin.info('persistence'); if (/rdb_bgsave_in_progress:0/.test(info)) break; await new Promise((r) => setTimeout(r, 20)); }
  const saveMs = performance.now() - t0;
  stop = true; await pings; pinger.disconnect();
  const stall = Number(/rdb_last_bgsave_max_stall_ms:(\d+)/.exec(info)?.[1] ?? NaN);
  console.log(`  BGSAVE: ${(saveMs / 1000).toFixed(1)} s, longest event-loop stall ${stall} ms (goal ≤ 20), worst client PING ${worstPing.toFixed(1)} ms, status ${/rdb_last_bgsave_status:(\w+)/.exec(info)?.[1]}`);
  admin.disconnect();

  // Restart from the snapshot (SIGKILL: nothing flushed on the way out).
  srv.child.kill('SIGKILL');
  await srv.exited;
  const tStart = performance.now();
  srv = spawnServer(port, dir, ['--appendonly', 'yes']);
  const firstQuery = await waitFor(port, ['VEC.CARD', 'big'], (r) => r.startsWith(':'));
  const ms = logField(srv.log(), 'snapshot loaded', 'ms');
  const bytes = logField(srv.log(), 'snapshot loaded', 'bytes');
  void tStart;
  console.log(`  restart: snapshot ${bytes ? (bytes / 1e6).toFixed(0) : '?'} MB loaded in ${ms} ms = ${bytes && ms ? ((bytes / 1e6) / (ms / 1000)).toFixed(0) : '?'} MB/s (goal ≥ 1000 from page cache); first query served ${(firstQuery / 1000).toFixed(2)} s after spawn`);
  srv.child.kill('SIGKILL');
  await srv.exited;
  rmSync(dir, { recursive: true, force: true });

  // WAL replay without a snapshot.
  const dir2 = mkdtempSync(path.join(tmpdir(), 'astronaut-replay-'));
  srv = spawnServer(port, dir2, ['--appendonly', 'yes', '--appendfsync', 'no']);
  await waitFor(port, ['PING'], (r) => r.startsWith('+PONG'));
  await ingest(port, REPLAY);
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = spawnServer(port, dir2, ['--appendonly', 'yes']);
  const replayWait = await waitFor(port, ['VEC.CARD', 'big'], (r) => r.startsWith(':'));
  const recs = logField(srv.log(), 'WAL replayed', 'records');
  const rms = logField(srv.log(), 'WAL replayed', 'ms');
  console.log(`  WAL replay: ${recs} records in ${rms} ms = ${recs && rms ? Math.round(recs / (rms / 1000)) : '?'} records/s (inserting into the graph included); served after ${(replayWait / 1000).toFixed(1)} s`);
  srv.child.kill('SIGKILL');
  await srv.exited;
  rmSync(dir2, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });

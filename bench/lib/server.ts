/**
 * Starting the servers under test as child processes, each on a free port
 * with a throw-away directory, and reading what the kernel says about them
 * (resident memory, CPU time per thread). Every child is killed when the
 * benchmark exits, however it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/bench/lib → three levels up). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ServerProc {
  name: string;
  pid: number;
  port: number;
  /** Stop it (SIGKILL: nothing to save, the directory is discarded) and remove its directory. */
  stop(): Promise<void>;
  /** Last lines it printed, for error messages. */
  output(): string;
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { for (const c of live) c.kill('SIGKILL'); process.exit(130); });
  }
}

/** A port nobody listens on right now (the OS picks it; a tiny race with other processes remains). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once `PING` answers `+PONG` on the port (retrying while the process starts). */
async function waitForPong(port: number, child: ChildProcess, name: string, out: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before answering:\n${out()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let buf = '';
      sock.setTimeout(1000, () => { sock.destroy(); resolve(false); });
      sock.once('error', () => resolve(false));
      sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
      sock.on('data', (d) => { buf += d.toString(); if (buf.includes('\r\n')) { sock.destroy(); resolve(buf.startsWith('+PONG')); } });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer PING on port ${port} within ${timeoutMs} ms:\n${out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launch(name: string, cmd: string, args: (port: number, dir: string) => string[]): Promise<ServerProc> {
  hookExit();
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`));
  const child = spawn(cmd, args(port, dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let tail = '';
  const keep = (d: Buffer) => { tail = (tail + d.toString()).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPong(port, child, name, () => tail);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name, pid: child.pid!, port, stop, output: () => tail };
}

/** Astronaut from this tree's bin/, no persistence (no WAL, no snapshots) so only serving is timed. */
export function startAstronaut(extra: string[] = []): Promise<ServerProc> {
  return launch('astronaut', process.execPath, (port, dir) => [path.join(ROOT, 'bin', 'astronaut.js'),
    '--port', String(port), '--dir', dir, '--appendonly', 'no', '--save', '', '--loglevel', 'warning', ...extra]);
}

/** Debian's redis-server, persistence off, as the yardstick for the RESP path. */
export function startRedis(): Promise<ServerProc> {
  return launch('redis-server', 'redis-server', (port, dir) => ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning']);
}

/**
 * CPU seconds the whole machine spent busy so far (/proc/stat: every state but idle and
 * iowait, over all cores). Over a window, this less the server's and the client's own CPU is
 * what other processes took: the contention a figure was measured under.
 */
export function machineBusySeconds(): number {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - f[3] - f[4]) / 100; // USER_HZ is 100 on Linux
  } catch { return NaN; }
}

/** Resident set size in bytes (/proc/<pid>/status VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * CPU seconds per live thread of a process, keyed by thread id, with the thread's name; key
 * PROCESS holds the whole process's, which also counts threads that have ended (the addon
 * runs each chunk of an add batch on a thread of its own).
 */
export type ThreadCpu = Map<number, { comm: string; seconds: number }>;
const PROCESS = -1;

const TICK = 100; // USER_HZ on Linux: /proc times are in 1/100 s.

/** The fields of a /proc stat line from its third (state) on: fields[11] is utime. */
function statFields(stat: string): string[] {
  // The name sits in parentheses and may hold spaces: fields start after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The name and CPU seconds (utime + stime) in a /proc stat line. */
function statCpu(stat: string): { comm: string; seconds: number } {
  const fields = statFields(stat);
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (Number(fields[11]) + Number(fields[12])) / TICK };
}

/**
 * CPU seconds of this process's children that have ended and been waited for (cutime +
 * cstime): what a tool run to completion took, as a redis-benchmark invocation.
 */
export function endedChildrenCpuSeconds(): number {
  try {
    const fields = statFields(readFileSync('/proc/self/stat', 'utf8'));
    return (Number(fields[13]) + Number(fields[14])) / TICK;
  } catch { return NaN; }
}

export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = new Map();
  let tids: string[];
  try {
    out.set(PROCESS, statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8')));
    tids = readdirSync(`/proc/${pid}/task`);
  } catch { return out; }
  for (const tid of tids) {
    try {
      out.set(Number(tid), statCpu(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch { /* the thread ended between readdir and read: the process's total has it */ }
  }
  return out;
}

/**
 * CPU used between two samples: the JS main thread (tid = pid) and every other
 * thread together. Node names none of its threads (libuv pool, V8 platform
 * workers, all "node"), so the split is main vs the rest; the addon's batch
 * searches and adds run on the libuv pool, which is nearly all of the rest.
 */
export interface CpuSplit { main: number; workers: number; total: number; busyWorkers: number; seconds: number }

export function cpuBetween(pid: number, a: ThreadCpu, b: ThreadCpu, wallSeconds: number): CpuSplit {
  let main = 0, live = 0;
  const perWorker: number[] = [];
  for (const [tid, now] of b) {
    if (tid === PROCESS) continue;
    const d = now.seconds - (a.get(tid)?.seconds ?? 0);
    if (tid === pid) main += d;
    else { live += d; perWorker.push(d); }
  }
  // Threads that ended between the samples are only in the process's total.
  const total = (b.get(PROCESS)?.seconds ?? 0) - (a.get(PROCESS)?.seconds ?? 0);
  const workers = Math.max(live, total - main);
  // Threads that did a real share of the off-main work (GC helpers doing a little do not count).
  const busyWorkers = perWorker.filter((d) => d > 0 && d >= 0.1 * workers).length;
  return { main, workers, total: main + workers, busyWorkers, seconds: wallSeconds };
}

/**
 * "0.93 + 1.01 (2)": cores busy over the window on the JS main thread + on all other threads
 * (how many live threads shared that work; an add batch's threads, started per chunk and gone
 * by the second sample, are in the cores busy but not in the count).
 */
export function cpuText(c: CpuSplit | null): string {
  if (!c || c.seconds <= 0) return '–';
  return `${(c.main / c.seconds).toFixed(2)} + ${(c.workers / c.seconds).toFixed(2)} (${c.busyWorkers})`;
}

/** A server started in a directory the caller owns, so that it can be killed and started again on the same data. */
export interface PersistentServer {
  pid: number;
  port: number;
  dir: string;
  /** performance.now() just before spawn(): "time after spawn" counts Node's own start-up too, as a user's restart does. */
  spawnedAt: number;
  /** Everything it printed (its JSON log lines), up to 4 MB. */
  output(): string;
  /** SIGKILL, as a crash: nothing is flushed on the way out. The directory stays. */
  kill(): Promise<void>;
  exited: Promise<void>;
}

/**
 * Astronaut on `dir` with exactly `args` (no defaults added: a repeated option
 * reaches the server as a list, which it refuses). Does not wait for it to answer.
 */
/** Extra node/V8 flags for spawned servers, for profiling a bench (BENCH_NODE_ARGS="--trace-gc --cpu-prof"). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);

export function spawnAstronautIn(dir: string, port: number, args: string[]): PersistentServer {
  hookExit();
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...NODE_ARGS, path.join(ROOT, 'bin', 'astronaut.js'), '--port', String(port), '--dir', dir, ...args],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const keep = (d: Buffer) => { if (out.length < 4 << 20) out += d.toString(); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { live.delete(child); resolve(); }));
  return {
    pid: child.pid!, port, dir, spawnedAt, exited, output: () => out,
    kill: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited; },
  };
}

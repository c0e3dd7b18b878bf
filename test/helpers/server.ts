/**
 * Start a real Astronaut for a test: in this process (fast, for protocol and
 * command tests) or as a child process through the `astronaut` bin (for
 * crashes, signals and the CLI). Either way on a free port, with a fresh data
 * directory, talked to over TCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { pino } from 'pino';
import { defaultConfig, type Config } from '../../src/config.js';
import { startAstronaut, type AppOptions } from '../../src/app.js';
import type { Server } from '../../src/core/server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin/astronaut.js');

/** Directories tempDir() made in this test file that are still there. */
const made = new Set<string>();

/** A fresh directory under os.tmpdir(), removed by removeTempDirs() (or with the server that made it). */
export function tempDir(prefix = 'astronaut-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  // Retried: a server stopped a moment ago may still be closing a file inside.
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  made.delete(dir);
}

/**
 * Remove every directory tempDir() made in this file: `test.after.always(removeTempDirs)`
 * in a file that calls tempDir() itself (servers remove the ones they made when they stop).
 */
export function removeTempDirs(): void {
  for (const dir of made) removeTempDir(dir);
}

/** Servers spawnServer() started that have not exited yet. */
const running = new Set<ChildProcess>();

/**
 * For a test that failed before stopping what it started: once this test file's process
 * ends, its servers are killed and its directories removed (the tmp guard names anything left).
 */
function cleanUp(): void {
  for (const child of running) child.kill('SIGKILL');
  try { removeTempDirs(); } catch { /* reported by the guard */ }
}
process.on('exit', cleanUp);
// A server left running keeps ava's worker alive until ava sends it SIGTERM, which skips 'exit'.
process.once('SIGTERM', () => {
  cleanUp();
  process.kill(process.pid, 'SIGTERM');
});

export interface InProcess {
  server: Server;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * A server in this process on 127.0.0.1:<free port>; `overrides` are typed config values.
 * Without `overrides.dir` it gets a fresh data directory, removed by stop().
 */
export async function startInProcess(overrides: Partial<Config> = {}, opts: Omit<AppOptions, 'logger'> = {}): Promise<InProcess> {
  const own = overrides.dir === undefined;
  const dir = overrides.dir ?? tempDir();
  const config: Config = { ...defaultConfig(), port: 0, bind: ['127.0.0.1'], dir, appendonly: false, save: [], ...overrides };
  let server: Server;
  try {
    server = await startAstronaut(config, { ...opts, logger: pino({ level: process.env.TEST_LOG ?? 'silent' }) });
  } catch (e) {
    if (own) removeTempDir(dir);
    throw e;
  }
  const stop = async () => {
    await server.shutdown('nosave');
    if (own) removeTempDir(dir);
  };
  return { server, port: server.tcpPort, dir, stop };
}

export interface Child {
  child: ChildProcess;
  port: number;
  dir: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The `astronaut` bin as a child process; resolves once it answers PING. Without
 * `opts.dir` it gets a fresh data directory, removed when the process exits.
 */
export interface SpawnOptions { dir?: string; port?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number; wrapper?: string[] }

export async function spawnServer(args: string[] = [], opts: SpawnOptions = {}): Promise<Child> {
  // A port freePort() found free can be taken by another test's process before this server
  // binds it (seen once in CI): then try another. A port the caller chose is the caller's.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(args, opts, opts.port ?? (await freePort()));
    } catch (err) {
      if (opts.port !== undefined || attempt === 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

/** One attempt on `port` (opts.port is not read here). */
async function spawnOnce(args: string[], opts: SpawnOptions, port: number): Promise<Child> {
  const own = opts.dir === undefined;
  const dir = opts.dir ?? tempDir();
  // `wrapper` runs the server through another command, e.g. ['prlimit', '--nofile=256:256'].
  const [cmd, ...pre] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(cmd, [...pre, BIN, '--port', String(port), '--dir', dir, ...args], {
    cwd: dir, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  running.add(child);
  // 'close', not 'exit': it comes once stdout and stderr are drained, so output() is complete.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => {
    running.delete(child);
    if (own) removeTempDir(dir);
    res({ code, signal });
  }));
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode) throw new Error(`server exited before answering: ${out.slice(-800)}`);
    if (await pingOk(port)) {
      // Something answers on the port; it may be another test's server that took the port
      // after freePort() let it go (seen in CI: this child then fails to bind). Only our own pid counts.
      const pid = await serverPid(port);
      if (pid === child.pid) break;
      if (pid !== null) { child.kill('SIGKILL'); throw new Error(`EADDRINUSE: port ${port} is served by pid ${pid}`); }
    }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`server did not answer in time: ${out.slice(-800)}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child, port, dir, exited, output: () => out,
    kill: (signal = 'SIGTERM') => { if (child.exitCode === null && !child.signalCode) child.kill(signal); return exited; },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address() as net.AddressInfo; s.close(() => resolve(a.port)); });
  });
}

/** process_id from INFO server on `port`, or null if it did not answer in time. */
function serverPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (pid: number | null) => { s.destroy(); resolve(pid); };
    s.setTimeout(1000, () => done(null));
    s.on('error', () => done(null));
    s.on('connect', () => s.write('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'));
    s.on('data', (d) => {
      got += d.toString();
      const m = /process_id:(\d+)\r\n/.exec(got);
      if (m) done(Number(m[1]));
      else if (got.startsWith('-')) done(null);
    });
  });
}

function pingOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    // PING answers -LOADING until the data is loaded, as Redis's does: wait for +PONG.
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

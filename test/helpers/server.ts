/**
 * Start a real Astronaut for a test: in this process (fast, for protocol and
 * command tests) or as a child process through the `astronaut` bin (for
 * crashes, signals and the CLI). Either way on a free port, with a fresh data
 * directory, talked to over TCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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

export function tempDir(prefix = 'astronaut-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface InProcess {
  server: Server;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** A server in this process on 127.0.0.1:<free port>; `overrides` are typed config values. */
export async function startInProcess(overrides: Partial<Config> = {}, opts: Omit<AppOptions, 'logger'> = {}): Promise<InProcess> {
  const dir = overrides.dir ?? tempDir();
  const config: Config = { ...defaultConfig(), port: 0, bind: ['127.0.0.1'], dir, appendonly: false, save: [], ...overrides };
  const server = await startAstronaut(config, { ...opts, logger: pino({ level: process.env.TEST_LOG ?? 'silent' }) });
  return { server, port: server.tcpPort, dir, stop: () => server.shutdown('nosave') };
}

export interface Child {
  child: ChildProcess;
  port: number;
  dir: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The `astronaut` bin as a child process; resolves once it answers PING. */
export async function spawnServer(args: string[] = [], opts: { dir?: string; port?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Child> {
  const dir = opts.dir ?? tempDir();
  const port = opts.port ?? (await freePort());
  const child = spawn(process.execPath, [BIN, '--port', String(port), '--dir', dir, ...args], {
    cwd: dir, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode) throw new Error(`server exited before answering: ${out.slice(-800)}`);
    if (await pingOk(port)) break;
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

/**
 * Debian's redis-server as a reference: started on a free port without
 * persistence, talked to over raw RESP so replies (errors included) compare
 * byte for byte with Astronaut's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { encodeCommand } from './raw.js';
import { freePort } from './server.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const haveRedis = (): boolean => existsSync(REDIS_SERVER);

export interface Oracle { port: number; stop(): Promise<void> }

export async function startRedis(): Promise<Oracle> {
  const port = await freePort();
  const child: ChildProcess = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, stop: async () => { child.kill('SIGKILL'); await exited; } };
}

/**
 * A connection that sends one command at a time and returns the raw bytes of
 * its reply (a complete RESP2/RESP3 value), for byte-for-byte comparisons.
 */
export class RawConn {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private constructor(private readonly s: net.Socket) {
    s.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.waiting?.(); });
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((res, rej) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => res(new RawConn(s)));
      s.once('error', rej);
    });
  }

  async send(args: Array<string | Buffer>): Promise<Buffer> {
    this.s.write(encodeCommand(args));
    for (;;) {
      const end = replyEnd(this.buf, 0);
      if (end >= 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      await new Promise<void>((r) => { this.waiting = r; });
      this.waiting = null;
    }
  }

  close(): void { this.s.destroy(); }
}

/** Where the RESP value starting at `o` ends, or -1 when incomplete. */
function replyEnd(b: Buffer, o: number): number {
  if (o >= b.length) return -1;
  const nl = b.indexOf('\r\n', o);
  if (nl < 0) return -1;
  const type = String.fromCharCode(b[o]!);
  const head = b.toString('latin1', o + 1, nl);
  let p = nl + 2;
  switch (type) {
    case '+': case '-': case ':': case ',': case '_': case '#': case '(':
      return p;
    case '$': case '=': case '!': {
      const n = Number(head);
      if (n < 0) return p;
      return b.length >= p + n + 2 ? p + n + 2 : -1;
    }
    case '*': case '~': case '>': case '%': case '|': {
      let n = Number(head);
      if (n < 0) return p;
      if (type === '%' || type === '|') n *= 2;
      for (let i = 0; i < n; i++) { p = replyEnd(b, p); if (p < 0) return -1; }
      return p;
    }
    default:
      throw new Error(`unknown RESP type ${type}`);
  }
}

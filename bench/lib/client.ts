/**
 * Load generators over ioredis: N connections in a closed loop (each sends its
 * next command as soon as the previous reply arrives), and pipelined bulk loads.
 * The clients live in this process and share its cores with the server: their
 * CPU time is measured and reported beside every throughput.
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { percentiles, nowUs } from './stats.js';
import { cpuBetween, machineBusySeconds, threadCpu, type CpuSplit } from './server.js';

export async function connect(port: number): Promise<Redis> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  await r.connect();
  return r;
}

export async function connectMany(port: number, n: number): Promise<Redis[]> {
  const out: Redis[] = [];
  for (let i = 0; i < n; i++) out.push(await connect(port));
  return out;
}

export function closeAll(clients: Array<{ disconnect(): void }>): void {
  for (const c of clients) c.disconnect();
}

export interface LoopResult {
  ops: number;
  seconds: number;
  qps: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  errors: number;
  firstError: string | null;
  /** Server CPU during the measured window (null when no pid was given). */
  serverCpu: CpuSplit | null;
  /** This process's CPU (the clients) during the window, in seconds. */
  clientCpu: number;
  /** Wall seconds between the two CPU samples (divide CPU seconds by it for cores busy). */
  cpuWall: number;
  /** Cores other processes kept busy over the window (machine busy − server − client); NaN if unknown. */
  otherCores: number;
}

export interface LoopOptions<C = Redis> {
  durationMs: number;
  warmupMs: number;
  /** Pick the next query index (shared across connections). */
  next: () => number;
  send: (client: C, qi: number) => Promise<unknown>;
  /** Called with each reply inside the window (e.g. to keep one answer per query for recall). */
  onReply?: (qi: number, reply: unknown) => void;
  /** Server pid, to split its CPU by thread over the window. */
  serverPid?: number;
}

/**
 * Every client loops send → await reply for warmup + duration; only commands
 * sent inside the measured window count. QPS = counted replies ÷ window.
 */
export async function closedLoop<C = Redis>(clients: C[], o: LoopOptions<C>): Promise<LoopResult> {
  const t0 = nowUs();
  const windowStart = t0 + o.warmupMs * 1000;
  const windowEnd = windowStart + o.durationMs * 1000;
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let cpuA: ReturnType<typeof threadCpu> | null = null;
  let clientA: NodeJS.CpuUsage | null = null;
  let lastDone = windowStart;
  let cpuT0 = 0, cpuWall = 0, busy0 = NaN, otherCores = NaN;
  const startTimer = setTimeout(() => {
    cpuT0 = nowUs();
    busy0 = machineBusySeconds();
    if (o.serverPid) cpuA = threadCpu(o.serverPid);
    clientA = process.cpuUsage();
  }, o.warmupMs);
  let serverCpu: CpuSplit | null = null;
  let clientCpu = 0;
  const endTimer = setTimeout(() => {
    cpuWall = (nowUs() - cpuT0) / 1e6;
    if (o.serverPid && cpuA) serverCpu = cpuBetween(o.serverPid, cpuA, threadCpu(o.serverPid), cpuWall);
    if (clientA) { const d = process.cpuUsage(clientA); clientCpu = (d.user + d.system) / 1e6; }
    const busy = machineBusySeconds() - busy0;
    const serverSeconds = serverCpu ? (serverCpu as CpuSplit).total : 0;
    if (cpuWall > 0) otherCores = Math.max(0, (busy - serverSeconds - clientCpu) / cpuWall);
  }, o.warmupMs + o.durationMs);
  await Promise.all(clients.map(async (c) => {
    for (;;) {
      const start = nowUs();
      if (start >= windowEnd) return;
      const qi = o.next();
      try {
        const reply = await o.send(c, qi);
        const end = nowUs();
        if (start >= windowStart) {
          lat.push(end - start);
          if (end > lastDone) lastDone = end;
          o.onReply?.(qi, reply);
        }
      } catch (e) {
        errors++;
        if (firstError === null) firstError = (e as Error).message;
        if (errors > 1000) throw new Error(`too many errors, first: ${firstError}`);
      }
    }
  }));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  const seconds = (lastDone - windowStart) / 1e6;
  const [p50, p99, max] = percentiles(lat, [50, 99, 100]);
  return { ops: lat.length, seconds, qps: lat.length / seconds, p50Us: p50, p99Us: p99, maxUs: max, errors, firstError, serverCpu, clientCpu, cpuWall, otherCores };
}

/** A shared round-robin counter over q queries. */
export function roundRobin(q: number): () => number {
  let i = 0;
  return () => { const v = i; i = (i + 1) % q; return v; };
}

/**
 * Send `total` commands as pipelines of `perPipeline`, over all `clients`
 * concurrently (each takes the next chunk when its previous one is answered).
 * Throws on the first error reply.
 */
export async function pipelinedLoad(clients: Redis[], total: number, perPipeline: number,
  command: (i: number) => [string, ...(string | Buffer)[]]): Promise<void> {
  let nextChunk = 0;
  const chunks = Math.ceil(total / perPipeline);
  await Promise.all(clients.map(async (c) => {
    for (;;) {
      const chunk = nextChunk++;
      if (chunk >= chunks) return;
      const p = c.pipeline();
      const end = Math.min(total, (chunk + 1) * perPipeline);
      for (let i = chunk * perPipeline; i < end; i++) {
        const [cmd, ...args] = command(i);
        p.callBuffer(cmd, ...args);
      }
      const res = await p.exec();
      for (const [err] of res ?? []) if (err) throw new Error(`pipelined ${command(chunk * perPipeline)[0]} failed: ${err.message}`);
    }
  }));
}

/** Parse a VEC.SEARCH / VSIM reply of ids (Buffers holding decimal indices). */
export function idsOf(reply: unknown): number[] {
  return (reply as Buffer[]).map((b) => Number(b.toString('latin1')));
}

interface ReplyParser { execute(b: Buffer): void }
type ReplyParserCtor = new (o: {
  returnBuffers: boolean; returnReply: (r: unknown) => void; returnError: (e: Error) => void; returnFatalError: (e: Error) => void;
}) => ReplyParser;
const RedisParser = createRequire(import.meta.url)('redis-parser') as ReplyParserCtor;

/**
 * A lean RESP connection for load generation: commands are pre-encoded Buffers written
 * straight to the socket, replies parsed by redis-parser into Buffers. A client on the same
 * two cores as the server takes CPU the server would use: ioredis spends ~25-40 µs per
 * command on argument encoding and its command objects, this ~5-10 µs, so the server's
 * figure is less the client's. In-process usearch, the yardstick, has no client at all.
 */
export class RawConn {
  private readonly waiting: Array<{ resolve: (r: unknown) => void; reject: (e: Error) => void }> = [];
  private constructor(private readonly socket: net.Socket) {
    const parser = new RedisParser({
      returnBuffers: true,
      returnReply: (reply: unknown) => this.waiting.shift()?.resolve(reply),
      returnError: (e: Error) => this.waiting.shift()?.reject(e),
      returnFatalError: (e: Error) => { for (const w of this.waiting.splice(0)) w.reject(e); socket.destroy(); },
    });
    socket.on('data', (d: Buffer) => parser.execute(d));
    socket.on('close', () => { for (const w of this.waiting.splice(0)) w.reject(new Error('connection closed')); });
  }

  static connect(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  /** Send one pre-encoded command; the promise settles with its reply. */
  send(command: Buffer): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(command);
    });
  }

  disconnect(): void { this.socket.destroy(); }
}

/** A command line encoded once as a RESP array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export async function connectRaw(port: number, n: number): Promise<RawConn[]> {
  const out: RawConn[] = [];
  for (let i = 0; i < n; i++) out.push(await RawConn.connect(port));
  return out;
}

/** What drives the throughput loops: the lean RawConn (default) or ioredis (`--driver ioredis`). */
export type Driver = 'raw' | 'ioredis';
export type LoadClient = Redis | RawConn;

export async function connectLoad(port: number, n: number, driver: Driver): Promise<LoadClient[]> {
  return driver === 'raw' ? connectRaw(port, n) : connectMany(port, n);
}

/**
 * What the replication tests share: servers as child processes killed when the
 * test ends, ioredis clients, INFO as a map, bounded polling, the dataset digest.
 */
import type { ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { spawnServer, type Child } from './server.js';

const clients: Redis[] = [];

/** Disconnect every client connect() made (`test.after.always(disconnectAll)`). */
export function disconnectAll(): void {
  for (const c of clients) c.disconnect();
}

export function connect(port: number): Redis {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

export async function info(r: Redis, section: string): Promise<Record<string, string>> {
  const text = await r.info(section);
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Poll until `check` returns true (a generous deadline: no timing is asserted). */
export async function until(what: string, check: () => Promise<boolean>, ms = 30000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try { if (await check()) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A server process, SIGKILLed when the test ends whatever its outcome. */
export async function spawn(t: ExecutionContext, args: string[], opts: Parameters<typeof spawnServer>[1] = {}): Promise<Child> {
  const c = await spawnServer(args, opts);
  t.teardown(async () => { await c.kill('SIGKILL'); });
  return c;
}

export function linkUp(r: Redis): Promise<void> {
  return until('link up', async () => (await info(r, 'replication')).master_link_status === 'up');
}

export async function stats(r: Redis): Promise<{ full: number; partial: number }> {
  const s = await info(r, 'stats');
  return { full: Number(s.sync_full), partial: Number(s.sync_partial_ok) };
}

export function digest(r: Redis): Promise<string> {
  return r.call('DEBUG', 'DIGEST') as Promise<string>;
}

/** Until `b` has applied every byte of `a`'s stream (chains too, where WAIT counts only direct replicas). */
export async function caughtUp(a: Redis, b: Redis): Promise<void> {
  await until('replica caught up', async () => {
    const off = (await info(a, 'replication')).master_repl_offset;
    return (await info(b, 'replication')).master_repl_offset === off;
  });
}

export function f32(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/** A mixed batch of writes (vectors with their graphs, hashes, strings), `tag` naming its keys. */
export async function writeSome(r: Redis, tag: string, n = 50): Promise<void> {
  const pipe = r.pipeline();
  for (let i = 0; i < n; i++) pipe.call('VADD', 'vs', 'FP32', f32([Math.random(), Math.random(), Math.random(), i]), `${tag}-${i}`, 'NOQUANT');
  pipe.hset(`h:${tag}`, 'a', tag, 'b', String(n));
  pipe.set(`s:${tag}`, tag);
  for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
}

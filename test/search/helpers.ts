/** Shared by the FT.* tests: vectors as bytes, raw clients, waiting for a backfill. */
import { Redis } from 'ioredis';

export const f32 = (v: ArrayLike<number>): Buffer => Buffer.from(new Float32Array(Array.from(v)).buffer);

export async function ioredis(port: number, protocol: 2 | 3 = 2, db = 0): Promise<Redis> {
  const r = new Redis({ port, db, protocol, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  await r.connect();
  return r;
}

/** FT.INFO (RESP2, flat) as a map of its top-level fields. */
export async function ftInfo(r: Redis, index: string): Promise<Map<string, unknown>> {
  const flat = await r.call('FT.INFO', index) as unknown[];
  const m = new Map<string, unknown>();
  for (let i = 0; i < flat.length; i += 2) m.set(String(flat[i]), flat[i + 1]);
  return m;
}

/** Until the index's backfill is done (polls FT.INFO `indexing`; the index answers meanwhile). */
export async function indexed(r: Redis, index: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await ftInfo(r, index);
    if (Number(info.get('indexing')) === 0) return;
    if (Date.now() > deadline) throw new Error(`index ${index} still indexing after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** A seeded generator (mulberry32) for reproducible data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RESP2 FT.SEARCH reply → ids and their fields (as strings). */
export function rows(reply: unknown[], opts: { noContent?: boolean; withScores?: boolean } = {}): Array<{ id: string; score?: string; fields: Record<string, string> }> {
  const out: Array<{ id: string; score?: string; fields: Record<string, string> }> = [];
  for (let i = 1; i < reply.length;) {
    const id = String(reply[i++]);
    const score = opts.withScores ? String(reply[i++]) : undefined;
    const fields: Record<string, string> = {};
    if (!opts.noContent) {
      const flat = reply[i++] as unknown[];
      for (let j = 0; j < flat.length; j += 2) fields[String(flat[j])] = String(flat[j + 1]);
    }
    out.push({ id, score, fields });
  }
  return out;
}

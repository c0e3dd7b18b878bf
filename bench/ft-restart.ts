/**
 * `node dist/bench/ft-restart.js [--n 100000] [--after 1000]`: how long an FT
 * index takes to come back after a crash. Loads N × 128 F32 documents with
 * HSET into an indexed prefix, takes a snapshot, writes `--after` more
 * documents (WAL only), kills the server with SIGKILL and starts it again on
 * the same directory. Reports the time from spawn to the first FT.SEARCH
 * answer, to FT.INFO `indexing 0`, to the answer of a search sent then (it
 * waits for the inserts the backfill queued: the graph is whole), and how many of the first answer's hits
 * match the answer the server gave before the crash (a partial index answers
 * early but wrongly). Standalone (not part of `npm run bench`): one restart
 * takes tens of seconds when the graph is rebuilt.
 */
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clustered, blobs } from './lib/data.js';
import { freePort, spawnAstronautIn, type PersistentServer } from './lib/server.js';
import { connectMany, closeAll } from './lib/client.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg('n', 100_000);
const AFTER = arg('after', 1000);
const DIM = 128;
const K = 10;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function client(port: number): Promise<Redis> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  r.on('error', () => {});
  await r.connect();
  return r;
}

async function info(r: Redis): Promise<Map<string, string>> {
  const flat = await r.call('FT.INFO', 'idx') as unknown[];
  const m = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) m.set(String(flat[i]), String(flat[i + 1]));
  return m;
}

const search = (r: Redis, q: Buffer) =>
  r.callBuffer('FT.SEARCH', 'idx', `*=>[KNN ${K} @v $q]`, 'PARAMS', '2', 'q', q, 'NOCONTENT', 'LIMIT', '0', String(K), 'DIALECT', '2') as Promise<Buffer[]>;

const idsOf = (reply: Buffer[]) => reply.slice(1).map((b) => b.toString());

/** The `ms` field of the server's last JSON log line with this message, or null. */
function logMs(log: string, msg: string): number | null {
  for (const line of log.split('\n').reverse()) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const m = /"ms":(\d+)/.exec(line);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * HSET documents [from, to) in pipelines of 1000 over every connection. The
 * WAL refuses a write with MISCONF "retry shortly" while it reserves more
 * space: those writes are sent again.
 */
async function load(conns: Redis[], from: number, to: number, vecs: Buffer[]): Promise<void> {
  let next = from;
  await Promise.all(conns.map(async (c) => {
    for (;;) {
      const start = next;
      if (start >= to) return;
      next = Math.min(to, start + 1000);
      let todo = Array.from({ length: next - start }, (_, j) => start + j);
      while (todo.length > 0) {
        const p = c.pipeline();
        for (const i of todo) p.callBuffer('HSET', `doc:${i}`, 'tag', `t${i % 100}`, 'v', vecs[i]!);
        const res = (await p.exec()) ?? [];
        const failed: number[] = [];
        res.forEach(([err], j) => {
          if (!err) return;
          if (!/retry shortly/.test(err.message)) throw err;
          failed.push(todo[j]!);
        });
        todo = failed;
        if (todo.length > 0) await sleep(20);
      }
    }
  }));
}

async function main(): Promise<void> {
  const ds = clustered(N + AFTER, DIM, 20, 7);
  const vecs = blobs(ds.vectors, N + AFTER, DIM);
  const queries = blobs(ds.queries, ds.q, DIM);
  const dir = mkdtempSync(path.join(tmpdir(), 'astronaut-ft-restart-'));
  const port = await freePort();
  const args = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--loglevel', 'notice'];
  let srv: PersistentServer = spawnAstronautIn(dir, port, args);
  try {
    let r: Redis | null = null;
    while (!r) r = await client(port).catch(async () => { await sleep(50); return null; });
    await r.call('FT.CREATE', 'idx', 'ON', 'HASH', 'PREFIX', '1', 'doc:', 'SCHEMA', 'tag', 'TAG', 'v', 'VECTOR', 'HNSW', '6',
      'TYPE', 'FLOAT32', 'DIM', String(DIM), 'DISTANCE_METRIC', 'COSINE');
    const conns = await connectMany(port, 4);
    const t0 = performance.now();
    await load(conns, 0, N, vecs);
    const before: string[][] = [];
    for (const q of queries) before.push(idsOf(await search(r, q)));
    console.log(`loaded ${N} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s (searches waited for the graph)`);
    // Three snapshots (the restart loads the last): the longest event-loop stall of each, as the server measured it.
    const saveStallMs: number[] = [];
    let saveMs = 0;
    for (let s = 0; s < 3; s++) {
      const ts = performance.now();
      await r.bgsave();
      while ((await r.info('persistence')).includes('rdb_bgsave_in_progress:1')) await sleep(20);
      saveMs = Math.round(performance.now() - ts);
      saveStallMs.push(Number(/rdb_last_bgsave_max_stall_ms:(\d+)/.exec(await r.info('persistence'))?.[1]));
    }
    await load(conns, N, N + AFTER, vecs);
    // Documents written after the cut change some answers: take the reference once they are in.
    before.length = 0;
    for (const q of queries) before.push(idsOf(await search(r, q)));
    closeAll(conns);
    r.disconnect();
    await sleep(1200); // everysec: let the last writes reach the disk before the crash
    await srv.kill();

    srv = spawnAstronautIn(dir, port, args);
    let r2: Redis | null = null;
    while (!r2) r2 = await client(port).catch(async () => { await sleep(5); return null; });
    let firstAnswer = 0;
    let firstMatch = NaN;
    for (;;) {
      try {
        const ids = idsOf(await search(r2, queries[0]!));
        firstAnswer = performance.now() - srv.spawnedAt;
        firstMatch = ids.filter((id) => before[0]!.includes(id)).length / K;
        break;
      } catch { await sleep(5); }
    }
    let indexed = 0;
    for (;;) {
      const i = await info(r2);
      if (i.get('indexing') === '0') { indexed = performance.now() - srv.spawnedAt; break; }
      await sleep(10);
    }
    // Inserts still queued behind the scan hold the searches sent now: this one returns once the graph is whole.
    await search(r2, queries[0]!);
    const graphReady = performance.now() - srv.spawnedAt;
    const i = await info(r2);
    let agree = 0;
    for (let qi = 0; qi < queries.length; qi++) agree += idsOf(await search(r2, queries[qi]!)).filter((id) => before[qi]!.includes(id)).length;
    console.log(JSON.stringify({
      n: N, after: AFTER, saveMs, saveStallMs, firstSearchMs: Math.round(firstAnswer), firstAnswerAgreement: firstMatch,
      indexingZeroMs: Math.round(indexed), graphReadyMs: Math.round(graphReady), numDocs: Number(i.get('num_docs')), agreementAfterIndexing: agree / (K * queries.length),
      // From the server's log: loading the snapshot file (the index's scan included, when its graphs load), the WAL after it.
      snapshotLoadMs: logMs(srv.output(), 'snapshot loaded'), indexRestoreMs: logMs(srv.output(), 'FT index: restored from the snapshot, graphs loaded'),
      walReplayMs: logMs(srv.output(), 'WAL replayed'),
    }));
    r2.disconnect();
  } finally {
    await srv.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });

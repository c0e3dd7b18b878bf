/**
 * Throughput of append + commit at each appendfsync policy, records of ~600
 * bytes, batches of 1 and of 100 (one commit per batch, awaited before the
 * next: a single pipelined client). Not an ava test; run with
 *   node dist/bench/wal-throughput.js [seconds-per-case] [dir]
 * (the dir decides which disk is measured; default: the OS temp dir).
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { RealFs } from '../src/store/fs.js';
import { WalWriter } from '../src/store/wal-writer.js';
import type { Appendfsync } from '../src/store/wal-writer.js';

const seconds = Number(process.argv[2] ?? 3);
const base = process.argv[3] ?? os.tmpdir();
const RECORD = 600;

async function run(policy: Appendfsync, batch: number): Promise<{ recs: number; ms: number; p50: number; p99: number }> {
  const dir = await fsp.mkdtemp(nodePath.join(base, 'astro-wal-bench-'));
  try {
    const w = await WalWriter.create({ fs: new RealFs(), dir, appendfsync: policy, nextSeq: 1 });
    const payload = Buffer.alloc(RECORD, 0x61);
    const lat: number[] = [];
    const start = performance.now();
    let recs = 0;
    while (performance.now() - start < seconds * 1000) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) w.append(payload);
      await w.commit();
      lat.push(performance.now() - t0);
      recs += batch;
    }
    const ms = performance.now() - start;
    await w.close();
    lat.sort((a, b) => a - b);
    return { recs, ms, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
rows.push(`node ${process.version}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, dir ${base}, ${seconds}s per case, ${RECORD}-byte records`);
rows.push('policy    batch   records/s      MB/s   commit p50 ms   commit p99 ms');
for (const policy of ['always', 'everysec', 'no'] as Appendfsync[]) {
  for (const batch of [1, 100]) {
    const r = await run(policy, batch);
    const rps = (r.recs / r.ms) * 1000;
    rows.push(
      `${policy.padEnd(9)} ${String(batch).padStart(5)} ${rps.toFixed(0).padStart(11)} ${((rps * (RECORD + 16)) / 1e6).toFixed(1).padStart(9)} ${r.p50.toFixed(3).padStart(15)} ${r.p99.toFixed(3).padStart(15)}`,
    );
  }
}
process.stdout.write(rows.join('\n') + '\n');

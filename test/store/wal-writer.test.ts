import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { RealFs } from '../../src/store/fs.js';
import type { Fs } from '../../src/store/fs.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import { WalWriter } from '../../src/store/wal-writer.js';
import type { Appendfsync, WalWriterOptions } from '../../src/store/wal-writer.js';
import { WalWriteError } from '../../src/store/errors.js';
import { listSegments, readWal } from '../../src/store/wal-reader.js';
import { SEGMENT_HEADER_SIZE, segmentFileName } from '../../src/store/wal-format.js';
import { GatedFs, captureLogger, deferred, payload, payloadIndex, removeDir, tempDir } from '../helpers/store.js';

async function setup(t: { teardown(fn: () => Promise<void> | void): void }) {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const sim = await SimulatedFs.create(dir);
  return { dir, sim };
}

async function open(fs: Fs, dir: string, appendfsync: Appendfsync, extra: Partial<WalWriterOptions> = {}): Promise<WalWriter> {
  return WalWriter.create({ fs, dir, appendfsync, nextSeq: 1, fsyncIntervalMs: 20, ...extra });
}

async function readAll(fs: Fs, dir: string, opts: { repair?: boolean } = {}): Promise<number[]> {
  const out: number[] = [];
  for await (const r of readWal(dir, 1, { fs, ...opts })) {
    t_assertSeq(r.seq, payloadIndex(r.payload));
    out.push(r.seq);
  }
  return out;
}
function t_assertSeq(seq: number, idx: number): void {
  if (seq !== idx) throw new Error(`record ${seq} holds payload ${idx}`);
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('append hands out contiguous sequence numbers; records read back in order', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'everysec');
  for (let i = 1; i <= 100; i++) t.is(w.append(payload(i, 100)), i);
  await w.commit();
  await w.close();
  t.deepEqual(await readAll(sim, dir), range(1, 100));
  t.deepEqual(await sim.readdir(dir), [segmentFileName(1)]);
});

test('group commit: one event-loop turn of appends and commits costs one write (and one fsync with always)', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'always');
  const writes0 = sim.counts.write;
  const syncs0 = sim.counts.sync;
  const commits: Promise<void>[] = [];
  for (let i = 1; i <= 50; i++) {
    w.append(payload(i));
    commits.push(w.commit());
  }
  await Promise.all(commits);
  t.is(sim.counts.write - writes0, 1);
  t.is(sim.counts.sync - syncs0, 1);
  t.is(w.batches, 1);
  t.is(w.syncedSeq, 50);
  await w.close();
});

test('commit coalesces: appends made while a write is in flight go out together in the next write', async (t) => {
  const { dir, sim } = await setup(t);
  const gated = new GatedFs(sim);
  const w = await open(gated, dir, 'everysec');
  gated.hold();
  w.append(payload(1));
  const first = w.commit();
  await gated.whenWaiting();
  const writes0 = sim.counts.write;
  const later: Promise<void>[] = [];
  for (let i = 2; i <= 200; i++) {
    w.append(payload(i));
    later.push(w.commit());
    if (i % 50 === 0) await new Promise((r) => setImmediate(r)); // several event-loop turns while blocked
  }
  gated.release();
  await first;
  await Promise.all(later);
  t.is(sim.counts.write - writes0, 2); // the held batch, then everything else in one
  t.is(w.batches, 2);
  await w.close();
  t.deepEqual(await readAll(sim, dir), range(1, 200));
});

test('always: commit resolves only after the fsync; power loss keeps every acknowledged record', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'always');
  let acked = 0;
  for (let round = 0; round < 20; round++) {
    const n = 1 + (round % 7);
    for (let k = 0; k < n; k++) w.append(payload(w.nextSeq));
    await w.commit();
    t.true(w.syncedSeq >= w.nextSeq - 1);
    acked = w.nextSeq - 1;
  }
  w.append(payload(w.nextSeq)); // appended, never committed
  await sim.powerLoss();
  await w.kill();
  await sim.adoptDisk();
  t.deepEqual(await readAll(sim, dir), range(1, acked));
});

test('everysec: commit resolves after the write, without waiting for any fsync; the timer fsyncs within the interval', async (t) => {
  const { dir, sim } = await setup(t);
  const gated = new GatedFs(sim);
  const synced = deferred<number>();
  const w = await open(gated, dir, 'everysec', {
    fsyncIntervalMs: 30,
    onFsync: (s) => {
      if (s >= 10) synced.resolve(s);
    },
  });
  gated.holdSyncs(); // no fsync can complete: the commits below must not need one
  for (let i = 1; i <= 10; i++) w.append(payload(i));
  await w.commit();
  t.is(w.writtenSeq, 10);
  t.is(w.syncedSeq, 0);
  gated.releaseSyncs();
  t.is(await synced.promise, 10);
  await sim.powerLoss();
  await w.kill();
  await sim.adoptDisk();
  t.deepEqual(await readAll(sim, dir), range(1, 10));
});

test('no: never fsyncs on its own; close() flushes and fsyncs', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'no', { fsyncIntervalMs: 5 });
  const syncs0 = sim.counts.sync;
  for (let i = 1; i <= 10; i++) w.append(payload(i));
  await w.commit();
  await new Promise((r) => setTimeout(r, 30)); // several intervals pass: still no fsync
  t.is(sim.counts.sync, syncs0);
  w.append(payload(11));
  await w.close();
  t.is(sim.counts.sync, syncs0 + 1);
  await sim.powerLoss();
  t.deepEqual(await readAll(sim, dir), range(1, 11));
});

test('no: power loss without close loses what was never fsynced (but nothing is torn into garbage)', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'no');
  for (let i = 1; i <= 10; i++) w.append(payload(i));
  await w.commit();
  await sim.powerLoss({ keepUnsynced: (_p, _d, cur) => Math.floor(cur / 3) });
  await w.kill();
  await sim.adoptDisk();
  const seqs: number[] = [];
  for await (const r of readWal(dir, 1, { fs: sim, tornTail: 'truncate' })) seqs.push(r.seq);
  t.deepEqual(seqs, range(1, seqs.length));
  t.true(seqs.length < 10);
});

test('appendfsync can be switched at run time', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'no');
  w.append(payload(1));
  await w.commit();
  t.is(w.syncedSeq, 0);
  w.setAppendfsync('always');
  t.is(w.appendfsync, 'always');
  w.append(payload(2));
  await w.commit();
  t.is(w.syncedSeq, 2);
  w.setAppendfsync('everysec');
  w.append(payload(3));
  await w.commit();
  t.is(w.writtenSeq, 3);
  await w.close();
});

test('rotate: the cut is taken synchronously; later appends go to the new segment', async (t) => {
  const { dir, sim } = await setup(t);
  const segs: string[] = [];
  const w = await open(sim, dir, 'everysec', { onSegmentCreated: async (s) => void segs.push(s.file) });
  for (let i = 1; i <= 5; i++) w.append(payload(i));
  const cut = w.rotate();
  for (let i = 6; i <= 8; i++) w.append(payload(i));
  t.is(await cut, 6);
  await w.commit();
  t.is(await w.rotate(), 9);
  t.is(await w.rotate(), 9); // nothing appended since: the empty segment is reused
  await w.close();
  t.deepEqual(segs, [segmentFileName(1), segmentFileName(6), segmentFileName(9)]);
  t.deepEqual((await listSegments(sim, dir)).map((s) => s.firstSeq), [1, 6, 9]);
  t.deepEqual(await readAll(sim, dir), range(1, 8));
  // The old segment was fsynced before the switch: power loss cannot tear a non-last segment.
  await sim.powerLoss();
  t.deepEqual(await readAll(sim, dir), range(1, 8));
});

test('segment size limit rotates automatically; reading crosses segments', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'everysec', { segmentSize: 2000 });
  for (let i = 1; i <= 200; i++) {
    w.append(payload(i, 100));
    if (i % 10 === 0) await w.commit();
  }
  await w.close();
  const segs = await listSegments(sim, dir);
  t.true(segs.length >= 8, `${segs.length} segments`);
  for (const s of segs) t.true((await sim.stat(nodePath.join(dir, s.file))).size <= 2000 + 10 * 116);
  t.deepEqual(await readAll(sim, dir), range(1, 200));
});

test('a failed write: commit rejects (not fatal), file is cut back to the last record, probe() recovers, nothing is lost or doubled', async (t) => {
  const { dir, sim } = await setup(t);
  const log = captureLogger();
  const w = await open(sim, dir, 'always', { logger: log });
  for (let i = 1; i <= 5; i++) w.append(payload(i));
  await w.commit();
  const recordsEnd = w.currentSegment.size;
  sim.inject({ op: 'write', shortWrite: 7 });
  sim.inject({ op: 'write', nth: 2, code: 'ENOSPC' });
  for (let i = 6; i <= 8; i++) w.append(payload(i));
  const err = await t.throwsAsync(() => w.commit(), { instanceOf: WalWriteError });
  t.false(err!.fatal);
  t.is(err!.code, 'ENOSPC');
  t.false(w.healthy);
  t.is(w.lastError?.code, 'ENOSPC');
  t.is((await sim.stat(nodePath.join(dir, segmentFileName(1)))).size, recordsEnd);
  t.true(log.messages('error').some((m) => /refusing writes/.test(m)));
  t.true(await w.probe());
  t.true(w.healthy);
  await w.close();
  t.deepEqual(await readAll(sim, dir), range(1, 8));
});

test('without a reserve, disk full until freed: writes fail, the WAL stays consistent, and resume once space returns', async (t) => {
  const { dir, sim } = await setup(t);
  await fsp.writeFile(nodePath.join(dir, 'ballast'), Buffer.alloc(4000));
  await sim.adoptDisk();
  // reserve 0: the path a write takes when it was not admitted into preallocated space.
  const w = await open(sim, dir, 'everysec', { reserve: 0 });
  sim.setCapacity(4000 + SEGMENT_HEADER_SIZE + 10 * 80 + 40);
  let acked = 0;
  let failures = 0;
  for (let i = 1; i <= 30; i++) {
    w.append(payload(i));
    try {
      await w.commit();
      acked = i;
    } catch (err) {
      t.true(err instanceof WalWriteError);
      failures++;
      break;
    }
  }
  t.is(acked, 10);
  t.is(failures, 1);
  t.false(w.healthy);
  t.false(await w.probe()); // still full
  await sim.unlink(nodePath.join(dir, 'ballast'));
  t.true(await w.probe());
  for (let i = 12; i <= 15; i++) w.append(payload(i));
  await w.commit();
  await w.close();
  t.deepEqual(await readAll(sim, dir), range(1, 15));
});

test('everysec: a failed background fsync makes the writer unhealthy; recovery rewrites what the kernel may have dropped', async (t) => {
  const { dir, sim } = await setup(t);
  const failed = deferred<void>();
  const w = await open(sim, dir, 'everysec', { fsyncIntervalMs: 10, logger: { info() {}, warn() {}, error: () => failed.resolve() } });
  for (let i = 1; i <= 20; i++) w.append(payload(i));
  sim.inject({ op: 'sync', code: 'EIO' });
  await w.commit(); // acknowledged after the write (everysec)
  await failed.promise;
  t.false(w.healthy);
  t.is(w.fatal, null);
  t.true(await w.probe());
  // The failed fsync poisoned those pages: only the rewrite made them durable.
  await sim.powerLoss();
  await w.kill();
  await sim.adoptDisk();
  t.deepEqual(await readAll(sim, dir), range(1, 20));
});

test('the unhealthy writer retries on its own each interval', async (t) => {
  const { dir, sim } = await setup(t);
  const healthyAgain = deferred<void>();
  const w = await open(sim, dir, 'everysec', {
    fsyncIntervalMs: 10,
    logger: { info: () => healthyAgain.resolve(), warn() {}, error() {} },
  });
  sim.inject({ op: 'write', code: 'ENOSPC' });
  w.append(payload(1));
  await t.throwsAsync(() => w.commit());
  t.false(w.healthy);
  await healthyAgain.promise;
  t.true(w.healthy);
  await w.close();
  t.deepEqual(await readAll(sim, dir), [1]);
});

test('always: a failed fsync is fatal — the commit rejects with fatal, and so does everything after', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'always');
  w.append(payload(1));
  await w.commit();
  sim.inject({ op: 'sync', code: 'EIO' });
  w.append(payload(2));
  const err = await t.throwsAsync(() => w.commit(), { instanceOf: WalWriteError });
  t.true(err!.fatal);
  t.truthy(w.fatal);
  w.append(payload(3));
  await t.throwsAsync(() => w.commit(), { instanceOf: WalWriteError });
  t.false(await w.probe());
  await t.throwsAsync(() => w.close());
});

test('rotation that cannot create the new segment rejects and leaves the writer recoverable', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'everysec');
  w.append(payload(1));
  sim.inject({ op: 'open', code: 'ENOSPC' });
  await t.throwsAsync(() => w.rotate(), { instanceOf: WalWriteError });
  t.true(await w.probe());
  w.append(payload(2));
  t.is(await w.rotate(), 3);
  await w.close();
  t.deepEqual(await readAll(sim, dir), [1, 2]);
});

test('resume continues an existing segment at the given length', async (t) => {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const fs = new RealFs();
  const a = await open(fs, dir, 'always');
  for (let i = 1; i <= 3; i++) a.append(payload(i));
  await a.close();
  const file = segmentFileName(1);
  const size = (await fs.stat(nodePath.join(dir, file))).size;
  const b = await WalWriter.create({ fs, dir, appendfsync: 'always', nextSeq: 4, resume: { file, firstSeq: 1, size } });
  b.append(payload(4));
  await b.close();
  t.deepEqual(await readAll(fs, dir), [1, 2, 3, 4]);
});

test('append after close throws; commit after kill rejects', async (t) => {
  const { dir, sim } = await setup(t);
  const w = await open(sim, dir, 'everysec');
  await w.close();
  t.throws(() => w.append(payload(1)), { message: /closed/ });
  const v = await WalWriter.create({ fs: sim, dir, appendfsync: 'everysec', nextSeq: 1, resume: { file: segmentFileName(1), firstSeq: 1, size: SEGMENT_HEADER_SIZE } });
  v.append(payload(1));
  const pending = v.commit();
  await v.kill();
  await t.throwsAsync(() => pending);
});

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { RealFs } from '../../src/store/fs.js';
import { WalWriter } from '../../src/store/wal-writer.js';
import { CorruptionError } from '../../src/store/errors.js';
import { emptyScanReport, listSegments, readWal } from '../../src/store/wal-reader.js';
import type { WalReadOptions, WalScanReport } from '../../src/store/wal-reader.js';
import { SEGMENT_HEADER_SIZE, segmentFileName } from '../../src/store/wal-format.js';
import { captureLogger, payload, payloadIndex, removeDir, tempDir } from '../helpers/store.js';

const fs = new RealFs();
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Write records 1..n (payload sizes vary) into `dir`, rotating at the given seqs. Returns record end offsets per segment. */
async function writeWal(dir: string, n: number, rotateAt: number[] = []): Promise<void> {
  const w = await WalWriter.create({ fs, dir, appendfsync: 'no', nextSeq: 1 });
  for (let i = 1; i <= n; i++) {
    if (rotateAt.includes(i)) await w.rotate();
    w.append(payload(i, 20 + ((i * 7) % 50)));
  }
  await w.close();
}

async function read(dir: string, opts: Omit<WalReadOptions, 'fromSeq'> & { fromSeq?: number } = {}): Promise<{ seqs: number[]; report: WalScanReport }> {
  const report = emptyScanReport(opts.fromSeq ?? 1);
  const seqs: number[] = [];
  for await (const r of readWal(dir, opts.fromSeq ?? 1, { fs, ...opts }, report)) {
    if (payloadIndex(r.payload) !== r.seq) throw new Error(`record ${r.seq} has the wrong payload`);
    seqs.push(r.seq);
  }
  return { seqs, report };
}

async function setup(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  return dir;
}

/** Offsets where each record of a segment ends. */
async function recordEnds(dir: string, file: string): Promise<number[]> {
  const buf = await fsp.readFile(nodePath.join(dir, file));
  const ends: number[] = [];
  for (let p = SEGMENT_HEADER_SIZE; p < buf.length; ) {
    p += 16 + buf.readUInt32LE(p);
    ends.push(p);
  }
  return ends;
}

test('fromSeq skips earlier records but starts from the right segment', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 30, [11, 21]);
  t.deepEqual((await read(dir, { fromSeq: 21 })).seqs, range(21, 30));
  t.deepEqual((await read(dir, { fromSeq: 15 })).seqs, range(15, 30));
  t.deepEqual((await read(dir, { fromSeq: 31 })).seqs, []);
});

test('torn tail at EVERY byte offset of the last records: exactly the complete records survive, the tail is truncated and logged', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 10, [6]);
  const last = segmentFileName(6);
  const full = await fsp.readFile(nodePath.join(dir, last));
  const ends = await recordEnds(dir, last);
  const from = ends[ends.length - 4]!; // the last three records, byte by byte
  let checked = 0;
  for (let cut = from; cut < full.length; cut++) {
    await fsp.writeFile(nodePath.join(dir, last), full.subarray(0, cut));
    const complete = ends.filter((e) => e <= cut).length;
    const log = captureLogger();
    const { seqs, report } = await read(dir, { tornTail: 'truncate', logger: log });
    t.deepEqual(seqs, range(1, 5 + complete), `cut at ${cut}`);
    const kept = ends.filter((e) => e <= cut).at(-1) ?? SEGMENT_HEADER_SIZE;
    t.is((await fsp.stat(nodePath.join(dir, last))).size, kept);
    if (cut !== kept) {
      t.is(report.problems[0]?.kind, 'torn-tail');
      t.true(report.problems[0]?.fixed);
      t.true(log.messages('warn').some((m) => /torn tail/.test(m)));
    } else {
      t.deepEqual(report.problems, []);
    }
    checked++;
  }
  t.true(checked > 100);
});

test('zeros after the last record (space the writer preallocated) are the clean end, not a torn tail; a partial record before them still is', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 5);
  const file = nodePath.join(dir, segmentFileName(1));
  const recordsEnd = (await fsp.stat(file)).size;
  await fsp.appendFile(file, Buffer.alloc(4096));
  const clean = await read(dir, { tornTail: 'truncate' });
  t.deepEqual(clean.seqs, range(1, 5));
  t.deepEqual(clean.report.problems, []);
  t.like(clean.report.segments[0], { status: 'ok', validEnd: recordsEnd, reserved: 4096 });
  t.is((await fsp.stat(file)).size, recordsEnd + 4096, 'the reserve is left for the writer');
  // A record cut short inside the preallocated space: its first bytes, then zeros.
  const b = await fsp.readFile(file);
  b.copy(b, recordsEnd, SEGMENT_HEADER_SIZE, SEGMENT_HEADER_SIZE + 9);
  await fsp.writeFile(file, b);
  const torn = await read(dir, { tornTail: 'truncate' });
  t.deepEqual(torn.seqs, range(1, 5));
  t.like(torn.report.problems[0], { kind: 'torn-tail', offset: recordsEnd, fixed: true });
  t.is((await fsp.stat(file)).size, recordsEnd);
});

test('a bad record in a non-last segment is refused; repair skips it and goes on', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 20, [11]);
  const first = nodePath.join(dir, segmentFileName(1));
  const ends = await recordEnds(dir, segmentFileName(1));
  const buf = await fsp.readFile(first);
  buf[ends[3]! + 20] ^= 0x10; // inside record 5's payload
  await fsp.writeFile(first, buf);
  const err = await t.throwsAsync(() => read(dir, { tornTail: 'truncate' }), { instanceOf: CorruptionError });
  t.is(err!.kind, 'bad-record');
  t.regex(err!.message, /wal-0+1\.log at offset \d+/);
  t.regex(err!.message, /repair/);
  // Nothing was truncated.
  t.is((await fsp.readFile(first)).length, buf.length);
  const log = captureLogger();
  const { seqs, report } = await read(dir, { repair: true, logger: log });
  t.deepEqual(seqs, [...range(1, 4), ...range(6, 20)]);
  t.is(report.problems[0]?.kind, 'bad-record');
  t.true(log.messages('error').length > 0);
});

test('a bad record in the middle of the LAST segment (valid records after it) is corruption, not a torn tail', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 10);
  const file = nodePath.join(dir, segmentFileName(1));
  const ends = await recordEnds(dir, segmentFileName(1));
  const buf = await fsp.readFile(file);
  buf.writeUInt32LE(0xfffffff0, ends[2]!); // record 4's length: impossible
  await fsp.writeFile(file, buf);
  const err = await t.throwsAsync(() => read(dir, { tornTail: 'truncate' }), { instanceOf: CorruptionError });
  t.is(err!.kind, 'bad-record');
  t.is((await fsp.readFile(file)).length, buf.length); // not truncated
  t.deepEqual((await read(dir, { repair: true })).seqs, [...range(1, 3), ...range(5, 10)]);
});

test('a missing segment (gap in sequence numbers) is refused; repair accepts the gap', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 30, [11, 21]);
  await fsp.unlink(nodePath.join(dir, segmentFileName(11)));
  const err = await t.throwsAsync(() => read(dir), { instanceOf: CorruptionError });
  t.is(err!.kind, 'missing-segment');
  t.regex(err!.message, /records 11\.\.20 are missing/);
  t.deepEqual((await read(dir, { repair: true })).seqs, [...range(1, 10), ...range(21, 30)]);
});

test('the first needed segment missing is refused', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 30, [11, 21]);
  await fsp.unlink(nodePath.join(dir, segmentFileName(1)));
  const err = await t.throwsAsync(() => read(dir, { fromSeq: 5 }), { instanceOf: CorruptionError });
  t.is(err!.kind, 'missing-segment');
  t.deepEqual((await read(dir, { fromSeq: 11 })).seqs, range(11, 30));
});

test('a sequence gap inside a segment (valid frames, wrong seq) is refused', async (t) => {
  const dir = await setup(t);
  const w = await WalWriter.create({ fs, dir, appendfsync: 'no', nextSeq: 1 });
  for (let i = 1; i <= 3; i++) w.append(payload(i));
  await w.close();
  // Splice in a segment written from seq 5 into the same file: records 1,2,3,5.
  const other = await tempDir();
  t.teardown(() => removeDir(other));
  const v = await WalWriter.create({ fs, dir: other, appendfsync: 'no', nextSeq: 5 });
  v.append(payload(5));
  await v.close();
  const rec5 = (await fsp.readFile(nodePath.join(other, segmentFileName(5)))).subarray(SEGMENT_HEADER_SIZE);
  await fsp.appendFile(nodePath.join(dir, segmentFileName(1)), rec5);
  const err = await t.throwsAsync(() => read(dir), { instanceOf: CorruptionError });
  t.is(err!.kind, 'seq-gap');
  t.deepEqual((await read(dir, { repair: true })).seqs, [1, 2, 3, 5]);
});

test('a damaged segment header is refused', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 5);
  const file = nodePath.join(dir, segmentFileName(1));
  const buf = await fsp.readFile(file);
  buf[3] ^= 1;
  await fsp.writeFile(file, buf);
  const err = await t.throwsAsync(() => read(dir), { instanceOf: CorruptionError });
  t.is(err!.kind, 'bad-segment-header');
});

test('an incomplete header on the last segment (created, never written) counts as an empty segment', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 5);
  await fsp.writeFile(nodePath.join(dir, segmentFileName(6)), Buffer.alloc(7));
  const { seqs, report } = await read(dir, { tornTail: 'truncate' });
  t.deepEqual(seqs, range(1, 5));
  t.is(report.problems[0]?.kind, 'torn-header');
  t.is((await fsp.stat(nodePath.join(dir, segmentFileName(6)))).size, SEGMENT_HEADER_SIZE);
  // And the segment is usable afterwards.
  const w = await WalWriter.create({ fs, dir, appendfsync: 'no', nextSeq: 6, resume: { file: segmentFileName(6), firstSeq: 6, size: SEGMENT_HEADER_SIZE } });
  w.append(payload(6));
  await w.close();
  t.deepEqual((await read(dir)).seqs, range(1, 6));
});

test('every single-bit flip in a WAL is caught: an error, or a torn tail that keeps exactly the records before it', async (t) => {
  const dir = await setup(t);
  await writeWal(dir, 6, [4]);
  const segs = await listSegments(fs, dir);
  const originals = new Map<string, Buffer>();
  for (const s of segs) originals.set(s.file, await fsp.readFile(nodePath.join(dir, s.file)));
  let errors = 0;
  let torn = 0;
  for (const s of segs) {
    const orig = originals.get(s.file)!;
    const isLast = s === segs.at(-1);
    const ends = await recordEnds(dir, s.file);
    for (let bit = 0; bit < orig.length * 8; bit++) {
      // Every bit of headers and the final records; every third bit elsewhere (keeps the test a few seconds).
      if (bit >= SEGMENT_HEADER_SIZE * 8 && bit < ends.at(-3)! * 8 && bit % 3 !== 0) continue;
      const b = Buffer.from(orig);
      b[bit >> 3] ^= 1 << (bit & 7);
      await fsp.writeFile(nodePath.join(dir, s.file), b);
      try {
        const { seqs, report } = await read(dir, { tornTail: 'report' });
        // Only allowed outcome without an error: the flip hit the last segment's final record, reported as a torn tail.
        const at = report.problems[0];
        t.true(isLast && at?.kind === 'torn-tail', `bit ${bit} of ${s.file} went unnoticed`);
        const whole = ends.filter((e) => e <= (at?.offset ?? 0)).length;
        t.deepEqual(seqs, range(1, s.firstSeq - 1 + whole));
        t.true(at!.offset! >= ends.at(-2)!, 'only the final record may look torn');
        torn++;
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        errors++;
      }
    }
    await fsp.writeFile(nodePath.join(dir, s.file), orig);
  }
  t.true(errors > 500);
  t.true(torn > 0);
});

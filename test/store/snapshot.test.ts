import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { RealFs } from '../../src/store/fs.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import { SnapshotWriter } from '../../src/store/snapshot-writer.js';
import { SnapshotReader } from '../../src/store/snapshot-reader.js';
import { CorruptionError } from '../../src/store/errors.js';
import { SNAPSHOT_HEADER_SIZE, SNAPSHOT_TRAILER_SIZE } from '../../src/store/snapshot-format.js';
import { removeDir, tempDir } from '../helpers/store.js';

const fs = new RealFs();

async function setup(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  return dir;
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

async function sample(path: string): Promise<{ metaA: Buffer; graphA: Buffer; empty: Buffer }> {
  const metaA = Buffer.from(JSON.stringify({ dim: 4, metric: 'cos', count: 3 }));
  const graphA = bytes(300, 1);
  const empty = Buffer.alloc(0);
  const w = new SnapshotWriter(fs, path, { seq: 42, createdMs: 1_700_000_000_000, chunkSize: 256 });
  await w.addSection(1, 'set:a', metaA);
  await w.addSection(2, 'set:a', graphA);
  await w.addSection(3, 'ünïcode name', empty);
  await w.finish();
  return { metaA, graphA, empty };
}

test('round trip: sections come back with kind, name and bytes; header fields kept', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  const { metaA, graphA } = await sample(path);
  const r = await SnapshotReader.open(fs, path);
  t.is(r.seq, 42);
  t.is(r.createdMs, 1_700_000_000_000);
  t.deepEqual(
    r.sections.map((s) => [s.kind, s.name, s.length]),
    [
      [1, 'set:a', metaA.length],
      [2, 'set:a', graphA.length],
      [3, 'ünïcode name', 0],
    ],
  );
  t.deepEqual(await r.readSection(r.find('set:a', 2)!), graphA);
  t.deepEqual(await r.readSection(0), metaA);
  t.deepEqual(await r.readSection(2), Buffer.alloc(0));
  t.is(r.size, (await fsp.stat(path)).size);
  await r.close();
});

test('sections from iterables and streams, issued concurrently, land in call order', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  const w = new SnapshotWriter(fs, path, { seq: 1, chunkSize: 1000 });
  const big = bytes(10_000, 2);
  const parts = [bytes(100, 3), bytes(5000, 4), bytes(1, 5)];
  await Promise.all([
    w.addSection(7, 'stream', Readable.from([big.subarray(0, 3333), big.subarray(3333)])),
    w.addSection(8, 'iter', parts),
    w.addSection(9, 'async', (async function* () {
      yield bytes(10, 6);
      yield bytes(20, 7);
    })()),
  ]);
  const info = await w.finish();
  t.is(info.sections, 3);
  const r = await SnapshotReader.open(fs, path, { expect: { size: info.size, crc: info.crc } });
  t.deepEqual(r.sections.map((s) => s.name), ['stream', 'iter', 'async']);
  t.deepEqual(await r.readSection(0), big);
  t.deepEqual(await r.readSection(1), Buffer.concat(parts));
  t.deepEqual(await r.readSection(2), Buffer.concat([bytes(10, 6), bytes(20, 7)]));
  await r.close();
});

test('an empty snapshot (no sections) is valid', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 'e.snap');
  const info = await new SnapshotWriter(fs, path, { seq: 9 }).finish();
  t.is(info.size, SNAPSHOT_HEADER_SIZE + 4 + SNAPSHOT_TRAILER_SIZE);
  const r = await SnapshotReader.open(fs, path);
  t.is(r.sections.length, 0);
  t.is(r.seq, 9);
  await r.close();
});

test('EVERY single-bit flip anywhere in a snapshot file is detected before any section is returned', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  await sample(path);
  const orig = await fsp.readFile(path);
  const flipped = nodePath.join(dir, 'f.snap');
  let detected = 0;
  for (let bit = 0; bit < orig.length * 8; bit++) {
    const b = Buffer.from(orig);
    b[bit >> 3] ^= 1 << (bit & 7);
    await fsp.writeFile(flipped, b);
    const err = await t.throwsAsync(() => SnapshotReader.open(fs, flipped), undefined, `bit ${bit}`);
    if (err instanceof CorruptionError && err.kind === 'bad-snapshot') detected++;
    else t.fail(`bit ${bit}: unexpected ${String(err)}`);
  }
  t.is(detected, orig.length * 8);
});

test('every truncation and any extension is detected', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  await sample(path);
  const orig = await fsp.readFile(path);
  const cut = nodePath.join(dir, 'c.snap');
  for (let len = 0; len < orig.length; len++) {
    await fsp.writeFile(cut, orig.subarray(0, len));
    await t.throwsAsync(() => SnapshotReader.open(fs, cut), { instanceOf: CorruptionError }, `length ${len}`);
  }
  await fsp.writeFile(cut, Buffer.concat([orig, Buffer.alloc(1)]));
  await t.throwsAsync(() => SnapshotReader.open(fs, cut), { instanceOf: CorruptionError });
});

test('the manifest expectation (size, root crc) must match', async (t) => {
  const dir = await setup(t);
  const a = nodePath.join(dir, 'a.snap');
  const info = await new SnapshotWriter(fs, a, { seq: 1 }).finish();
  const b = nodePath.join(dir, 'b.snap');
  const other = await new SnapshotWriter(fs, b, { seq: 2 }).finish();
  t.is(info.size, other.size);
  await t.throwsAsync(() => SnapshotReader.open(fs, b, { expect: { size: info.size, crc: info.crc } }), { instanceOf: CorruptionError, message: /root checksum/ });
  await t.throwsAsync(() => SnapshotReader.open(fs, a, { expect: { size: info.size + 1, crc: info.crc } }), { instanceOf: CorruptionError, message: /size/ });
  await (await SnapshotReader.open(fs, a, { expect: { size: info.size, crc: info.crc } })).close();
});

test('readSection re-checks the bytes: a change after verification is caught', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  await sample(path);
  const r = await SnapshotReader.open(fs, path);
  const s = r.find('set:a', 2)!;
  const fh = await fsp.open(path, 'r+');
  await fh.write(Buffer.from([0xee]), 0, 1, s.dataOffset + 5);
  await fh.close();
  await t.throwsAsync(() => r.readSection(s), { instanceOf: CorruptionError });
  await r.close();
});

test('deferCrc: every flip outside the deferred data is still caught at open; one inside it is caught by readSection and intact()', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 's.snap');
  const { graphA } = await sample(path);
  const deferCrc = (s: { kind: number }) => s.kind === 2;
  const r = await SnapshotReader.open(fs, path, { deferCrc });
  const g = r.find('set:a', 2)!;
  t.deepEqual(r.sections.map((s) => s.crcChecked), [true, false, true]);
  t.true(await r.intact(g));
  await r.close();
  const orig = await fsp.readFile(path);
  const flipped = nodePath.join(dir, 'f.snap');
  for (let bit = 0; bit < orig.length * 8; bit++) {
    const b = Buffer.from(orig);
    b[bit >> 3] ^= 1 << (bit & 7);
    await fsp.writeFile(flipped, b);
    const at = bit >> 3;
    if (at < g.dataOffset || at >= g.dataOffset + g.length) {
      await t.throwsAsync(() => SnapshotReader.open(fs, flipped, { deferCrc }), { instanceOf: CorruptionError }, `bit ${bit}`);
      continue;
    }
    const rf = await SnapshotReader.open(fs, flipped, { deferCrc });
    const sf = rf.find('set:a', 2)!;
    t.false(await rf.intact(sf), `bit ${bit}`);
    await t.throwsAsync(() => rf.readSection(sf), { instanceOf: CorruptionError, message: /is damaged \(data checksum mismatch\)/ }, `bit ${bit}`);
    t.is((await rf.readSection(0)).length, rf.sections[0]!.length, 'the other sections still read');
    await rf.close();
  }
  t.is(graphA.length, g.length);
});

test('a missing file surfaces as ENOENT (the store falls back), not as corruption', async (t) => {
  const dir = await setup(t);
  await t.throwsAsync(() => SnapshotReader.open(fs, nodePath.join(dir, 'nope.snap')), { code: 'ENOENT' });
});

test('abort removes the partial file; a failed write fails the section and finish', async (t) => {
  const dir = await setup(t);
  const sim = await SimulatedFs.create(dir);
  const path = nodePath.join(dir, 'x.snap.tmp');
  const w = new SnapshotWriter(sim, path, { seq: 1, chunkSize: 100 });
  await w.addSection(1, 'ok', bytes(300, 1));
  sim.inject({ op: 'write', code: 'ENOSPC' });
  await t.throwsAsync(() => w.addSection(2, 'fails', bytes(300, 2)), { code: 'ENOSPC' });
  await t.throwsAsync(() => w.finish(), { code: 'ENOSPC' });
  await w.abort();
  t.deepEqual(await fsp.readdir(dir), []);
});

test('writing and verifying a 64 MiB section keeps the event loop responsive', async (t) => {
  const dir = await setup(t);
  const path = nodePath.join(dir, 'big.snap');
  const big = Buffer.alloc(64 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const w = new SnapshotWriter(fs, path, { seq: 1 });
  await w.addSection(1, 'graph', big);
  const info = await w.finish();
  const r = await SnapshotReader.open(fs, path, { expect: { size: info.size, crc: info.crc } });
  const back = await r.readSection(0);
  await r.close();
  h.disable();
  t.true(back.equals(big));
  const maxMs = h.max / 1e6;
  t.log(`longest event-loop stall while writing+verifying+reading 64 MiB: ${maxMs.toFixed(1)} ms`);
  t.true(maxMs < 300, `stall ${maxMs} ms`);
});

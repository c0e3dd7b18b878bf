import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { RealFs, readWholeFile, writeAll } from '../../src/store/fs.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import { removeDir, tempDir } from '../helpers/store.js';

async function withSim(t: { teardown(fn: () => Promise<void>): void }): Promise<{ sim: SimulatedFs; dir: string; p: (n: string) => string }> {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const sim = await SimulatedFs.create(dir);
  return { sim, dir, p: (n) => nodePath.join(dir, n) };
}

const B = (s: string): Buffer => Buffer.from(s);

test('RealFs: write, short-write loop, read back, rename, syncDir, unlink', async (t) => {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const fs = new RealFs();
  const f = await fs.open(nodePath.join(dir, 'a'), 'wx');
  await writeAll(f, B('hello world'), 0);
  await f.datasync();
  t.is(await f.size(), 11);
  await f.close();
  await fs.rename(nodePath.join(dir, 'a'), nodePath.join(dir, 'b'));
  await fs.syncDir(dir);
  t.deepEqual(await fs.readdir(dir), ['b']);
  t.is((await readWholeFile(fs, nodePath.join(dir, 'b'))).toString(), 'hello world');
  await fs.truncate(nodePath.join(dir, 'b'), 5);
  t.is((await fs.stat(nodePath.join(dir, 'b'))).size, 5);
  await fs.unlink(nodePath.join(dir, 'b'));
  t.deepEqual(await fs.readdir(dir), []);
});

test('power loss drops unsynced data but keeps fsynced data', async (t) => {
  const { sim, p } = await withSim(t);
  const f = await sim.open(p('x'), 'wx');
  await writeAll(f, B('durable|'), 0);
  await f.sync();
  await sim.syncDir(nodePath.dirname(p('x')));
  await writeAll(f, B('volatile'), 8);
  t.is((await fsp.readFile(p('x'))).toString(), 'durable|volatile');
  await sim.powerLoss();
  t.is((await fsp.readFile(p('x'))).toString(), 'durable|');
  await t.throwsAsync(() => f.write(B('z'), 0, 1, 0), { code: 'EBADF' });
});

test('a created file whose directory was not fsynced vanishes', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('new'), 'wx');
  await writeAll(f, B('data'), 0);
  await f.sync();
  await f.close();
  await sim.powerLoss();
  t.deepEqual(await fsp.readdir(dir), []);
});

test('rename counts only after the directory fsync (old name comes back)', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const a = await sim.open(p('old'), 'wx');
  await writeAll(a, B('OLD'), 0);
  await a.sync();
  await a.close();
  await sim.syncDir(dir);
  const b = await sim.open(p('tmp'), 'wx');
  await writeAll(b, B('NEW'), 0);
  await b.sync();
  await b.close();
  await sim.rename(p('tmp'), p('old'));
  t.is((await fsp.readFile(p('old'))).toString(), 'NEW');
  await sim.powerLoss();
  t.is((await fsp.readFile(p('old'))).toString(), 'OLD');
  t.deepEqual(await fsp.readdir(dir), ['old']);
  // And with the directory fsync, the rename survives.
  const c = await sim.open(p('tmp'), 'wx');
  await writeAll(c, B('NEW'), 0);
  await c.sync();
  await c.close();
  await sim.rename(p('tmp'), p('old'));
  await sim.syncDir(dir);
  await sim.powerLoss();
  t.is((await fsp.readFile(p('old'))).toString(), 'NEW');
});

test('overlapping directory fsyncs: one that started earlier and ends later never undoes a newer one', async (t) => {
  // The store's segment rolls and MANIFEST rewrites fsync the same directory concurrently.
  const { sim, dir, p } = await withSim(t);
  const write = async (name: string, text: string) => {
    const f = await sim.open(p(name), 'wx');
    await writeAll(f, B(text), 0);
    await f.sync();
    await f.close();
  };
  await write('MANIFEST', 'v1');
  await sim.syncDir(dir);
  await write('MANIFEST.tmp', 'v2');
  // A slow fsync takes its view now (MANIFEST is v1), then stalls.
  let release!: () => void;
  const stalled = new Promise<void>((r) => { release = r; });
  let first = true;
  sim.dirSyncDelay = () => { if (first) { first = false; return stalled; } };
  const slow = sim.syncDir(dir);
  await sim.rename(p('MANIFEST.tmp'), p('MANIFEST'));
  await sim.syncDir(dir); // the rename is durable
  release();
  await slow;
  await sim.powerLoss();
  t.is((await fsp.readFile(p('MANIFEST'))).toString(), 'v2');
  t.deepEqual(await fsp.readdir(dir), ['MANIFEST']);
});

test('unlink without directory fsync is undone by power loss', async (t) => {
  const { sim, dir, p } = await withSim(t);
  await fsp.writeFile(p('keep'), 'K');
  await sim.adoptDisk();
  await sim.unlink(p('keep'));
  await sim.powerLoss();
  t.deepEqual(await fsp.readdir(dir), ['keep']);
  await sim.unlink(p('keep'));
  await sim.syncDir(dir);
  await sim.powerLoss();
  t.deepEqual(await fsp.readdir(dir), []);
});

test('truncate is durable only after fsync', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('t'), 'wx');
  await writeAll(f, B('0123456789'), 0);
  await f.sync();
  await sim.syncDir(dir);
  await f.truncate(4);
  await sim.powerLoss();
  t.is((await fsp.readFile(p('t'))).toString(), '0123456789');
  const g = await sim.open(p('t'), 'r+');
  await g.truncate(4);
  await g.sync();
  await g.close();
  await sim.powerLoss();
  t.is((await fsp.readFile(p('t'))).toString(), '0123');
});

test('keepUnsynced keeps a prefix of the unsynced tail (a torn write)', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('w'), 'wx');
  await writeAll(f, B('AAAA'), 0);
  await f.sync();
  await sim.syncDir(dir);
  await writeAll(f, B('BBBBBBBB'), 4);
  await sim.powerLoss({ keepUnsynced: (_path, durable, current) => (t.is(durable, 4), t.is(current, 12), 3) });
  t.is((await fsp.readFile(p('w'))).toString(), 'AAAABBB');
});

test('a failed fsync drops the dirty data for good (fsyncgate) until it is rewritten', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('g'), 'wx');
  await writeAll(f, B('base'), 0);
  await f.sync();
  await sim.syncDir(dir);
  await writeAll(f, B('LOST'), 4);
  sim.inject({ op: 'sync', code: 'EIO' });
  await t.throwsAsync(() => f.sync(), { code: 'EIO' });
  // The page cache still shows the data and a second fsync "succeeds" ...
  await f.sync();
  t.is((await fsp.readFile(p('g'))).toString(), 'baseLOST');
  await sim.powerLoss();
  // ... but the disk never got it: the size grew, the bytes did not.
  t.deepEqual(await fsp.readFile(p('g')), Buffer.concat([B('base'), Buffer.alloc(4)]));
  // Rewriting the bytes and fsyncing persists them.
  const g = await sim.open(p('g'), 'r+');
  await writeAll(g, B('KEPT'), 4);
  await g.sync();
  await g.close();
  await sim.powerLoss();
  t.is((await fsp.readFile(p('g'))).toString(), 'baseKEPT');
});

test('a write racing an fsync is not assumed durable', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('r'), 'wx');
  await sim.syncDir(dir);
  await writeAll(f, B('one|'), 0);
  const syncing = f.sync();
  const writing = writeAll(f, B('two|'), 4);
  await Promise.all([syncing, writing]);
  await sim.powerLoss();
  t.is((await fsp.readFile(p('r'))).toString(), 'one|');
});

test('inject: nth write fails with ENOSPC; short writes are looped over by writeAll', async (t) => {
  const { sim, p } = await withSim(t);
  const f = await sim.open(p('s'), 'wx');
  sim.inject({ op: 'write', nth: 2, code: 'ENOSPC' });
  await writeAll(f, B('first'), 0);
  await t.throwsAsync(() => writeAll(f, B('second'), 5), { code: 'ENOSPC' });
  await writeAll(f, B('third'), 5);
  const before = sim.counts.write;
  sim.inject({ op: 'write', shortWrite: 2, count: 3 });
  await writeAll(f, B('0123456789'), 10);
  t.is(sim.counts.write - before, 4); // 2+2+2 short, then the last 4 in one go
  t.is((await fsp.readFile(p('s'))).toString(), 'firstthird0123456789');
});

test('capacity: a write past the limit is short, then ENOSPC; freeing space lets writes go on', async (t) => {
  const { sim, p } = await withSim(t);
  const filler = await sim.open(p('filler'), 'wx');
  await writeAll(filler, Buffer.alloc(90), 0);
  await filler.close();
  sim.setCapacity(100);
  const f = await sim.open(p('f'), 'wx');
  const err = await t.throwsAsync(() => writeAll(f, Buffer.alloc(20, 1), 0));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
  t.is((err as { bytesWritten?: number }).bytesWritten, 10);
  t.is(sim.usedBytes(), 100);
  await sim.unlink(p('filler'));
  await writeAll(f, Buffer.alloc(20, 1), 0);
  t.is(await f.size(), 20);
});

test('crash() kills handles but keeps unsynced data (a process crash, not a power loss)', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const f = await sim.open(p('c'), 'wx');
  await sim.syncDir(dir);
  await writeAll(f, B('page cache'), 0);
  await sim.crash();
  await t.throwsAsync(() => f.sync(), { code: 'EBADF' });
  t.is((await fsp.readFile(p('c'))).toString(), 'page cache');
});

test('paths outside the root are refused', async (t) => {
  const { sim } = await withSim(t);
  await t.throwsAsync(() => sim.open('/etc/passwd', 'r'), { message: /outside its root/ });
});

test('a session dies with the simulated process; calls in flight finish before the power cut', async (t) => {
  const { sim, dir, p } = await withSim(t);
  const fs1 = sim.session();
  const f = await fs1.open(p('a'), 'wx');
  await fs1.syncDir(dir);
  const inflight = writeAll(f, B('in flight'), 0).then(() => f.sync());
  await sim.powerLoss();
  await t.throwsAsync(() => inflight); // the sync after the write found a dead process
  await t.throwsAsync(() => fs1.readdir(dir), { code: 'EIO' });
  await t.throwsAsync(() => fs1.open(p('b'), 'wx'), { code: 'EIO' });
  const fs2 = sim.session();
  t.deepEqual(await fs2.readdir(dir), ['a']);
  t.is((await fsp.readFile(p('a'))).length, 0); // written, never synced
});

/**
 * A snapshot holds the dataset at its cut, not a moment later: BGSAVE freezes
 * the keyspace (copy-on-write) and streams the string keys afterwards, while
 * the writes pipelined right behind it (overwrites, deletes, new keys,
 * RENAME, FLUSHDB) are served. Restarting from that snapshot alone
 * (appendonly off) must give back exactly the state BGSAVE saw.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { startInProcess, tempDir } from '../helpers/server.js';

const N = 30_000;

async function allKeys(r: Redis): Promise<Map<string, string>> {
  const keys = (await r.keys('*')).filter((k) => k !== 'vs');
  const out = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 1000) {
    const part = keys.slice(i, i + 1000);
    const p = r.pipeline();
    for (const k of part) p.get(k);
    const res = (await p.exec())!;
    part.forEach((k, j) => out.set(k, res[j]![1] as string));
  }
  return out;
}

async function bgsaveDone(r: Redis): Promise<void> {
  while (/rdb_bgsave_in_progress:1/.test(await r.info('persistence'))) await new Promise((res) => setTimeout(res, 20));
  if (!/rdb_last_bgsave_status:ok/.test(await r.info('persistence'))) throw new Error('BGSAVE failed');
}

test('BGSAVE saves the keyspace as it was when it ran, whatever is written while it streams', async (t) => {
  const dir = tempDir();
  const srv = await startInProcess({ dir, appendonly: false });
  const r = new Redis({ port: srv.port, lazyConnect: true });
  const r1 = new Redis({ port: srv.port, db: 1, lazyConnect: true });
  await r.connect();
  await r1.connect();
  const atCut = new Map<string, string>();
  for (let s = 0; s < N; s += 5000) {
    const p = r.pipeline();
    for (let i = s; i < s + 5000; i++) { p.set(`key:${i}`, `a:${i}`); atCut.set(`key:${i}`, `a:${i}`); }
    await p.exec();
  }
  atCut.set('big', 'x'.repeat(5000));
  await r.set('big', 'x'.repeat(5000));
  await r.call('VEC.ADD', 'vs', 'e1', 'VALUES', '2', '1', '0');
  await r1.set('other', 'db1');

  // BGSAVE and the writes after it, in one pipeline: they run while the snapshot is being written.
  const p = r.pipeline();
  p.call('BGSAVE');
  for (let i = 0; i < N; i += 3) {
    p.set(`key:${i}`, 'b');
    p.del(`key:${i + 1}`);
    p.set(`new:${i}`, 'n');
    p.rename(`key:${i + 2}`, `moved:${i}`);
  }
  p.set('big', 'y');
  p.call('VEC.ADD', 'vs', 'e2', 'VALUES', '2', '0', '1');
  const res = (await p.exec())!;
  t.is(res[0]![1], 'Background saving started');
  t.true(res.every(([err]) => err === null));
  await r1.flushdb();
  await bgsaveDone(r);

  const live = await allKeys(r);
  t.is(live.get('key:0'), 'b');
  t.false(live.has('key:1'));
  t.is(live.get('moved:0'), 'a:2');
  t.is(live.get('big'), 'y');
  t.is(await r1.dbsize(), 0);
  r.disconnect();
  r1.disconnect();
  await srv.stop();

  const back = await startInProcess({ dir, appendonly: false });
  const b = new Redis({ port: back.port, lazyConnect: true });
  const b1 = new Redis({ port: back.port, db: 1, lazyConnect: true });
  await b.connect();
  await b1.connect();
  const restored = await allKeys(b);
  t.is(restored.size, atCut.size);
  let same = 0;
  for (const [k, v] of atCut) if (restored.get(k) === v) same++;
  t.is(same, atCut.size, 'every string key with its value at the cut, nothing written after it');
  t.is(await b.call('VEC.CARD', 'vs'), 1);
  t.is(await b1.get('other'), 'db1', 'a FLUSHDB after the cut is not in the snapshot');
  b.disconnect();
  b1.disconnect();
  await back.stop();
});

test('BGSAVE of a large vector set holds its ids at the cut, while deletes, reused slots and new elements are served during the save', async (t) => {
  // Above 65 536 slots a set's id arrays are copied in the background after the cut (copy-on-write by block).
  const n = 70_000;
  const dir = tempDir();
  const srv = await startInProcess({ dir, appendonly: false });
  const r = new Redis({ port: srv.port, lazyConnect: true });
  await r.connect();
  for (let s = 0; s < n; s += 5000) {
    const p = r.pipeline();
    for (let i = s; i < s + 5000; i++) p.call('VEC.ADD', 'big', `id:${i}`, 'VALUES', '2', String(1 + (i % 97)), String(1 + (i % 89)));
    await p.exec();
  }
  // BGSAVE and the writes after it in one pipeline, spread over the whole slot range.
  const p = r.pipeline();
  p.call('BGSAVE');
  for (let i = 0; i < n; i += 7) p.call('VEC.DEL', 'big', `id:${i}`);
  for (let i = 0; i < 5000; i++) p.call('VEC.ADD', 'big', `late:${i}`, 'VALUES', '2', '3', '4');
  const res = (await p.exec())!;
  t.is(res[0]![1], 'Background saving started');
  t.true(res.every(([err]) => err === null));
  await bgsaveDone(r);
  t.is(await r.call('VEC.CARD', 'big'), n - Math.ceil(n / 7) + 5000);
  r.disconnect();
  await srv.stop();

  const back = await startInProcess({ dir, appendonly: false });
  const b = new Redis({ port: back.port, lazyConnect: true });
  await b.connect();
  t.is(await b.call('VEC.CARD', 'big'), n, 'the set as BGSAVE saw it');
  const probe = b.pipeline();
  for (let i = 0; i < n; i += 7) probe.call('VEC.GET', 'big', `id:${i}`);
  for (let i = 0; i < 5000; i += 50) probe.call('VEC.GET', 'big', `late:${i}`);
  const got = (await probe.exec())!;
  const deletedAfter = Math.ceil(n / 7);
  t.is(got.slice(0, deletedAfter).filter(([err, v]) => err === null && v !== null).length, deletedAfter, 'every element deleted after the cut is in the snapshot');
  t.is(got.slice(deletedAfter).filter(([, v]) => v !== null).length, 0, 'no element added after the cut');
  b.disconnect();
  await back.stop();
});

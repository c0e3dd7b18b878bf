/**
 * FT indexes across restarts: definitions come back from the WAL and from a
 * snapshot, contents are rebuilt from the documents, and a SIGKILL during
 * indexed HSET and JSON.SET writes loses no acknowledged document.
 */
import test from 'ava';
import { removeTempDirs, spawnServer, tempDir } from '../helpers/server.js';
import { f32, ftInfo, indexed, ioredis } from './helpers.js';

test.after.always(removeTempDirs);

const vec = (i: number) => f32([1, (i % 97) / 97, (i % 13) / 13, 0.5]);

test.serial('SIGKILL during indexed HSET/JSON.SET writes: after restart every acknowledged document is found by FT.SEARCH', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await ioredis(srv.port, 2);
  await r.call('FT.CREATE', 'h', 'ON', 'HASH', 'PREFIX', '1', 'h:', 'SCHEMA', 'n', 'NUMERIC', 'v', 'VECTOR', 'HNSW', '6', 'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'L2');
  await r.call('FT.CREATE', 'j', 'ON', 'JSON', 'PREFIX', '1', 'j:', 'SCHEMA', '$.n', 'AS', 'n', 'NUMERIC', '$.v', 'AS', 'v', 'VECTOR', 'FLAT', '6', 'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'L2');
  const acked = new Set<string>();
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i += 50) {
      const p = r.pipeline();
      for (let j = i; j < i + 50; j++) {
        if (j % 2) p.hset(`h:${j}`, 'n', String(j), 'v', vec(j));
        else p.call('JSON.SET', `j:${j}`, '$', JSON.stringify({ n: j, v: Array.from(new Float32Array(vec(j).buffer)) }));
      }
      const res = await p.exec().catch(() => null);
      if (!res) return;
      res.forEach(([err], k) => { if (!err) acked.add(`${(i + k) % 2 ? 'h' : 'j'}:${i + k}`); });
    }
  })();
  while (acked.size < 3000) await new Promise((res) => setTimeout(res, 10));
  srv.child.kill('SIGKILL');
  stop = true;
  await srv.exited;
  await writer;
  r.disconnect();

  srv = await spawnServer(args, { dir, port: srv.port });
  const r2 = await ioredis(srv.port, 2);
  try {
    t.deepEqual(((await r2.call('FT._LIST')) as string[]).sort(), ['h', 'j']);
    await indexed(r2, 'h');
    await indexed(r2, 'j');
    const docs = Number((await ftInfo(r2, 'h')).get('num_docs')) + Number((await ftInfo(r2, 'j')).get('num_docs'));
    t.true(docs >= acked.size, `${docs} documents indexed, ${acked.size} acknowledged`);
    const missing: string[] = [];
    for (const key of acked) {
      const [idx, n] = key.split(':');
      const res = await r2.call('FT.SEARCH', idx!, `@n:[${n} ${n}]=>[KNN 1 @v $q]`, 'NOCONTENT', 'PARAMS', '2', 'q', vec(Number(n)), 'DIALECT', '2') as unknown[];
      if (res[1] !== key) missing.push(key);
    }
    t.deepEqual(missing, []);
  } finally {
    r2.disconnect();
    await srv.kill();
  }
});

test.serial('definitions survive a snapshot (BGSAVE, then WAL after it), FT.ALTER included; DROPINDEX DD replays', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await ioredis(srv.port, 2);
  await r.call('FT.CREATE', 's', 'PREFIX', '1', 's:', 'SCHEMA', 'tag', 'TAG');
  await r.call('FT.CREATE', 'gone', 'PREFIX', '1', 'g:', 'SCHEMA', 'tag', 'TAG');
  for (let i = 0; i < 100; i++) await r.hset(`s:${i}`, 'tag', i % 2 ? 'odd' : 'even', 'n', String(i));
  await r.hset('g:1', 'tag', 'x');
  await r.call('FT.ALTER', 's', 'SCHEMA', 'ADD', 'n', 'NUMERIC');
  await r.bgsave();
  for (let i = 0; i < 200 && (await r.info('persistence')).includes('rdb_bgsave_in_progress:1'); i++) await new Promise((res) => setTimeout(res, 20));
  await r.call('FT.DROPINDEX', 'gone', 'DD');
  await r.call('FT.CREATE', 'after', 'PREFIX', '1', 's:', 'SCHEMA', 'n', 'NUMERIC');
  await r.hset('s:100', 'tag', 'even', 'n', '100');
  r.disconnect();
  await srv.kill('SIGKILL');
  srv = await spawnServer(args, { dir, port: srv.port });
  const r2 = await ioredis(srv.port, 2);
  try {
    t.deepEqual(((await r2.call('FT._LIST')) as string[]).sort(), ['after', 's']);
    await indexed(r2, 's');
    await indexed(r2, 'after');
    t.deepEqual(await r2.call('FT.SEARCH', 's', '@tag:{even} @n:[98 +inf]', 'NOCONTENT'), [2, 's:98', 's:100']);
    t.deepEqual(await r2.call('FT.SEARCH', 'after', '@n:[99 100]', 'NOCONTENT', 'SORTBY', 'n'), [2, 's:99', 's:100']);
    t.is(await r2.exists('g:1'), 0);
  } finally {
    r2.disconnect();
    await srv.kill();
  }
});

test.serial('a snapshot stores the graphs: BGSAVE, then indexed writes, rewrites and deletes, SIGKILL mid-writes; the restart loads the graphs and finds every acknowledged document', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--loglevel', 'verbose'];
  let srv = await spawnServer(args, { dir });
  const r = await ioredis(srv.port, 2);
  await r.call('FT.CREATE', 'h', 'ON', 'HASH', 'PREFIX', '1', 'h:', 'SCHEMA', 'n', 'NUMERIC', 'v', 'VECTOR', 'HNSW', '6', 'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'L2');
  await r.call('FT.CREATE', 'j', 'ON', 'JSON', 'PREFIX', '1', 'j:', 'SCHEMA', '$.n', 'AS', 'n', 'NUMERIC', '$.v', 'AS', 'v', 'VECTOR', 'FLAT', '6', 'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'L2');
  const write = (p: ReturnType<typeof r.pipeline>, j: number, v: Buffer) => {
    if (j % 2) p.hset(`h:${j}`, 'n', String(j), 'v', v);
    else p.call('JSON.SET', `j:${j}`, '$', JSON.stringify({ n: j, v: Array.from(new Float32Array(v.buffer, v.byteOffset, 4)) }));
  };
  const keyOf = (j: number) => `${j % 2 ? 'h' : 'j'}:${j}`;
  /** What each acknowledged document's vector is now (by its number). */
  const expected = new Map<number, Buffer>();
  for (let i = 0; i < 2000; i += 100) {
    const p = r.pipeline();
    for (let j = i; j < i + 100; j++) { write(p, j, vec(j)); expected.set(j, vec(j)); }
    await p.exec();
  }
  await r.bgsave();
  for (let i = 0; i < 500 && (await r.info('persistence')).includes('rdb_bgsave_in_progress:1'); i++) await new Promise((res) => setTimeout(res, 20));
  // After the cut, in the WAL only: new vectors for some documents, others deleted or made invalid.
  const p = r.pipeline();
  for (let j = 0; j < 100; j++) { write(p, j, vec(j + 5000)); expected.set(j, vec(j + 5000)); }
  for (let j = 100; j < 150; j++) { p.del(keyOf(j)); expected.delete(j); }
  p.hset('h:151', 'v', Buffer.from('short'));
  expected.delete(151);
  await p.exec();
  let stop = false;
  const writer = (async () => {
    for (let i = 2000; !stop; i += 50) {
      const q = r.pipeline();
      for (let j = i; j < i + 50; j++) write(q, j, vec(j));
      const res = await q.exec().catch(() => null);
      if (!res) return;
      res.forEach(([err], k) => { if (!err) expected.set(i + k, vec(i + k)); });
    }
  })();
  while (expected.size < 4000) await new Promise((res) => setTimeout(res, 10));
  srv.child.kill('SIGKILL');
  stop = true;
  await srv.exited;
  await writer;
  r.disconnect();

  srv = await spawnServer(args, { dir, port: srv.port });
  const r2 = await ioredis(srv.port, 2);
  try {
    // Loaded, not rebuilt: complete before the first command is answered, no backfill.
    const out = srv.output();
    t.regex(out, /restored from the snapshot, graphs loaded.*"index":"h"|"index":"h".*restored from the snapshot, graphs loaded/);
    t.regex(out, /restored from the snapshot, graphs loaded.*"index":"j"|"index":"j".*restored from the snapshot, graphs loaded/);
    for (const idx of ['h', 'j']) t.is(Number((await ftInfo(r2, idx)).get('indexing')), 0);
    const docs = Number((await ftInfo(r2, 'h')).get('num_docs')) + Number((await ftInfo(r2, 'j')).get('num_docs'));
    t.true(docs >= expected.size, `${docs} documents indexed, ${expected.size} acknowledged`);
    const wrong: string[] = [];
    for (const [j, v] of expected) {
      const key = keyOf(j);
      const res = await r2.call('FT.SEARCH', key.split(':')[0]!, `@n:[${j} ${j}]=>[KNN 1 @v $q AS d]`, 'RETURN', '1', 'd', 'PARAMS', '2', 'q', v, 'DIALECT', '2') as unknown[];
      if (res[1] !== key || Number((res[2] as string[])[1]) !== 0) wrong.push(`${key}: ${JSON.stringify(res)}`);
    }
    t.deepEqual(wrong, []);
    // Deleted and invalid documents are gone from the graphs too, not just from the filters.
    for (let j = 100; j < 152; j++) {
      if (j === 150) continue;
      const idx = j % 2 ? 'h' : 'j';
      const res = await r2.call('FT.SEARCH', idx, '*=>[KNN 3 @v $q]', 'NOCONTENT', 'PARAMS', '2', 'q', vec(j), 'DIALECT', '2') as unknown[];
      t.false(res.slice(1).includes(keyOf(j)), `${keyOf(j)} was deleted but is still found`);
    }
  } finally {
    r2.disconnect();
    await srv.kill();
  }
});

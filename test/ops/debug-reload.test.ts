/**
 * DEBUG RELOAD: every type through a snapshot's encoding and back in a live
 * server, as Redis's test suites use it. Same digest before and after, deadlines
 * kept, vector sets searchable with their attributes, FT indexes back and current.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { removeTempDirs, spawnServer, tempDir } from '../helpers/server.js';

test.after.always(removeTempDirs);

const f32 = (v: number[]) => Buffer.from(new Float32Array(v).buffer);

test('DEBUG RELOAD keeps every key, value, deadline, attribute and index, and the digest', async (t) => {
  const srv = await spawnServer(['--enable-debug-command', 'yes', '--save', '']);
  const r = new Redis({ port: srv.port, lazyConnect: true });
  try {
    await r.connect();
    await r.set('s', 'v');
    await r.set('ttl', 'x', 'EX', 1000);
    await r.hset('doc:1', 'title', 'first', 'v', f32([1, 0, 0, 0]));
    await r.hset('doc:2', 'title', 'second', 'v', f32([0, 1, 0, 0]));
    await r.call('FT.CREATE', 'idx', 'ON', 'HASH', 'PREFIX', '1', 'doc:', 'SCHEMA', 'title', 'TEXT', 'v', 'VECTOR', 'HNSW', '6', 'TYPE', 'FLOAT32', 'DIM', '4', 'DISTANCE_METRIC', 'COSINE');
    await r.call('JSON.SET', 'j', '$', '{"a":[1,2,{"b":"c"}]}');
    for (let i = 0; i < 300; i++) await r.call('VADD', 'vs', 'VALUES', '3', String(i), String(i % 7), '1', `e${i}`, 'SETATTR', JSON.stringify({ i }));
    await r.call('VEC.CREATE', 'empty', 'DIM', '2');
    await r.select(3);
    await r.set('in-db-3', '3');
    await r.select(0);
    const digest = await r.call('DEBUG', 'DIGEST');
    const before = await r.call('VSIM', 'vs', 'VALUES', '3', '10', '3', '1', 'COUNT', '5', 'WITHSCORES');
    const ttl = await r.pttl('ttl');
    const knn = () => r.call('FT.SEARCH', 'idx', '*=>[KNN 1 @v $q]', 'PARAMS', '2', 'q', f32([0.9, 0.1, 0, 0]), 'RETURN', '1', 'title', 'DIALECT', '2');
    const hitBefore = await knn();
    t.regex(JSON.stringify(hitBefore), /doc:1/);

    const uid = async () => { const info = await r.call('VINFO', 'vs') as unknown[]; return info[info.indexOf('vset-uid') + 1]; };
    const uidBefore = await uid();

    t.is(await r.call('DEBUG', 'RELOAD'), 'OK');

    // The set was really rebuilt from its sections: a new object, same content.
    t.not(await uid(), uidBefore);

    t.is(await r.call('DEBUG', 'DIGEST'), digest);
    t.is(await r.get('s'), 'v');
    const after = await r.pttl('ttl');
    t.true(after > 0 && after <= ttl, `pttl ${ttl} -> ${after}`);
    t.is(await r.call('VCARD', 'vs'), 300);
    t.deepEqual(await r.call('VSIM', 'vs', 'VALUES', '3', '10', '3', '1', 'COUNT', '5', 'WITHSCORES'), before);
    t.is(await r.call('VGETATTR', 'vs', 'e42'), '{"i":42}');
    t.deepEqual(await r.call('VSIM', 'vs', 'ELE', 'e42', 'FILTER', '.i == 43', 'COUNT', '1'), ['e43']);
    t.is(await r.call('VEC.CARD', 'empty'), 0);
    t.is(await r.call('JSON.GET', 'j', '$.a[2].b'), '["c"]');
    t.deepEqual(await knn(), hitBefore);
    // The index follows writes after the reload.
    await r.hset('doc:3', 'title', 'third', 'v', f32([0, 0, 1, 0]));
    const third = JSON.stringify(await r.call('FT.SEARCH', 'idx', '@title:third', 'NOCONTENT'));
    t.regex(third, /doc:3/);
    t.notRegex(third, /doc:1/);
    await r.select(3);
    t.is(await r.get('in-db-3'), '3');
    await t.throwsAsync(r.call('DEBUG', 'RELOAD', 'NOSAVE'), { message: /syntax error/ });
  } finally {
    r.disconnect();
    await srv.kill();
  }
});

test('DEBUG RELOAD keeps what a restart finds: the WAL still replays to the same dataset', async (t) => {
  const dir = tempDir();
  const srv = await spawnServer(['--enable-debug-command', 'yes', '--save', '', '--appendonly', 'yes'], { dir });
  const r = new Redis({ port: srv.port, lazyConnect: true });
  try {
    await r.connect();
    for (let i = 0; i < 50; i++) await r.call('VEC.ADD', 'set', `id${i}`, 'VALUES', '2', String(i), '1');
    await r.call('DEBUG', 'RELOAD');
    await r.call('VEC.ADD', 'set', 'after', 'VALUES', '2', '1', '1');
    const digest = await r.call('DEBUG', 'DIGEST');
    r.disconnect();
    await srv.kill('SIGKILL');
    const back = await spawnServer(['--enable-debug-command', 'yes', '--save', '', '--appendonly', 'yes'], { dir, port: srv.port });
    const r2 = new Redis({ port: back.port });
    try {
      t.is(await r2.call('DEBUG', 'DIGEST'), digest);
      t.is(await r2.call('VEC.CARD', 'set'), 51);
    } finally { r2.disconnect(); await back.kill(); }
  } finally {
    r.disconnect();
  }
});

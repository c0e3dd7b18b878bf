/**
 * DUMP / RESTORE: every type round-trips through the payload, the payload is
 * refused when damaged or foreign, and a restored key (deadline included)
 * survives a restart through the WAL.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { spawnServer, tempDir, removeTempDirs } from '../helpers/server.js';

const f32 = (...x: number[]) => Buffer.from(new Float32Array(x).buffer);

test('DUMP/RESTORE round-trips strings, hashes, JSON and vector sets; errors as Redis words them; a restart keeps restored keys', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always'];
  let srv = await spawnServer(args, { dir });
  try {
    let r = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    await r.set('s', Buffer.from([0, 1, 2, 255]));
    await r.hset('h', 'f1', 'v1', 'vec', f32(1, 2, 3));
    await r.call('JSON.SET', 'j', '$', '{"a":[1,2.5,"x"],"b":{"c":null}}');
    for (let i = 0; i < 400; i++) await r.call('VADD', 'v', 'FP32', f32(Math.cos(i), Math.sin(i), i / 400), `e${i}`, ...(i % 3 ? [] : ['SETATTR', `{"i":${i}}`]));
    t.is(await r.call('DUMP', 'missing'), null);

    const payloads = new Map<string, Buffer>();
    for (const k of ['s', 'h', 'j', 'v']) payloads.set(k, (await r.dumpBuffer(k))!);
    for (const [k, p] of payloads) {
      await t.throwsAsync(r.restore(k, 0, p), { message: /^BUSYKEY Target key name already exists\./ });
      t.is(await r.restore(`${k}2`, 0, p), 'OK');
      t.is(await r.type(`${k}2`), await r.type(k));
      t.is(await r.pttl(`${k}2`), -1);
    }
    t.deepEqual(await r.getBuffer('s2'), Buffer.from([0, 1, 2, 255]));
    t.deepEqual(await r.hgetallBuffer('h2'), await r.hgetallBuffer('h'));
    t.is(await r.call('JSON.GET', 'j2'), await r.call('JSON.GET', 'j'));
    t.is(await r.call('VCARD', 'v2'), 400);
    t.is(await r.call('VGETATTR', 'v2', 'e3'), '{"i":3}');
    t.deepEqual(await r.call('VEMB', 'v2', 'e7'), await r.call('VEMB', 'v', 'e7'));
    const q = ['VALUES', 3, Math.cos(9), Math.sin(9), 9 / 400, 'COUNT', 3];
    t.deepEqual(await r.call('VSIM', 'v2', ...q), await r.call('VSIM', 'v', ...q));

    // TTLs: relative, absolute, absolute in the past (no key, OK), REPLACE.
    t.is(await r.restore('t1', 100_000, payloads.get('s')!), 'OK');
    const pttl = await r.pttl('t1');
    t.true(pttl > 90_000 && pttl <= 100_000, String(pttl));
    t.is(await r.call('RESTORE', 't2', Date.now() + 200_000, payloads.get('h')!, 'ABSTTL'), 'OK');
    t.true((await r.pttl('t2')) > 190_000);
    t.is(await r.call('RESTORE', 't3', Date.now() - 1000, payloads.get('s')!, 'ABSTTL'), 'OK');
    t.is(await r.exists('t3'), 0);
    t.is(await r.call('RESTORE', 's2', 0, payloads.get('j')!, 'REPLACE', 'IDLETIME', 10), 'OK');
    t.is(await r.type('s2'), 'ReJSON-RL');

    // Refusals.
    const bad = Buffer.from(payloads.get('v')!);
    bad[bad.length >> 1] ^= 0x40;
    await t.throwsAsync(r.restore('x', 0, bad), { message: 'ERR DUMP payload version or checksum are wrong' });
    const redisPayload = Buffer.from('0003666f6f0b00c4b1a1e3b2e2e1d5', 'hex'); // what redis-server 7 dumps for "foo"
    await t.throwsAsync(r.restore('x', 0, redisPayload), { message: 'ERR DUMP payload version or checksum are wrong' });
    const newer = Buffer.from(payloads.get('s')!);
    newer.writeUInt16LE(99, 4);
    await t.throwsAsync(r.restore('x', 0, newer), { message: 'ERR DUMP payload version or checksum are wrong' });
    await t.throwsAsync(r.restore('x', -1, payloads.get('s')!), { message: 'ERR Invalid TTL value, must be >= 0' });
    await t.throwsAsync(r.call('RESTORE', 'x', 0, payloads.get('s')!, 'BOGUS'), { message: 'ERR syntax error' });
    await t.throwsAsync(r.call('RESTORE', 'x', 'abc', payloads.get('s')!), { message: 'ERR value is not an integer or out of range' });
    t.is(await r.exists('x'), 0);

    // SIGKILL and restart: the WAL holds the RESTOREs (absolute deadlines).
    r.disconnect();
    await srv.kill('SIGKILL');
    srv = await spawnServer(args, { dir, port: srv.port });
    r = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    t.deepEqual(await r.getBuffer('t1'), Buffer.from([0, 1, 2, 255]));
    const after = await r.pttl('t1');
    t.true(after > 0 && after <= pttl, `${after} <= ${pttl}`);
    t.is(await r.call('VCARD', 'v2'), 400);
    t.deepEqual(await r.call('VSIM', 'v2', ...q), await r.call('VSIM', 'v', ...q));
    t.is(await r.exists('t3'), 0);
    r.disconnect();
  } finally {
    await srv.kill('SIGKILL');
    removeTempDirs();
  }
});

/**
 * The string commands end to end: every reply and error as bytes (raw RESP2
 * and RESP3), through ioredis and node-redis, inside MULTI/EXEC, under
 * -LOADING and -MISCONF, and what the WAL replays them to.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { removeTempDirs, startInProcess, tempDir, type InProcess } from '../helpers/server.js';
import { RawConn } from '../helpers/oracle.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';

test.after.always(removeTempDirs);

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

const io = async (port: number) => {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  await r.connect();
  return r;
};

/** Send each command and compare its raw reply. */
async function expectReplies(t: import('ava').ExecutionContext, conn: RawConn, cases: Array<[string[], string]>): Promise<void> {
  for (const [cmd, want] of cases) t.is((await conn.send(cmd)).toString('latin1'), want, cmd.join(' '));
}

test('SET options, GET, GETSET, GETDEL, SETNX, SETEX, PSETEX: replies and errors as Redis words them', async (t) => {
  const c = await RawConn.connect(srv.port);
  await expectReplies(t, c, [
    [['SET', 's:a', 'v'], '+OK\r\n'],
    [['SET', 's:a', 'w', 'NX'], '$-1\r\n'],
    [['SET', 's:a', 'w', 'XX', 'GET'], '$1\r\nv\r\n'],
    [['SET', 's:none', 'w', 'XX'], '$-1\r\n'],
    [['SET', 's:none', 'w', 'NX', 'GET'], '$-1\r\n'],
    [['SET', 's:a', 'x', 'NX', 'XX'], '-ERR syntax error\r\n'],
    [['SET', 's:a', 'x', 'KEEPTTL', 'EX', '10'], '-ERR syntax error\r\n'],
    [['SET', 's:a', 'x', 'EX'], '-ERR syntax error\r\n'],
    [['SET', 's:a', 'x', 'EX', 'abc'], '-ERR value is not an integer or out of range\r\n'],
    [['SET', 's:a', 'x', 'EX', '0'], "-ERR invalid expire time in 'set' command\r\n"],
    [['SET', 's:a', 'x', 'PX', '-5'], "-ERR invalid expire time in 'set' command\r\n"],
    [['SET', 's:a', 'x', 'EX', '9223372036854776'], "-ERR invalid expire time in 'set' command\r\n"],
    [['SET', 's:a', 'x', 'PX', '9223372036854775800'], "-ERR invalid expire time in 'set' command\r\n"],
    [['SET', 's:a', 'x', 'EX', '100', 'EX', '200'], '+OK\r\n'],
    [['TTL', 's:a'], ':200\r\n'],
    [['SET', 's:a', 'y', 'KEEPTTL'], '+OK\r\n'],
    [['TTL', 's:a'], ':200\r\n'],
    [['SET', 's:a', 'z'], '+OK\r\n'],
    [['TTL', 's:a'], ':-1\r\n'],
    [['GETSET', 's:a', 'g'], '$1\r\nz\r\n'],
    [['GETDEL', 's:a'], '$1\r\ng\r\n'],
    [['GETDEL', 's:a'], '$-1\r\n'],
    [['SETNX', 's:n', '1'], ':1\r\n'],
    [['SETNX', 's:n', '2'], ':0\r\n'],
    [['SETEX', 's:e', '0', 'v'], "-ERR invalid expire time in 'setex' command\r\n"],
    [['PSETEX', 's:e', '-1', 'v'], "-ERR invalid expire time in 'psetex' command\r\n"],
    [['SETEX', 's:e', 'x', 'v'], '-ERR value is not an integer or out of range\r\n'],
    [['SETEX', 's:e', '100', 'v'], '+OK\r\n'],
    [['TTL', 's:e'], ':100\r\n'],
    [['PSETEX', 's:e', '100000', 'v'], '+OK\r\n'],
    [['TTL', 's:e'], ':100\r\n'],
    [['VEC.CREATE', 's:vec', 'DIM', '2'], '+OK\r\n'],
    [['SET', 's:vec', 'x', 'GET'], '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'],
    [['GET', 's:vec'], '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'],
    [['GETDEL', 's:vec'], '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'],
    [['SET', 's:vec', 'now a string'], '+OK\r\n'],
    [['TYPE', 's:vec'], '+string\r\n'],
  ]);
  c.close();
});

test('counters: INCR, DECR, INCRBY, DECRBY over int64 with Redis\'s overflow and parse errors', async (t) => {
  const c = await RawConn.connect(srv.port);
  await expectReplies(t, c, [
    [['INCR', 'c:a'], ':1\r\n'],
    [['INCRBY', 'c:a', '41'], ':42\r\n'],
    [['DECRBY', 'c:a', '50'], ':-8\r\n'],
    [['DECR', 'c:a'], ':-9\r\n'],
    [['INCRBY', 'c:a', '1.5'], '-ERR value is not an integer or out of range\r\n'],
    [['INCRBY', 'c:a', '01'], '-ERR value is not an integer or out of range\r\n'],
    [['SET', 'c:big', '9223372036854775806'], '+OK\r\n'],
    [['INCR', 'c:big'], ':9223372036854775807\r\n'],
    [['INCR', 'c:big'], '-ERR increment or decrement would overflow\r\n'],
    [['GET', 'c:big'], '$19\r\n9223372036854775807\r\n'],
    [['DECRBY', 'c:a', '-9223372036854775808'], '-ERR decrement would overflow\r\n'],
    [['INCRBY', 'c:a', '9223372036854775808'], '-ERR value is not an integer or out of range\r\n'],
    [['SET', 'c:s', ' 1'], '+OK\r\n'],
    [['INCR', 'c:s'], '-ERR value is not an integer or out of range\r\n'],
    [['SET', 'c:t', '5', 'EX', '100'], '+OK\r\n'],
    [['INCR', 'c:t'], ':6\r\n'],
    [['TTL', 'c:t'], ':100\r\n'],
  ]);
  c.close();
});

test('INCRBYFLOAT: Redis\'s long double results byte for byte, its errors, and the deadline kept', async (t) => {
  const c = await RawConn.connect(srv.port);
  await expectReplies(t, c, [
    [['INCRBYFLOAT', 'f:a', '0.1'], '$3\r\n0.1\r\n'],
    [['INCRBYFLOAT', 'f:a', '0.2'], '$3\r\n0.3\r\n'],
    [['SET', 'f:b', '1000000.1'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:b', '0'], '$25\r\n1000000.10000000000002274\r\n'],
    [['SET', 'f:c', '5000.7'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:c', '1.3'], '$4\r\n5002\r\n'],
    [['INCRBYFLOAT', 'f:c', '0.1'], '$22\r\n5002.10000000000000009\r\n'],
    [['SET', 'f:d', '1e20'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:d', '1.5'], '$21\r\n100000000000000000000\r\n'],
    [['INCRBYFLOAT', 'f:d', '-1e20'], '$1\r\n0\r\n'],
    [['SET', 'f:e', '.5'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:e', '1.'], '$3\r\n1.5\r\n'],
    [['INCRBYFLOAT', 'f:e', '+1'], '$3\r\n2.5\r\n'],
    [['INCRBYFLOAT', 'f:e', ' 1'], '-ERR value is not a valid float\r\n'],
    [['INCRBYFLOAT', 'f:e', 'inf'], '-ERR increment would produce NaN or Infinity\r\n'],
    [['INCRBYFLOAT', 'f:e', 'abc'], '-ERR value is not a valid float\r\n'],
    [['SET', 'f:s', 'abc', 'EX', '100'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:s', '1'], '-ERR value is not a valid float\r\n'],
    [['SET', 'f:s', '-2.5', 'EX', '100'], '+OK\r\n'],
    [['INCRBYFLOAT', 'f:s', '2.5'], '$1\r\n0\r\n'],
    [['TTL', 'f:s'], ':100\r\n'],
  ]);
  c.close();
});

test('APPEND, STRLEN, GETRANGE, SETRANGE, MGET, MSET, MSETNX and the proto-max-bulk-len limit', async (t) => {
  const c = await RawConn.connect(srv.port);
  await expectReplies(t, c, [
    [['APPEND', 'r:a', 'Hello'], ':5\r\n'],
    [['APPEND', 'r:a', ' World'], ':11\r\n'],
    [['STRLEN', 'r:a'], ':11\r\n'],
    [['STRLEN', 'r:none'], ':0\r\n'],
    [['GETRANGE', 'r:a', '0', '4'], '$5\r\nHello\r\n'],
    [['GETRANGE', 'r:a', '-5', '-1'], '$5\r\nWorld\r\n'],
    [['GETRANGE', 'r:a', '-1', '-5'], '$0\r\n\r\n'],
    [['GETRANGE', 'r:a', '5', '100'], '$6\r\n World\r\n'],
    [['GETRANGE', 'r:none', '0', '1'], '$0\r\n\r\n'],
    [['GETRANGE', 'r:a', 'x', '1'], '-ERR value is not an integer or out of range\r\n'],
    [['SETRANGE', 'r:a', '6', 'Redis'], ':11\r\n'],
    [['GET', 'r:a'], '$11\r\nHello Redis\r\n'],
    [['SETRANGE', 'r:b', '3', 'x'], ':4\r\n'],
    [['GET', 'r:b'], '$4\r\n\0\0\0x\r\n'],
    [['SETRANGE', 'r:c', '3', ''], ':0\r\n'],
    [['EXISTS', 'r:c'], ':0\r\n'],
    [['SETRANGE', 'r:a', '-1', 'x'], '-ERR offset is out of range\r\n'],
    [['SETRANGE', 'r:a', '536870912', 'x'], '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n'],
    [['MSET', 'r:m1', '1', 'r:m2', '2'], '+OK\r\n'],
    [['MSET', 'r:m1', '1', 'r:m2'], "-ERR wrong number of arguments for 'mset' command\r\n"],
    [['MGET', 'r:m1', 'r:none', 'r:m2'], '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n'],
    [['MSETNX', 'r:m2', 'x', 'r:m3', 'y'], ':0\r\n'],
    [['EXISTS', 'r:m3'], ':0\r\n'],
    [['MSETNX', 'r:m3', 'x', 'r:m4', 'y'], ':1\r\n'],
    [['VEC.CREATE', 'r:vec', 'DIM', '2'], '+OK\r\n'],
    [['APPEND', 'r:vec', 'x'], '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'],
    [['MGET', 'r:vec', 'r:m1'], '*2\r\n$-1\r\n$1\r\n1\r\n'],
    [['CONFIG', 'SET', 'proto-max-bulk-len', '1048576'], '+OK\r\n'],
    [['APPEND', 'r:a', 'x'.repeat(1048576)], '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n'],
    [['CONFIG', 'SET', 'proto-max-bulk-len', '536870912'], '+OK\r\n'],
  ]);
  c.close();
});

test('RESP3 replies and both clients: ioredis, node-redis RESP2 and RESP3', async (t) => {
  const c = await RawConn.connect(srv.port);
  await c.send(['HELLO', '3']);
  await expectReplies(t, c, [
    [['GET', 'r3:none'], '_\r\n'],
    [['MGET', 'r3:none'], '*1\r\n_\r\n'],
    [['INCRBYFLOAT', 'r3:f', '1.5'], '$3\r\n1.5\r\n'],
  ]);
  c.close();
  const r = await io(srv.port);
  t.is(await r.set('io:k', 'v', 'EX', 100, 'GET'), null);
  t.is(await r.incrby('io:n', 5), 5);
  t.is(await r.incrbyfloat('io:n', 0.5), '5.5');
  t.deepEqual(await r.mget('io:k', 'io:n', 'io:none'), ['v', '5.5', null]);
  t.is(await r.getex('io:k', 'PERSIST'), 'v');
  t.is(await r.ttl('io:k'), -1);
  r.disconnect();
  for (const RESP of [2, 3] as const) {
    const nr = createClient({ RESP, socket: { port: srv.port, reconnectStrategy: false } });
    nr.on('error', () => {});
    await nr.connect();
    t.is(await nr.set(`nr${RESP}`, 'v', { EX: 100, GET: true }), null);
    t.is(await nr.incr(`nr${RESP}:n`), 1);
    t.is(await nr.append(`nr${RESP}`, 'w'), 2);
    t.is(await nr.strLen(`nr${RESP}`), 2);
    t.is(await nr.getRange(`nr${RESP}`, 0, 0), 'v');
    t.deepEqual(await nr.mGet([`nr${RESP}`, 'nope']), ['vw', null]);
    t.is(await nr.getDel(`nr${RESP}`), 'vw');
    await nr.quit();
  }
});

test('MULTI/EXEC runs the new commands atomically; a refused one aborts all of them', async (t) => {
  const r = await io(srv.port);
  const res = await r.multi().set('tx:a', '1', 'EX', 100).incr('tx:a').append('tx:a', 'x').getrange('tx:a', 0, -1).ttl('tx:a').exec();
  t.deepEqual(res!.map(([e, v]) => [e, v]), [[null, 'OK'], [null, 2], [null, 2], [null, '2x'], [null, 100]]);
  await t.throwsAsync(r.multi().set('tx:b', '1').call('MSET', 'tx:b').exec(), { message: /EXECABORT/ });
  t.is(await r.exists('tx:b'), 0);
  r.disconnect();
});

test('-LOADING refuses string and expiry commands while data loads; -MISCONF refuses their writes while the disk fails', async (t) => {
  const dir = tempDir();
  const sim = await SimulatedFs.create(dir);
  const s = await startInProcess({ dir, appendonly: true, appendfsync: 'always' }, { fs: sim.session() });
  const r = await io(s.port);
  try {
    await r.set('m', '1');
    const release = s.server.holdLoading();
    for (const p of [r.get('m'), r.incr('m'), r.expire('m', 10), r.ttl('m'), r.append('m', 'x')]) await t.throwsAsync(p, { message: /^LOADING/ });
    release();
    const heal = sim.inject({ op: 'write', count: Infinity, code: 'ENOSPC' });
    await t.throwsAsync(r.set('m', '2'));
    for (const p of [r.incr('m'), r.expire('m', 10), r.setrange('m', 0, 'x'), r.incrbyfloat('m', 1)]) await t.throwsAsync(p, { message: /^MISCONF/ });
    // The refused write was applied in memory before its commit failed (docs/durability.md): reads see it.
    t.is(await r.get('m'), '2', 'reads keep working');
    heal();
  } finally { r.disconnect(); await s.stop(); }
});

test('the WAL replays strings exactly: INCRBYFLOAT as its result, relative deadlines as absolute ones', async (t) => {
  const dir = tempDir();
  let s = await startInProcess({ dir, appendonly: true });
  let r = await io(s.port);
  await r.incrbyfloat('w:f', '0.1');
  await r.incrbyfloat('w:f', '0.2');
  await r.set('w:e', 'v', 'EX', 1000);
  await r.setrange('w:r', 2, 'ab');
  await r.append('w:r', 'cd');
  await r.incrby('w:n', 7);
  await r.mset('w:m1', 'a', 'w:m2', 'b');
  const ttlBefore = await r.pttl('w:e');
  r.disconnect();
  await s.stop();
  s = await startInProcess({ dir, appendonly: true });
  r = await io(s.port);
  try {
    t.is(await r.get('w:f'), '0.3');
    const ttl = await r.pttl('w:e');
    t.true(ttl <= ttlBefore && ttl > ttlBefore - 60_000, `deadline kept: ${ttl} vs ${ttlBefore}`);
    t.is(await r.get('w:r'), '\0\0abcd');
    t.is(await r.get('w:n'), '7');
    t.deepEqual(await r.mget('w:m1', 'w:m2'), ['a', 'b']);
  } finally { r.disconnect(); await s.stop(); }
});

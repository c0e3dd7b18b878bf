/**
 * The generic keyspace commands: COPY, MOVE, SWAPDB, TOUCH, RANDOMKEY,
 * OBJECT, RENAME with deadlines, SCAN's guarantee across deletes, and
 * COMMAND DOCS for every new command.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawConn } from '../helpers/oracle.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

const io = async () => {
  const r = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  await r.connect();
  return r;
};

test.serial('COPY, MOVE, SWAPDB, TOUCH, RANDOMKEY, OBJECT, RENAME: replies and errors as Redis words them', async (t) => {
  const c = await RawConn.connect(srv.port);
  const cases: Array<[string[], string]> = [
    [['FLUSHALL'], '+OK\r\n'],
    [['RANDOMKEY'], '$-1\r\n'],
    [['SET', 'k:a', '12', 'EX', '100'], '+OK\r\n'],
    [['COPY', 'k:a', 'k:a'], '-ERR source and destination objects are the same\r\n'],
    [['COPY', 'k:a', 'k:b', 'DB', '100'], '-ERR DB index is out of range\r\n'],
    [['COPY', 'k:a', 'k:b', 'DB', 'x'], '-ERR value is not an integer or out of range\r\n'],
    [['COPY', 'k:a', 'k:b', 'FOO'], '-ERR syntax error\r\n'],
    [['COPY', 'k:none', 'k:b'], ':0\r\n'],
    [['COPY', 'k:a', 'k:b'], ':1\r\n'],
    [['TTL', 'k:b'], ':100\r\n'],
    [['COPY', 'k:a', 'k:b'], ':0\r\n'],
    [['SET', 'k:a', 'new'], '+OK\r\n'],
    [['COPY', 'k:a', 'k:b', 'REPLACE'], ':1\r\n'],
    [['GET', 'k:b'], '$3\r\nnew\r\n'],
    [['TTL', 'k:b'], ':-1\r\n'],
    [['COPY', 'k:a', 'k:a', 'DB', '2'], ':1\r\n'],
    [['MOVE', 'k:a', '0'], '-ERR source and destination objects are the same\r\n'],
    [['MOVE', 'k:a', '100'], '-ERR DB index is out of range\r\n'],
    [['MOVE', 'k:a', '2'], ':0\r\n'],
    [['EXPIRE', 'k:b', '100'], ':1\r\n'],
    [['MOVE', 'k:b', '3'], ':1\r\n'],
    [['EXISTS', 'k:b'], ':0\r\n'],
    [['SELECT', '3'], '+OK\r\n'],
    [['TTL', 'k:b'], ':100\r\n'],
    [['SELECT', '0'], '+OK\r\n'],
    [['SWAPDB', 'a', '0'], '-ERR invalid first DB index\r\n'],
    [['SWAPDB', '0', 'b'], '-ERR invalid second DB index\r\n'],
    [['SWAPDB', '0', '100'], '-ERR DB index is out of range\r\n'],
    [['SWAPDB', '0', '3'], '+OK\r\n'],
    [['GET', 'k:b'], '$3\r\nnew\r\n'],
    [['TTL', 'k:b'], ':100\r\n'],
    [['TOUCH', 'k:b', 'k:none', 'k:b'], ':2\r\n'],
    [['RANDOMKEY'], '$3\r\nk:b\r\n'],
    [['SET', 'k:i', '100'], '+OK\r\n'],
    [['SET', 'k:s', 'hello'], '+OK\r\n'],
    [['SET', 'k:r', 'x'.repeat(45)], '+OK\r\n'],
    [['OBJECT', 'ENCODING', 'k:i'], '$3\r\nint\r\n'],
    [['OBJECT', 'ENCODING', 'k:s'], '$6\r\nembstr\r\n'],
    [['OBJECT', 'ENCODING', 'k:r'], '$3\r\nraw\r\n'],
    [['OBJECT', 'ENCODING', 'k:none'], '$-1\r\n'],
    [['OBJECT', 'REFCOUNT', 'k:i'], ':2147483647\r\n'],
    [['OBJECT', 'REFCOUNT', 'k:s'], ':1\r\n'],
    [['OBJECT', 'IDLETIME', 'k:s'], ':0\r\n'],
    [['OBJECT', 'FREQ', 'k:none'], '$-1\r\n'],
    [['OBJECT', 'FREQ', 'k:s'], '-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n'],
    [['OBJECT', 'FOO'], "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n"],
    [['OBJECT', 'ENCODING'], "-ERR wrong number of arguments for 'object|encoding' command\r\n"],
    [['VEC.CREATE', 'k:v', 'DIM', '2'], '+OK\r\n'],
    [['OBJECT', 'ENCODING', 'k:v'], '$4\r\nhnsw\r\n'],
    [['MOVE', 'k:v', '5'], ':1\r\n'],
    [['SELECT', '5'], '+OK\r\n'],
    [['TYPE', 'k:v'], '+vectorset\r\n'],
    [['RENAMENX', 'k:v', 'k:v'], ':0\r\n'],
    [['RENAME', 'k:v', 'k:v'], '+OK\r\n'],
    [['RENAME', 'k:none', 'k:v'], '-ERR no such key\r\n'],
    [['SELECT', '0'], '+OK\r\n'],
  ];
  for (const [cmd, want] of cases) t.is((await c.send(cmd)).toString('latin1'), want, cmd.join(' '));
  t.regex((await c.send(['OBJECT', 'HELP'])).toString(), /^\*15\r\n\+OBJECT <subcommand>/);
  c.close();
});

test.serial('SCAN returns every key present for the whole scan, whatever is deleted and added meanwhile', async (t) => {
  const r = await io();
  await r.select(7);
  const p = r.pipeline();
  for (let i = 0; i < 5000; i++) p.set(`s:${i}`, '1');
  await p.exec();
  const seen = new Set<string>();
  let cursor = '0', round = 0;
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 50);
    for (const k of keys) seen.add(k);
    // Delete keys already returned (even ones before the cursor) and add new ones as the scan goes.
    const d = r.pipeline();
    for (const k of keys.slice(0, 20)) d.del(k);
    for (let j = 0; j < 10; j++) d.set(`new:${round}:${j}`, '1');
    await d.exec();
    cursor = next;
    round++;
  } while (cursor !== '0');
  const missed = [];
  for (let i = 0; i < 5000; i++) if (!seen.has(`s:${i}`)) missed.push(i);
  t.deepEqual(missed, []);
  t.true(round > 50);
  await r.flushdb();
  r.disconnect();
});

test('COMMAND DOCS and COMMAND INFO know every new command, with arguments and key positions', async (t) => {
  const r = await io();
  const names = ['expire', 'pexpire', 'expireat', 'pexpireat', 'ttl', 'pttl', 'expiretime', 'pexpiretime', 'persist', 'getex', 'setex', 'psetex',
    'incr', 'decr', 'incrby', 'decrby', 'incrbyfloat', 'append', 'strlen', 'getrange', 'setrange', 'mget', 'mset', 'msetnx', 'getdel', 'setnx', 'getset',
    'watch', 'unwatch', 'copy', 'object', 'randomkey', 'touch', 'swapdb', 'move'];
  const info = await r.call('COMMAND', 'INFO', ...names) as unknown[][];
  info.forEach((entry, i) => t.truthy(entry, names[i]));
  const docs = await r.call('COMMAND', 'DOCS', 'set', 'expire') as unknown[];
  t.regex(JSON.stringify(docs), /KEEPTTL/);
  t.regex(JSON.stringify(docs), /"GT"/);
  t.deepEqual(await r.call('COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2'), ['a', 'b']);
  r.disconnect();
});

/**
 * WATCH / UNWATCH: EXEC answers null and runs nothing once a watched key was
 * written by another client (strings, vector sets, RENAME, DEL, FLUSHDB,
 * FLUSHALL, SWAPDB), or expired; and runs when nothing touched it. Through
 * ioredis's watch/multi and raw bytes.
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

/** WATCH `key`, let `other` run `touch`, then try MULTI SET EXEC: the EXEC reply. */
async function attempt(key: string, touch: ((other: Redis) => Promise<unknown>) | null): Promise<unknown> {
  const me = await io(), other = await io();
  try {
    await me.watch(key);
    if (touch) await touch(other);
    return await me.multi().set('w:result', key).exec();
  } finally { me.disconnect(); other.disconnect(); }
}

test.serial('ioredis watch/multi: untouched runs; any write by another client aborts with null', async (t) => {
  const r = await io();
  await r.set('w:s', '1');
  await r.call('VEC.CREATE', 'w:v', 'DIM', '2');
  r.disconnect();
  t.deepEqual(await attempt('w:s', null), [[null, 'OK']]);
  t.deepEqual(await attempt('w:s', (o) => o.get('w:s')), [[null, 'OK']], 'a read is no write');
  t.is(await attempt('w:s', (o) => o.set('w:s', '1')), null, 'same value still counts');
  t.is(await attempt('w:s', (o) => o.incr('w:s')), null);
  t.is(await attempt('w:s', (o) => o.expire('w:s', 100)), null);
  t.is(await attempt('w:s', (o) => o.persist('w:s')), null);
  t.is(await attempt('w:s', (o) => o.append('w:s', 'x')), null);
  t.is(await attempt('w:missing', (o) => o.set('w:missing', 'now')), null, 'creating a watched key');
  t.is(await attempt('w:v', (o) => o.call('VEC.ADD', 'w:v', 'a', 'VALUES', '2', '1', '0')), null, 'a vector added in place');
  t.is(await attempt('w:s', (o) => o.rename('w:s', 'w:s2')), null);
  t.is(await attempt('w:s2', (o) => o.del('w:s2')), null);
  t.deepEqual(await attempt('w:nothing', (o) => o.del('w:nothing')), [[null, 'OK']], 'a DEL that deleted nothing');
  t.deepEqual(await attempt('w:other', (o) => o.set('w:unrelated', '1')), [[null, 'OK']]);
});

test.serial('FLUSHDB, FLUSHALL and SWAPDB abort a watch on a key that existed; expiry aborts too', async (t) => {
  const r = await io();
  await r.set('w:f', '1');
  t.is(await attempt('w:f', (o) => o.flushdb()), null);
  await r.set('w:f', '1');
  t.is(await attempt('w:f', (o) => o.flushall()), null);
  await r.set('w:f', '1');
  t.is(await attempt('w:f', (o) => o.swapdb(0, 5)), null);
  await r.flushall();
  await r.set('w:e', '1', 'PX', 50);
  t.is(await attempt('w:e', () => new Promise((res) => setTimeout(res, 120))), null, 'expired after WATCH');
  await r.set('w:g', '1', 'PX', 1);
  await new Promise((res) => setTimeout(res, 20));
  t.deepEqual(await attempt('w:g', () => new Promise((res) => setTimeout(res, 20))), [[null, 'OK']], 'already expired when watched: absent all along');
  r.disconnect();
});

test.serial('raw: WATCH inside MULTI is an error; UNWATCH is queued; EXEC, DISCARD and UNWATCH clear watches; null in RESP2 and RESP3', async (t) => {
  const a = await RawConn.connect(srv.port), b = await RawConn.connect(srv.port);
  const send = async (c: RawConn, ...args: string[]) => (await c.send(args)).toString('latin1');
  t.is(await send(a, 'WATCH', 'rw:k'), '+OK\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'WATCH', 'rw:x'), '-ERR WATCH inside MULTI is not allowed\r\n');
  t.is(await send(a, 'UNWATCH'), '+QUEUED\r\n');
  t.is(await send(b, 'SET', 'rw:k', '1'), '+OK\r\n');
  t.is(await send(a, 'EXEC'), '*-1\r\n', 'the queued UNWATCH came too late');
  t.is(await send(a, 'WATCH', 'rw:k'), '+OK\r\n');
  t.is(await send(a, 'UNWATCH'), '+OK\r\n');
  t.is(await send(b, 'SET', 'rw:k', '2'), '+OK\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'GET', 'rw:k'), '+QUEUED\r\n');
  t.is(await send(a, 'EXEC'), '*1\r\n$1\r\n2\r\n');
  t.is(await send(a, 'WATCH', 'rw:k'), '+OK\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'DISCARD'), '+OK\r\n');
  t.is(await send(b, 'SET', 'rw:k', '3'), '+OK\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'EXEC'), '*0\r\n', 'DISCARD forgot the watch');
  await send(a, 'HELLO', '3');
  t.is(await send(a, 'WATCH', 'rw:k'), '+OK\r\n');
  t.is(await send(b, 'DEL', 'rw:k'), ':1\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'EXEC'), '_\r\n');
  t.is(await send(a, 'WATCH', 'rw:k'), '+OK\r\n');
  t.is(await send(b, 'SET', 'rw:k', '1'), '+OK\r\n');
  t.is(await send(a, 'MULTI'), '+OK\r\n');
  t.is(await send(a, 'SET', 'rw:k', 'x', 'EX', 'bad'), '+QUEUED\r\n');
  t.is(await send(a, 'NOSUCH'), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
  t.is(await send(a, 'EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n', 'the error wins over the watch');
  a.close(); b.close();
});

test.serial('a watch whose client disconnects is forgotten; another client watching the same key is unaffected by it', async (t) => {
  const a = await io(), b = await io(), c = await io();
  await a.watch('wd:k');
  await b.watch('wd:k');
  a.disconnect();
  t.deepEqual(await b.multi().get('wd:k').exec(), [[null, null]]);
  await c.set('wd:k', '1');
  b.disconnect(); c.disconnect();
  t.pass();
});

/**
 * Hashes end to end: every command's replies and errors compared byte for
 * byte with Debian's redis-server 7.0 (RESP2 and RESP3), binary fields and
 * values (all 256 byte values, FLOAT32 vectors) through ioredis, node-redis
 * and redis-py, MULTI/EXEC, LOADING and MISCONF, and the data surviving a
 * restart from the WAL, from a snapshot taken while the same hash is being
 * written, and from a SIGKILL.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { removeTempDirs, spawnServer, startInProcess, tempDir } from '../helpers/server.js';
import { RawConn, haveRedis, startRedis } from '../helpers/oracle.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';

test.after.always(removeTempDirs);
const run = promisify(execFile);

const client = async (port: number, db = 0) => {
  const r = new Redis({ port, db, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  await r.connect();
  return r;
};

/** Deterministic command lines: every hash command, its edge cases and its errors. */
const SCRIPT: string[][] = [
  ['HSET', 'h', 'a', '1', 'b', '2'], ['HSET', 'h', 'a'], ['HSET', 'h', 'a', '1', 'b'], ['HSET', 'h', 'a', '10', 'c', '3'],
  ['HGET', 'h', 'a'], ['HGET', 'h', 'zz'], ['HGET', 'nokey', 'a'], ['HMGET', 'h', 'a', 'zz', 'b'], ['HMGET', 'nokey', 'a', 'b'], ['HMGET', 'h'],
  ['HGETALL', 'h'], ['HGETALL', 'nokey'], ['HLEN', 'h'], ['HLEN', 'nokey'], ['HEXISTS', 'h', 'a'], ['HEXISTS', 'h', 'zz'], ['HEXISTS', 'nokey', 'a'],
  ['HKEYS', 'h'], ['HVALS', 'h'], ['HKEYS', 'nokey'], ['HVALS', 'nokey'], ['HSTRLEN', 'h', 'a'], ['HSTRLEN', 'h', 'zz'], ['HSTRLEN', 'nokey', 'a'],
  ['HSETNX', 'h', 'a', 'x'], ['HSETNX', 'h', 'n', 'x'], ['HSETNX', 'h2', 'n', 'x'], ['HSETNX', 'h', 'a'],
  ['HMSET', 'h', 'm1', 'v1', 'm2', 'v2'], ['HMSET', 'h', 'm1'], ['HMSET', 'h'],
  ['HINCRBY', 'h', 'a', '5'], ['HINCRBY', 'h', 'new', '-7'], ['HINCRBY', 'h', 'n', '1'], ['HINCRBY', 'h', 'a', 'x'], ['HINCRBY', 'h', 'a', '1.5'],
  ['HINCRBY', 'h', 'a', '+1'], ['HINCRBY', 'h', 'a', '01'], ['HINCRBY', 'h', 'a', '9223372036854775807'], ['HSET', 'h', 'big', '9223372036854775807'],
  ['HINCRBY', 'h', 'big', '1'], ['HINCRBY', 'h', 'big', '-1'], ['HSET', 'h', 'small', '-9223372036854775808'], ['HINCRBY', 'h', 'small', '-1'],
  ['HINCRBY', 'h', 'a', '99999999999999999999'], ['HINCRBY', 'nokey2', 'f', '3'],
  ['HINCRBYFLOAT', 'h', 'f', '0.1'], ['HINCRBYFLOAT', 'h', 'f', '0.2'], ['HINCRBYFLOAT', 'h', 'f', '-0.3'], ['HINCRBYFLOAT', 'h', 'g', '1e20'],
  ['HINCRBYFLOAT', 'h', 'g2', '1.5e-20'], ['HINCRBYFLOAT', 'h', 'g3', '3.0000000000000000001'], ['HINCRBYFLOAT', 'h', 'g4', '0x10'],
  ['HINCRBYFLOAT', 'lf', 'g5', '1e400'], ['HINCRBYFLOAT', 'lf', 'g5', '-1e400'], ['HINCRBYFLOAT', 'lf', 'g6', '-1e400'], ['HGET', 'lf', 'g6'], ['HINCRBYFLOAT', 'h', 'f', 'inf'], ['HINCRBYFLOAT', 'h', 'f', 'nan'],
  ['HINCRBYFLOAT', 'h', 'f', 'abc'], ['HINCRBYFLOAT', 'h', 'f', ' 1'], ['HINCRBYFLOAT', 'h', 'f', '1e5000'], ['HINCRBYFLOAT', 'h', 'n', '1'],
  ['HSET', 'h', 'sp', ' 1', 'inf', 'inf', 'hex', '0x1p3', 'dot', '.5', 'plus', '+3'],
  ['HINCRBYFLOAT', 'h', 'sp', '1'], ['HINCRBYFLOAT', 'h', 'inf', '1'], ['HINCRBYFLOAT', 'h', 'hex', '1'], ['HINCRBYFLOAT', 'h', 'dot', '1'],
  ['HINCRBYFLOAT', 'h', 'plus', '1'], ['HINCRBYFLOAT', 'h', 'a', '1.5'], ['HINCRBYFLOAT', 'h', 'a', '-16.5'], ['HINCRBYFLOAT', 'h', 'a', '7.000'],
  ['HGETALL', 'h'],
  ['HDEL', 'h', 'zz'], ['HDEL', 'h', 'a', 'zz', 'b'], ['HDEL', 'nokey', 'a'], ['HDEL', 'h'], ['HDEL', 'h2', 'n'], ['EXISTS', 'h2'],
  ['HSCAN', 'h', '0'], ['HSCAN', 'h', '0', 'MATCH', 'm*'], ['HSCAN', 'h', '0', 'COUNT', '1'], ['HSCAN', 'h', '0', 'COUNT', '0'], ['HSCAN', 'h', 'x'],
  ['HSCAN', 'h', '0', 'MATCH'], ['HSCAN', 'h', '0', 'BOGUS', '1'], ['HSCAN', 'nokey', '0', 'BOGUS'], ['HSCAN', 'h', '-1'], ['HSCAN', 'h', '18446744073709551616'],
  ['HRANDFIELD', 'nokey'], ['HRANDFIELD', 'nokey', '3'], ['HRANDFIELD', 'nokey', '3', 'WITHVALUES'], ['HRANDFIELD', 'h', '0'], ['HRANDFIELD', 'h', '0', 'WITHVALUES'],
  ['HRANDFIELD', 'h', 'x'], ['HRANDFIELD', 'h', '1', 'WITHVALUE'], ['HRANDFIELD', 'h', '1', 'WITHVALUES', 'x'], ['HRANDFIELD', 'h', '-9223372036854775808'],
  ['HRANDFIELD', 'h', '-9223372036854775807', 'WITHVALUES'], ['HRANDFIELD', 'h', '1000'], ['HRANDFIELD', 'h', '1000', 'WITHVALUES'],
  ['SET', 's', 'v'], ['HSET', 's', 'a', '1'], ['HGET', 's', 'a'], ['HGETALL', 's'], ['HDEL', 's', 'a'], ['HINCRBY', 's', 'a', '1'], ['HINCRBYFLOAT', 's', 'a', '1'],
  ['HLEN', 's'], ['HSCAN', 's', '0'], ['HRANDFIELD', 's'], ['HMGET', 's', 'a'], ['HSETNX', 's', 'a', '1'], ['HSTRLEN', 's', 'a'], ['HEXISTS', 's', 'a'],
  ['TYPE', 'h'], ['HSET', 'e', '', ''], ['HGET', 'e', ''], ['HLEN', 'e'], ['RENAME', 'h', 'h3'], ['HGETALL', 'h3'], ['DEL', 'h3'], ['HGETALL', 'h3'],
];

if (haveRedis()) {
  for (const proto of [2, 3] as const) {
    test(`every hash command answers as redis-server 7.0 does, byte for byte (RESP${proto})`, async (t) => {
      const oracle = await startRedis();
      const srv = await startInProcess();
      const [ours, theirs] = await Promise.all([RawConn.connect(srv.port), RawConn.connect(oracle.port)]);
      try {
        if (proto === 3) { await ours.send(['HELLO', '3']); await theirs.send(['HELLO', '3']); }
        for (const cmd of SCRIPT) {
          const [a, b] = await Promise.all([ours.send(cmd), theirs.send(cmd)]);
          t.is(a.toString('latin1'), b.toString('latin1'), cmd.join(' '));
        }
      } finally {
        ours.close(); theirs.close();
        await srv.stop(); await oracle.stop();
      }
    });
  }

  test('HRANDFIELD: shapes and counts as redis-server answers them (RESP2 and RESP3)', async (t) => {
    const oracle = await startRedis();
    const srv = await startInProcess();
    try {
      for (const port of [srv.port, oracle.port]) {
        const r = await client(port);
        await r.hset('r', 'a', '1', 'b', '2', 'c', '3');
        const one = await r.hrandfield('r') as string;
        t.true(['a', 'b', 'c'].includes(one));
        const two = await r.hrandfield('r', 2) as string[];
        t.is(new Set(two).size, 2);
        t.is((await r.hrandfield('r', -7) as string[]).length, 7);
        // Flat in RESP2, [field, value] pairs in RESP3 (whichever ioredis negotiated).
        const wv = (await r.call('HRANDFIELD', 'r', '-5', 'WITHVALUES') as Array<string | string[]>).flat();
        t.is(wv.length, 10);
        const want: Record<string, string> = { a: '1', b: '2', c: '3' };
        for (let i = 0; i < wv.length; i += 2) t.is(wv[i + 1], want[wv[i]!]);
        r.disconnect();
        const c3 = createClient({ socket: { port }, RESP: 3 });
        await c3.connect();
        const pairs = await c3.sendCommand(['HRANDFIELD', 'r', '2', 'WITHVALUES']) as unknown as string[][];
        t.is(pairs.length, 2, `port ${port}`);
        for (const p of pairs) t.is(p.length, 2);
        await c3.quit();
      }
    } finally { await srv.stop(); await oracle.stop(); }
  });
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const vector = (seed: number, dim = 768) => Buffer.from(Float32Array.from({ length: dim }, (_, i) => Math.sin(seed + i)).buffer);

test('binary fields and values: every byte value, FLOAT32 vectors, empty strings (ioredis)', async (t) => {
  const srv = await startInProcess();
  const r = await client(srv.port);
  try {
    const fields = [ALL_BYTES, Buffer.from([0]), Buffer.from('\r\n$3\r\n'), Buffer.alloc(0), Buffer.from([0xff, 0xfe])];
    for (const [i, f] of fields.entries()) t.is(await r.hset('bin', f, Buffer.concat([ALL_BYTES, Buffer.from([i])])), 1);
    t.is(await r.hset('bin', 'vec', vector(1)), 1);
    for (const [i, f] of fields.entries()) t.deepEqual(await r.hgetBuffer('bin', f), Buffer.concat([ALL_BYTES, Buffer.from([i])]));
    t.deepEqual(await r.hgetBuffer('bin', 'vec'), vector(1));
    t.is(await r.hstrlen('bin', 'vec'), 768 * 4);
    const all = await r.hgetallBuffer('bin');
    t.is(Object.keys(all).length, 6);
    const keys = await r.hkeysBuffer('bin');
    t.true(keys.some((k) => k.equals(ALL_BYTES)));
    t.true(keys.some((k) => k.length === 0));
    // A hash past the small (flat array) representation keeps working the same way.
    for (let i = 0; i < 200; i++) await r.hset('bin', Buffer.from([i, 0, 255]), vector(i, 8));
    t.is(await r.hlen('bin'), 206);
    t.deepEqual(await r.hgetBuffer('bin', Buffer.from([77, 0, 255])), vector(77, 8));
    t.is(await r.hdel('bin', Buffer.from([77, 0, 255]), ALL_BYTES), 2);
    let cursor = '0';
    const seen = new Set<string>();
    do {
      const [next, items] = await r.hscanBuffer('bin', cursor, 'COUNT', 17);
      for (let i = 0; i < items.length; i += 2) seen.add(items[i]!.toString('latin1'));
      cursor = next.toString();
    } while (cursor !== '0');
    t.is(seen.size, 204);
    const [, novalues] = await r.call('HSCAN', 'bin', '0', 'COUNT', '1000', 'NOVALUES') as [string, string[]];
    t.is(novalues.length, 204);
    t.is(await r.type('bin'), 'hash');
    t.true((await r.memory('USAGE', 'bin') as number) > 200 * 40);
  } finally { r.disconnect(); await srv.stop(); }
});

test('node-redis: HGETALL is a map in RESP3 and a flat list in RESP2; binary values round-trip', async (t) => {
  const srv = await startInProcess();
  try {
    for (const RESP of [2, 3] as const) {
      const c = createClient({ socket: { port: srv.port }, RESP });
      await c.connect();
      await c.hSet(`doc:${RESP}`, { content: 'hello', embedding: vector(3, 16) });
      const raw = await c.sendCommand(['HGETALL', `doc:${RESP}`]);
      if (RESP === 3) t.false(Array.isArray(raw), 'a map in RESP3');
      else t.true(Array.isArray(raw) && raw.length === 4 && raw[0] === 'content', 'a flat list in RESP2');
      const all = await c.hGetAll(`doc:${RESP}`);
      t.is(all.content, 'hello');
      await c.quit();
    }
  } finally { await srv.stop(); }
});

test('redis-py: HSET/HGETALL with FLOAT32 vector bytes, HINCRBYFLOAT, pipelines', async (t) => {
  const srv = await startInProcess();
  try {
    const script = `
import redis, struct, sys
r = redis.Redis(port=${srv.port})
vec = struct.pack('<768f', *[float(i) / 7 for i in range(768)])
with r.pipeline(transaction=False) as p:
    for i in range(50):
        p.hset(f'doc:{i}', mapping={'text': f'chunk {i}', 'embedding': vec, 'n': i})
    p.execute()
d = r.hgetall('doc:7')
assert d[b'embedding'] == vec, 'vector bytes differ'
assert d[b'text'] == b'chunk 7'
assert r.hincrbyfloat('doc:7', 'n', 0.5) == 7.5
assert r.hincrby('doc:7', 'm', 3) == 3
assert r.hmget('doc:7', ['text', 'nope']) == [b'chunk 7', None]
assert r.hexists('doc:7', 'text') and not r.hexists('doc:7', 'nope')
assert r.hlen('doc:7') == 4
try:
    r.hincrby('doc:7', 'text', 1)
    sys.exit('no error')
except redis.ResponseError as e:
    assert str(e) == 'hash value is not an integer', str(e)
print('ok')
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', script]);
    t.is(stdout.trim(), 'ok');
  } finally { await srv.stop(); }
});

test('MULTI/EXEC applies hash writes together; a queued error aborts all of them', async (t) => {
  const srv = await startInProcess();
  const r = await client(srv.port);
  try {
    const res = await r.multi().hset('tx', 'a', '1').hincrby('tx', 'a', 2).hincrbyfloat('tx', 'b', 1.5).hdel('tx', 'zz').hgetall('tx').exec();
    t.deepEqual(res!.map(([e, v]) => [e, v]), [[null, 1], [null, 3], [null, '1.5'], [null, 0], [null, { a: '3', b: '1.5' }]]);
    await t.throwsAsync(r.multi().hset('tx', 'c', '1').call('HSET', 'tx', 'odd').exec(), { message: /EXECABORT/ });
    t.is(await r.hexists('tx', 'c'), 0);
  } finally { r.disconnect(); await srv.stop(); }
});

test('LOADING refuses hash commands while data loads; MISCONF refuses hash writes while the disk fails, reads go on', async (t) => {
  const dir = tempDir();
  const sim = await SimulatedFs.create(dir);
  const srv = await startInProcess({ dir, appendonly: true, appendfsync: 'always' }, { fs: sim.session() });
  const r = await client(srv.port);
  try {
    await r.hset('m', 'a', '1');
    const release = srv.server.holdLoading();
    await t.throwsAsync(r.hget('m', 'a'), { message: /^LOADING/ });
    await t.throwsAsync(r.hset('m', 'b', '1'), { message: /^LOADING/ });
    release();
    const heal = sim.inject({ op: 'write', count: Infinity, code: 'ENOSPC' });
    await t.throwsAsync(r.hset('m', 'b', '2'));
    await t.throwsAsync(r.hincrby('m', 'a', 1), { message: /^MISCONF/ });
    await t.throwsAsync(r.hdel('m', 'a'), { message: /^MISCONF/ });
    t.is(await r.hget('m', 'a'), '1', 'reads keep working');
    heal();
  } finally { r.disconnect(); await srv.stop(); }
});

/** Every hash of a server, fields sorted, values as hex: what a restart must give back. */
async function dumpHashes(port: number): Promise<Record<string, Array<[string, string]>>> {
  const r = await client(port);
  const out: Record<string, Array<[string, string]>> = {};
  for (const k of (await r.keys('*')).sort()) {
    if (await r.type(k) !== 'hash') continue;
    const all = await r.hgetallBuffer(k);
    out[k] = Object.entries(all).map(([f, v]) => [Buffer.from(f, 'latin1').toString('hex'), v.toString('hex')] as [string, string]).sort();
  }
  r.disconnect();
  return out;
}

test('restart: hashes come back from the WAL and from a snapshot, HINCRBYFLOAT logged as its result', async (t) => {
  const dir = tempDir();
  let srv = await startInProcess({ dir, appendonly: true });
  let r = await client(srv.port);
  await r.hset('w', 'a', '1', 'vec', vector(9));
  await r.hincrbyfloat('w', 'f', '0.1');
  await r.hincrbyfloat('w', 'f', '0.2');
  await r.hset('w', ALL_BYTES, ALL_BYTES);
  await r.hdel('w', 'a');
  await r.hset('gone', 'x', '1');
  await r.hdel('gone', 'x');
  r.disconnect();
  const before = await dumpHashes(srv.port);
  t.is(before.w!.find(([f]) => f === Buffer.from('f').toString('hex'))![1], Buffer.from('0.3').toString('hex'));
  await srv.stop();
  srv = await startInProcess({ dir, appendonly: true });
  t.deepEqual(await dumpHashes(srv.port), before, 'after WAL replay');
  r = await client(srv.port);
  await r.call('SAVE');
  await r.hset('after', 'k', 'v');
  r.disconnect();
  const before2 = await dumpHashes(srv.port);
  await srv.stop();
  srv = await startInProcess({ dir, appendonly: true });
  t.deepEqual(await dumpHashes(srv.port), before2, 'after snapshot + WAL');
  await srv.stop();
  // The snapshot alone (appendonly off): what SAVE saw.
  srv = await startInProcess({ dir, appendonly: false });
  const snapOnly = await dumpHashes(srv.port);
  delete before2.after;
  t.deepEqual(snapOnly, before2, 'snapshot alone');
  await srv.stop();
});

test('BGSAVE while HSET writes the same hashes: the snapshot holds each hash as of the cut', async (t) => {
  const dir = tempDir();
  const srv = await startInProcess({ dir, appendonly: false });
  const r = await client(srv.port);
  const N = 3000;
  for (let s = 0; s < N; s += 500) {
    const p = r.pipeline();
    for (let i = s; i < s + 500; i++) p.hset(`doc:${i}`, 'v', 'before', 'vec', vector(i, 32));
    await p.exec();
  }
  await r.hset('big', ...Array.from({ length: 300 }, (_, i) => [`f${i}`, 'before']).flat());
  const atCut = await dumpHashes(srv.port);
  // BGSAVE, then writes to the very hashes it is saving, in one pipeline: they run while it streams.
  const p = r.pipeline();
  p.call('BGSAVE');
  for (let i = 0; i < N; i++) {
    p.hset(`doc:${i}`, 'v', 'after', 'extra', 'x');
    if (i % 3 === 0) p.hdel(`doc:${i}`, 'vec');
    if (i % 7 === 0) p.del(`doc:${i}`);
  }
  for (let i = 0; i < 300; i++) p.hset('big', `f${i}`, 'after');
  p.hincrbyfloat('big', 'n', '1');
  await p.exec();
  while (/rdb_bgsave_in_progress:1/.test(await r.info('persistence'))) await new Promise((res) => setTimeout(res, 20));
  t.regex(await r.info('persistence'), /rdb_last_bgsave_status:ok/);
  t.is(await r.hget('doc:1', 'v'), 'after');
  r.disconnect();
  await srv.stop();
  const back = await startInProcess({ dir, appendonly: false });
  t.deepEqual(await dumpHashes(back.port), atCut);
  await back.stop();
});

test.serial('SIGKILL during pipelined HSET/HINCRBY: every acknowledged write is there after restart', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await client(srv.port);
  const acked = new Map<string, number>();
  let stop = false;
  const writer = (async () => {
    for (let round = 0; !stop; round++) {
      const p = r.pipeline();
      for (let i = 0; i < 50; i++) { p.hset(`k:${i % 20}`, `f${round}:${i}`, vector(round * 50 + i, 8)); }
      p.hincrby('counter', 'n', 1);
      const res = await p.exec().catch(() => null);
      if (!res) break;
      res.slice(0, 50).forEach(([e], i) => { if (!e) acked.set(`k:${i % 20}|f${round}:${i}`, round * 50 + i); });
      const [e, n] = res[50]!;
      if (!e) acked.set('counter', n as number);
    }
  })();
  while (acked.size < 2000) await new Promise((res) => setTimeout(res, 10));
  srv.child.kill('SIGKILL');
  stop = true;
  await writer;
  await srv.exited;
  r.disconnect();
  srv = await spawnServer(args, { dir, port: srv.port });
  const r2 = await client(srv.port);
  let missing = 0;
  for (const [k, v] of acked) {
    if (k === 'counter') { t.true(Number(await r2.hget('counter', 'n')) >= v); continue; }
    const [key, field] = k.split('|') as [string, string];
    const got = await r2.hgetBuffer(key, field);
    if (!got || !got.equals(vector(v, 8))) missing++;
  }
  t.is(missing, 0, `${missing} acknowledged fields missing`);
  r2.disconnect();
  await srv.kill();
});

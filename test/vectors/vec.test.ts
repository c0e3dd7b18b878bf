/**
 * The VEC.* commands over the wire, in RESP2 and RESP3: every option of
 * README.md, "The VEC commands", the errors it names, and vector sets as ordinary keys.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { encodeCommand, exchange } from '../helpers/raw.js';
import { VectorSet } from '../../src/engine/vector-set.js';

let srv: InProcess;
let r: Redis;
test.before(async () => {
  srv = await startInProcess();
  r = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null, protocol: 2 });
  await r.connect();
});
test.after.always(async () => { r.disconnect(); await srv.stop(); });

const f32 = (...x: number[]) => Buffer.from(new Float32Array(x).buffer);
const call = (...args: Array<string | number | Buffer>) => r.call(String(args[0]), ...args.slice(1)) as Promise<unknown>;

test('VEC.ADD creates a set implicitly, adds (1) and updates (0); VEC.CARD, VEC.DIM, TYPE', async (t) => {
  t.is(await call('VEC.ADD', 'a1', 'x', 'VALUES', 3, 1, 0, 0), 1);
  t.is(await call('VEC.ADD', 'a1', 'x', 'FP32', f32(0, 1, 0)), 0);
  t.is(await call('VEC.ADD', 'a1', 'y', 'FP32', f32(0, 0, 1)), 1);
  t.is(await call('VEC.CARD', 'a1'), 2);
  t.is(await call('VEC.DIM', 'a1'), 3);
  t.is(await r.type('a1'), 'vectorset');
  t.deepEqual(await call('VEC.SEARCH', 'a1', 'VALUES', 3, 0, 1, 0, 'COUNT', 1), ['x'], 'the update replaced the vector');
  t.is(await call('VEC.CARD', 'nosuch'), 0);
  await t.throwsAsync(call('VEC.DIM', 'nosuch'), { message: /key does not exist/ });
});

test('VEC.CREATE fixes parameters; an explicit set stays when emptied, an implicit one goes', async (t) => {
  t.is(await call('VEC.CREATE', 'c1', 'DIM', 4, 'METRIC', 'L2', 'QUANT', 'F16', 'M', 8, 'EF_CONSTRUCTION', 64, 'EF', 32), 'OK');
  await t.throwsAsync(call('VEC.CREATE', 'c1', 'DIM', 4), { message: /already exists/ });
  const info = await call('VEC.INFO', 'c1') as unknown[];
  const m = Object.fromEntries(Array.from({ length: info.length / 2 }, (_, i) => [info[2 * i], info[2 * i + 1]]));
  t.like(m, { dim: 4, metric: 'L2', quant: 'F16', m: 8, ef_construction: 64, ef: 32, size: 0, created: 'explicit', distance: 'squared euclidean' });
  await call('VEC.ADD', 'c1', 'e', 'VALUES', 4, 1, 2, 3, 4);
  t.is(await call('VEC.DEL', 'c1', 'e', 'missing'), 1);
  t.is(await r.exists('c1'), 1);
  await call('VEC.ADD', 'i1', 'e', 'VALUES', 2, 1, 2);
  t.is(await call('VEC.DEL', 'i1', 'e'), 1);
  t.is(await r.exists('i1'), 0);
  await t.throwsAsync(call('VEC.ADD', 'c1', 'z', 'VALUES', 4, 1, 2, 3, 4, 'METRIC', 'COSINE'), { message: /METRIC differs/ });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'METRIC', 'HAMMING', 'QUANT', 'F32'), { message: /HAMMING and JACCARD need B1/ });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 0), { message: /DIM must be an integer between 1 and 65536/ });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'M', 0), { message: /M must be/ });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'METRIC', 'l1'), { message: "ERR unknown METRIC 'l1': use COSINE, L2, IP, HAMMING or JACCARD" });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'QUANT', 'f64'), { message: "ERR unknown QUANT 'f64': use F32, F16, BF16, I8 or B1" });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'EF_CONSTRUCTION', 1_000_001), { message: 'ERR EF_CONSTRUCTION must be an integer between 1 and 1000000' });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'EF', 1_000_001), { message: 'ERR EF must be an integer between 1 and 1000000' });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'DIM', 4, 'BOGUS', 1), { message: /unknown option 'BOGUS'/ });
  await t.throwsAsync(call('VEC.CREATE', 'c2', 'METRIC', 'L2'), { message: /needs DIM/ });
});

test('every metric and quantization finds the nearest element and reports its distance', async (t) => {
  const cases: Array<[string, string, number[][], number[], string]> = [
    ['COSINE', 'F32', [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], [1, 0.1, 0, 0], 'e0'],
    ['COSINE', 'F16', [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], [1, 0.1, 0, 0], 'e0'],
    ['COSINE', 'BF16', [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], [0.1, 1, 0, 0], 'e1'],
    ['COSINE', 'I8', [[5, 0, 0, 0], [0, 7, 0, 0], [3, 3, 0, 0]], [2, 2.1, 0, 0], 'e2'],
    ['L2', 'F32', [[0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0]], [9, 1, 0, 0], 'e1'],
    ['IP', 'F32', [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0]], [0, 0, 1, 0], 'e2'],
    ['HAMMING', 'B1', [[1, 1, 0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], [0, 0, 1, 1, 0, 0, 1, 0], 'e1'],
    ['JACCARD', 'B1', [[1, 1, 0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], [1, 1, 0, 0, 1, 0, 0, 1], 'e0'],
  ];
  for (const [metric, quant, vectors, query, want] of cases) {
    const key = `m:${metric}:${quant}`;
    await call('VEC.CREATE', key, 'DIM', vectors[0].length, 'METRIC', metric, 'QUANT', quant);
    for (let i = 0; i < vectors.length; i++) await call('VEC.ADD', key, `e${i}`, 'VALUES', vectors[i].length, ...vectors[i]);
    const res = await call('VEC.SEARCH', key, 'VALUES', query.length, ...query, 'COUNT', 3, 'WITHSCORES') as string[];
    t.is(res[0], want, `${metric}/${quant}`);
    const scores = [res[1], res[3], res[5]].map(Number);
    t.true(scores.every((s, i) => Number.isFinite(s) && (i === 0 || s >= scores[i - 1] - 1e-6)), `${metric}/${quant} sorted: ${scores}`);
    const exact = await call('VEC.SEARCH', key, 'VALUES', query.length, ...query, 'COUNT', 1, 'EXACT');
    t.deepEqual(exact, [want], `${metric}/${quant} EXACT`);
  }
});

test('distances are the metric\'s own: 1 - cos, squared L2, 1 - dot', async (t) => {
  await call('VEC.CREATE', 'd:cos', 'DIM', 2);
  await call('VEC.ADD', 'd:cos', 'a', 'VALUES', 2, 1, 0);
  t.true(Math.abs(Number((await call('VEC.SEARCH', 'd:cos', 'VALUES', 2, 0, 1, 'WITHSCORES') as string[])[1]) - 1) < 1e-6);
  await call('VEC.CREATE', 'd:l2', 'DIM', 2, 'METRIC', 'L2');
  await call('VEC.ADD', 'd:l2', 'a', 'VALUES', 2, 1, 0);
  t.true(Math.abs(Number((await call('VEC.SEARCH', 'd:l2', 'VALUES', 2, 4, 4, 'WITHSCORES') as string[])[1]) - 25) < 1e-4);
  await call('VEC.CREATE', 'd:ip', 'DIM', 2, 'METRIC', 'IP');
  await call('VEC.ADD', 'd:ip', 'a', 'VALUES', 2, 0.5, 0.5);
  t.true(Math.abs(Number((await call('VEC.SEARCH', 'd:ip', 'VALUES', 2, 1, 0, 'WITHSCORES') as string[])[1]) - 0.5) < 1e-6);
});

test('WITHSCORES / WITHPAYLOADS: RESP2 flat, RESP3 maps like VSIM', async (t) => {
  await call('VEC.ADD', 'w', 'a', 'VALUES', 2, 1, 0, 'PAYLOAD', '{"n":1}');
  await call('VEC.ADD', 'w', 'b', 'VALUES', 2, 0, 1);
  const flat = await call('VEC.SEARCH', 'w', 'VALUES', 2, 1, 0, 'WITHSCORES', 'WITHPAYLOADS') as unknown[];
  t.is(flat.length, 6);
  t.deepEqual([flat[0], flat[2], flat[3], flat[5]], ['a', '{"n":1}', 'b', null]);
  const three = await exchange(srv.port, Buffer.concat([encodeCommand(['HELLO', '3']), encodeCommand(['VEC.SEARCH', 'w', 'VALUES', '2', '1', '0', 'WITHSCORES', 'WITHPAYLOADS']),
    encodeCommand(['VEC.SEARCH', 'w', 'VALUES', '2', '1', '0', 'WITHSCORES']), encodeCommand(['VEC.SEARCH', 'w', 'VALUES', '2', '1', '0', 'WITHPAYLOADS'])]));
  const tail = three.text.slice(three.text.indexOf('%2\r\n$1\r\na'));
  t.regex(tail, /^%2\r\n\$1\r\na\r\n\*2\r\n,[-0-9.e]+\r\n\$7\r\n\{"n":1\}\r\n\$1\r\nb\r\n\*2\r\n,1\r\n_\r\n%2\r\n\$1\r\na\r\n,[-0-9.e]+\r\n\$1\r\nb\r\n,1\r\n%2\r\n\$1\r\na\r\n\$7\r\n\{"n":1\}\r\n\$1\r\nb\r\n_\r\n$/);
  const c = createClient({ RESP: 3, socket: { port: srv.port, reconnectStrategy: false } });
  c.on('error', () => {});
  await c.connect();
  const got = await c.sendCommand(['VEC.GET', 'w', 'a']) as Record<string, unknown>;
  t.deepEqual(got, { vector: [1, 0], payload: '{"n":1}' });
  await c.quit();
});

test('VEC.GET returns F32 vectors bit-exact, including subnormals, -0 and FLT_MAX', async (t) => {
  const v = [1.1, -0, 1.401298464324817e-45, 3.4028234663852886e38, -2.5e-38, 0.1];
  await call('VEC.CREATE', 'exact', 'DIM', v.length, 'METRIC', 'L2');
  await call('VEC.ADD', 'exact', 'e', 'FP32', f32(...v));
  const got = await call('VEC.GET', 'exact', 'e') as unknown[];
  t.is(got[0], 'vector');
  const back = (got[1] as string[]).map((x) => Math.fround(Number(x)));
  t.deepEqual(Array.from(new Float32Array(back)).map((x) => Object.is(x, -0) ? '-0' : x), Array.from(new Float32Array(v)).map((x) => Object.is(x, -0) ? '-0' : x));
  t.is(await call('VEC.GET', 'exact', 'nope'), null);
  t.is(await call('VEC.GET', 'nokey', 'nope'), null);
});

test('payloads: set, replace, keep on update, remove with ""; JSON objects only', async (t) => {
  await call('VEC.ADD', 'p', 'a', 'VALUES', 2, 1, 0, 'PAYLOAD', '{"v":1}');
  await call('VEC.ADD', 'p', 'a', 'VALUES', 2, 1, 1);
  t.is((await call('VEC.GET', 'p', 'a') as unknown[])[3], '{"v":1}', 'an update without PAYLOAD keeps it');
  t.is(await call('VEC.SETPAYLOAD', 'p', 'a', '{"v":2}'), 1);
  t.is((await call('VEC.GET', 'p', 'a') as unknown[])[3], '{"v":2}');
  t.is(await call('VEC.SETPAYLOAD', 'p', 'missing', '{"v":2}'), 0);
  t.is(await call('VEC.SETPAYLOAD', 'p', 'a', ''), 1);
  t.is((await call('VEC.GET', 'p', 'a') as unknown[])[3], null);
  await t.throwsAsync(call('VEC.SETPAYLOAD', 'p', 'a', '[1,2]'), { message: /JSON object/ });
  await t.throwsAsync(call('VEC.ADD', 'p', 'b', 'VALUES', 2, 1, 0, 'PAYLOAD', '{bad'), { message: /not valid JSON/ });
  t.is(await call('VEC.CARD', 'p'), 1, 'the refused add changed nothing');
  await r.call('CONFIG', 'SET', 'vec-max-payload-bytes', '100');
  await t.throwsAsync(call('VEC.SETPAYLOAD', 'p', 'a', JSON.stringify({ s: 'x'.repeat(200) })), { message: /over the limit/ });
  await r.call('CONFIG', 'SET', 'vec-max-payload-bytes', '64kb');
});

test('FILTER: the expression language, selective and broad filters return k matching results', async (t) => {
  for (let i = 0; i < 3000; i++) {
    const p = JSON.stringify({ c: i % 100, year: 1950 + (i % 70), genre: i % 3 === 0 ? 'drama' : 'comedy' });
    void call('VEC.ADD', 'f', `e${i}`, 'VALUES', 4, Math.sin(i), Math.cos(i), Math.sin(i * 0.3), 1, 'PAYLOAD', p);
  }
  await call('VEC.CARD', 'f');
  const sel = await call('VEC.SEARCH', 'f', 'VALUES', 4, 0.5, 0.5, 0, 1, 'COUNT', 10, 'FILTER', '.c == 7', 'WITHPAYLOADS') as string[];
  t.is(sel.length, 20);
  for (let i = 1; i < sel.length; i += 2) t.is(JSON.parse(sel[i]).c, 7);
  const broad = await call('VEC.SEARCH', 'f', 'VALUES', 4, 0.5, 0.5, 0, 1, 'COUNT', 25, 'FILTER', '.year >= 1980 and .genre == "drama"', 'WITHPAYLOADS') as string[];
  t.is(broad.length, 50);
  for (let i = 1; i < broad.length; i += 2) { const p = JSON.parse(broad[i]); t.true(p.year >= 1980 && p.genre === 'drama'); }
  const none = await call('VEC.SEARCH', 'f', 'VALUES', 4, 1, 0, 0, 0, 'FILTER', '.c == 1000');
  t.deepEqual(none, []);
  await t.throwsAsync(call('VEC.SEARCH', 'f', 'VALUES', 4, 1, 0, 0, 0, 'FILTER', '.a == '), { message: /syntax error in FILTER expression near/ });
  // The filter cache follows payload changes.
  await call('VEC.SETPAYLOAD', 'f', 'e0', '{"c": 7}');
  const after = await call('VEC.SEARCH', 'f', 'ELE', 'e0', 'COUNT', 1, 'FILTER', '.c == 7');
  t.deepEqual(after, ['e0']);
  await call('VEC.SETPAYLOAD', 'f', 'e0', '{"c": 8}');
  const gone = await call('VEC.SEARCH', 'f', 'ELE', 'e0', 'COUNT', 200, 'FILTER', '.c == 7') as string[];
  t.false(gone.includes('e0'));
});

test('ELE searches with a stored vector; a missing element is an error; a missing key is empty', async (t) => {
  await call('VEC.ADD', 'ele', 'a', 'VALUES', 2, 1, 0);
  await call('VEC.ADD', 'ele', 'b', 'VALUES', 2, 0, 1);
  t.deepEqual(await call('VEC.SEARCH', 'ele', 'ELE', 'b', 'COUNT', 1), ['b']);
  await t.throwsAsync(call('VEC.SEARCH', 'ele', 'ELE', 'zz'), { message: /not found/ });
  t.deepEqual(await call('VEC.SEARCH', 'nokey', 'VALUES', 2, 1, 0), []);
  await t.throwsAsync(call('VEC.SEARCH', 'nokey', 'VALUES', 2, 1), { message: /VALUES declares 2 values but 1 follow/ });
});

test('bad vectors are refused with the reason, and nothing is half-applied', async (t) => {
  await call('VEC.ADD', 'bad', 'seed', 'VALUES', 4, 1, 0, 0, 0);
  const refuse = async (args: Array<string | number | Buffer>, re: RegExp) => { await t.throwsAsync(call(...args), { message: re }); };
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 3, 1, 2, 3], /vector has 3 values, the set 'bad' has DIM 4/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, 'nan', 1, 2, 3], /invalid vector value 'nan' at position 0/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, 1, 'inf', 2, 3], /'inf' at position 1/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, 1, 2, '1e39', 3], /'1e39' at position 2/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, 1, 2, 3, '1.0abc'], /'1.0abc'/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, ' 1', 2, 3, 4], /' 1'/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, '', 2, 3, 4], /''/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 4, '0x10', 2, 3, 4], /'0x10'/);
  await refuse(['VEC.ADD', 'bad', 'x', 'FP32', Buffer.alloc(0)], /empty vector/);
  await refuse(['VEC.ADD', 'bad', 'x', 'FP32', Buffer.alloc(15)], /not a multiple of 4/);
  await refuse(['VEC.ADD', 'bad', 'x', 'FP32', f32(1, Number.NaN, 0, 0)], /NaN at position 1/);
  await refuse(['VEC.ADD', 'bad', 'x', 'FP32', f32(1, 0, Number.POSITIVE_INFINITY, 0)], /inf at position 2/);
  await refuse(['VEC.ADD', 'bad', 'x', 'FP32', f32(0, 0, 0, 0)], /zero vector/);
  await refuse(['VEC.ADD', 'bad', 'x', 'VALUES', 100000000, 1], /more than the 65536 allowed/);
  await refuse(['VEC.ADD', 'newkey', 'x', 'VALUES', 0], /VALUES count must be at least 1/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 4, 1, 0, 0, 0, 'COUNT', 0], /COUNT must be/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 4, 1, 0, 0, 0, 'COUNT', -1], /COUNT must be/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 4, 1, 0, 0, 0, 'EF', 0], /EF must be/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 4, 1, 0, 0, 0, 'COUNT', '9223372036854775808'], /COUNT must be/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 3, 1, 0, 0], /query vector has 3 values, the set 'bad' has DIM 4/);
  await refuse(['VEC.SEARCH', 'bad', 'VALUES', 4, 1, 0, 0, 0, 'SOMETIMES'], /unknown option 'SOMETIMES'/);
  t.is(await call('VEC.CARD', 'bad'), 1);
  t.is(await r.exists('newkey'), 0, 'a refused first VEC.ADD creates no set');
  await r.set('str', 'x');
  await refuse(['VEC.ADD', 'str', 'x', 'VALUES', 1, 1], /^WRONGTYPE/);
  await refuse(['VEC.SEARCH', 'str', 'VALUES', 1, 1], /^WRONGTYPE/);
});

test('binary ids and keys round-trip byte-exact', async (t) => {
  const key = Buffer.from([0, 0xff, 13, 10, 0x41]);
  const id = Buffer.concat([Buffer.from([0, 13, 10, 0xc3, 0x28]), Buffer.alloc(10_000, 7)]);
  const rb = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null });
  await rb.connect();
  t.is(await rb.call('VEC.ADD', key, id, 'VALUES', '2', '1', '0'), 1);
  const found = await rb.callBuffer('VEC.SEARCH', key, 'VALUES', '2', '1', '0') as Buffer[];
  t.true(found[0].equals(id));
  const keys = await rb.keysBuffer('*') as Buffer[];
  t.true(keys.some((k) => k.equals(key)));
  t.deepEqual(await rb.call('VEC.DEL', key, id), 1);
  rb.disconnect();
});

test('vector sets are ordinary keys: RENAME, DEL, EXISTS, SCAN TYPE, VEC.LIST, INFO keyspace, FLUSHDB', async (t) => {
  const ro = new Redis({ port: srv.port, db: 9, lazyConnect: true, retryStrategy: () => null });
  await ro.connect();
  await ro.call('VEC.ADD', 'k1', 'a', 'VALUES', '2', '1', '0');
  await ro.call('VEC.ADD', 'k2', 'a', 'VALUES', '2', '1', '0');
  await ro.set('plain', 'x');
  t.deepEqual((await ro.call('VEC.LIST') as string[]).sort(), ['k1', 'k2']);
  t.is(await ro.rename('k1', 'k3'), 'OK');
  t.deepEqual(await ro.call('VEC.SEARCH', 'k3', 'VALUES', '2', '1', '0'), ['a']);
  t.deepEqual((await ro.call('SCAN', '0', 'TYPE', 'vectorset', 'COUNT', '100') as [string, string[]])[1].sort(), ['k2', 'k3']);
  t.regex(await ro.info('keyspace'), /db9:keys=3/);
  t.is(await ro.del('k2'), 1);
  t.is(await ro.exists('k2', 'k3'), 1);
  await ro.flushdb();
  t.is(await ro.dbsize(), 0);
  ro.disconnect();
});

test('MULTI/EXEC holds VEC.* commands and runs them in order', async (t) => {
  const res = await r.multi()
    .call('VEC.ADD', 'tx', 'a', 'VALUES', '2', '1', '0')
    .call('VEC.ADD', 'tx', 'b', 'VALUES', '2', '0', '1')
    .call('VEC.SEARCH', 'tx', 'VALUES', '2', '0', '1', 'COUNT', '1')
    .call('VEC.DEL', 'tx', 'a')
    .call('VEC.CARD', 'tx')
    .exec();
  t.deepEqual(res, [[null, 1], [null, 1], [null, ['b']], [null, 1], [null, 1]]);
});

test('pipelined adds and searches from many clients keep each client\'s order', async (t) => {
  const clients = await Promise.all(Array.from({ length: 8 }, async () => {
    const c = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null });
    await c.connect();
    return c;
  }));
  await Promise.all(clients.map(async (c, ci) => {
    const p = c.pipeline();
    for (let i = 0; i < 200; i++) {
      p.call('VEC.ADD', 'pp', `c${ci}:${i}`, 'FP32', f32(ci + 1, i + 1, 1, 1));
      p.call('VEC.SEARCH', 'pp', 'FP32', f32(ci + 1, i + 1, 1, 1), 'COUNT', '1', 'EXACT');
    }
    const res = await p.exec();
    for (let i = 0; i < 200; i++) {
      t.is(res![2 * i][1], 1);
      // The search right after an add sees it (queue order), at distance ~0.
      t.true((res![2 * i + 1][1] as string[]).length === 1);
    }
  }));
  t.is(await call('VEC.CARD', 'pp'), 1600);
  for (const c of clients) c.disconnect();
});

test('deletes and updates are reclaimed by a rebuild past the threshold; searches stay right', async (t) => {
  const saved = VectorSet.compactMinimum;
  VectorSet.compactMinimum = 50;
  try {
    for (let i = 0; i < 400; i++) void call('VEC.ADD', 'cmp', `e${i}`, 'FP32', f32(Math.cos(i), Math.sin(i), 1));
    await call('VEC.CARD', 'cmp');
    const ids = Array.from({ length: 200 }, (_, i) => `e${i * 2}`);
    t.is(await call('VEC.DEL', 'cmp', ...ids), 200);
    // Wait for the queued rebuild to finish: VEC.INFO reports the tombstones left.
    let deleted = -1;
    for (let i = 0; i < 100 && deleted !== 0; i++) {
      const info = await call('VEC.INFO', 'cmp') as unknown[];
      deleted = Number(info[info.indexOf('deleted') + 1]);
      if (deleted !== 0) await new Promise((res) => setTimeout(res, 20));
    }
    t.is(deleted, 0);
    t.is(await call('VEC.CARD', 'cmp'), 200);
    const got = await call('VEC.SEARCH', 'cmp', 'FP32', f32(Math.cos(3), Math.sin(3), 1), 'COUNT', '1') as string[];
    t.deepEqual(got, ['e3']);
    const all = await call('VEC.SEARCH', 'cmp', 'FP32', f32(1, 0, 1), 'COUNT', '400') as string[];
    t.is(all.length, 200);
    t.true(all.every((id) => Number(id.slice(1)) % 2 === 1));
  } finally { VectorSet.compactMinimum = saved; }
});

test('MEMORY USAGE and VEC.INFO memory_bytes grow with attributes and shrink when they go', async (t) => {
  await call('VADD', 'memattr', 'VALUES', 3, 1, 0, 0, 'a');
  await call('VADD', 'memattr', 'VALUES', 3, 0, 1, 0, 'b');
  const before = Number(await call('MEMORY', 'USAGE', 'memattr'));
  const attr = JSON.stringify({ text: 'x'.repeat(2000) });
  t.is(await call('VSETATTR', 'memattr', 'a', attr), 1);
  const withAttr = Number(await call('MEMORY', 'USAGE', 'memattr'));
  t.true(withAttr - before >= attr.length, `${before} -> ${withAttr}`);
  const info = await call('VEC.INFO', 'memattr') as unknown[];
  t.true(Number(info[info.indexOf('memory_bytes') + 1]) >= withAttr - 200);
  t.is(await call('VSETATTR', 'memattr', 'a', ''), 1);
  t.is(Number(await call('MEMORY', 'USAGE', 'memattr')), before);
});

test('COPY of a vector set: an independent set with the same elements, attributes and answers', async (t) => {
  for (let i = 0; i < 300; i++) await call('VADD', 'copysrc', 'VALUES', 3, Math.cos(i), Math.sin(i), i / 300, `e${i}`, ...(i % 2 ? ['SETATTR', `{"i":${i}}`] : []));
  t.is(await call('COPY', 'copysrc', 'copydst'), 1);
  t.is(await call('COPY', 'copysrc', 'copydst'), 0, 'no REPLACE: the destination stays');
  await call('VREM', 'copysrc', 'e1');
  await call('VADD', 'copydst', 'VALUES', 3, 1, 1, 1, 'only-in-copy');
  t.is(await call('VCARD', 'copysrc'), 299);
  t.is(await call('VCARD', 'copydst'), 301);
  t.is(await call('VGETATTR', 'copydst', 'e1'), '{"i":1}');
  t.is(await call('VISMEMBER', 'copysrc', 'only-in-copy'), 0);
  const q = ['VALUES', 3, Math.cos(7), Math.sin(7), 7 / 300];
  t.deepEqual((await call('VSIM', 'copydst', ...q, 'COUNT', 1)) as string[], ['e7']);
  t.is(await call('TYPE', 'copydst'), 'vectorset');
  t.is(await call('COPY', 'copysrc', 'copydst', 'REPLACE'), 1);
  t.is(await call('VCARD', 'copydst'), 299);
  await call('DEL', 'copysrc');
  t.deepEqual((await call('VSIM', 'copydst', ...q, 'COUNT', 1)) as string[], ['e7'], 'the copy outlives its source');
});

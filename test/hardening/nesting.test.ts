/**
 * Deep nesting: a 12 KB payload of 6 000 brackets killed the server when read
 * over HTTP (JSON.stringify overflowed the stack, uncaught) and again after
 * every restart. Now every command that stores a payload or attribute refuses
 * one past 128 levels (RedisJSON's limit) with an error naming it, payloads an
 * older version stored still read, and nothing that input can nest recurses:
 * FILTER, the RESP encoder, the HTTP JSON path.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { freePort, startInProcess, type InProcess } from '../helpers/server.js';
import { ReplyEncoder } from '../../protocol/encoder.js';
import { ReplyMap, type Reply } from '../../protocol/reply.js';
import { replyToJson, toJsonText, type Json } from '../../src/http/json-reply.js';
import { MAX_PAYLOAD_DEPTH, jsonValueDepth } from '../../src/core/json-depth.js';
import type { ClientState } from '../../src/core/types.js';

/** `{"a": [[…]]}` nesting `levels` deep in all (the object is one level). */
const nested = (levels: number): string => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
const DEEP = nested(6001);

let srv: InProcess & { http: number };
let r: Redis;

test.before(async () => {
  const http = await freePort();
  srv = { ...(await startInProcess({ 'http-port': http })), http };
  r = new Redis({ port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await r.connect();
});
test.after.always(async () => { r?.disconnect(); await srv?.stop(); });

/** The error a command gets, cut short: a failing assertion must not print a 100 KB argument. */
async function refusal(...args: string[]): Promise<string> {
  try { await r.call(args[0], ...args.slice(1)); } catch (e) { return (e as Error).message.slice(0, 120); }
  return 'accepted';
}

async function post(path: string, body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${srv.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, body: await res.json() };
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${srv.http}${path}`);
  return { status: res.status, body: await res.json() };
}

const TOO_DEEP = /nests more than 128 levels of arrays and objects \(the payload nesting limit is 128\)/;

test('every command that stores a payload or attribute refuses one nested past 128 levels, naming the limit', async (t) => {
  t.is(await r.call('VEC.ADD', 'n', 'ok', 'VALUES', '2', '1', '0', 'PAYLOAD', nested(MAX_PAYLOAD_DEPTH)), 1, 'exactly at the limit');
  t.regex(await refusal('VEC.ADD', 'n', 'x', 'VALUES', '2', '1', '0', 'PAYLOAD', nested(MAX_PAYLOAD_DEPTH + 1)), TOO_DEEP);
  t.regex(await refusal('VEC.ADD', 'n', 'x', 'VALUES', '2', '1', '0', 'PAYLOAD', DEEP), TOO_DEEP);
  t.regex(await refusal('VEC.SETPAYLOAD', 'n', 'ok', DEEP), TOO_DEEP);
  // Brackets inside strings are text, not nesting.
  t.is(await r.call('VEC.SETPAYLOAD', 'n', 'ok', JSON.stringify({ s: '['.repeat(5000) })), 1);
  t.is(await r.call('VADD', 'vs', 'VALUES', '2', '1', '0', 'e', 'SETATTR', nested(MAX_PAYLOAD_DEPTH)), 1);
  t.regex(await refusal('VADD', 'vs', 'VALUES', '2', '1', '0', 'f', 'SETATTR', DEEP), /^ERR attribute nests more than 128 levels/);
  t.regex(await refusal('VSETATTR', 'vs', 'e', DEEP), /^ERR attribute nests more than 128 levels/);
  t.is(await r.call('VCARD', 'vs'), 1, 'the refused VADD added nothing');
  t.is(await r.call('VEC.CARD', 'n'), 1);

  const single = await post('/v1/insert', `{"key":"n","id":"h","vector":[1,0],"payload":${DEEP}}`);
  t.is(single.status, 400, 'not 500: the payload is bad input');
  t.regex(single.body.error, TOO_DEEP);
  const batch = await post('/v1/insert', `{"key":"n","points":[{"id":"h1","vector":[1,0]},{"id":"h2","vector":[0,1],"payload":${DEEP}}]}`);
  t.is(batch.status, 400);
  t.regex(batch.body.error, /^ERR points\[1\]: payload nests more than 128 levels/);
  const vector = await post('/v1/insert', `{"key":"n","id":"h","vector":[1,${'['.repeat(6000)}${']'.repeat(6000)}]}`);
  t.is(vector.status, 400);
  t.regex(vector.body.error, /invalid vector value '\[…\]' at position 1/);
  t.is(await r.call('VEC.CARD', 'n'), 1, 'no refused point was added');
  t.is(await r.call('PING'), 'PONG');
});

test('a payload stored deeper than the limit (by an older version, or the WAL) reads back over RESP and HTTP', async (t) => {
  const client: ClientState = {
    id: 0, name: 'replay', proto: 2, db: 0, authenticated: true, libName: '', libVer: '', addr: 'wal', laddr: 'wal',
    createdAt: 0, lastInteraction: 0, multi: null, multiDirty: false, closeAfterReply: false, lastCommand: '', noEvict: false, noTouch: false,
  };
  // Recovery re-applies what was logged without the new limit: dropping the element would lose data.
  const legacy = `{"b":1,${DEEP.slice(1)}`;
  t.is(await srv.server.replay(client, ['VEC.ADD', 'old', 'x', 'VALUES', '2', '1', '0', 'PAYLOAD', legacy].map((s) => Buffer.from(s))), 1);
  t.truthy(await srv.server.replay(client, ['VADD', 'oldv', 'VALUES', '2', '1', '0', 'e', 'SETATTR', DEEP].map((s) => Buffer.from(s))));
  t.true(await r.call('VEC.GET', 'old', 'x').then((v) => (v as string[])[3] === legacy), 'VEC.GET');
  t.true(await r.call('VGETATTR', 'oldv', 'e').then((v) => v === DEEP), 'VGETATTR');

  const point = await get('/v1/sets/old/points/x');
  t.is(point.status, 200);
  t.is(point.body.payload.b, 1);
  t.is(jsonValueDepth(point.body.payload), 6001);
  const search = await post('/v1/search', '{"key":"old","vector":[1,0],"with_payload":true}');
  t.is(search.status, 200);
  t.is(jsonValueDepth(search.body.results[0].payload), 6001);
  const attr = await get('/v1/sets/oldv/points/e');
  t.is(attr.status, 200);
  t.is(jsonValueDepth(attr.body.payload), 6001);
  // FILTER reads only top-level fields of it.
  t.deepEqual(await r.call('VEC.SEARCH', 'old', 'VALUES', '2', '1', '0', 'FILTER', '.b == 1'), ['x']);
  t.is(await r.call('PING'), 'PONG');
});

test('FILTER nesting is bounded with an error naming the limit, over RESP, for VEC.SEARCH and VSIM', async (t) => {
  await r.call('VEC.ADD', 'f', 'x', 'VALUES', '2', '1', '0', 'PAYLOAD', '{"c":7}');
  await r.call('VADD', 'fv', 'VALUES', '2', '1', '0', 'x', 'SETATTR', '{"c":7}');
  for (const expr of ['('.repeat(100000) + '.c' + ')'.repeat(100000), '!'.repeat(100000) + '.c', 'not '.repeat(50000) + '.c', Array(50000).fill('.c').join(' ** ')]) {
    t.regex(await refusal('VEC.SEARCH', 'f', 'VALUES', '2', '1', '0', 'FILTER', expr), /^ERR FILTER expression nests deeper than 1000 levels near: /);
    t.regex(await refusal('VSIM', 'fv', 'VALUES', '2', '1', '0', 'FILTER', expr), /^ERR FILTER expression nests deeper than 1000 levels near: /);
  }
  t.deepEqual(await r.call('VEC.SEARCH', 'f', 'VALUES', '2', '1', '0', 'FILTER', '('.repeat(900) + '.c == 7' + ')'.repeat(900)), ['x']);
  t.is(await r.call('PING'), 'PONG');
});

/** A reply nested `depth` arrays deep around `leaf`. */
function deepReply(depth: number, leaf: Reply, map = false): Reply {
  let v: Reply = leaf;
  for (let i = 0; i < depth; i++) v = map && i % 2 === 0 ? new ReplyMap([['k', v]]) : [v];
  return v;
}

test('the RESP encoder writes replies nested 100 000 deep (RESP2 and RESP3)', (t) => {
  const enc = new ReplyEncoder();
  const depth = 100_000;
  enc.write(deepReply(depth, 1), 2);
  t.is(enc.take().toString('latin1'), '*1\r\n'.repeat(depth) + ':1\r\n');
  enc.write(deepReply(depth, 'x', true), 3);
  const out = enc.take().toString('latin1');
  t.is(out, '*1\r\n%1\r\n$1\r\nk\r\n'.repeat(depth / 2) + '$1\r\nx\r\n');
  // Order inside aggregates is kept.
  enc.write([1, [2, [3, new ReplyMap([['a', [4]], ['b', 5]])]], 6], 3);
  t.is(enc.take().toString('latin1'), '*3\r\n:1\r\n*2\r\n:2\r\n*2\r\n:3\r\n%2\r\n$1\r\na\r\n*1\r\n:4\r\n$1\r\nb\r\n:5\r\n:6\r\n');
});

test('HTTP JSON: replies and values nested 100 000 deep convert and serialise as JSON.stringify would', (t) => {
  const depth = 100_000;
  const json = replyToJson(deepReply(depth, 'x', true));
  t.is(jsonValueDepth(json), depth);
  const text = toJsonText(json);
  t.is(text, '[{"k":'.repeat(depth / 2) + '"x"' + '}]'.repeat(depth / 2));
  // Same text as JSON.stringify where that one can cope.
  const samples: Json[] = [
    null, true, 0, -0, 1e21, 1.5, 'a"\\\n\u2028', [], {}, [1, [2, [3]], { a: null }], JSON.parse('{"__proto__":1,"b":[true,false],"c d":"e"}') as Json,
    JSON.parse(nested(500)) as Json,
  ];
  for (const v of samples) t.is(toJsonText(v), JSON.stringify(v));
  t.is(toJsonText(Number.NaN), 'null');
  t.deepEqual(replyToJson(new ReplyMap([['a', [1, new ReplyMap([['b', null]])]], [['k'], 2]])), { a: [1, { b: null }], '["k"]': 2 });
});

/**
 * The HTTP API through a real HTTP client (Node's fetch) against a real
 * server: the same engine as RESP (what one writes the other reads), the same
 * error messages, batch inserts as one transaction, the status codes, body
 * limits, Bearer authentication, protected mode, health while loading,
 * -MISCONF, durability across a restart, and the OpenAPI document.
 */
import test from 'ava';
import http from 'node:http';
import os from 'node:os';
import { Redis } from 'ioredis';
import { freePort, removeTempDirs, startInProcess, tempDir, type InProcess } from '../helpers/server.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import type { Config } from '../../src/config.js';

test.after.always(removeTempDirs);

interface Res { status: number; body: any; headers: Headers }

async function call(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<Res> {
  const res = await fetch(`http://${host}:${port}${path}`, {
    method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

async function start(overrides: Partial<Config> = {}): Promise<InProcess & { http: number }> {
  const port = await freePort();
  const srv = await startInProcess({ 'http-port': port, ...overrides });
  return { ...srv, http: port };
}

const redis = async (port: number, opts: Record<string, unknown> = {}) => {
  const r = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });
  r.on('error', () => {});
  await r.connect();
  return r;
};

/** The message a RESP client gets for a command line. */
async function respError(r: Redis, ...args: Array<string | Buffer>): Promise<string> {
  try { await r.call(args[0] as string, ...args.slice(1)); } catch (e) { return (e as Error).message; }
  throw new Error('expected an error');
}

let srv: InProcess & { http: number };
let r: Redis;
test.before(async () => { srv = await start(); r = await redis(srv.port); });
test.after.always(async () => { r?.disconnect(); await srv?.stop(); });

test('healthz, then insert and search over HTTP; RESP reads what HTTP wrote and the reverse', async (t) => {
  const h = await call(srv.http, 'GET', '/healthz');
  t.is(h.status, 200);
  t.deepEqual(h.body, { status: 'ok' });

  t.deepEqual((await call(srv.http, 'POST', '/v1/insert', { key: 'docs', id: 'a', vector: [1, 0, 0], payload: { year: 1990, genre: 'drama' } })).body, { added: 1, updated: 0 });
  t.deepEqual((await call(srv.http, 'POST', '/v1/insert', { key: 'docs', id: 'a', vector: [1, 0, 0], payload: { year: 1991, genre: 'drama' } })).body, { added: 0, updated: 1 });
  await r.call('VEC.ADD', 'docs', 'b', 'VALUES', '3', '0', '1', '0', 'PAYLOAD', '{"year": 1975}');

  const s = await call(srv.http, 'POST', '/v1/search', { key: 'docs', vector: [0.9, 0.1, 0], top_k: 2, with_payload: true });
  t.is(s.status, 200);
  t.deepEqual(s.body.results.map((x: { id: string }) => x.id), ['a', 'b']);
  t.deepEqual(s.body.results[0].payload, { year: 1991, genre: 'drama' });
  t.deepEqual(s.body.results[1].payload, { year: 1975 });
  // Scores are VEC.SEARCH WITHSCORES's distances.
  const resp = await r.call('VEC.SEARCH', 'docs', 'VALUES', '3', '0.9', '0.1', '0', 'COUNT', '2', 'WITHSCORES') as string[];
  t.is(s.body.results[0].score, Math.fround(Number(resp[1])));
  t.true(s.body.results[0].score < s.body.results[1].score);

  const filtered = await call(srv.http, 'POST', '/v1/search', { key: 'docs', vector: [0.9, 0.1, 0], filter: '.year > 1980', ef: 100 });
  t.deepEqual(filtered.body, { results: [{ id: 'a', score: s.body.results[0].score }] }, 'no payload unless asked');
  const near = await call(srv.http, 'POST', '/v1/search', { key: 'docs', near_id: 'b', top_k: 1 });
  t.deepEqual(near.body.results.map((x: { id: string }) => x.id), ['b']);
  t.deepEqual(await r.call('VEC.SEARCH', 'docs', 'VALUES', '3', '1', '0', '0', 'COUNT', '1'), ['a']);
});

test('the default set is "default"', async (t) => {
  t.is((await call(srv.http, 'POST', '/v1/insert', { id: 'x', vector: [1, 2] })).status, 200);
  t.is(await r.call('VEC.CARD', 'default'), 1);
  const s = await call(srv.http, 'POST', '/v1/search', { vector: [1, 2] });
  t.deepEqual(s.body.results.map((x: { id: string }) => x.id), ['x']);
});

test('a batch insert is one transaction; a refused point is reported, the others applied', async (t) => {
  const ok = await call(srv.http, 'POST', '/v1/insert', { key: 'batch', points: [{ id: 'p1', vector: [1, 0] }, { id: 'p2', vector: [0, 1], payload: { n: 2 } }, { id: 'p1', vector: [1, 1] }] });
  t.is(ok.status, 200);
  t.deepEqual(ok.body, { added: 2, updated: 1 });
  t.is(await r.call('VEC.CARD', 'batch'), 2);
  const info = await r.info('commandstats');
  t.regex(info, /cmdstat_vec\.add:calls=\d+/, 'each point ran as a VEC.ADD');

  const partial = await call(srv.http, 'POST', '/v1/insert', { key: 'batch', points: [{ id: 'p3', vector: [1, 2] }, { id: 'zero', vector: [0, 0] }] });
  const message = await respError(r, 'VEC.ADD', 'batch', 'zero', 'VALUES', '2', '0', '0');
  t.is(partial.status, 400);
  t.is(partial.body.error, message);
  t.is(partial.body.code, 'ERR');
  t.is(partial.body.added, 1);
  t.deepEqual(partial.body.failed, [{ index: 1, id: 'zero', error: message }]);
  t.is(await r.call('VEC.CARD', 'batch'), 3);

  const mixed = await call(srv.http, 'POST', '/v1/insert', { key: 'batch', id: 'q', vector: [1, 0], points: [{ id: 'r', vector: [0, 1] }] });
  t.is(mixed.status, 400);
  t.regex(mixed.body.error, /either 'points' or/);
  const bad = await call(srv.http, 'POST', '/v1/insert', { key: 'batch', points: [{ id: 'ok', vector: [1, 0] }, { id: 'bad', vector: [1, 'x'] }] });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /^ERR points\[1\]: invalid vector value '"x"' at position 1/);
  t.is(await r.call('VEC.CARD', 'batch'), 3, 'a malformed batch applies nothing');
});

test('errors carry the message the RESP command gives, with a fitting status', async (t) => {
  await call(srv.http, 'POST', '/v1/insert', { key: 'dim3', id: 'a', vector: [1, 0, 0] });
  const wrongDim = await call(srv.http, 'POST', '/v1/insert', { key: 'dim3', id: 'b', vector: [1, 0] });
  t.is(wrongDim.status, 400);
  t.is(wrongDim.body.error, await respError(r, 'VEC.ADD', 'dim3', 'b', 'VALUES', '2', '1', '0'));
  const wrongQuery = await call(srv.http, 'POST', '/v1/search', { key: 'dim3', vector: [1, 0] });
  t.is(wrongQuery.body.error, await respError(r, 'VEC.SEARCH', 'dim3', 'VALUES', '2', '1', '0'));
  const badFilter = await call(srv.http, 'POST', '/v1/search', { key: 'dim3', vector: [1, 0, 0], filter: '.year >' });
  t.is(badFilter.status, 400);
  t.is(badFilter.body.error, await respError(r, 'VEC.SEARCH', 'dim3', 'VALUES', '3', '1', '0', '0', 'FILTER', '.year >'));
  const badCount = await call(srv.http, 'POST', '/v1/search', { key: 'dim3', vector: [1, 0, 0], top_k: 0 });
  t.is(badCount.body.error, await respError(r, 'VEC.SEARCH', 'dim3', 'VALUES', '3', '1', '0', '0', 'COUNT', '0'));

  await r.set('plain', 'string');
  const wrongType = await call(srv.http, 'GET', '/v1/sets/plain');
  t.is(wrongType.status, 409);
  t.is(wrongType.body.error, await respError(r, 'VEC.INFO', 'plain'));
  t.is(wrongType.body.code, 'WRONGTYPE');

  const payload = await call(srv.http, 'POST', '/v1/insert', { key: 'dim3', id: 'c', vector: [1, 0, 0], payload: [1, 2] });
  t.is(payload.status, 400);
  t.is(payload.body.error, 'ERR payload must be a JSON object');
  const inf = await call(srv.http, 'POST', '/v1/insert', { key: 'dim3', id: 'c', vector: [1, 1e39, 0] });
  t.is(inf.body.error, await respError(r, 'VEC.ADD', 'dim3', 'c', 'VALUES', '3', '1', '1e+39', '0'), 'float32 overflow worded as VALUES words it');

  t.is((await call(srv.http, 'POST', '/v1/search', '{"vector": [1,')).status, 400);
  t.regex((await call(srv.http, 'POST', '/v1/search', '{"vector": [1,')).body.error, /^ERR request body is not valid JSON/);
  t.regex((await call(srv.http, 'POST', '/v1/search', { vector: [1], topk: 3 })).body.error, /^ERR unknown field 'topk'/);
  t.regex((await call(srv.http, 'POST', '/v1/search', [])).body.error, /must be a JSON object/);
  t.regex((await call(srv.http, 'POST', '/v1/search', { key: 'dim3' })).body.error, /'vector' is required/);
  t.regex((await call(srv.http, 'POST', '/v1/search', { key: 'dim3', vector: [1, 0, 0], top_k: 1.5 })).body.error, /'top_k' must be an integer/);
});

test('sets: list, info (VEC.INFO fields), create; points: get, delete; 404s', async (t) => {
  const created = await call(srv.http, 'PUT', '/v1/sets/made', { dim: 4, metric: 'L2', quant: 'F16', m: 8 });
  t.is(created.status, 201);
  t.like(created.body, { key: 'made', dim: 4, metric: 'L2', quant: 'F16', m: 8, size: 0, created: 'explicit' });
  t.is((await call(srv.http, 'PUT', '/v1/sets/made', { dim: 4 })).body.error, await respError(r, 'VEC.CREATE', 'made', 'DIM', '4'));

  await call(srv.http, 'POST', '/v1/insert', { key: 'a/b c', id: 'p 1', vector: [0.5, 0.5], payload: { tag: 'x' } });
  const list = await call(srv.http, 'GET', '/v1/sets');
  t.true(list.body.sets.includes('made'));
  t.true(list.body.sets.includes('a/b c'));

  const info = await call(srv.http, 'GET', `/v1/sets/${encodeURIComponent('a/b c')}`);
  t.is(info.status, 200);
  const resp = await r.call('VEC.INFO', 'a/b c') as Array<string | number>;
  const fields: Record<string, string | number> = {};
  for (let i = 0; i < resp.length; i += 2) fields[String(resp[i])] = resp[i + 1];
  for (const [k, v] of Object.entries(fields)) if (k !== 'searches') t.is(String(info.body[k]), String(v), k);
  t.is(info.body.key, 'a/b c');

  const p = await call(srv.http, 'GET', `/v1/sets/${encodeURIComponent('a/b c')}/points/${encodeURIComponent('p 1')}`);
  t.deepEqual(p.body, { id: 'p 1', vector: [0.5, 0.5], payload: { tag: 'x' } });
  t.is((await call(srv.http, 'GET', '/v1/sets/made/points/none')).status, 404);
  t.is((await call(srv.http, 'GET', '/v1/sets/made/points/none')).body.error, "ERR no point 'none' in set 'made'");
  t.is((await call(srv.http, 'DELETE', '/v1/sets/made/points/none')).body.error, "ERR no point 'none' in set 'made'");
  t.is((await call(srv.http, 'GET', '/v1/sets/missing')).status, 404);
  t.is((await call(srv.http, 'GET', '/v1/sets/missing')).body.error, "ERR no vector set at key 'missing'");

  const del = await call(srv.http, 'DELETE', `/v1/sets/${encodeURIComponent('a/b c')}/points/${encodeURIComponent('p 1')}`);
  t.deepEqual(del.body, { deleted: 1 });
  t.is((await call(srv.http, 'DELETE', `/v1/sets/${encodeURIComponent('a/b c')}/points/${encodeURIComponent('p 1')}`)).status, 404);
  t.is(await r.call('VEC.CARD', 'a/b c'), 0);

  // A search on a set that does not exist answers as VEC.SEARCH does: nothing.
  t.deepEqual((await call(srv.http, 'POST', '/v1/search', { key: 'nothing-here', vector: [1] })).body, { results: [] });
});

test('unknown routes 404, wrong methods 405 with Allow, bad percent-encoding 400', async (t) => {
  const nf = await call(srv.http, 'GET', '/v2/whatever');
  t.is(nf.status, 404);
  t.deepEqual(nf.body, { error: 'ERR unknown route GET /v2/whatever', code: 'ERR' });
  const na = await call(srv.http, 'GET', '/v1/insert');
  t.is(na.status, 405);
  t.is(na.headers.get('allow'), 'POST');
  t.is((await call(srv.http, 'GET', '/v1/sets/%E0%A4%A')).status, 400);
  t.is((await call(srv.http, 'GET', '/v1/sets/')).status, 200, 'a trailing slash is the same route');
});

test('the body size limit answers 413, declared or streamed', async (t) => {
  const s = await start({ 'http-max-body-bytes': 2048 });
  const rr = await redis(s.port);
  try {
    const big = { key: 'big', id: 'a', vector: Array.from({ length: 1000 }, () => 0.123456) };
    const declared = await call(s.http, 'POST', '/v1/insert', big);
    t.is(declared.status, 413);
    t.regex(declared.body.error, /^ERR request body is larger than http-max-body-bytes \(2048 bytes\)/);
    // Chunked: no Content-Length, the limit is enforced as the body arrives.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ port: s.http, host: '127.0.0.1', method: 'POST', path: '/v1/insert', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(JSON.stringify(big).slice(0, 1500));
      req.end(JSON.stringify(big).slice(1500));
    });
    t.is(streamed.status, 413);
    // Expect: 100-continue is refused before the body is sent.
    const early = await new Promise<number>((resolve, reject) => {
      const req = http.request({ port: s.http, host: '127.0.0.1', method: 'POST', path: '/v1/insert', headers: { expect: '100-continue', 'content-length': '100000' } });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('continue', () => reject(new Error('the server asked for the body')));
      req.on('error', reject);
      req.flushHeaders();
    });
    t.is(early, 413);
    t.is(await rr.call('VEC.CARD', 'big'), 0);
    // The limit is a runtime setting.
    await rr.call('CONFIG', 'SET', 'http-max-body-bytes', '1mb');
    t.is((await call(s.http, 'POST', '/v1/insert', big)).status, 200);
  } finally { rr.disconnect(); await s.stop(); }
});

test('HTTP commands count in INFO commandstats and show in SLOWLOG as the http client', async (t) => {
  const s = await start({ 'slowlog-log-slower-than': 0 });
  const rr = await redis(s.port);
  try {
    await call(s.http, 'GET', '/v1/sets');
    const entries = await rr.call('SLOWLOG', 'GET', '-1') as Array<[number, number, number, string[], string, string]>;
    const e = entries.find((x) => x[3][0] === 'VEC.LIST');
    t.truthy(e, 'VEC.LIST from HTTP in the slow log');
    t.regex(e![4], /^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);
    t.is(e![5], 'http');
    t.regex(await rr.info('commandstats'), /cmdstat_vec\.list:calls=1,/);
  } finally { rr.disconnect(); await s.stop(); }
});

test('the OpenAPI document describes every route and only those', async (t) => {
  const res = await call(srv.http, 'GET', '/v1/openapi.json');
  t.is(res.status, 200);
  const doc = res.body as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
  t.regex(doc.openapi, /^3\./);
  const { routes } = await import('../../src/http/api.js');
  const described = new Set<string>();
  for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) if (m !== 'parameters') described.add(`${m.toUpperCase()} ${p}`);
  const served = new Set(routes({} as never).map((route) => `${route.method} ${route.name}`));
  t.deepEqual([...described].sort(), [...served].sort());
  // Every $ref resolves.
  const refs = JSON.stringify(doc).match(/"#\/components\/[^"]+"/g) ?? [];
  for (const ref of refs) {
    const parts = ref.slice(3, -1).split('/');
    let node: unknown = doc;
    for (const p of parts) node = (node as Record<string, unknown>)[p];
    t.truthy(node, ref);
  }
});

test('requirepass: Bearer (or Basic default:<password>) required, compared exactly; health and the API description stay open', async (t) => {
  const s = await start({ requirepass: 's3cret' });
  try {
    const none = await call(s.http, 'GET', '/v1/sets');
    t.is(none.status, 401);
    t.deepEqual(none.body, { error: 'NOAUTH Authentication required.', code: 'NOAUTH' });
    t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await call(s.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer s3cre' });
    t.is(wrong.status, 401);
    t.is(wrong.body.error, 'WRONGPASS invalid username-password pair or user is disabled.');
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer s3cret!' })).status, 401);
    t.is((await call(s.http, 'GET', '/metrics')).status, 401);
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer s3cret' })).status, 200);
    const basic = `Basic ${Buffer.from('default:s3cret').toString('base64')}`;
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: basic })).status, 200);
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` })).status, 401);
    t.is((await call(s.http, 'GET', '/healthz')).status, 200);
    t.is((await call(s.http, 'GET', '/v1/openapi.json')).status, 200);
    // CONFIG SET requirepass applies to HTTP at once.
    const rr = await redis(s.port, { password: 's3cret' });
    await rr.call('CONFIG', 'SET', 'requirepass', 'other');
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer s3cret' })).status, 401);
    t.is((await call(s.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer other' })).status, 200);
    rr.disconnect();
  } finally { await s.stop(); }
});

const external = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

test('protected mode: without a password, only loopback clients are served (health excepted)', async (t) => {
  if (!external) { t.pass('no non-loopback IPv4 interface on this machine'); return; }
  const s = await start({ bind: ['0.0.0.0'] });
  try {
    const remote = await call(s.http, 'GET', '/v1/sets', undefined, {}, external);
    t.is(remote.status, 403);
    t.regex(remote.body.error, /^DENIED Astronaut is running in protected mode/);
    t.is((await call(s.http, 'GET', '/healthz', undefined, {}, external)).status, 200);
    t.is((await call(s.http, 'GET', '/v1/sets')).status, 200);
  } finally { await s.stop(); }
  const p = await start({ bind: ['0.0.0.0'], requirepass: 'pw' });
  try {
    t.is((await call(p.http, 'GET', '/v1/sets', undefined, { authorization: 'Bearer pw' }, external)).status, 200);
  } finally { await p.stop(); }
});

test('while loading: /healthz 503, commands -LOADING as 503 with Retry-After', async (t) => {
  const s = await start();
  try {
    const releaseLoading = s.server.holdLoading();
    const h = await call(s.http, 'GET', '/healthz');
    t.is(h.status, 503);
    t.deepEqual(h.body, { status: 'loading' });
    const q = await call(s.http, 'POST', '/v1/search', { vector: [1, 0] });
    t.is(q.status, 503);
    t.deepEqual(q.body, { error: 'LOADING Astronaut is loading the dataset in memory', code: 'LOADING' });
    t.is(q.headers.get('retry-after'), '1');
    const batch = await call(s.http, 'POST', '/v1/insert', { points: [{ id: 'a', vector: [1] }, { id: 'b', vector: [2] }] });
    t.is(batch.status, 503);
    releaseLoading();
    t.is((await call(s.http, 'GET', '/healthz')).status, 200);
    t.is((await call(s.http, 'POST', '/v1/insert', { points: [{ id: 'a', vector: [1] }, { id: 'b', vector: [2] }] })).status, 200, 'the aborted batch left no transaction open');
  } finally { await s.stop(); }
});

test.serial('a failing disk: writes over HTTP answer MISCONF as 503, health says degraded, reads keep working', async (t) => {
  const dir = tempDir();
  const sim = await SimulatedFs.create(dir);
  const port = await freePort();
  const s = await startInProcess({ dir, appendonly: true, appendfsync: 'always', 'http-port': port }, { fs: sim.session() });
  try {
    t.is((await call(port, 'POST', '/v1/insert', { key: 'disk', id: 'a', vector: [1, 0] })).status, 200);
    const heal = sim.inject({ op: 'write', count: Infinity, code: 'ENOSPC' });
    await call(port, 'POST', '/v1/insert', { key: 'disk', id: 'b', vector: [0, 1] });
    const refused = await call(port, 'POST', '/v1/insert', { key: 'disk', id: 'c', vector: [0, 1] });
    t.is(refused.status, 503);
    t.is(refused.body.code, 'MISCONF');
    const health = await call(port, 'GET', '/healthz');
    t.is(health.status, 200);
    t.is(health.body.status, 'degraded');
    t.regex(health.body.error, /^MISCONF/);
    t.deepEqual((await call(port, 'POST', '/v1/search', { key: 'disk', vector: [1, 0], top_k: 1 })).body.results.map((x: { id: string }) => x.id), ['a']);
    heal();
  } finally { await s.stop(); }
});

test.serial('what HTTP acknowledged survives a restart (same WAL as RESP)', async (t) => {
  const dir = tempDir();
  const first = await start({ dir, appendonly: true, appendfsync: 'always' });
  const points = Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, vector: [1, i / 50, 0.5], payload: { i } }));
  t.is((await call(first.http, 'POST', '/v1/insert', { key: 'kept', points })).status, 200);
  t.is((await call(first.http, 'DELETE', '/v1/sets/kept/points/p7')).status, 200);
  await first.stop();
  const second = await start({ dir, appendonly: true });
  try {
    const info = await call(second.http, 'GET', '/v1/sets/kept');
    t.is(info.body.size, 49);
    const p = await call(second.http, 'GET', '/v1/sets/kept/points/p3');
    t.deepEqual(p.body.payload, { i: 3 });
    t.is((await call(second.http, 'GET', '/v1/sets/kept/points/p7')).status, 404);
  } finally { await second.stop(); }
});

test('the HTTP listener closes at shutdown', async (t) => {
  const s = await start();
  await s.stop();
  await t.throwsAsync(fetch(`http://127.0.0.1:${s.http}/healthz`));
});

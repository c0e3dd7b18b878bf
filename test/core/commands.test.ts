/**
 * The generic, connection and server commands end to end, in RESP2 and RESP3,
 * through ioredis 6, node-redis 6 and raw sockets.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { encodeCommand, exchange } from '../helpers/raw.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

const io = (opts: Record<string, unknown> = {}) => new Redis({ port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });

test('HELLO 3 answers the RESP3 map clients require', async (t) => {
  const r = await exchange(srv.port, encodeCommand(['HELLO', '3']));
  t.regex(r.text, /^%7\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n\$7\r\nversion\r\n\$\d+\r\n[\d.]+\r\n\$5\r\nproto\r\n:3\r\n\$2\r\nid\r\n:\d+\r\n\$4\r\nmode\r\n\$10\r\nstandalone\r\n\$4\r\nrole\r\n\$6\r\nmaster\r\n\$7\r\nmodules\r\n\*0\r\n$/);
});

test('HELLO 2 keeps RESP2, HELLO 4 is NOPROTO, HELLO x is an error', async (t) => {
  t.regex((await exchange(srv.port, encodeCommand(['HELLO', '2']))).text, /^\*14\r\n/);
  t.is((await exchange(srv.port, encodeCommand(['HELLO', '4']))).text, '-NOPROTO unsupported protocol version\r\n');
  t.regex((await exchange(srv.port, encodeCommand(['HELLO', 'x']))).text, /^-ERR Protocol version is not an integer/);
});

test('RESP3 after HELLO 3: null, map and double shapes; RESP2 downgrades them', async (t) => {
  const three = await exchange(srv.port, Buffer.concat([encodeCommand(['HELLO', '3']), encodeCommand(['GET', 'missing-key']), encodeCommand(['CONFIG', 'GET', 'maxclients'])]));
  t.true(three.text.endsWith('_\r\n%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n'));
  const two = await exchange(srv.port, Buffer.concat([encodeCommand(['GET', 'missing-key']), encodeCommand(['CONFIG', 'GET', 'maxclients'])]));
  t.is(two.text, '$-1\r\n*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n');
});

test('ioredis 6 connects (its default handshake) and runs commands', async (t) => {
  const r = io();
  await r.connect();
  t.is(await r.ping(), 'PONG');
  t.is(await r.set('io:k', 'v'), 'OK');
  t.is(await r.get('io:k'), 'v');
  t.is(await r.type('io:k'), 'string');
  t.is(await r.echo('hé'), 'hé');
  r.disconnect();
});

for (const RESP of [2, 3] as const) {
  test(`node-redis 6 handshake and commands in RESP${RESP}`, async (t) => {
    const c = createClient({ RESP, socket: { port: srv.port, reconnectStrategy: false } });
    c.on('error', () => {});
    await c.connect();
    t.is(await c.ping(), 'PONG');
    await c.set(`nr${RESP}`, 'x');
    t.is(await c.get(`nr${RESP}`), 'x');
    t.is(await c.exists(`nr${RESP}`), 1);
    const info = await c.info('server');
    t.regex(info, /redis_version:/);
    const id = await c.clientId();
    t.true(id > 0);
    await c.quit();
  });
}

test.serial('SELECT isolates databases; DBSIZE, FLUSHDB, FLUSHALL', async (t) => {
  const r = io();
  await r.connect();
  await r.select(3);
  await r.set('a', '1');
  t.is(await r.dbsize(), 1);
  await r.select(4);
  t.is(await r.dbsize(), 0);
  await r.set('b', '1');
  await r.flushdb();
  t.is(await r.dbsize(), 0);
  await r.select(3);
  t.is(await r.dbsize(), 1);
  await t.throwsAsync(r.select(16), { message: /DB index is out of range/ });
  await t.throwsAsync(r.select('x' as unknown as number), { message: /value is not an integer or out of range/ });
  await r.flushall();
  t.is(await r.dbsize(), 0);
  r.disconnect();
});

test('DEL, UNLINK, EXISTS, TYPE, KEYS, RENAME, RENAMENX', async (t) => {
  const r = io({ db: 5 });
  await r.connect();
  await r.set('k1', 'a'); await r.set('k2', 'b'); await r.set('other', 'c');
  t.is(await r.exists('k1', 'k2', 'nope'), 2);
  t.deepEqual((await r.keys('k*')).sort(), ['k1', 'k2']);
  t.deepEqual((await r.keys('k[2-3]')), ['k2']);
  t.is(await r.rename('k1', 'k3'), 'OK');
  t.is(await r.get('k3'), 'a');
  await t.throwsAsync(r.rename('missing', 'x'), { message: /no such key/ });
  t.is(await r.renamenx('k3', 'k2'), 0);
  t.is(await r.del('k2', 'k3', 'missing'), 2);
  t.is(await r.unlink('other'), 1);
  t.is(await r.type('other'), 'none');
  r.disconnect();
});

test('SCAN visits every key exactly once, honours MATCH, COUNT and TYPE', async (t) => {
  const r = io({ db: 6 });
  await r.connect();
  for (let i = 0; i < 250; i++) await r.set(`s:${i}`, 'x');
  await r.call('VEC.ADD', 'vs:1', 'a', 'VALUES', '2', '1', '0');
  const seen: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 17);
    seen.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  t.is(seen.length, 251);
  t.is(new Set(seen).size, 251);
  const [, vs] = await r.scan('0', 'COUNT', 1000, 'TYPE', 'vectorset');
  t.deepEqual(vs, ['vs:1']);
  const [, m] = await r.scan('0', 'MATCH', 's:1?', 'COUNT', 1000);
  t.is(m.length, 10);
  await t.throwsAsync(r.scan('x'), { message: /invalid cursor/ });
  await r.flushdb();
  r.disconnect();
});

test('MULTI/EXEC runs queued commands in order; errors abort with EXECABORT; DISCARD', async (t) => {
  const r = io({ db: 7 });
  await r.connect();
  const res = await r.multi().set('m', '1').get('m').call('VEC.ADD', 'mv', 'a', 'VALUES', '2', '1', '0').call('VEC.CARD', 'mv').exec();
  t.deepEqual(res, [[null, 'OK'], [null, '1'], [null, 1], [null, 1]]);
  const raw = await exchange(srv.port, Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['SET', 'x']), encodeCommand(['PING']), encodeCommand(['EXEC'])]));
  t.is(raw.text, "+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n");
  const d = await exchange(srv.port, Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['PING']), encodeCommand(['DISCARD']), encodeCommand(['EXEC'])]));
  t.is(d.text, '+OK\r\n+QUEUED\r\n+OK\r\n-ERR EXEC without MULTI\r\n');
  t.is((await exchange(srv.port, Buffer.concat([encodeCommand(['MULTI']), encodeCommand(['MULTI'])]))).text, '+OK\r\n-ERR MULTI calls can not be nested\r\n');
  await r.flushdb();
  r.disconnect();
});

test('COMMAND, COMMAND COUNT|INFO|DOCS|LIST|GETKEYS describe every command', async (t) => {
  const r = io();
  await r.connect();
  const count = await r.call('COMMAND', 'COUNT') as number;
  const all = await r.call('COMMAND') as unknown[][];
  t.is(all.length, count);
  const names = all.map((c) => c[0]);
  for (const n of ['ping', 'hello', 'vec.add', 'vec.search', 'config', 'client', 'scan']) t.true(names.includes(n), n);
  const [info] = await r.call('COMMAND', 'INFO', 'VEC.SEARCH') as unknown[][];
  t.is(info[0], 'vec.search');
  t.is(info[1], -4);
  t.deepEqual(info.slice(3, 6), [1, 1, 1]);
  t.deepEqual(await r.call('COMMAND', 'GETKEYS', 'RENAME', 'a', 'b'), ['a', 'b']);
  t.deepEqual(await r.call('COMMAND', 'GETKEYS', 'DEL', 'a', 'b', 'c'), ['a', 'b', 'c']);
  await t.throwsAsync(r.call('COMMAND', 'GETKEYS', 'PING'), { message: /no key arguments/ });
  const docs = await r.call('COMMAND', 'DOCS', 'VEC.ADD') as unknown[];
  t.is(docs[0], 'vec.add');
  t.true(JSON.stringify(docs[1]).includes('PAYLOAD'));
  const list = await r.call('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'vec.*') as string[];
  t.true(list.length >= 10 && list.every((n) => n.startsWith('vec.')));
  r.disconnect();
});

test('CLIENT ID|SETNAME|GETNAME|SETINFO|INFO|LIST|KILL|NO-EVICT|NO-TOUCH', async (t) => {
  const a = io(); const b = io();
  await a.connect(); await b.connect();
  const id = await a.call('CLIENT', 'ID') as number;
  t.is(await a.call('CLIENT', 'SETNAME', 'alpha'), 'OK');
  t.is(await a.call('CLIENT', 'GETNAME'), 'alpha');
  await t.throwsAsync(a.call('CLIENT', 'SETNAME', 'a b'), { message: /cannot contain spaces/ });
  t.is(await a.call('CLIENT', 'SETINFO', 'LIB-NAME', 'mylib'), 'OK');
  t.is(await a.call('CLIENT', 'NO-EVICT', 'on'), 'OK');
  t.is(await a.call('CLIENT', 'NO-TOUCH', 'off'), 'OK');
  const me = await a.call('CLIENT', 'INFO') as string;
  t.regex(me, new RegExp(`^id=${id} addr=127\\.0\\.0\\.1:\\d+ laddr=.* name=alpha .*lib-name=mylib`));
  const list = await b.call('CLIENT', 'LIST') as string;
  t.true(list.split('\n').filter(Boolean).length >= 2);
  t.true(list.includes('name=alpha'));
  const closed = new Promise((res) => a.once('end', res));
  t.is(await b.call('CLIENT', 'KILL', 'ID', String(id)), 1);
  await closed;
  t.is(await b.call('CLIENT', 'KILL', 'ID', '999999'), 0);
  await t.throwsAsync(b.call('CLIENT', 'FOO'), { message: /unknown subcommand 'FOO'/ });
  b.disconnect();
});

test('CONFIG GET patterns, CONFIG SET validates all pairs before applying any, RESETSTAT', async (t) => {
  const r = io();
  await r.connect();
  const got = await r.call('CONFIG', 'GET', 'max*') as string[];
  t.true(got.includes('maxclients'));
  t.is(await r.call('CONFIG', 'SET', 'timeout', '100', 'slowlog-max-len', '64'), 'OK');
  t.deepEqual(await r.call('CONFIG', 'GET', 'timeout'), ['timeout', '100']);
  await t.throwsAsync(r.call('CONFIG', 'SET', 'timeout', '5', 'maxclients', 'lots'), { message: /maxclients/ });
  t.deepEqual(await r.call('CONFIG', 'GET', 'timeout'), ['timeout', '100'], 'first pair not applied');
  await t.throwsAsync(r.call('CONFIG', 'SET', 'port', '1'), { message: /immutable/ });
  await t.throwsAsync(r.call('CONFIG', 'SET', 'nosuch', '1'), { message: /Unknown option/ });
  await r.call('CONFIG', 'SET', 'timeout', '0');
  t.is(await r.call('CONFIG', 'RESETSTAT'), 'OK');
  r.disconnect();
});

test('INFO has the sections ops tools read', async (t) => {
  const r = io();
  await r.connect();
  await r.ping();
  const info = await r.info();
  for (const s of ['# Server', '# Clients', '# Memory', '# Persistence', '# Stats', '# Replication', '# Keyspace', '# Vectors']) t.true(info.includes(s), s);
  t.regex(info, /redis_version:\d/);
  t.regex(info, /loading:0/);
  t.regex(info, /role:master/);
  t.regex(info, /connected_clients:\d+/);
  const all = await r.info('everything');
  t.regex(all, /cmdstat_ping:calls=\d+,usec=\d+,usec_per_call=[\d.]+,rejected_calls=\d+,failed_calls=\d+/);
  t.regex(all, /latency_percentiles_usec_ping:p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+/);
  const two = await r.call('INFO', 'server', 'clients') as string;
  t.true(two.includes('# Server') && two.includes('# Clients') && !two.includes('# Memory'));
  r.disconnect();
});

test('containers: HELP replies, arity and unknown-subcommand errors in Redis\'s words', async (t) => {
  const r = io();
  await r.connect();
  const header = (name: string) => `${name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`;
  t.deepEqual(await r.call('CONFIG', 'HELP'), [header('CONFIG'), 'GET <pattern>', 'SET <directive> <value>', 'RESETSTAT', 'REWRITE', 'HELP']);
  for (const name of ['COMMAND', 'CLIENT']) {
    const help = await r.call(name, 'HELP') as string[];
    t.is(help[0], header(name));
    t.is(help[help.length - 1], 'HELP');
  }
  await t.throwsAsync(r.call('CONFIG'), { message: "ERR wrong number of arguments for 'config' command" });
  await t.throwsAsync(r.call('CONFIG', 'GET'), { message: "ERR wrong number of arguments for 'config|get' command" });
  await t.throwsAsync(r.call('CONFIG', 'SET', 'maxclients', '100', 'timeout'), { message: "ERR wrong number of arguments for 'config|set' command" });
  await t.throwsAsync(r.call('PING', 'a', 'b'), { message: "ERR wrong number of arguments for 'ping' command" });
  await t.throwsAsync(r.call('COMMAND', 'GETKEYS', 'GET'), { message: 'ERR Invalid number of arguments specified for command' });
  await t.throwsAsync(r.call('FLUSHDB', 'SOMETIMES'), { message: 'ERR syntax error' });
  await t.throwsAsync(r.call('FLUSHALL', 'ASYNC', 'SYNC'), { message: 'ERR syntax error' });
  r.disconnect();
  // The argument is quoted on one line, cut at 128 bytes.
  const raw = await exchange(srv.port, encodeCommand(['CONFIG', `a\r\nb${'x'.repeat(200)}`]));
  t.is(raw.text, `-ERR unknown subcommand 'a  b${'x'.repeat(124)}'. Try CONFIG HELP.\r\n`);
});

test('TIME, ECHO, PING with a message, QUIT closes after its reply', async (t) => {
  const r = await exchange(srv.port, Buffer.concat([encodeCommand(['PING', 'hi']), encodeCommand(['ECHO', '']), encodeCommand(['QUIT']), encodeCommand(['PING'])]));
  t.is(r.text, '$2\r\nhi\r\n$0\r\n\r\n+OK\r\n');
  t.true(r.closed);
  const time = await exchange(srv.port, encodeCommand(['TIME']));
  const m = /^\*2\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n$/.exec(time.text);
  t.truthy(m);
  t.true(Math.abs(Number(m![1]) - Date.now() / 1000) < 5);
});

test('RESET returns the connection to its initial state', async (t) => {
  const r = await exchange(srv.port, Buffer.concat([encodeCommand(['HELLO', '3']), encodeCommand(['SELECT', '2']), encodeCommand(['MULTI']), encodeCommand(['RESET']), encodeCommand(['GET', 'nokey'])]));
  t.true(r.text.endsWith('+OK\r\n+OK\r\n+RESET\r\n$-1\r\n'));
});

test('MONITOR streams other clients\' commands', async (t) => {
  const net = await import('node:net');
  const m = net.connect(srv.port, '127.0.0.1');
  let out = '';
  m.on('data', (d) => { out += d.toString('latin1'); });
  await new Promise((res) => m.on('connect', res));
  m.write(encodeCommand(['MONITOR']));
  while (!out.startsWith('+OK')) await new Promise((res) => setTimeout(res, 10));
  await exchange(srv.port, encodeCommand(['ECHO', 'watch\nme']));
  while (!out.includes('"echo"') && !out.includes('"ECHO"')) await new Promise((res) => setTimeout(res, 10));
  t.regex(out, /\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "ECHO" "watch\\nme"\r\n/);
  m.destroy();
});

test('a bug-free server still never leaks internals: errors are one line', async (t) => {
  const r = await exchange(srv.port, encodeCommand(['CONFIG', 'SET', 'maxclients', 'x\r\ny']));
  t.regex(r.text, /^-ERR [^\r\n]*\r\n$/);
  t.false(/\n\s+at /.test(r.text));
});

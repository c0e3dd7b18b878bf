/**
 * JSON documents end to end: RedisJSON's replies and error lines for each
 * command (from RedisJSON's documentation and source: no RedisJSON server is
 * available here), JSONPath forms, integers vs floats, nesting limits,
 * node-redis (RESP3) and redis-py's r.json(), MULTI/EXEC, and the documents
 * surviving WAL replay, a snapshot taken while they are written, and SIGKILL.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { removeTempDirs, spawnServer, startInProcess, tempDir } from '../helpers/server.js';

test.after.always(removeTempDirs);
const run = promisify(execFile);

const client = async (port: number) => {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  await r.connect();
  return r;
};

const DOC = '{"a":1,"f":2.0,"s":"héllo","b":[1,2,{"a":"x"}],"o":{"a":true,"n":null},"big":9223372036854775807}';

/** [command, expected reply]; an expected `{ err }` is the exact error line. */
const CASES: Array<[Array<string>, unknown]> = [
  [['JSON.SET', 'd', '$', DOC], 'OK'],
  [['JSON.GET', 'd'], DOC],
  [['JSON.GET', 'd', '$'], `[${DOC}]`],
  [['JSON.GET', 'd', '.'], DOC],
  [['JSON.GET', 'd', '$.a'], '[1]'],
  [['JSON.GET', 'd', '.a'], '1'],
  [['JSON.GET', 'd', 'a'], '1'],
  [['JSON.GET', 'd', '$.f'], '[2.0]'],
  [['JSON.GET', 'd', '$.big'], '[9223372036854775807]'],
  [['JSON.GET', 'd', '$.b[0]'], '[1]'],
  [['JSON.GET', 'd', '$.b[-1]'], '[{"a":"x"}]'],
  [['JSON.GET', 'd', '$.b[*]'], '[1,2,{"a":"x"}]'],
  [['JSON.GET', 'd', "$['a']"], '[1]'],
  [['JSON.GET', 'd', '$["o"]["a"]'], '[true]'],
  [['JSON.GET', 'd', '$..a'], '[1,"x",true]'],
  [['JSON.GET', 'd', '$.o.*'], '[true,null]'],
  [['JSON.GET', 'd', '$.b[0:2]'], '[1,2]'],
  [['JSON.GET', 'd', '$.b[0,2]'], '[1,{"a":"x"}]'],
  [['JSON.GET', 'd', '$.nope'], '[]'],
  [['JSON.GET', 'd', '.nope'], { err: "ERR Path '$.nope' does not exist" }],
  [['JSON.GET', 'd', '$.a', '$.f'], '{"$.a":[1],"$.f":[2.0]}'],
  [['JSON.GET', 'd', '.a', '.f'], '{".a":1,".f":2.0}'],
  [['JSON.GET', 'd', '.a', '.nope'], { err: "ERR Path '.nope' does not exist" }],
  [['JSON.GET', 'd', '.a', '$.nope'], '{".a":[1],"$.nope":[]}'],
  [['JSON.GET', 'd', 'INDENT', '  ', 'NEWLINE', '\n', 'SPACE', ' ', '$.o'], '[\n  {\n    "a": true,\n    "n": null\n  }\n]'],
  [['JSON.GET', 'd', 'INDENT'], { err: "ERR wrong number of arguments for 'json.get' command" }],
  [['JSON.GET', 'nokey'], null],
  [['JSON.GET', 'd', '$[?(@.a>1)]'], /^Error occurred on position/],
  [['JSON.TYPE', 'd'], 'object'],
  [['JSON.TYPE', 'd', '$..a'], ['integer', 'string', 'boolean']],
  [['JSON.TYPE', 'd', '.f'], 'number'],
  [['JSON.TYPE', 'd', '.nope'], null],
  [['JSON.TYPE', 'nokey'], null],
  [['TYPE', 'd'], 'ReJSON-RL'],
  [['JSON.STRLEN', 'd', '$.s'], [6]],
  [['JSON.STRLEN', 'd', '.s'], 6],
  [['JSON.STRLEN', 'd', '.a'], { err: 'WRONGTYPE wrong type of path value - expected string but found integer' }],
  [['JSON.STRLEN', 'd', '$..a'], [null, 1, null]],
  [['JSON.ARRLEN', 'd', '$.b'], [3]],
  [['JSON.ARRLEN', 'd', '.b'], 3],
  [['JSON.ARRLEN', 'd', '.a'], { err: "ERR Path '.a' does not exist or not an array" }],
  [['JSON.ARRLEN', 'nokey', '$'], { err: "ERR could not perform this operation on a key that doesn't exist" }],
  [['JSON.OBJKEYS', 'd', '$.o'], [['a', 'n']]],
  [['JSON.OBJKEYS', 'd', '.o'], ['a', 'n']],
  [['JSON.OBJKEYS', 'd', '.a'], { err: "ERR Path '$.a' does not exist or not an object" }],
  [['JSON.OBJLEN', 'd', '$.o'], [2]],
  [['JSON.NUMINCRBY', 'd', '$.a', '2'], '[3]'],
  [['JSON.NUMINCRBY', 'd', '.a', '0.5'], '3.5'],
  [['JSON.NUMINCRBY', 'd', '$.f', '1'], '[3.0]'],
  [['JSON.NUMINCRBY', 'd', '$..a', '1'], '[4.5,null,null]'],
  [['JSON.NUMINCRBY', 'd', '.s', '1'], { err: "ERR Path '$.s' does not exist or does not contains a number" }],
  [['JSON.NUMINCRBY', 'd', '$.a', '"x"'], { err: 'bad input number' }],
  [['JSON.NUMINCRBY', 'd', '$.a', 'x'], { err: 'expected value at line 1 column 1' }],
  [['JSON.NUMINCRBY', 'nokey', '$.a', '1'], { err: "ERR could not perform this operation on a key that doesn't exist" }],
  [['JSON.ARRAPPEND', 'd', '$.b', '3', '"y"'], [5]],
  [['JSON.ARRAPPEND', 'd', '.b', '{"z":1}'], 6],
  [['JSON.ARRAPPEND', 'd', '$.a', '1'], [null]],
  [['JSON.ARRAPPEND', 'd', '.a', '1'], { err: "ERR Path '.a' does not exist or not an array" }],
  [['JSON.ARRAPPEND', 'd', '$.b', '[1'], { err: 'EOF while parsing a list at line 1 column 2' }],
  [['JSON.GET', 'd', '$.b'], '[[1,2,{"a":"x"},3,"y",{"z":1}]]'],
  [['JSON.TOGGLE', 'd', '$.o.a'], [0]],
  [['JSON.TOGGLE', 'd', '.o.a'], 'true'],
  [['JSON.TOGGLE', 'd', '.a'], { err: "ERR Path '$.a' does not exist or not a bool" }],
  [['JSON.SET', 'd', '$.new', '{"k":[1.5,-0.0,1e300,1E-7,100000000000000000000]}'], 'OK'],
  [['JSON.GET', 'd', '$.new'], '[{"k":[1.5,-0.0,1e300,1e-7,1e20]}]'],
  [['JSON.SET', 'd', '$.new', '1', 'NX'], null],
  [['JSON.SET', 'd', '$.other', '1', 'XX'], null],
  [['JSON.SET', 'd', '$.new', '2', 'XX'], 'OK'],
  [['JSON.SET', 'd', '$.x.y', '1'], null],
  [['JSON.SET', 'd', '$.b[99]', '1'], { err: 'ERR array index out of range' }],
  [['JSON.SET', 'd', '$..zz', '1'], { err: 'Err wrong static path' }],
  [['JSON.SET', 'd', '$..a', '0'], 'OK'],
  [['JSON.GET', 'd', '$..a'], '[0,0,0]'],
  [['JSON.SET', 'd', '$', '{', 'NX'], { err: 'EOF while parsing an object at line 1 column 1' }],
  [['JSON.SET', 'd', '$', '{'], { err: 'EOF while parsing an object at line 1 column 1' }],
  [['JSON.SET', 'd', '$', '[1,]'], { err: 'trailing comma at line 1 column 4' }],
  [['JSON.SET', 'd', '$', '1 2'], { err: 'trailing characters at line 1 column 3' }],
  [['JSON.SET', 'd', '$', '{"a" 1}'], { err: 'expected `:` at line 1 column 6' }],
  [['JSON.SET', 'd', '$', ''], { err: 'EOF while parsing a value at line 1 column 0' }],
  [['JSON.SET', 'd', '$', '1', 'NX', 'XX'], { err: 'ERR syntax error' }],
  [['JSON.SET', 'nk', '$.a', '1'], { err: 'ERR new objects must be created at the root' }],
  [['JSON.SET', 'nk', '$', '1', 'XX'], null],
  [['JSON.SET', 'nk', '.', '"s"'], 'OK'],
  [['JSON.GET', 'nk'], '"s"'],
  [['SET', 'str', 'v'], 'OK'],
  [['JSON.SET', 'str', '$', '1'], { err: 'WRONGTYPE Operation against a key holding the wrong kind of value' }],
  [['JSON.GET', 'str'], { err: 'WRONGTYPE Operation against a key holding the wrong kind of value' }],
  [['HSET', 'hh', 'a', '1'], 1],
  [['JSON.MGET', 'd', 'nk', 'str', 'nokey', 'hh', '$.a'], ['[0]', '[]', null, null, null]],
  [['JSON.MGET', 'd', 'nk', '.a'], ['0', null]],
  [['JSON.CLEAR', 'd', '$.b'], 1],
  [['JSON.CLEAR', 'd', '$.*'], 4],
  [['JSON.GET', 'd', '$.b', '$.a'], '{"$.b":[[]],"$.a":[0]}'],
  [['JSON.DEL', 'd', '$.o'], 1],
  [['JSON.DEL', 'd', '$.nope'], 0],
  [['JSON.FORGET', 'd', '.s'], 1],
  [['JSON.DEL', 'd'], 1],
  [['EXISTS', 'd'], 0],
  [['JSON.DEL', 'd'], 0],
  [['JSON.SET', 'n', '$', '{"a":{"a":{"a":1}},"l":[1,2,3,4]}'], 'OK'],
  [['JSON.DEL', 'n', '$..a'], 1],
  [['JSON.DEL', 'n', '$.l[1,3]'], 2],
  [['JSON.GET', 'n'], '{"l":[1,3]}'],
  [['JSON.SET', 'i', '$', '9007199254740993'], 'OK'],
  [['JSON.NUMINCRBY', 'i', '$', '1'], '[9007199254740994]'],
  [['JSON.SET', 'i', '$', '9223372036854775807'], 'OK'],
  [['JSON.NUMINCRBY', 'i', '.', '1'], '-9223372036854775808'],
];

test('every JSON command: replies and error lines as RedisJSON words them', async (t) => {
  const srv = await startInProcess();
  const r = await client(srv.port);
  try {
    for (const [cmd, want] of CASES) {
      let got: unknown;
      try { got = await r.call(cmd[0]!, ...cmd.slice(1)); } catch (e) { got = { err: (e as Error).message }; }
      if (want instanceof RegExp) t.regex((got as { err: string }).err ?? String(got), want, cmd.join(' '));
      else t.deepEqual(got, want, cmd.join(' '));
    }
  } finally { r.disconnect(); await srv.stop(); }
});

test('nesting: 128 levels accepted, 129 refused (directly or through a path); a large document is fine', async (t) => {
  const srv = await startInProcess();
  const r = await client(srv.port);
  try {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    t.is(await r.call('JSON.SET', 'deep', '$', nest(128)), 'OK');
    await t.throwsAsync(r.call('JSON.SET', 'deep', '$', nest(129)), { message: /^recursion limit exceeded at line 1 column 129/ });
    await t.throwsAsync(r.call('JSON.SET', 'deep', '$', nest(100_000)), { message: /^recursion limit exceeded/ });
    t.is(await r.call('JSON.SET', 'p', '$', '{"a":{}}'), 'OK');
    await t.throwsAsync(r.call('JSON.SET', 'p', '$.a.b', nest(127)), { message: /nest more than 128/ });
    t.is(await r.call('JSON.SET', 'p', '$.a.b', nest(126)), 'OK');
    const big = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, text: `t${i}`, v: [i / 3, i] })) });
    t.is(await r.call('JSON.SET', 'big', '$', big), 'OK');
    t.deepEqual(await r.call('JSON.ARRLEN', 'big', '$.items'), [20_000]);
    t.deepEqual(await r.call('JSON.GET', 'big', '$.items[19999].id'), '[19999]');
    t.is(JSON.parse(await r.call('JSON.GET', 'big') as string).items.length, 20_000);
    t.true((await r.memory('USAGE', 'big') as number) > 20_000 * 50);
    t.is(await r.ping(), 'PONG', 'the server is alive');
  } finally { r.disconnect(); await srv.stop(); }
});

test('node-redis (RESP3) and MULTI/EXEC: JSON commands through sendCommand, atomically', async (t) => {
  const srv = await startInProcess();
  try {
    const c = createClient({ socket: { port: srv.port }, RESP: 3 });
    await c.connect();
    t.is(await c.sendCommand(['JSON.SET', 'doc:1', '$', '{"content":"hi","embedding":[0.5,1.0,-2]}']) as unknown, 'OK');
    t.is(await c.sendCommand(['JSON.GET', 'doc:1', '$.embedding']) as unknown, '[[0.5,1.0,-2]]');
    const res = await c.multi().addCommand(['JSON.SET', 'doc:2', '$', '{"n":1}']).addCommand(['JSON.NUMINCRBY', 'doc:2', '$.n', '2'])
      .addCommand(['JSON.MGET', 'doc:1', 'doc:2', '$.n']).exec();
    t.deepEqual(res, ['OK', '[3]', ['[]', '[3]']]);
    await c.quit();
  } finally { await srv.stop(); }
});

test('redis-py r.json(): set, get, arrappend, numincrby, objkeys', async (t) => {
  const srv = await startInProcess();
  try {
    const script = `
import redis
from redis.commands.json.path import Path
r = redis.Redis(port=${srv.port}, decode_responses=True)
j = r.json()
assert j.set('doc', Path.root_path(), {'text': 'hello', 'tags': ['a'], 'n': 1, 'vec': [0.25, 0.5]})
assert j.get('doc') == {'text': 'hello', 'tags': ['a'], 'n': 1, 'vec': [0.25, 0.5]}, j.get('doc')
assert j.get('doc', '$.text') == ['hello']
assert j.arrappend('doc', '$.tags', 'b') == [2]
assert j.numincrby('doc', '$.n', 2) == [3]
assert sorted(j.objkeys('doc')) == ['n', 'tags', 'text', 'vec']
assert j.type('doc', '$.vec') == ['array']
assert j.delete('doc', '$.vec') == 1
print('ok')
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', script]);
    t.is(stdout.trim(), 'ok');
  } finally { await srv.stop(); }
});

async function dumpDocs(port: number): Promise<Record<string, string>> {
  const r = await client(port);
  const out: Record<string, string> = {};
  for (const k of (await r.keys('*')).sort()) if (await r.type(k) === 'ReJSON-RL') out[k] = await r.call('JSON.GET', k) as string;
  r.disconnect();
  return out;
}

test('restart: documents come back from the WAL and from a snapshot; BGSAVE while they change keeps the cut', async (t) => {
  const dir = tempDir();
  let srv = await startInProcess({ dir, appendonly: true });
  let r = await client(srv.port);
  for (let i = 0; i < 2000; i++) await r.call('JSON.SET', `j:${i}`, '$', JSON.stringify({ i, f: 1.5, tags: ['x'], o: { deep: [i] } }));
  await r.call('JSON.SET', 'floats', '$', '[1.0,2,3.25,-0.0,1e300,18446744073709551615]');
  await r.call('JSON.NUMINCRBY', 'j:1', '$.f', '1');
  await r.call('JSON.ARRAPPEND', 'j:2', '$.tags', '"y"');
  await r.call('JSON.DEL', 'j:3', '$.o');
  r.disconnect();
  const before = await dumpDocs(srv.port);
  t.is(before.floats, '[1.0,2,3.25,-0.0,1e300,18446744073709551615]');
  await srv.stop();
  srv = await startInProcess({ dir, appendonly: true });
  t.deepEqual(await dumpDocs(srv.port), before, 'after WAL replay');
  r = await client(srv.port);
  // BGSAVE, then writes to the documents it is saving, in one pipeline.
  const atCut = await dumpDocs(srv.port);
  const p = r.pipeline();
  p.call('BGSAVE');
  for (let i = 0; i < 2000; i++) {
    p.call('JSON.NUMINCRBY', `j:${i}`, '$.i', '1000');
    p.call('JSON.ARRAPPEND', `j:${i}`, '$.o.deep', '"later"');
    if (i % 5 === 0) p.call('JSON.SET', `j:${i}`, '$', '{"replaced":true}');
  }
  await p.exec();
  while (/rdb_bgsave_in_progress:1/.test(await r.info('persistence'))) await new Promise((res) => setTimeout(res, 20));
  t.regex(await r.info('persistence'), /rdb_last_bgsave_status:ok/);
  const after = await dumpDocs(srv.port);
  r.disconnect();
  await srv.stop();
  srv = await startInProcess({ dir, appendonly: true });
  t.deepEqual(await dumpDocs(srv.port), after, 'snapshot + WAL: the latest state');
  await srv.stop();
  // Without the WAL (appendonly off sets it aside): the snapshot alone, as of the cut.
  srv = await startInProcess({ dir, appendonly: false });
  t.deepEqual(await dumpDocs(srv.port), atCut, 'the snapshot alone holds the documents as of the cut');
  await srv.stop();
});

test.serial('SIGKILL during pipelined JSON.SET / JSON.ARRAPPEND: every acknowledged write is there after restart', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await client(srv.port);
  await r.call('JSON.SET', 'log', '$', '{"items":[]}');
  const acked = new Set<number>();
  let appended = 0;
  let stop = false;
  const writer = (async () => {
    for (let round = 0; !stop; round++) {
      const p = r.pipeline();
      for (let i = 0; i < 40; i++) p.call('JSON.SET', `doc:${round * 40 + i}`, '$', JSON.stringify({ n: round * 40 + i, v: [0.5, round] }));
      p.call('JSON.ARRAPPEND', 'log', '$.items', String(round));
      const res = await p.exec().catch(() => null);
      if (!res) break;
      res.slice(0, 40).forEach(([e], i) => { if (!e) acked.add(round * 40 + i); });
      if (!res[40]![0]) appended = round + 1;
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
  for (const n of acked) {
    const got = await r2.call('JSON.GET', `doc:${n}`, '.n');
    if (got !== String(n)) missing++;
  }
  t.is(missing, 0);
  t.true((await r2.call('JSON.ARRLEN', 'log', '.items') as number) >= appended);
  r2.disconnect();
  await srv.kill();
});

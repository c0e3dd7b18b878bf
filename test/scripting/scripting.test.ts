/**
 * Lua scripting over TCP with real clients: ioredis (defineCommand, EVALSHA
 * falling back to EVAL), redis-py's Lock, raw RESP2/RESP3 replies, errors,
 * the script cache, EVAL inside MULTI, the sandbox, the time limit, and a
 * script's writes surviving SIGKILL as one WAL record.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { startInProcess, spawnServer, tempDir, removeTempDirs, type InProcess } from '../helpers/server.js';
import { RawConn } from '../helpers/oracle.js';
import { readWal } from '../../src/store/wal-reader.js';
import { decodeCommands } from '../../src/store/format/command-record.js';

const run = promisify(execFile);
const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
let srv: InProcess;

test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv?.stop(); removeTempDirs(); });

const connect = () => new Redis({ port: srv.port, lazyConnect: false });

async function raw(args: Array<string | Buffer>, proto: 2 | 3 = 2): Promise<string> {
  const c = await RawConn.connect(srv.port);
  try {
    if (proto === 3) await c.send(['HELLO', '3']);
    return (await c.send(args)).toString('latin1');
  } finally { c.close(); }
}

test.serial('EVAL: KEYS, ARGV, redis.call reads and writes, binary-safe values', async (t) => {
  const r = connect();
  try {
    t.is(await r.eval('return redis.call("SET", KEYS[1], ARGV[1])', 1, 'sc:a', 'v1'), 'OK');
    t.is(await r.get('sc:a'), 'v1');
    t.deepEqual(await r.eval('return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}', 2, 'k1', 'k2', 'a1', 'a2'), ['k1', 'k2', 'a1', 2, 2]);
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x80, 0x0d, 0x0a]);
    await r.call('EVAL', 'return redis.call("SET", KEYS[1], ARGV[1])', 1, 'sc:bin', bytes);
    t.deepEqual(await r.getBuffer('sc:bin'), bytes);
    t.deepEqual(await r.callBuffer('EVAL', 'return redis.call("GET", KEYS[1]) .. ARGV[1]', 1, 'sc:bin', Buffer.from([0xfe])), Buffer.concat([bytes, Buffer.from([0xfe])]));
    t.is(await r.eval('return string.len(ARGV[1])', 0, bytes), 7);
    t.is(await r.eval('return redis.call("INCRBY", KEYS[1], 5)', 1, 'sc:n'), 5);
    // Lua numbers become arguments as Lua 5.1 prints them: 2.5, and 3 for 3.0.
    await r.eval('redis.call("SET", "sc:f1", 10/4) redis.call("SET", "sc:f2", 6/2)', 0);
    t.deepEqual(await r.mget('sc:f1', 'sc:f2'), ['2.5', '3']);
  } finally { r.disconnect(); }
});

test.serial('ioredis defineCommand: EVALSHA, and after SCRIPT FLUSH the NOSCRIPT fallback to EVAL', async (t) => {
  const r = connect() as Redis & { incrMax(key: string, by: number, max: number): Promise<number> };
  try {
    r.defineCommand('incrMax', {
      numberOfKeys: 1,
      lua: 'local v = redis.call("INCRBY", KEYS[1], ARGV[1]) if v > tonumber(ARGV[2]) then redis.call("SET", KEYS[1], ARGV[2]) return tonumber(ARGV[2]) end return v',
    });
    t.is(await r.incrMax('sc:m', 3, 10), 3);
    t.is(await r.incrMax('sc:m', 9, 10), 10);
    t.is(await r.call('SCRIPT', 'FLUSH'), 'OK');
    t.is(await r.incrMax('sc:m', 1, 100), 11);
    const stats = await r.info('commandstats');
    t.regex(stats, /cmdstat_evalsha:calls=\d+/);
    t.regex(stats, /cmdstat_incrby:calls=\d+/, 'commands a script runs are counted too');
  } finally { r.disconnect(); }
});

test.serial('SCRIPT LOAD / EXISTS / FLUSH, EVALSHA and NOSCRIPT, EVAL caches by sha1', async (t) => {
  const r = connect();
  try {
    const body = 'return "loaded"';
    t.is(await r.call('SCRIPT', 'LOAD', body), sha1(body));
    t.is(await r.call('EVALSHA', sha1(body), 0), 'loaded');
    t.is(await r.call('EVALSHA', sha1(body).toUpperCase(), 0), 'loaded', 'the sha is case-insensitive');
    t.deepEqual(await r.call('SCRIPT', 'EXISTS', sha1(body), 'f'.repeat(40)), [1, 0]);
    await r.eval('return 42', 0);
    t.deepEqual(await r.call('SCRIPT', 'EXISTS', sha1('return 42')), [1]);
    t.regex(await r.info('memory'), /number_of_cached_scripts:[1-9]/);
    t.is(await r.call('SCRIPT', 'FLUSH', 'ASYNC'), 'OK');
    t.deepEqual(await r.call('SCRIPT', 'EXISTS', sha1(body), sha1('return 42')), [0, 0]);
    t.regex(await r.info('memory'), /number_of_cached_scripts:0/);
    await t.throwsAsync(r.call('EVALSHA', sha1(body), 0), { message: 'NOSCRIPT No matching script. Please use EVAL.' });
    await t.throwsAsync(r.call('SCRIPT', 'FLUSH', 'LATER'), { message: 'ERR SCRIPT FLUSH only support SYNC|ASYNC option' });
    await t.throwsAsync(r.call('SCRIPT', 'KILL'), { message: 'NOTBUSY No scripts in execution right now.' });
    t.true(((await r.call('SCRIPT', 'HELP')) as string[]).some((l) => l.startsWith('LOAD')));
  } finally { r.disconnect(); }
});

test.serial('redis-py Lock: acquire, extend, release (EVALSHA scripts) and a foreign release refused', async (t) => {
  const script = [
    'import redis',
    `r = redis.Redis(port=${srv.port})`,
    "l = r.lock('py:job', timeout=5)",
    "print('acquire', l.acquire(blocking=False))",
    "print('extend', l.extend(10))",
    "print('ttl', 10000 < r.pttl('py:job') <= 15000)",
    "print('reacquire', l.reacquire())",
    "print('owned', l.owned())",
    'l.release()',
    "print('released', r.exists('py:job'))",
    "other = r.lock('py:job2', timeout=5)",
    'other.acquire(blocking=False)',
    "r.set('py:job2', 'someone else')",
    'try:',
    '    other.release()',
    'except redis.exceptions.LockNotOwnedError as e:',
    "    print('not owned')",
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script], { timeout: 30_000 });
  t.deepEqual(stdout.trim().split('\n'), ['acquire True', 'extend True', 'ttl True', 'reacquire True', 'owned True', 'released 0', 'not owned']);
});

test.serial('conversions, RESP2: Redis\'s rules both ways', async (t) => {
  const cases: Array<[string, string]> = [
    ['return 3.99', ':3\r\n'],
    ['return -3.99', ':-3\r\n'],
    ['return 2^63', ':-9223372036854775808\r\n'],
    ['return true', ':1\r\n'],
    ['return false', '$-1\r\n'],
    ['return nil', '$-1\r\n'],
    ['return {1, 2, 3.7, "x", nil, 4}', '*4\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n'],
    ['return {1, false, 3}', '*3\r\n:1\r\n$-1\r\n:3\r\n'],
    ['return {ok = "fine"}', '+fine\r\n'],
    ['return {err = "MY error"}', '-MY error\r\n'],
    ['return {err = "x\\r\\ny"}', '-x  y\r\n'],
    ['return {5, {ok = "s"}, {err = "E e"}}', '*3\r\n:5\r\n+s\r\n-E e\r\n'],
    ['return redis.status_reply("DONE")', '+DONE\r\n'],
    ['return redis.error_reply("MY failure")', '-MY failure\r\n'],
    ['return redis.error_reply("oneword")', '-ERR oneword\r\n'],
    ['return {double = 3.5}', '$3\r\n3.5\r\n'],
    ['return {map = {a = 1}}', '*2\r\n$1\r\na\r\n:1\r\n'],
    ['return {err = 3}', '*0\r\n'],
    ['return type(redis.call("GET", "sc:none"))', '$7\r\nboolean\r\n'],
    ['return redis.call("GET", "sc:none") == false', ':1\r\n'],
    ['return redis.pcall("INCR", "sc:a")["err"]', '$43\r\nERR value is not an integer or out of range\r\n'],
    ['return redis.call("PING")["ok"]', '$4\r\nPONG\r\n'],
    ['local t = redis.call("HGETALL", "sc:h") return #t', ':4\r\n'],
  ];
  const r = connect();
  await r.hset('sc:h', 'f', '1', 'g', '2');
  await r.set('sc:a', 'text');
  r.disconnect();
  for (const [script, expected] of cases) t.is(await raw(['EVAL', script, '0']), expected, script);
});

test.serial('conversions, RESP3: setresp(3) gives maps, doubles, booleans, nil; returned RESP3 shapes', async (t) => {
  const cases: Array<[string, string]> = [
    ['return true', ':1\r\n'],
    ['redis.setresp(3) return true', '#t\r\n'],
    ['redis.setresp(3) return false', '#f\r\n'],
    ['return {double = 3.5}', ',3.5\r\n'],
    ['return {map = {a = 1}}', '%1\r\n$1\r\na\r\n:1\r\n'],
    ['return {set = {a = true}}', '~1\r\n$1\r\na\r\n'],
    ['return {big_number = "123"}', '(123\r\n'],
    ['redis.setresp(3) return redis.call("GET", "sc:none") == nil', '#t\r\n'],
    ['redis.setresp(3) return redis.call("HGETALL", "sc:h").map.g', '$1\r\n2\r\n'],
    ['redis.setresp(3) local t = redis.call("HGETALL", "sc:h") return {t.map.f, t.map.g}', '*2\r\n$1\r\n1\r\n$1\r\n2\r\n'],
    ['return nil', '_\r\n'],
  ];
  for (const [script, expected] of cases) t.is(await raw(['EVAL', script, '0'], 3), expected, script);
  t.is(await raw(['EVAL', 'redis.setresp(4)', '0']), `-ERR RESP version must be 2 or 3. script: ${sha1('redis.setresp(4)')}, on @user_script:1.\r\n`);
});

test.serial('errors: Redis 7\'s texts, with the script\'s sha1 and line', async (t) => {
  const at = (s: string) => `script: ${sha1(s)}, on @user_script:1.`;
  const cases: Array<[string, string]> = [
    ['return redis.call("nosuch")', `-ERR Unknown Redis command called from script ${at('return redis.call("nosuch")')}`],
    ['return redis.call("GET")', `-ERR Wrong number of args calling Redis command from script ${at('return redis.call("GET")')}`],
    ['return redis.call("MULTI")', `-ERR This Redis command is not allowed from script ${at('return redis.call("MULTI")')}`],
    ['return redis.call("EVAL", "return 1", "0")', `-ERR This Redis command is not allowed from script ${at('return redis.call("EVAL", "return 1", "0")')}`],
    ['return redis.call("HGET", "sc:a", "f")', `-WRONGTYPE Operation against a key holding the wrong kind of value ${at('return redis.call("HGET", "sc:a", "f")')}`],
    ['return redis.call()', `-ERR Please specify at least one argument for this redis lib call ${at('return redis.call()')}`],
    ['return redis.call("SET", "k", {})', `-ERR Lua redis lib command arguments must be strings or integers ${at('return redis.call("SET", "k", {})')}`],
    ['return redis.pcall("nosuch")', '-ERR Unknown Redis command called from script'],
    ['return x', `-ERR user_script:1: Script attempted to access nonexistent global variable 'x' ${at('return x')}`],
    ['x = 1', `-ERR user_script:1: Attempt to modify a readonly table ${at('x = 1')}`],
    ['error("boom")', `-ERR user_script:1: boom ${at('error("boom")')}`],
    ['error({err = "MY thing"})', `-MY thing ${at('error({err = "MY thing"})')}`],
    ['local ok, e = pcall(redis.call, "nosuch") return e', '$44\r\nERR Unknown Redis command called from script'],
    ['return redis.sha1hex()', `-ERR wrong number of arguments ${at('return redis.sha1hex()')}`],
  ];
  for (const [script, expected] of cases) t.is(await raw(['EVAL', script, '0']), `${expected}\r\n`, script);
  t.regex(await raw(['EVAL', 'return foo(', '0']), /^-ERR Error compiling script \(new function\): user_script:1: /);
  t.is(await raw(['EVAL', 'return 1', '-1']), '-ERR Number of keys can\'t be negative\r\n');
  t.is(await raw(['EVAL', 'return 1', '2', 'a']), '-ERR Number of keys can\'t be greater than number of args\r\n');
  t.is(await raw(['EVAL', 'return 1', 'x']), '-ERR value is not an integer or out of range\r\n');
  t.is(await raw(['EVAL', 'return 1']), '-ERR wrong number of arguments for \'eval\' command\r\n');
  // Line numbers past the first.
  t.is(await raw(['EVAL', 'local a = 1\nlocal b = 2\nerror("three")', '0']), `-ERR user_script:3: three script: ${sha1('local a = 1\nlocal b = 2\nerror("three")')}, on @user_script:3.\r\n`);
});

test.serial('sandbox: no io, os.execute, loadfile, dofile, require, debug; libraries read-only; no state left between scripts', async (t) => {
  const r = connect();
  try {
    const absent = await r.eval(`
      local names = {'io', 'loadfile', 'dofile', 'require', 'package', 'debug', 'print', 'setfenv', 'module'}
      local out = {}
      for _, n in ipairs(names) do
        local ok = pcall(function() return _G[n] end)
        if ok then out[#out + 1] = n end
      end
      return out`, 0);
    t.deepEqual(absent, [], 'every one of these globals raises when read');
    t.is(await r.eval('return type(os.execute)', 0), 'nil');
    t.is(await r.eval('return type(os.getenv)', 0), 'nil');
    t.is(await r.eval('return type(os.clock())', 0), 'number');
    await t.throwsAsync(r.eval('string.upper = nil', 0), { message: /Attempt to modify a readonly table/ });
    await t.throwsAsync(r.eval('rawset(_G, "leak", 1)', 0), { message: /Attempt to modify a readonly table/ });
    await t.throwsAsync(r.eval('setmetatable(_G, nil)', 0), { message: /protected metatable/ });
    await t.throwsAsync(r.eval('function f() end', 0), { message: /Attempt to modify a readonly table/ });
    t.is(await r.eval('return string.upper("ok")', 0), 'OK', 'string still works after the attempt');
    t.is(await r.eval('return ("x"):rep(3)', 0), 'xxx');
    t.deepEqual(await r.eval('return {unpack({1, 2})}', 0), [1, 2]);
    t.deepEqual(await r.eval('return {bit.band(6, 3), bit.bor(1, 4), bit.bxor(5, 1), bit.lshift(1, 31), bit.tohex(255, 2)}', 0), [2, 5, 4, -2147483648, 'ff']);
    t.is(await r.eval('return table.getn({1, 2, 3})', 0), 3);
    t.is(await r.eval('return loadstring("return 7")()', 0), 7);
    await t.throwsAsync(r.eval('return load(string.dump(function() end))', 0), { message: /nonexistent global variable 'load'/ });
    t.is(await r.eval('local t = {} t.x = 1 return t.x', 0), 1, 'locals are fine');
  } finally { r.disconnect(); }
});

test.serial('redis.* helpers: sha1hex, log, constants, set_repl accepted', async (t) => {
  const r = connect();
  try {
    t.is(await r.eval('return redis.sha1hex("abc")', 0), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    t.is(await r.eval('return redis.sha1hex(12)', 0), sha1('12'));
    t.deepEqual(await r.eval('return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}', 0), [0, 1, 2, 3]);
    t.is(await r.eval('redis.log(redis.LOG_WARNING, "from a script", 1) return 1', 0), 1);
    await t.throwsAsync(r.eval('redis.log(99, "x")', 0), { message: /^ERR Invalid debug level\. script:/ });
    t.is(await r.eval('redis.set_repl(redis.REPL_ALL) return redis.replicate_commands()', 0), 1);
    t.regex(await r.eval('return redis.REDIS_VERSION', 0) as string, /^\d+\.\d+\.\d+$/);
  } finally { r.disconnect(); }
});

test.serial('EVAL_RO / no-writes shebang refuse writes; reads work', async (t) => {
  const r = connect();
  try {
    await r.set('sc:ro', 'x');
    t.is(await r.call('EVAL_RO', 'return redis.call("GET", KEYS[1])', 1, 'sc:ro'), 'x');
    await t.throwsAsync(r.call('EVAL_RO', 'return redis.call("SET", KEYS[1], "y")', 1, 'sc:ro'), { message: /^ERR Write commands are not allowed from read-only scripts\. script:/ });
    const body = '#!lua flags=no-writes\nreturn redis.call("SET", KEYS[1], "y")';
    await t.throwsAsync(r.eval(body, 1, 'sc:ro'), { message: /^ERR Write commands are not allowed from read-only scripts\. script: .*on @user_script:2\.$/ });
    const loaded = await r.call('SCRIPT', 'LOAD', '#!lua\nreturn 5') as string;
    t.is(await r.call('EVALSHA_RO', loaded, 0), 5);
    await t.throwsAsync(r.eval('#!lua flags=bogus\nreturn 1', 0), { message: 'ERR Unexpected flag in script shebang: bogus' });
    t.is(await r.get('sc:ro'), 'x');
  } finally { r.disconnect(); }
});

test.serial('commands whose work runs on worker threads are refused before they apply anything', async (t) => {
  const r = connect();
  try {
    await t.throwsAsync(r.eval('return redis.call("VADD", KEYS[1], "VALUES", 2, 1, 0, "e1")', 1, 'sc:vs'), { message: /^ERR VADD is not available from scripts/ });
    t.is(await r.exists('sc:vs'), 0);
    await r.call('VADD', 'sc:vs', 'VALUES', '2', '1', '0', 'e1');
    t.is(await r.eval('return redis.call("VCARD", KEYS[1])', 1, 'sc:vs'), 1, 'synchronous vector commands work');
    t.deepEqual(await r.eval('return redis.pcall("VSIM", KEYS[1], "ELE", "e1")["err"] ~= nil', 1, 'sc:vs'), 1);
  } finally { r.disconnect(); }
});

test.serial('EVAL inside MULTI/EXEC, WATCH sees a script\'s writes, SELECT inside a script stays inside', async (t) => {
  const r = connect();
  const w = connect();
  try {
    const res = await r.multi().set('sc:tx', '1').eval('return redis.call("INCR", KEYS[1])', 1, 'sc:tx').get('sc:tx').exec();
    t.deepEqual(res, [[null, 'OK'], [null, 2], [null, '2']]);
    await w.watch('sc:w');
    await r.eval('redis.call("SET", KEYS[1], "changed")', 1, 'sc:w');
    t.is(await w.multi().get('sc:w').exec(), null, 'the watched key was written by a script');
    t.is(await r.eval('redis.call("SELECT", 3) redis.call("SET", "sc:db3", "x") return redis.call("GET", "sc:db3")', 0), 'x');
    t.is(await r.get('sc:db3'), null, 'the caller is still on db 0');
    await r.select(3);
    t.is(await r.get('sc:db3'), 'x');
    await r.select(0);
  } finally { r.disconnect(); w.disconnect(); }
});

test.serial('COMMAND GETKEYS / INFO / DOCS for EVAL', async (t) => {
  const r = connect();
  try {
    t.deepEqual(await r.call('COMMAND', 'GETKEYS', 'EVAL', 'return 1', '2', 'k1', 'k2', 'arg'), ['k1', 'k2']);
    const info = await r.call('COMMAND', 'INFO', 'eval') as unknown[][];
    t.true((info[0][2] as string[]).includes('movablekeys'));
    const docs = await r.call('COMMAND', 'DOCS', 'evalsha') as unknown[];
    t.is(docs[0], 'evalsha');
    t.true(JSON.stringify(docs).includes('numkeys'));
    const scriptDocs = JSON.stringify(await r.call('COMMAND', 'DOCS', 'script'));
    for (const s of ['script|load', 'script|exists', 'script|flush', 'script|kill']) t.true(scriptDocs.includes(s), s);
  } finally { r.disconnect(); }
});

test.serial('a runaway script is aborted after busy-reply-threshold; its earlier writes stay; the server answers', async (t) => {
  const r = connect();
  try {
    t.deepEqual(await r.call('CONFIG', 'GET', 'lua-time-limit'), ['lua-time-limit', '5000']);
    await r.call('CONFIG', 'SET', 'busy-reply-threshold', '200');
    t.deepEqual(await r.call('CONFIG', 'GET', 'lua-time-limit'), ['lua-time-limit', '200'], 'the two names are one setting');
    const started = Date.now();
    await t.throwsAsync(r.eval('redis.call("SET", KEYS[1], "before") while true do end', 1, 'sc:busy'), { message: /^ERR Script killed: it ran longer than busy-reply-threshold \(200 ms\)/ });
    const took = Date.now() - started;
    t.true(took >= 190 && took < 3000, `aborted after ${took} ms`);
    t.is(await r.get('sc:busy'), 'before');
    // pcall cannot catch the abort and carry on.
    await t.throwsAsync(r.eval('while true do pcall(function() while true do end end) end', 0), { message: /Script killed/ });
    t.is(await r.ping(), 'PONG');
    t.is(await r.eval('return 1', 0), 1, 'the next script runs normally');
  } finally {
    await r.call('CONFIG', 'SET', 'lua-time-limit', '5000');
    r.disconnect();
  }
});

test.serial('a script cannot take the server\'s memory: the Lua state has a limit', async (t) => {
  const r = connect();
  try {
    await t.throwsAsync(r.eval('local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end', 0), { message: /not enough memory/ });
    t.is(await r.eval('return 2', 0), 2);
  } finally { r.disconnect(); }
});

test.serial('EVAL is refused with -LOADING while data loads', async (t) => {
  const release = srv.server.holdLoading();
  try {
    t.regex(await raw(['EVAL', 'return 1', '0']), /^-LOADING /);
  } finally { release(); }
});

test.serial('a script\'s writes are one WAL record and survive SIGKILL', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let child = await spawnServer(args, { dir });
  const r = new Redis({ port: child.port });
  await r.set('before', '1');
  t.is(await r.eval('for i = 1, 3 do redis.call("SET", KEYS[i], ARGV[i]) end redis.call("GET", KEYS[1]) return 3', 3, 'ka', 'kb', 'kc', 'va', 'vb', 'vc'), 3);
  // Even a script that fails after writing keeps (and logs) what it wrote.
  await t.throwsAsync(r.eval('redis.call("SET", "kd", "vd") error("late")', 0));
  r.disconnect();
  child.child.kill('SIGKILL');
  await child.exited;
  const records: string[][][] = [];
  for await (const rec of readWal(dir, 1)) records.push(decodeCommands(rec.payload).map(([, argv]) => argv.map((b) => b.toString())));
  t.true(records.some((cmds) => JSON.stringify(cmds) === JSON.stringify([['SET', 'ka', 'va'], ['SET', 'kb', 'vb'], ['SET', 'kc', 'vc']])),
    `one record with the three SETs: ${JSON.stringify(records)}`);
  t.false(records.some((cmds) => cmds.some((c) => /^eval/i.test(c[0]))), 'the effects are logged, not the script');
  child = await spawnServer(args, { dir, port: child.port });
  const r2 = new Redis({ port: child.port });
  t.deepEqual(await r2.mget('before', 'ka', 'kb', 'kc', 'kd'), ['1', 'va', 'vb', 'vc', 'vd']);
  r2.disconnect();
  await child.kill();
});

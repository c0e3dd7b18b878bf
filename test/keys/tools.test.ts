/**
 * The tools and client helpers people point at a Redis next to their vectors:
 * redis-cli --bigkeys / --memkeys over every type, node-redis's scanIterator,
 * and redis-py's lock (acquiring is SET NX PX; releasing runs a Lua script
 * through EVALSHA: test/scripting/ covers scripting itself).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';

const run = promisify(execFile);
let srv: InProcess;

test.before(async () => {
  srv = await startInProcess();
  const c = createClient({ socket: { port: srv.port } });
  await c.connect();
  for (let i = 0; i < 30; i++) await c.set(`str:${i}`, 'x'.repeat(i));
  await c.hSet('hash:1', { a: '1', b: '2' });
  await c.sendCommand(['JSON.SET', 'doc:1', '$', '{"a":[1,2,3]}']);
  await c.sendCommand(['VADD', 'vset:1', 'VALUES', '3', '1', '0', '0', 'e1']);
  await c.sendCommand(['SET', 'ttl:1', 'v', 'EX', '100']);
  await c.quit();
});
test.after.always(async () => { await srv?.stop(); });

for (const mode of ['--bigkeys', '--memkeys']) {
  test.serial(`redis-cli ${mode}: every type sampled, no warning or error`, async (t) => {
    const { stdout, stderr } = await run('redis-cli', ['-p', String(srv.port), mode], { timeout: 30_000 });
    t.log(stdout.split('\n').filter((l) => /vectorsets|hashs|strings|ReJSON/.test(l)).join('\n'));
    t.notRegex(stdout + stderr, /warning|error|ERR/i);
    t.regex(stdout, /Sampled 34 keys/);
    t.regex(stdout, /1 vectorsets/);
    t.regex(stdout, /1 ReJSON-RLs/);
    t.regex(stdout, /31 strings/);
  });
}

test.serial('node-redis scanIterator: MATCH, TYPE and COUNT, every key once', async (t) => {
  const c = createClient({ socket: { port: srv.port } });
  await c.connect();
  try {
    const seen: string[] = [];
    for await (const keys of c.scanIterator({ MATCH: 'str:*', COUNT: 7 })) seen.push(...(Array.isArray(keys) ? keys : [keys]));
    t.is(new Set(seen).size, 30);
    t.is(seen.length, 30);
    const sets: string[] = [];
    for await (const keys of c.scanIterator({ TYPE: 'vectorset' })) sets.push(...(Array.isArray(keys) ? keys : [keys]));
    t.deepEqual(sets, ['vset:1']);
  } finally { await c.quit(); }
});

test.serial('redis-py: a lock is acquired once (SET NX PX) and expires; releasing a lock taken over by another owner is refused', async (t) => {
  const script = [
    'import redis, sys, time',
    `r = redis.Redis(port=${srv.port})`,
    "l = r.lock('job', timeout=1)",
    "print('first', l.acquire(blocking=False))",
    "print('second', r.lock('job', timeout=1).acquire(blocking=False))",
    "print('ttl', 0 < r.pttl('job') <= 1000)",
    "time.sleep(1.2)",
    "third = r.lock('job', timeout=1)",
    "print('after expiry', third.acquire(blocking=False))",
    'try:',
    '    l.release()',
    'except redis.exceptions.LockError as e:',
    "    print('release', type(e).__name__)",
    'third.release()',
    "print('released', r.exists('job'))",
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script], { timeout: 30_000 });
  t.deepEqual(stdout.trim().split('\n'), ['first True', 'second False', 'ttl True', 'after expiry True', 'release LockNotOwnedError', 'released 0']);
});

/**
 * EVAL, EVALSHA and SCRIPT against Debian's redis-server 7.0, byte for
 * byte, in RESP2 and RESP3: replies, conversions both ways and error texts.
 * Left out on purpose: what Lua 5.4 and 5.1 print differently (compile
 * errors, tostring of floats, _VERSION) and what the versions report (REDIS_VERSION).
 */
import test from 'ava';
import { RawConn, haveRedis, startRedis } from '../helpers/oracle.js';
import { startInProcess } from '../helpers/server.js';

const E = (script: string, ...rest: string[]): string[] => ['EVAL', script, ...rest];

const CASES: string[][] = [
  ['SET', 'str', 'v'], ['HSET', 'h', 'f', '1'], ['SET', 'n', '10'],
  E('return 1', '0'),
  E('return {1, 2, 3.7, "x", nil, 4}', '0'),
  E('return {1, false, 3}', '0'),
  E('return {true, false}', '0'),
  E('return -3.99', '0'),
  E('return 2^63', '0'),
  E('return 0/0', '0'),
  E('return {ok = "fine"}', '0'),
  E('return {ok = "a", err = "b"}', '0'),
  E('return {err = "x\\r\\ny"}', '0'),
  E('return {err = 3}', '0'),
  E('return {5, {ok = "s"}, {err = "E e"}, {1, {2, {3}}}}', '0'),
  E('return redis.error_reply("MY failure")', '0'),
  E('return redis.error_reply("-X y")', '0'),
  E('return redis.error_reply("")', '0'),
  E('return redis.status_reply("DONE")', '0'),
  E('return {double = 3.5}', '0'),
  E('return {map = {a = 1}}', '0'),
  E('return {set = {a = true}}', '0'),
  E('return {big_number = "123"}', '0'),
  E('return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}', '2', 'k1', 'k2', 'a1', 'a2'),
  E('return redis.call("GET", KEYS[1])', '1', 'str'),
  E('return redis.call("GET", "missing")', '0'),
  E('return redis.call("HGETALL", "h")', '0'),
  E('return redis.call("INCRBY", "n", 5)', '0'),
  E('return redis.call("SET", "f", 10/4)', '0'), ['GET', 'f'],
  E('return redis.call("SET", "f", 6/2)', '0'), ['GET', 'f'],
  E('return redis.call("PING")', '0'),
  E('return redis.pcall("INCR", "str")', '0'),
  E('return redis.pcall("INCR", "str")["err"]', '0'),
  E('return redis.call("INCR", "str")', '0'),
  E('return redis.call("HGET", "str", "f")', '0'),
  E('return redis.call("nosuch")', '0'),
  E('return redis.pcall("nosuch")', '0'),
  E('return redis.call("GET")', '0'),
  E('return redis.call("MULTI")', '0'),
  E('return redis.call()', '0'),
  E('return redis.call("SET", "k", {})', '0'),
  E('return x', '0'),
  E('x = 1', '0'),
  E('error("boom")', '0'),
  E('error({err = "MY thing"})', '0'),
  E('local ok, e = pcall(redis.call, "nosuch") return {tostring(ok), e}', '0'),
  E('return type(select(2, pcall(function() error({err = "X y"}) end)))', '0'),
  E('return redis.sha1hex("abc")', '0'),
  E('return redis.sha1hex()', '0'),
  E('redis.setresp(3) return redis.call("HGETALL", "h")', '0'),
  E('redis.setresp(3) return redis.call("GET", "missing") == nil', '0'),
  E('redis.setresp(3) return true', '0'),
  E('redis.setresp(4)', '0'),
  E('return redis.log(99, "x")', '0'),
  E('redis.call("SELECT", 1) redis.call("SET", "insel", "1") return redis.call("GET", "insel")', '0'), ['GET', 'insel'],
  E('return 1', '-1'), E('return 1', '2', 'a'), E('return 1', 'x'), ['EVAL', 'return 1'],
  ['EVAL_RO', 'return redis.call("SET", "k", "v")', '0'],
  ['EVAL_RO', 'return redis.call("GET", "str")', '0'],
  ['SCRIPT', 'LOAD', 'return "loaded"'],
  ['EVALSHA', '2e4e9bc11e1c7e5b4b42e1bc0c7caf1e8b1d8b3c', '0'],
  ['EVALSHA', 'a1f5c4e0e4ad2ee7a0ec7a0f5e3b0e3e7b7e9c8f', '0'],
  ['SCRIPT', 'EXISTS', 'ffffffffffffffffffffffffffffffffffffffff'],
  ['SCRIPT', 'KILL'],
  ['SCRIPT', 'FLUSH', 'LATER'],
  ['SCRIPT', 'FLUSH'],
  ['COMMAND', 'GETKEYS', 'EVAL', 'return 1', '2', 'a', 'b', 'c'],
];

if (haveRedis()) {
  for (const proto of [2, 3] as const) {
    test(`scripting answers as redis-server 7.0 does, byte for byte (RESP${proto})`, async (t) => {
      const oracle = await startRedis();
      const srv = await startInProcess();
      const [ours, theirs] = await Promise.all([RawConn.connect(srv.port), RawConn.connect(oracle.port)]);
      try {
        if (proto === 3) { await ours.send(['HELLO', '3']); await theirs.send(['HELLO', '3']); }
        // The sha of SCRIPT LOAD's script, looked up by EVALSHA below.
        const loaded = (await theirs.send(['SCRIPT', 'LOAD', 'return "loaded"'])).toString().split('\r\n')[1];
        for (const cmd of CASES) {
          const line = cmd[0] === 'EVALSHA' && cmd[1].startsWith('2e4e') ? [cmd[0], loaded, ...cmd.slice(2)] : cmd;
          const [a, b] = await Promise.all([ours.send(line), theirs.send(line)]);
          t.is(a.toString('latin1'), b.toString('latin1'), line.join(' '));
        }
      } finally {
        ours.close(); theirs.close();
        await srv.stop(); await oracle.stop();
      }
    });
  }
} else {
  test('differential scripting tests', (t) => { t.log('SKIPPED: /usr/bin/redis-server is not installed (CI installs it)'); t.pass(); });
}

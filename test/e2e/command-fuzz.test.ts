/**
 * Every command the server has, fed seeded random arguments: numbers at the
 * edges, keywords of every command, binary blobs, keys of every type, JSON,
 * paths and queries. No reply may be an internal error (a handler that threw
 * something other than a typed error: a bug), the connection must survive, and
 * the server must answer PING afterwards. Commands that block, end the
 * connection or the server are left out.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { startInProcess } from '../helpers/server.js';
import { seeded } from '../helpers/data.js';

const SKIP = new Set(['shutdown', 'quit', 'monitor', 'subscribe', 'psubscribe', 'ssubscribe', 'reset', 'debug', 'replicaof', 'slaveof',
  'sync', 'psync', 'client', 'hello', 'auth', 'select', 'swapdb', 'flushall', 'flushdb', 'save', 'bgsave', 'bgrewriteaof', 'config',
  'multi', 'exec', 'discard', 'watch', 'wait', 'failover', 'replconf']);

test('random arguments to every command: no internal error, the server survives', async (t) => {
  const srv = await startInProcess();
  const r = new Redis({ port: srv.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  try {
    await r.connect();
    const rand = seeded(20261206);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    // Keys of every type to aim at.
    await r.set('str', '12');
    await r.hset('hash', 'f', '1', 'vec', Buffer.from(new Float32Array([1, 2, 3]).buffer));
    await r.call('JSON.SET', 'doc', '$', '{"a":[1,2,{"b":"x"}],"n":3.5,"t":"hello world"}');
    await r.call('VADD', 'vset', 'VALUES', 3, 1, 0, 0, 'e1', 'SETATTR', '{"year":1990}');
    await r.call('VADD', 'vset', 'VALUES', 3, 0, 1, 0, 'e2');
    await r.call('VEC.ADD', 'vec', 'a', 'VALUES', 3, 1, 2, 3, 'PAYLOAD', '{"c":1}');
    await r.call('FT.CREATE', 'idx', 'ON', 'HASH', 'PREFIX', 1, 'doc:', 'SCHEMA', 'vec', 'VECTOR', 'HNSW', 6, 'TYPE', 'FLOAT32', 'DIM', 3, 'DISTANCE_METRIC', 'COSINE', 'tag', 'TAG', 'n', 'NUMERIC', 't', 'TEXT');
    await r.hset('doc:1', 'vec', Buffer.from(new Float32Array([1, 0, 0]).buffer), 'tag', 'a', 'n', '5', 't', 'some text');

    const specs = (await r.call('COMMAND', 'DOCS')) as unknown[];
    const names: string[] = [];
    for (let i = 0; i < specs.length; i += 2) names.push(String(specs[i]).toLowerCase());
    const keywords = new Set<string>();
    const collect = (args: unknown): void => {
      if (!Array.isArray(args)) return;
      for (let i = 0; i + 1 < args.length; i += 2) {
        if (args[i] === 'token' && typeof args[i + 1] === 'string') keywords.add(String(args[i + 1]));
        collect(args[i + 1]);
      }
      for (const a of args) {
        if (typeof a === 'string' && /^[a-z._-]+\|[a-z._-]+$/.test(a)) names.push(a);
        collect(a);
      }
    };
    collect(specs);
    const words = [...keywords];
    const atoms: Array<() => string | Buffer> = [
      () => pick(['str', 'hash', 'doc', 'vset', 'vec', 'idx', 'doc:1', 'missing', 'e1', 'e2', 'a', 'f', 'vec']),
      () => pick(words),
      () => pick(['0', '1', '-1', '3', '10', '-0', '9223372036854775807', '-9223372036854775808', '9223372036854775808', '1e400', 'nan', 'inf', '-inf', '0.5', '1.5e3', '']),
      () => pick(['$', '$.a', '$..b', '$.a[0]', '$.a[-1]', '$.*', '.', '.n', 'a[', '$[?(@.x)]', '*', '*=>[KNN 2 @vec $B]', '@tag:{a}', '@n:[0 10]', '(@t:text | -@tag:{b})', 'h?llo*', '[a-']),
      () => pick(['{"a":1}', '[1,2,3]', '"s"', '1', 'null', '{', '{"x":{"y":[[[]]]}}', '.year > 1980', '.year >', 'FP32']),
      () => Buffer.from(Array.from({ length: pick([0, 1, 3, 4, 12, 17, 64]) }, () => Math.floor(rand() * 256))),
    ];
    let sent = 0, internal = 0;
    const firstInternal: string[] = [];
    for (let round = 0; round < 20000; round++) {
      const name = pick(names);
      if (SKIP.has(name.split('|')[0])) continue;
      const argv: Array<string | Buffer> = name.includes('|') ? name.split('|') : [name];
      const n = Math.floor(rand() * 8);
      for (let i = 0; i < n; i++) argv.push(pick(atoms)());
      sent++;
      try {
        await r.callBuffer(String(argv[0]), ...argv.slice(1));
      } catch (e) {
        const msg = (e as Error).message;
        if (/internal error/i.test(msg)) {
          internal++;
          if (firstInternal.length < 5) firstInternal.push(`${argv.map((a) => (typeof a === 'string' ? a : `<${a.length} bytes>`)).join(' ')} -> ${msg}`);
        }
      }
    }
    t.log(`${sent} random commands over ${names.length} command names`);
    t.is(internal, 0, firstInternal.join('\n'));
    t.is(await r.ping(), 'PONG');
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

/**
 * The Redis 8 vector-set commands (README.md, "Coming from Redis 8") end to end: node-redis 6's
 * own V* helpers in RESP3 and RESP2, ioredis `call`, raw sockets for exact reply bytes,
 * every Redis 8 error text, cross-family use with VEC.*, zero vectors, REDUCE, and
 * the recall of VSIM on 10k × 128 clustered data.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import net from 'node:net';
import { encodeCommand } from '../helpers/raw.js';
import { clusteredData, exactCosine, fp32, rowOf } from '../helpers/data.js';
import { Projection, projectionFor, projectionOf } from '../../src/engine/projection.js';

let srv: InProcess;
let io: Redis;
test.before(async () => {
  srv = await startInProcess();
  io = new Redis({ port: srv.port, maxRetriesPerRequest: 0 });
});
test.after.always(async () => {
  io?.disconnect();
  await srv?.stop();
});

type Arg = string | Buffer | number;

/** node-redis 6, typed loosely: its RESP3 and RESP2 reply types differ per command. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function nodeRedis(RESP: 2 | 3): Promise<any> {
  const c = createClient({ RESP, socket: { port: srv.port, reconnectStrategy: false } });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Where the RESP reply starting at `i` ends, or -1 while it is incomplete. */
function replyEnd(b: Buffer, i: number): number {
  if (i >= b.length) return -1;
  const nl = b.indexOf('\r\n', i, 'latin1');
  if (nl < 0) return -1;
  const type = String.fromCharCode(b[i]);
  const n = Number(b.toString('latin1', i + 1, nl));
  if (type === '$' || type === '=' || type === '!') {
    if (n < 0) return nl + 2;
    const end = nl + 2 + n + 2;
    return end <= b.length ? end : -1;
  }
  if ('*~>%|'.includes(type)) {
    if (n < 0) return nl + 2;
    let p = nl + 2;
    for (let k = 0; k < (type === '%' || type === '|' ? 2 * n : n); k++) {
      p = replyEnd(b, p);
      if (p < 0) return -1;
    }
    return type === '|' ? replyEnd(b, p) : p;
  }
  return nl + 2;
}

/**
 * Send commands on a fresh connection (after HELLO 3 for RESP3) and return the exact bytes
 * of their replies, once every one of them is complete.
 */
function rawReplies(proto: 2 | 3, cmds: Arg[][]): Promise<string> {
  const all = proto === 3 ? [['HELLO', '3'], ...cmds] : cmds;
  return new Promise((resolve, reject) => {
    const s = net.connect(srv.port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no complete reply to ${JSON.stringify(cmds)}: ${got.toString('latin1')}`)); }, 20_000);
    s.on('connect', () => s.write(Buffer.concat(all.map(encodeCommand))));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      let p = 0, start = 0;
      for (let k = 0; k < all.length; k++) {
        p = replyEnd(got, p);
        if (p < 0) return;
        if (k === 0 && proto === 3) start = p;
      }
      clearTimeout(timer);
      s.destroy();
      resolve(got.toString('latin1', start, p));
    });
  });
}

const raw2 = (...cmds: Arg[][]) => rawReplies(2, cmds);
const raw3 = (...cmds: Arg[][]) => rawReplies(3, cmds);

/** The error text of a command (ioredis), or a failure when it succeeds. */
async function errorOf(t: ExecutionContext, ...args: Arg[]): Promise<string> {
  try {
    const r = await io.call(String(args[0]), ...args.slice(1));
    t.fail(`${args.map(String).join(' ')} answered ${JSON.stringify(r)} instead of an error`);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

const call = (...args: Arg[]) => io.call(String(args[0]), ...args.slice(1));
const strings = (r: unknown) => (r as Array<Buffer | string>).map(String);

/** a = x, b = y, c = −x in a NOQUANT set: scores from x are exactly 1, 0.5, 0. */
async function abc(key: string, quant: string[] = ['NOQUANT']): Promise<void> {
  await call('VADD', key, 'VALUES', 3, 1, 0, 0, 'a', ...quant, 'SETATTR', '{"x":1}');
  await call('VADD', key, 'VALUES', 3, 0, 1, 0, 'b', ...quant);
  await call('VADD', key, 'VALUES', 3, -1, 0, 0, 'c', ...quant, 'SETATTR', '{"x":3}');
}

// ---------------------------------------------------------------------------------------------
// VADD

test('VADD: new → true, existing → false, in both protocols through node-redis', async (t) => {
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const k = `vadd:nr${RESP}`;
    t.true(await c.vAdd(k, [1, 0, 0], 'a'));
    t.false(await c.vAdd(k, [0, 1, 0], 'a'));
    t.true(await c.vAdd(k, [0, 0, 1], 'b', { SETATTR: { year: 1990 }, EF: 50, CAS: true }));
    t.is(await c.vCard(k), 2);
    t.is(await c.vDim(k), 3);
    t.is(await c.type(k), 'vectorset');
    t.deepEqual(await c.vGetAttr(k, 'b'), { year: 1990 });
    await c.quit();
  }
});

test('VADD replies with a RESP3 boolean or a RESP2 integer', async (t) => {
  t.is(await raw3(['VADD', 'vadd:raw3', 'VALUES', 2, 1, 0, 'a'], ['VADD', 'vadd:raw3', 'VALUES', 2, 1, 0, 'a']), '#t\r\n#f\r\n');
  t.is(await raw2(['VADD', 'vadd:raw2', 'VALUES', 2, 1, 0, 'a'], ['VADD', 'vadd:raw2', 'VALUES', 2, 1, 0, 'a']), ':1\r\n:0\r\n');
});

test('VADD takes FP32 blobs (ioredis) and VALUES, and options in any order', async (t) => {
  t.is(await call('VADD', 'vadd:fp32', 'FP32', fp32([0.5, -2, 3]), 'a'), 1);
  t.is(await call('VADD', 'vadd:fp32', 'VALUES', 3, 1, 2, 3, 'b', 'SETATTR', '{"k":1}', 'EF', 10, 'Q8', 'CAS', 'M', 16), 1);
  t.is(await call('VADD', 'vadd:fp32', 'VALUES', 3, 1, 2, 3, 'c', 'm', 16, 'cas', 'q8', 'ef', 10, 'setattr', '{}'), 1);
  const v = (await call('VEMB', 'vadd:fp32', 'a')) as string[];
  t.deepEqual(v.map((x) => Math.round(Number(x) * 10) / 10), [0.5, -2, 3]);
});

test('VADD of an existing element replaces its vector and keeps its attribute unless SETATTR', async (t) => {
  const k = 'vadd:update';
  await call('VADD', k, 'VALUES', 2, 1, 0, 'a', 'NOQUANT', 'SETATTR', '{"v":1}');
  t.is(await call('VADD', k, 'VALUES', 2, 0, 5, 'a', 'NOQUANT'), 0);
  t.deepEqual(strings(await call('VEMB', k, 'a')), ['0', '5']);
  t.is(await call('VGETATTR', k, 'a'), '{"v":1}');
  t.is(await call('VADD', k, 'VALUES', 2, 0, 5, 'a', 'NOQUANT', 'SETATTR', '{"v":2}'), 0);
  t.is(await call('VGETATTR', k, 'a'), '{"v":2}');
  t.is(await call('VADD', k, 'VALUES', 2, 0, 5, 'a', 'NOQUANT', 'SETATTR', ''), 0);
  t.is(await call('VGETATTR', k, 'a'), null);
  t.is(await call('VCARD', k), 1);
});

test('VADD quantization: Q8 → int8, NOQUANT → f32, BIN → bin; M is kept', async (t) => {
  await call('VADD', 'vadd:q8', 'VALUES', 2, 1, 0, 'a');
  await call('VADD', 'vadd:f32', 'VALUES', 2, 1, 0, 'a', 'NOQUANT', 'M', 8);
  await call('VADD', 'vadd:bin', 'VALUES', 2, 1, 0, 'a', 'BIN', 'M', 1024);
  const info = async (k: string) => {
    const r = (await call('VINFO', k)) as unknown[];
    const m = new Map<string, unknown>();
    for (let i = 0; i < r.length; i += 2) m.set(String(r[i]), r[i + 1]);
    return m;
  };
  t.is((await info('vadd:q8')).get('quant-type'), 'int8');
  t.is((await info('vadd:q8')).get('hnsw-m'), 16);
  t.is((await info('vadd:f32')).get('quant-type'), 'f32');
  t.is((await info('vadd:f32')).get('hnsw-m'), 8);
  t.is((await info('vadd:bin')).get('quant-type'), 'bin');
  t.is((await info('vadd:bin')).get('hnsw-m'), 1024);
  // Redis allows M up to 4096; usearch up to 1024: a clear error, not an internal one.
  t.is(await errorOf(t, 'VADD', 'vadd:m4096', 'VALUES', 2, 1, 0, 'a', 'M', 4096), 'ERR M 4096 is over 1024, the largest this server supports');
  t.is(await io.exists('vadd:m4096'), 0);
});

test('VADD on a set made by VADD: an omitted flag is Q8, an omitted M is 16, and both must match', async (t) => {
  await call('VADD', 'vadd:strict-f32', 'VALUES', 2, 1, 0, 'a', 'NOQUANT');
  t.is(await errorOf(t, 'VADD', 'vadd:strict-f32', 'VALUES', 2, 1, 0, 'b'), 'ERR asked quantization mismatch with existing vector set');
  t.is(await errorOf(t, 'VADD', 'vadd:strict-f32', 'VALUES', 2, 1, 0, 'b', 'BIN'), 'ERR asked quantization mismatch with existing vector set');
  t.is(await call('VADD', 'vadd:strict-f32', 'VALUES', 2, 1, 0, 'b', 'NOQUANT'), 1);
  await call('VADD', 'vadd:strict-m', 'VALUES', 2, 1, 0, 'a', 'M', 32);
  t.is(await errorOf(t, 'VADD', 'vadd:strict-m', 'VALUES', 2, 1, 0, 'b'), 'ERR asked M value mismatch with existing vector set');
  t.is(await errorOf(t, 'VADD', 'vadd:strict-m', 'VALUES', 2, 1, 0, 'b', 'M', 16), 'ERR asked M value mismatch with existing vector set');
  t.is(await call('VADD', 'vadd:strict-m', 'VALUES', 2, 1, 0, 'b', 'M', 32, 'Q8'), 1);
  await call('VADD', 'vadd:strict-bin', 'VALUES', 2, 1, 0, 'a', 'BIN');
  t.is(await errorOf(t, 'VADD', 'vadd:strict-bin', 'VALUES', 2, 1, 0, 'b', 'Q8'), 'ERR asked quantization mismatch with existing vector set');
  t.is(await call('VADD', 'vadd:strict-bin', 'VALUES', 2, 1, 0, 'b', 'BIN'), 1);
});

test('VADD errors: exact texts', async (t) => {
  const k = 'vadd:errors';
  await call('VADD', k, 'VALUES', 3, 1, 0, 0, 'a');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 2, 1, 0, 'x'), 'ERR Vector dimension mismatch - got 2 but set has 3');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 'x'), 'ERR invalid vector specification'); // count > values: the element is eaten
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 2, 1, 'nan', 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 2, 1, '1e39', 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 'two', 1, 0, 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 0, 'x', 'y'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'FP32', Buffer.alloc(5), 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'FP32', Buffer.from([0, 0, 0xc0, 0x7f]), 'x'), 'ERR invalid vector specification'); // NaN
  t.is(await errorOf(t, 'VADD', k, 'VECTOR', 1, 'x', 'y'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'REDUCE', 0, 'VALUES', 1, 1, 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'REDUCE', 'x', 'VALUES', 1, 1, 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0), "ERR wrong number of arguments for 'vadd' command");
  t.is(await errorOf(t, 'VADD', k, 'FP32', fp32([1, 0, 0])), "ERR wrong number of arguments for 'vadd' command");
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'FOO'), 'ERR invalid option after element');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'EF'), 'ERR invalid option after element');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'SETATTR'), 'ERR invalid option after element');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'M'), 'ERR invalid option after element');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'REDUCE', 2), 'ERR invalid option after element');
  for (const ef of [0, -1, 1000001, 'x', '1.5']) t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'EF', ef), 'ERR invalid EF');
  for (const m of [3, 0, 4097, 'x']) t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'x', 'M', m), 'ERR invalid M');
  t.is(await errorOf(t, 'VADD', k), "ERR wrong number of arguments for 'vadd' command");
  t.is(await call('VCARD', k), 1); // nothing was added by a failed VADD
});

test('VADD checks in order: vector, options, type, quantization, M, dimension', async (t) => {
  await io.set('vadd:order:str', 'x');
  t.is(await errorOf(t, 'VADD', 'vadd:order:str', 'VALUES', 2, 1, 'x', 'e'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VADD', 'vadd:order:str', 'VALUES', 2, 1, 0, 'e', 'FOO'), 'ERR invalid option after element');
  t.is(await errorOf(t, 'VADD', 'vadd:order:str', 'VALUES', 2, 1, 0, 'e', 'M', 2), 'ERR invalid M');
  t.is(await errorOf(t, 'VADD', 'vadd:order:str', 'VALUES', 2, 1, 0, 'e'), 'WRONGTYPE Operation against a key holding the wrong kind of value');
  await call('VADD', 'vadd:order', 'VALUES', 2, 1, 0, 'a');
  t.is(await errorOf(t, 'VADD', 'vadd:order', 'VALUES', 3, 1, 0, 0, 'e', 'NOQUANT', 'M', 8), 'ERR asked quantization mismatch with existing vector set');
  t.is(await errorOf(t, 'VADD', 'vadd:order', 'VALUES', 3, 1, 0, 0, 'e', 'M', 8), 'ERR asked M value mismatch with existing vector set');
  t.is(await errorOf(t, 'VADD', 'vadd:order', 'VALUES', 3, 1, 0, 0, 'e'), 'ERR Vector dimension mismatch - got 3 but set has 2');
});

test('VADD SETATTR stores the attribute verbatim, even when it is not JSON', async (t) => {
  await call('VADD', 'vadd:attr', 'VALUES', 2, 1, 0, 'a', 'SETATTR', 'not json {');
  t.is(await call('VGETATTR', 'vadd:attr', 'a'), 'not json {');
  await call('VADD', 'vadd:attr', 'VALUES', 2, 1, 0, 'b', 'SETATTR', '  {"a" : 1 }  ');
  t.is(await call('VGETATTR', 'vadd:attr', 'b'), '  {"a" : 1 }  ');
});

// ---------------------------------------------------------------------------------------------
// VSIM

test('VSIM: nearest first, COUNT, ELE; node-redis in both protocols', async (t) => {
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const k = `vsim:nr${RESP}`;
    await c.vAdd(k, [1, 0, 0], 'a');
    await c.vAdd(k, [0, 1, 0], 'b');
    await c.vAdd(k, [-1, 0, 0], 'c');
    t.deepEqual(await c.vSim(k, [1, 0.01, 0]), ['a', 'b', 'c']);
    t.deepEqual(await c.vSim(k, [-1, 0.01, 0], { COUNT: 1 }), ['c']);
    t.deepEqual(await c.vSim(k, 'a', { COUNT: 1 }), ['a']);
    t.deepEqual(await c.vSim(k, 'c', { COUNT: 2, EF: 50, TRUTH: true, NOTHREAD: true }), ['c', 'b']);
    const s = await c.vSimWithScores(k, [1, 0, 0]);
    t.deepEqual(Object.keys(s), ['a', 'b', 'c']);
    t.true(Math.abs(s.a - 1) < 0.02 && Math.abs(s.b - 0.5) < 0.02 && Math.abs(s.c) < 0.02, JSON.stringify(s));
    t.deepEqual(await c.vSim(`vsim:none${RESP}`, [1, 0, 0]), []);
    await c.quit();
  }
});

test('VSIM reply shapes: RESP2 flat, RESP3 maps (WITHSCORES, WITHATTRIBS, both)', async (t) => {
  const k = 'vsim:shapes';
  await abc(k);
  const q = ['VSIM', k, 'VALUES', 3, 1, 0, 0];
  t.is(await raw2(q), '*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
  t.is(await raw3(q), '*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
  t.is(await raw2([...q, 'WITHSCORES']), '*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n0.5\r\n$1\r\nc\r\n$1\r\n0\r\n');
  t.is(await raw3([...q, 'WITHSCORES']), '%3\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n$1\r\nc\r\n,0\r\n');
  t.is(await raw2([...q, 'WITHATTRIBS']), '*6\r\n$1\r\na\r\n$7\r\n{"x":1}\r\n$1\r\nb\r\n$-1\r\n$1\r\nc\r\n$7\r\n{"x":3}\r\n');
  t.is(await raw3([...q, 'WITHATTRIBS']), '%3\r\n$1\r\na\r\n$7\r\n{"x":1}\r\n$1\r\nb\r\n_\r\n$1\r\nc\r\n$7\r\n{"x":3}\r\n');
  const both2 = '*9\r\n$1\r\na\r\n$1\r\n1\r\n$7\r\n{"x":1}\r\n$1\r\nb\r\n$3\r\n0.5\r\n$-1\r\n$1\r\nc\r\n$1\r\n0\r\n$7\r\n{"x":3}\r\n';
  const both3 = '%3\r\n$1\r\na\r\n*2\r\n,1\r\n$7\r\n{"x":1}\r\n$1\r\nb\r\n*2\r\n,0.5\r\n_\r\n$1\r\nc\r\n*2\r\n,0\r\n$7\r\n{"x":3}\r\n';
  t.is(await raw2([...q, 'WITHSCORES', 'WITHATTRIBS']), both2);
  t.is(await raw2([...q, 'WITHATTRIBS', 'WITHSCORES']), both2);
  t.is(await raw3([...q, 'WITHSCORES', 'WITHATTRIBS']), both3);
  // redis-py's order: the flags right after the vector, then the options.
  t.is(await raw2(['VSIM', k, 'FP32', fp32([1, 0, 0]), 'WITHSCORES', 'WITHATTRIBS', 'COUNT', 3]), both2);
});

test('VSIM on a missing key is an empty array before anything else is parsed', async (t) => {
  t.is(await raw2(['VSIM', 'vsim:missing', 'NOTHING', 'AT', 'ALL']), '*0\r\n');
  t.is(await raw3(['VSIM', 'vsim:missing', 'ELE', 'x', 'COUNT', -5]), '*0\r\n');
  await io.set('vsim:str', 'x');
  t.is(await errorOf(t, 'VSIM', 'vsim:str', 'VALUES', 1, 1), 'WRONGTYPE Operation against a key holding the wrong kind of value');
});

test('VSIM options: EPSILON, EF, FILTER, FILTER-EF, TRUTH, NOTHREAD, in any order', async (t) => {
  const k = 'vsim:options';
  await abc(k);
  const q = ['VSIM', k, 'VALUES', 3, 1, 0, 0];
  t.deepEqual(strings(await call(...q, 'EPSILON', 0.6)), ['a', 'b']);
  t.deepEqual(strings(await call(...q, 'EPSILON', 0.1)), ['a']);
  t.deepEqual(strings(await call(...q, 'EPSILON', 2)), ['a', 'b', 'c']);
  t.deepEqual(strings(await call(...q, 'FILTER', '.x > 2')), ['c']);
  t.deepEqual(strings(await call(...q, 'FILTER', '.x >= 1', 'FILTER-EF', 10)), ['a', 'c']);
  t.deepEqual(strings(await call(...q, 'FILTER', '.nope == 1')), []);
  t.deepEqual(strings(await call(...q, 'TRUTH', 'COUNT', 2, 'NOTHREAD', 'EF', 1)), ['a', 'b']);
  t.deepEqual(strings(await call(...q, 'count', 2, 'ef', 1000000, 'truth', 'nothread', 'filter-ef', 1, 'filter', '.x == 1')), ['a']);
  t.deepEqual(strings(await call('VSIM', k, 'ELE', 'c', 'COUNT', 1)), ['c']);
  t.deepEqual(strings(await call(...q, 'COUNT', 1000000)), ['a', 'b', 'c']);
});

test('VSIM errors: exact texts', async (t) => {
  const k = 'vsim:errors';
  await abc(k);
  const q = ['VSIM', k, 'VALUES', 3, 1, 0, 0];
  for (const v of [0, -1, 'x']) t.is(await errorOf(t, ...q, 'COUNT', v), 'ERR invalid COUNT');
  for (const v of [0, -0.5, 'x']) t.is(await errorOf(t, ...q, 'EPSILON', v), 'ERR invalid EPSILON');
  for (const v of [0, -1, 'x', 1000001]) t.is(await errorOf(t, ...q, 'EF', v), 'ERR invalid EF');
  for (const v of [0, -1, 'x']) t.is(await errorOf(t, ...q, 'FILTER-EF', v), 'ERR invalid FILTER-EF');
  t.is(await errorOf(t, ...q, 'FOO'), 'ERR syntax error in VSIM command');
  t.is(await errorOf(t, ...q, 'COUNT'), 'ERR syntax error in VSIM command');
  t.is(await errorOf(t, ...q, 'WITHPAYLOADS'), 'ERR syntax error in VSIM command');
  t.is(await errorOf(t, ...q, 'FILTER', '.x == '), 'ERR syntax error in FILTER expression near: ');
  t.is(await errorOf(t, ...q, 'FILTER', '.x == 1 and ) or 2'), 'ERR syntax error in FILTER expression near: ) or 2');
  t.is(await errorOf(t, 'VSIM', k, 'ELE', 'nope'), 'ERR element not found in set');
  t.is(await errorOf(t, 'VSIM', k, 'VALUES', 2, 1, 0), 'ERR Vector dimension mismatch - got 2 but set has 3');
  t.is(await errorOf(t, 'VSIM', k, 'FP32', fp32([1, 0])), 'ERR Vector dimension mismatch - got 2 but set has 3');
  t.is(await errorOf(t, 'VSIM', k, 'VALUES', 3, 1, 0), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VSIM', k, 'FP32', Buffer.alloc(3)), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VSIM', k, 'VECTOR', 'x'), 'ERR invalid vector specification');
  t.is(await errorOf(t, 'VSIM', k, 'ELE'), "ERR wrong number of arguments for 'vsim' command");
  // The query is checked before the options.
  t.is(await errorOf(t, 'VSIM', k, 'ELE', 'nope', 'FOO'), 'ERR element not found in set');
  t.is(await errorOf(t, 'VSIM', k, 'VALUES', 2, 1, 0, 'COUNT', 0), 'ERR Vector dimension mismatch - got 2 but set has 3');
});

// ---------------------------------------------------------------------------------------------
// VREM, VCARD, VDIM, VISMEMBER

test('VREM removes one element, replies a boolean, and the last one deletes the key', async (t) => {
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const k = `vrem:nr${RESP}`;
    await c.vAdd(k, [1, 2], 'x');
    await c.vAdd(k, [2, 1], 'y');
    t.true(await c.vRem(k, 'x'));
    t.false(await c.vRem(k, 'x'));
    t.false(await c.vRem(`vrem:none${RESP}`, 'x'));
    t.is(await c.exists(k), 1);
    t.true(await c.vRem(k, 'y'));
    t.is(await c.exists(k), 0);
    await c.quit();
  }
  t.is(await raw3(['VADD', 'vrem:raw', 'VALUES', 1, 1, 'a'], ['VREM', 'vrem:raw', 'a'], ['VREM', 'vrem:raw', 'a']), '#t\r\n#t\r\n#f\r\n');
  t.is(await raw2(['VADD', 'vrem:raw', 'VALUES', 1, 1, 'a'], ['VREM', 'vrem:raw', 'a'], ['VREM', 'vrem:raw', 'a']), ':1\r\n:1\r\n:0\r\n');
  t.is(await errorOf(t, 'VREM', 'vrem:raw', 'a', 'b'), "ERR wrong number of arguments for 'vrem' command");
});

test('VCARD, VDIM, VISMEMBER', async (t) => {
  const k = 'vcard';
  await abc(k);
  t.is(await call('VCARD', k), 3);
  t.is(await call('VCARD', 'vcard:none'), 0);
  t.is(await call('VDIM', k), 3);
  t.is(await errorOf(t, 'VDIM', 'vcard:none'), 'ERR key does not exist');
  t.is(await raw2(['VISMEMBER', k, 'a'], ['VISMEMBER', k, 'zz'], ['VISMEMBER', 'vcard:none', 'a']), ':1\r\n:0\r\n:0\r\n');
  t.is(await raw3(['VISMEMBER', k, 'a'], ['VISMEMBER', k, 'zz'], ['VCARD', k]), '#t\r\n#f\r\n:3\r\n');
});

// ---------------------------------------------------------------------------------------------
// VEMB

test('VEMB: the vector as given (NOQUANT), dequantized × norm (Q8), ±1 (BIN); node-redis', async (t) => {
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const k = `vemb:nr${RESP}`;
    await c.vAdd(k, [3, -1, 0.5, 2], 'q8');
    const v = await c.vEmb(k, 'q8');
    t.is(v.length, 4);
    [3, -1, 0.5, 2].forEach((x, i) => t.true(Math.abs(v[i] - x) < 0.05, `${v[i]} ≈ ${x}`));
    await c.vAdd(`${k}:f32`, [3, -1, 0.5, 2], 'f', { QUANT: 'NOQUANT' });
    t.deepEqual(await c.vEmb(`${k}:f32`, 'f'), [3, -1, 0.5, 2]);
    await c.vAdd(`${k}:bin`, [3, -1, 0.5, -2], 'b', { QUANT: 'BIN' });
    t.deepEqual(await c.vEmb(`${k}:bin`, 'b'), [1, -1, 1, -1]);
    // node-redis's VEMB parser cannot take the null reply (RESP2): ask with sendCommand.
    t.is(await c.sendCommand(['VEMB', k, 'none']), null);
    t.is(await c.sendCommand(['VEMB', `vemb:none${RESP}`, 'x']), null);
    await c.quit();
  }
});

test('VEMB RAW: [f32|int8|bin, blob, l2, range?]', async (t) => {
  await call('VADD', 'vemb:raw:f32', 'VALUES', 2, 3, 4, 'a', 'NOQUANT');
  const f = (await io.callBuffer('VEMB', 'vemb:raw:f32', 'a', 'RAW')) as Buffer[];
  t.is(f.length, 3);
  t.is(String(f[0]), 'f32');
  t.deepEqual(Array.from(new Float32Array(new Uint8Array(f[1]).buffer)), [Math.fround(0.6), Math.fround(0.8)]);
  t.is(Number(String(f[2])), 5);

  await call('VADD', 'vemb:raw:q8', 'VALUES', 4, 3, -1, 0.5, 2, 'a');
  const q = (await io.callBuffer('VEMB', 'vemb:raw:q8', 'a', 'RAW')) as Buffer[];
  t.is(q.length, 4);
  t.is(String(q[0]), 'int8');
  const ints = Array.from(new Int8Array(new Uint8Array(q[1]).buffer));
  // Redis: round(x·127/range) of the unit vector x, range = max|x|.
  [127, -42, 21, 85].forEach((x, i) => t.true(Math.abs(ints[i] - x) <= 2, `${ints} ≈ 127,-42,21,85`));
  const norm = Math.sqrt(9 + 1 + 0.25 + 4);
  t.true(Math.abs(Number(String(q[2])) - norm) < 0.05, String(q[2]));
  t.true(Math.abs(Number(String(q[3])) - 3 / norm) < 0.02, String(q[3]));

  await call('VADD', 'vemb:raw:bin', 'VALUES', 70, ...Array.from({ length: 70 }, (_, i) => (i % 3 === 0 ? 1 : -1)), 'a', 'BIN');
  const b = (await io.callBuffer('VEMB', 'vemb:raw:bin', 'a', 'RAW')) as Buffer[];
  t.is(String(b[0]), 'bin');
  t.is(b[1].length, 16); // two 64-bit words
  for (let j = 0; j < 70; j++) t.is((b[1][j >> 3] >> (j & 7)) & 1, j % 3 === 0 ? 1 : 0);
  t.is(b.length, 3);

  // node-redis's parser of the RAW form, in both protocols.
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const r = await c.vEmbRaw('vemb:raw:f32', 'a');
    t.is(String(r.quantization), 'f32');
    t.is(Number(r.l2Norm), 5);
    await c.quit();
  }
});

test('VEMB errors and nulls: RESP2 $-1, RESP3 _', async (t) => {
  await call('VADD', 'vemb:err', 'VALUES', 1, 1, 'a');
  t.is(await errorOf(t, 'VEMB', 'vemb:err', 'a', 'FOO'), 'ERR invalid option');
  t.is(await errorOf(t, 'VEMB', 'vemb:err', 'a', 'RAW', 'FOO'), 'ERR invalid option');
  t.is(await errorOf(t, 'VEMB', 'vemb:none', 'a', 'FOO'), 'ERR invalid option');
  t.is(((await call('VEMB', 'vemb:err', 'a', 'raw', 'RAW')) as unknown[]).length, 4); // RAW may repeat
  t.is(await raw2(['VEMB', 'vemb:err', 'zz'], ['VEMB', 'vemb:none', 'a']), '$-1\r\n$-1\r\n');
  t.is(await raw3(['VEMB', 'vemb:err', 'zz'], ['VEMB', 'vemb:none', 'a', 'RAW']), '_\r\n_\r\n');
  t.is(await raw2(['VEMB', 'vemb:err', 'a']), '*1\r\n$1\r\n1\r\n');
  t.is(await raw3(['VEMB', 'vemb:err', 'a']), '*1\r\n,1\r\n');
});

// ---------------------------------------------------------------------------------------------
// VSETATTR, VGETATTR

test('VSETATTR / VGETATTR: verbatim, "" removes, booleans, node-redis JSON', async (t) => {
  const k = 'vattr';
  await call('VADD', k, 'VALUES', 1, 1, 'a');
  t.is(await raw2(['VSETATTR', k, 'a', '{"n":1}'], ['VSETATTR', k, 'zz', '{}'], ['VSETATTR', 'vattr:none', 'a', '{}']), ':1\r\n:0\r\n:0\r\n');
  t.is(await raw3(['VSETATTR', k, 'a', '{"n":2}'], ['VGETATTR', k, 'a'], ['VGETATTR', k, 'zz'], ['VGETATTR', 'vattr:none', 'a']), '#t\r\n$7\r\n{"n":2}\r\n_\r\n_\r\n');
  t.is(await call('VSETATTR', k, 'a', '[1, 2 ,3'), 1); // never validated
  t.is(await call('VGETATTR', k, 'a'), '[1, 2 ,3');
  t.deepEqual(strings(await call('VSIM', k, 'VALUES', 1, 1, 'FILTER', '.n == 2')), []); // bad JSON never matches
  t.is(await call('VSETATTR', k, 'a', ''), 1);
  t.is(await call('VGETATTR', k, 'a'), null);
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    t.true(await c.vSetAttr(k, 'a', { year: 1990, g: 'x' }));
    t.deepEqual(await c.vGetAttr(k, 'a'), { year: 1990, g: 'x' });
    t.deepEqual(await c.vSim(k, [1], { FILTER: '.year > 1980 and .g == "x"' }), ['a']);
    t.false(await c.vSetAttr(k, 'zz', { a: 1 }));
    t.is(await c.vGetAttr(k, 'zz'), null);
    await c.quit();
  }
  const info = (await call('VINFO', k)) as unknown[];
  t.is(info[info.indexOf('attributes-count') + 1], 1);
});

test.serial('attributes respect vec-max-payload-bytes (VSETATTR and VADD SETATTR)', async (t) => {
  const before = ((await call('CONFIG', 'GET', 'vec-max-payload-bytes')) as string[])[1];
  await call('CONFIG', 'SET', 'vec-max-payload-bytes', '16');
  try {
    await call('VADD', 'vattr:limit', 'VALUES', 1, 1, 'a', 'SETATTR', '{"a":"0123456"}');
    t.is(await call('VGETATTR', 'vattr:limit', 'a'), '{"a":"0123456"}');
    t.regex(await errorOf(t, 'VSETATTR', 'vattr:limit', 'a', '{"a":"012345678"}'), /^ERR attribute of 17 bytes is over the limit of 16/);
    t.regex(await errorOf(t, 'VADD', 'vattr:limit', 'VALUES', 1, 1, 'b', 'SETATTR', '{"a":"012345678"}'), /^ERR attribute of 17 bytes/);
    t.is(await call('VCARD', 'vattr:limit'), 1);
    t.is(await call('VGETATTR', 'vattr:limit', 'a'), '{"a":"0123456"}');
  } finally {
    await call('CONFIG', 'SET', 'vec-max-payload-bytes', before);
  }
});

// ---------------------------------------------------------------------------------------------
// VINFO

test('VINFO: the fields in order; RESP2 *-1 / RESP3 _ for a missing key; node-redis', async (t) => {
  const k = 'vinfo';
  await abc(k);
  const r = (await call('VINFO', k)) as unknown[];
  t.deepEqual(r.filter((_, i) => i % 2 === 0), ['quant-type', 'hnsw-m', 'vector-dim', 'projection-input-dim', 'size', 'max-level', 'attributes-count', 'vset-uid', 'hnsw-max-node-uid']);
  t.deepEqual(r.slice(0, 12), ['quant-type', 'f32', 'hnsw-m', 16, 'vector-dim', 3, 'projection-input-dim', 0, 'size', 3, 'max-level', r[11]]);
  t.is(r[13], 2);
  t.true(typeof r[15] === 'number' && (r[15] as number) > 0);
  t.true((r[17] as number) >= 3);
  t.regex(await raw2(['VINFO', k]), /^\*18\r\n\+quant-type\r\n\+f32\r\n\+hnsw-m\r\n:16\r\n\+vector-dim\r\n:3\r\n/);
  t.regex(await raw3(['VINFO', k]), /^%9\r\n\+quant-type\r\n\+f32\r\n/);
  t.is(await raw2(['VINFO', 'vinfo:none']), '*-1\r\n');
  t.is(await raw3(['VINFO', 'vinfo:none']), '_\r\n');
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const i = await c.vInfo(k);
    t.is(i['quant-type'], 'f32');
    t.is(Number(i['vector-dim']), 3);
    t.is(Number(i.size), 3);
    await c.quit();
  }
});

// ---------------------------------------------------------------------------------------------
// VLINKS

test('VLINKS: neighbours per level, WITHSCORES maps; node-redis', async (t) => {
  const k = 'vlinks';
  await abc(k);
  const levels = (await call('VLINKS', k, 'a')) as Buffer[][];
  t.true(levels.length >= 1);
  t.deepEqual(strings(levels[levels.length - 1]).sort(), ['b', 'c']);
  const scored = (await call('VLINKS', k, 'a', 'WITHSCORES')) as unknown[][];
  const bottom = scored[scored.length - 1].map(String);
  const m = new Map<string, number>();
  for (let i = 0; i < bottom.length; i += 2) m.set(bottom[i], Number(bottom[i + 1]));
  t.deepEqual([...m.keys()].sort(), ['b', 'c']);
  t.true(Math.abs(m.get('b')! - 0.5) < 1e-6 && Math.abs(m.get('c')!) < 1e-6, JSON.stringify([...m]));
  t.regex(await raw3(['VLINKS', k, 'a', 'WITHSCORES']), /^\*\d+\r\n(%\d+\r\n[^]*)+$/);
  t.is(await raw2(['VLINKS', k, 'zz'], ['VLINKS', 'vlinks:none', 'a']), '$-1\r\n$-1\r\n');
  t.is(await raw3(['VLINKS', k, 'zz']), '_\r\n');
  t.is(await errorOf(t, 'VLINKS', k, 'a', 'FOO'), "ERR wrong number of arguments for 'vlinks' command");
  t.is(await errorOf(t, 'VLINKS', k, 'a', 'WITHSCORES', 'x'), "ERR wrong number of arguments for 'vlinks' command");
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const plain = await c.vLinks(k, 'b');
    t.true(plain.flat().includes('a'));
    const ws = await c.vLinksWithScores(k, 'b');
    const last = ws[ws.length - 1];
    t.true(Math.abs(Number(last.a) - 0.5) < 1e-6, JSON.stringify(ws));
    await c.quit();
  }
});

// ---------------------------------------------------------------------------------------------
// VRANDMEMBER, VRANGE

test('VRANDMEMBER: one, distinct, repeats, zero, missing, errors', async (t) => {
  const k = 'vrand';
  const names = ['a', 'b', 'c', 'd', 'e'];
  for (const [i, n] of names.entries()) await call('VADD', k, 'VALUES', 2, 1, i, n);
  t.true(names.includes(String(await call('VRANDMEMBER', k))));
  const three = strings(await call('VRANDMEMBER', k, 3));
  t.is(three.length, 3);
  t.is(new Set(three).size, 3);
  t.deepEqual(strings(await call('VRANDMEMBER', k, 10)).sort(), names);
  const many = strings(await call('VRANDMEMBER', k, -20));
  t.is(many.length, 20);
  t.true(many.every((x) => names.includes(x)));
  t.true(new Set(many).size < 20);
  t.deepEqual(await call('VRANDMEMBER', k, 0), []);
  t.is(await raw2(['VRANDMEMBER', 'vrand:none'], ['VRANDMEMBER', 'vrand:none', 3], ['VRANDMEMBER', 'vrand:none', -3]), '$-1\r\n*0\r\n*0\r\n');
  t.is(await raw3(['VRANDMEMBER', 'vrand:none']), '_\r\n');
  t.is(await errorOf(t, 'VRANDMEMBER', k, 'x'), 'ERR COUNT value is not an integer');
  t.is(await errorOf(t, 'VRANDMEMBER', 'vrand:none', '1.5'), 'ERR COUNT value is not an integer');
  t.is(await errorOf(t, 'VRANDMEMBER', k, 1, 2), "ERR wrong number of arguments for 'vrandmember' command");
  for (const RESP of [3, 2] as const) {
    const c = await nodeRedis(RESP);
    const r = await c.vRandMember(k, 2);
    t.is(r.length, 2);
    t.is(new Set(r).size, 2);
    await c.quit();
  }
});

test('VRANGE: byte order, bounds, count, errors', async (t) => {
  const k = 'vrange';
  // Byte order differs from JS (UTF-16) order: U+FF5E is EF BD BE, U+1F600 is F0 9F 98 80.
  const names = ['b', 'a', 'c', 'ab', '\uFF5E', '\u{1F600}'];
  for (const n of names) await call('VADD', k, 'VALUES', 1, 1, n);
  await call('VADD', k, 'VALUES', 1, 1, Buffer.from([0xff, 0x00]));
  const all = (await io.callBuffer('VRANGE', k, '-', '+')) as Buffer[];
  t.deepEqual(all.slice(0, 6).map((b) => b.toString('utf8')), ['a', 'ab', 'b', 'c', '\uFF5E', '\u{1F600}']);
  t.deepEqual(all[6], Buffer.from([0xff, 0x00]));
  t.deepEqual(strings(await call('VRANGE', k, '-', '+', 2)), ['a', 'ab']);
  t.deepEqual(strings(await call('VRANGE', k, '[ab', '[c')), ['ab', 'b', 'c']);
  t.deepEqual(strings(await call('VRANGE', k, '(ab', '(c')), ['b']);
  t.deepEqual(strings(await call('VRANGE', k, '(a', '+', 1)), ['ab']);
  t.deepEqual(strings(await call('VRANGE', k, '[b', '[b')), ['b']);
  t.deepEqual(strings(await call('VRANGE', k, '[c', '[b')), []);
  t.deepEqual(strings(await call('VRANGE', k, '[', '(b')), ['a', 'ab']);
  t.is((await call('VRANGE', k, '-', '+', -1) as unknown[]).length, 7);
  t.deepEqual(await call('VRANGE', k, '-', '+', 0), []);
  t.deepEqual(await call('VRANGE', 'vrange:none', '-', '+'), []);
  t.is(await errorOf(t, 'VRANGE', k, 'a', '+'), 'ERR invalid start range format');
  t.is(await errorOf(t, 'VRANGE', k, '', '+'), 'ERR invalid start range format');
  t.is(await errorOf(t, 'VRANGE', k, '-', 'b'), 'ERR invalid end range format');
  t.is(await errorOf(t, 'VRANGE', k, '+', '+'), "ERR '-' can only be used as first argument, '+' only as second");
  t.is(await errorOf(t, 'VRANGE', k, '-', '-'), "ERR '-' can only be used as first argument, '+' only as second");
  t.is(await errorOf(t, 'VRANGE', k, '-', '+', 'x'), 'ERR invalid COUNT value');
  t.is(await errorOf(t, 'VRANGE', k, '-', '+', 1, 2), "ERR wrong number of arguments for 'vrange' command");
  const c = await nodeRedis(3);
  t.deepEqual(await c.vRange(k, '[a', '[b'), ['a', 'ab', 'b']);
  await c.quit();
});

// ---------------------------------------------------------------------------------------------
// WRONGTYPE, command table

test('every V* command answers WRONGTYPE on a non-vector key', async (t) => {
  await io.set('vwrong', 'x');
  const wrong = 'WRONGTYPE Operation against a key holding the wrong kind of value';
  for (const args of [
    ['VADD', 'vwrong', 'VALUES', 1, 1, 'a'], ['VSIM', 'vwrong', 'VALUES', 1, 1], ['VREM', 'vwrong', 'a'], ['VCARD', 'vwrong'],
    ['VDIM', 'vwrong'], ['VEMB', 'vwrong', 'a'], ['VGETATTR', 'vwrong', 'a'], ['VSETATTR', 'vwrong', 'a', '{}'], ['VINFO', 'vwrong'],
    ['VLINKS', 'vwrong', 'a'], ['VRANDMEMBER', 'vwrong'], ['VISMEMBER', 'vwrong', 'a'], ['VRANGE', 'vwrong', '-', '+'],
  ] as Arg[][]) {
    t.is(await errorOf(t, ...args), wrong, String(args[0]));
  }
});

test('the V* commands are in the command table with flags, arity and argument docs', async (t) => {
  const writes = new Set(['vadd', 'vrem', 'vsetattr']);
  const names = ['vadd', 'vsim', 'vrem', 'vcard', 'vdim', 'vemb', 'vgetattr', 'vsetattr', 'vinfo', 'vlinks', 'vrandmember', 'vismember', 'vrange'];
  const info = (await call('COMMAND', 'INFO', ...names)) as unknown[][];
  for (const [i, name] of names.entries()) {
    t.is(info[i][0], name);
    const flags = info[i][2] as string[];
    t.true(flags.includes(writes.has(name) ? 'write' : 'readonly'), `${name}: ${flags}`);
    t.is(info[i][3], 1);
  }
  const docs = (await call('COMMAND', 'DOCS', 'vsim', 'vadd')) as unknown[];
  const text = JSON.stringify(docs);
  for (const token of ['ELE', 'FP32', 'VALUES', 'WITHSCORES', 'WITHATTRIBS', 'COUNT', 'EPSILON', 'EF', 'FILTER', 'FILTER-EF', 'TRUTH', 'NOTHREAD', 'REDUCE', 'CAS', 'NOQUANT', 'BIN', 'Q8', 'SETATTR', 'M']) {
    t.true(text.includes(`"${token}"`), token);
  }
  t.true(text.includes('summary'));
});

// ---------------------------------------------------------------------------------------------
// Cross-family use

test('a VEC.CREATE COSINE set serves VSIM (score 1 − d/2) and VADD with the set\'s own parameters', async (t) => {
  const k = 'cross:vec';
  await call('VEC.CREATE', k, 'DIM', 3, 'METRIC', 'COSINE', 'QUANT', 'F32');
  t.deepEqual(await call('VSIM', k, 'VALUES', 3, 1, 0, 0), []); // empty but present
  await call('VEC.ADD', k, 'a', 'VALUES', 3, 1, 0, 0, 'PAYLOAD', '{"g":"x"}');
  await call('VEC.ADD', k, 'b', 'VALUES', 3, 0, 1, 0);
  t.is(await call('VADD', k, 'VALUES', 3, -1, 0, 0, 'c'), 1); // omitted flag and M: the set's own
  t.is(await call('VADD', k, 'VALUES', 3, -1, 0, 0, 'c', 'NOQUANT', 'M', 16), 0);
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'd', 'Q8'), 'ERR asked quantization mismatch with existing vector set');
  t.is(await errorOf(t, 'VADD', k, 'VALUES', 3, 1, 0, 0, 'd', 'M', 8), 'ERR asked M value mismatch with existing vector set');
  t.deepEqual(strings(await call('VSIM', k, 'VALUES', 3, 1, 0, 0, 'WITHSCORES')), ['a', '1', 'b', '0.5', 'c', '0']);
  t.is(await call('VGETATTR', k, 'a'), '{"g":"x"}');
  t.deepEqual(strings(await call('VSIM', k, 'ELE', 'b', 'FILTER', '.g == "x"')), ['a']);
  // An explicit set stays when VREM empties it.
  for (const e of ['a', 'b', 'c']) await call('VREM', k, e);
  t.is(await io.exists(k), 1);
  t.is(await call('VCARD', k), 0);
  // A VEC.ADD (implicit, F16) set: VADD with no flags uses its parameters too.
  await call('VEC.ADD', 'cross:f16', 'a', 'VALUES', 2, 1, 0, 'QUANT', 'F16');
  t.is(await call('VADD', 'cross:f16', 'VALUES', 2, 0, 1, 'b'), 1);
  t.is(await errorOf(t, 'VADD', 'cross:f16', 'VALUES', 2, 0, 1, 'c', 'NOQUANT'), 'ERR asked quantization mismatch with existing vector set');
  const r = (await call('VINFO', 'cross:f16')) as unknown[];
  t.is(r[1], 'f16');
  const emb = strings(await call('VEMB', 'cross:f16', 'b')).map(Number);
  t.deepEqual(emb, [0, 1]);
});

test('a VADD set is read by VEC.SEARCH, VEC.GET, VEC.INFO and VEC.DEL', async (t) => {
  const k = 'cross:vadd';
  await abc(k);
  const r = strings(await call('VEC.SEARCH', k, 'VALUES', 3, 1, 0, 0, 'WITHSCORES'));
  t.deepEqual(r, ['a', '0', 'b', '1', 'c', '2']); // VEC.* reports the distance itself
  const got = (await call('VEC.GET', k, 'c')) as unknown[];
  t.deepEqual(strings(got[1]), ['-1', '0', '0']);
  t.is(got[3], '{"x":3}');
  const info = (await call('VEC.INFO', k)) as unknown[];
  t.is(info[info.indexOf('metric') + 1], 'COSINE');
  t.is(info[info.indexOf('quant') + 1], 'F32');
  t.is(info[info.indexOf('ef_construction') + 1], 200);
  t.is(await call('VEC.DEL', k, 'a', 'b'), 2);
  t.deepEqual(strings(await call('VSIM', k, 'ELE', 'c')), ['c']);
  // Q8 → QUANT I8, BIN → B1 with HAMMING.
  await call('VADD', 'cross:q8', 'VALUES', 2, 1, 0, 'a');
  await call('VADD', 'cross:bin', 'VALUES', 2, 1, 0, 'a', 'BIN');
  const q8 = (await call('VEC.INFO', 'cross:q8')) as unknown[];
  const bin = (await call('VEC.INFO', 'cross:bin')) as unknown[];
  t.is(q8[q8.indexOf('quant') + 1], 'I8');
  t.is(bin[bin.indexOf('quant') + 1], 'B1');
  t.is(bin[bin.indexOf('metric') + 1], 'HAMMING');
});

test('L2 and IP sets are refused by VADD and VSIM (other V* commands still read them)', async (t) => {
  await call('VEC.CREATE', 'cross:l2', 'DIM', 2, 'METRIC', 'L2');
  await call('VEC.ADD', 'cross:l2', 'a', 'VALUES', 2, 1, 0);
  t.is(await errorOf(t, 'VADD', 'cross:l2', 'VALUES', 2, 1, 0, 'b'), 'ERR VADD needs a COSINE vector set');
  t.is(await errorOf(t, 'VSIM', 'cross:l2', 'VALUES', 2, 1, 0), 'ERR VSIM needs a COSINE vector set');
  t.is(await errorOf(t, 'VLINKS', 'cross:l2', 'a', 'WITHSCORES'), 'ERR VLINKS needs a COSINE vector set');
  await call('VEC.CREATE', 'cross:ip', 'DIM', 2, 'METRIC', 'IP');
  t.is(await errorOf(t, 'VSIM', 'cross:ip', 'VALUES', 2, 1, 0), 'ERR VSIM needs a COSINE vector set');
  t.is(await call('VCARD', 'cross:l2'), 1);
  t.is(await call('VISMEMBER', 'cross:l2', 'a'), 1);
  t.deepEqual(strings(await call('VEMB', 'cross:l2', 'a')), ['1', '0']);
  t.is(((await call('VINFO', 'cross:l2')) as unknown[])[1], 'f32');
});

// ---------------------------------------------------------------------------------------------
// Zero vectors, BIN scores

test('zero vectors are accepted by VADD: score 0.5 to everything, VEMB gives zeros', async (t) => {
  for (const quant of [[], ['NOQUANT']]) {
    const k = `zero:${quant.join() || 'q8'}`;
    await call('VADD', k, 'VALUES', 3, 1, 0, 0, 'a', ...quant);
    t.is(await call('VADD', k, 'VALUES', 3, 0, 0, 0, 'z', ...quant), 1);
    t.is(await call('VADD', k, 'FP32', fp32([-0, 0, 0]), 'z2', ...quant), 1);
    await call('VADD', k, 'VALUES', 3, -1, 0, 0, 'c', ...quant);
    const r = strings(await call('VSIM', k, 'VALUES', 3, 1, 0, 0, 'WITHSCORES'));
    t.deepEqual([r[0], r[1]], ['a', '1']);
    t.deepEqual(r.slice(2, 6).filter((_, i) => i % 2 === 1), ['0.5', '0.5']);
    t.deepEqual(r.slice(6), ['c', '0']);
    t.deepEqual(strings(await call('VEMB', k, 'z')).map(Number), [0, 0, 0]);
    const fromZero = strings(await call('VSIM', k, 'ELE', 'z', 'WITHSCORES'));
    t.is(fromZero.length, 8);
    t.true(fromZero.filter((_, i) => i % 2 === 1).every((s) => s === '0.5'), fromZero.join());
    t.deepEqual(strings(await call('VSIM', k, 'VALUES', 3, 0, 0, 0, 'COUNT', 2, 'WITHSCORES')).filter((_, i) => i % 2 === 1), ['0.5', '0.5']);
    t.is(await call('VCARD', k), 4);
    t.is(await call('VREM', k, 'z'), 1);
    t.is(await call('VCARD', k), 3);
  }
  await call('VADD', 'zero:raw', 'VALUES', 2, 0, 0, 'z', 'NOQUANT');
  const raw = (await io.callBuffer('VEMB', 'zero:raw', 'z', 'RAW')) as Buffer[];
  t.is(String(raw[0]), 'f32');
  t.deepEqual(raw[1], Buffer.alloc(8));
  t.is(String(raw[2]), '0');
});

test('BIN sets score 1 − hamming/dim', async (t) => {
  const k = 'bin:scores';
  await call('VADD', k, 'VALUES', 4, 1, -1, 1, -1, 'e', 'BIN');
  await call('VADD', k, 'VALUES', 4, 1, 1, 1, 1, 'f', 'BIN');
  await call('VADD', k, 'VALUES', 4, -1, 1, -1, 1, 'g', 'BIN');
  t.deepEqual(strings(await call('VSIM', k, 'ELE', 'e', 'WITHSCORES')), ['e', '1', 'f', '0.5', 'g', '0']);
  t.deepEqual(strings(await call('VSIM', k, 'VALUES', 4, 0.3, -2, 5, -1, 'WITHSCORES', 'COUNT', 1)), ['e', '1']);
  t.deepEqual(strings(await call('VSIM', k, 'VALUES', 4, 1, 1, 1, -1, 'WITHSCORES', 'COUNT', 3)).slice(4), ['g', '0.25']);
});

// ---------------------------------------------------------------------------------------------
// REDUCE

test('projection: P[i][j] = ±1/√in, + when popcount(i & j) is even', (t) => {
  const p = new Projection(11, 5);
  const popEven = (x: number) => { let c = 0; while (x) { c += x & 1; x >>>= 1; } return c % 2 === 0; };
  for (let i = 0; i < 5; i++) for (let j = 0; j < 11; j++) t.is(p.sign(i, j), popEven(i & j) ? 1 : -1);
  const x = Float32Array.from({ length: 11 }, (_, j) => Math.sin(j + 1) * 3);
  const y = p.project(x);
  t.is(y.length, 5);
  for (let i = 0; i < 5; i++) {
    let s = 0;
    for (let j = 0; j < 11; j++) s += (popEven(i & j) ? 1 : -1) * x[j];
    t.true(Math.abs(y[i] - s / Math.sqrt(11)) < 1e-5, `${y[i]} vs ${s / Math.sqrt(11)}`);
  }
  t.is(projectionFor(11, 5), projectionFor(11, 5));
  t.is(projectionOf({ dim: 5, projectInputDim: 11 }), projectionFor(11, 5));
  t.is(projectionOf({ dim: 5, projectInputDim: 0 }), null);
  // Larger output than input works too (the transform pads to a power of two).
  t.is(new Projection(3, 9).project(Float32Array.from([1, 2, 3])).length, 9);
});

test('REDUCE: projected sets, VINFO/VDIM/VEMB, projected queries, and their errors', async (t) => {
  const k = 'reduce';
  const d = 16, r = 4;
  const vec = (seed: number) => Array.from({ length: d }, (_, j) => Math.sin(seed * 7 + j) + (j === seed ? 3 : 0));
  for (let e = 0; e < 8; e++) t.is(await call('VADD', k, 'REDUCE', r, 'VALUES', d, ...vec(e), `e${e}`, 'NOQUANT'), 1);
  t.is(await call('VDIM', k), r);
  const info = (await call('VINFO', k)) as unknown[];
  t.is(info[info.indexOf('vector-dim') + 1], r);
  t.is(info[info.indexOf('projection-input-dim') + 1], d);
  const emb = strings(await call('VEMB', k, 'e3')).map(Number);
  const expected = projectionFor(d, r).project(Float32Array.from(vec(3)));
  t.is(emb.length, r);
  emb.forEach((x, i) => t.true(Math.abs(x - expected[i]) < 1e-5));
  // A full-dimension query is projected first: each element is its own nearest.
  for (let e = 0; e < 8; e++) t.is(strings(await call('VSIM', k, 'VALUES', d, ...vec(e), 'COUNT', 1))[0], `e${e}`);
  t.is(strings(await call('VSIM', k, 'ELE', 'e5', 'COUNT', 1))[0], 'e5');
  // node-redis sends REDUCE right before the vector.
  const c = await nodeRedis(3);
  t.true(await c.vAdd(k, vec(9), 'e9', { REDUCE: r, QUANT: 'NOQUANT' }));
  await c.quit();
  t.is(await errorOf(t, 'VADD', k, 'REDUCE', r, 'VALUES', 3, 1, 2, 3, 'x', 'NOQUANT'), `ERR Input dimension mismatch for projection - got 3 but projection expects ${d}`);
  // A projected set needs its REDUCE on every VADD (Redis reports it as a dimension mismatch).
  t.is(await errorOf(t, 'VADD', k, 'REDUCE', 5, 'VALUES', d, ...vec(1), 'x', 'NOQUANT'), `ERR Vector dimension mismatch - got ${d} but set has ${r}`);
  t.is(await errorOf(t, 'VADD', k, 'VALUES', d, ...vec(1), 'x', 'NOQUANT'), `ERR Vector dimension mismatch - got ${d} but set has ${r}`);
  t.is(await errorOf(t, 'VADD', k, 'VALUES', r, 1, 2, 3, 4, 'x', 'NOQUANT'), `ERR Vector dimension mismatch - got ${r} but set has ${r}`);
  t.is(await errorOf(t, 'VSIM', k, 'VALUES', 5, 1, 2, 3, 4, 5), `ERR Input dimension mismatch for projection - got 5 but projection expects ${d}`);
  // A query of the reduced dimension is used as is.
  t.deepEqual(strings(await call('VSIM', k, 'VALUES', r, ...Array.from(expected), 'COUNT', 1)), ['e3']);
  await call('VADD', 'reduce:plain', 'VALUES', r, 1, 2, 3, 4, 'a');
  t.is(await errorOf(t, 'VADD', 'reduce:plain', 'REDUCE', 2, 'VALUES', r, 1, 2, 3, 4, 'x'), 'ERR cannot add projection to existing set without projection');
  t.is(await errorOf(t, 'VADD', 'reduce:plain', 'REDUCE', 2, 'VALUES', d, ...vec(1), 'x'), `ERR Vector dimension mismatch - got ${d} but set has ${r}`);
  // Q8 by default with REDUCE, too.
  await call('VADD', 'reduce:q8', 'REDUCE', 2, 'VALUES', 4, 1, 2, 3, 4, 'a');
  const q8 = (await call('VINFO', 'reduce:q8')) as unknown[];
  t.deepEqual([q8[1], q8[5], q8[7]], ['int8', 2, 4]);
  const e = strings(await call('VEMB', 'reduce:q8', 'a')).map(Number);
  t.true(Math.abs(e[0] - 5) < 0.05 && Math.abs(e[1] + 1) < 0.05, e.join());
});

// ---------------------------------------------------------------------------------------------
// Recall on clustered data

const N = 10_000, D = 128, Q = 100, K = 10, FQ = 30;

async function load(key: string, data: Float32Array, extra: Arg[]): Promise<void> {
  for (let s = 0; s < N; s += 1000) {
    const pl = io.pipeline();
    for (let i = s; i < Math.min(N, s + 1000); i++) pl.call('VADD', key, 'FP32', fp32(rowOf(data, D, i)), `e${i}`, 'SETATTR', JSON.stringify({ c: i % 100 }), ...extra);
    for (const [err] of (await pl.exec())!) if (err) throw err;
  }
}

async function recall(key: string, data: Float32Array, extra: Arg[]): Promise<{ plain: number; filtered: number; filteredCount: number }> {
  const queries = clusteredData(Q, D, { seed: 5 });
  let hit = 0, fhit = 0, fcount = 0;
  for (let q = 0; q < Q; q++) {
    const qv = rowOf(queries, D, q);
    const ids = strings(await call('VSIM', key, 'FP32', fp32(qv), 'COUNT', K, ...extra));
    const truth = new Set(exactCosine(data, D, qv, K).map((i) => `e${i}`));
    hit += ids.filter((x) => truth.has(x)).length;
    if (q < FQ) {
      const f = strings(await call('VSIM', key, 'FP32', fp32(qv), 'COUNT', K, 'FILTER', '.c == 7', ...extra));
      const ft = new Set(exactCosine(data, D, qv, K, (i) => i % 100 === 7).map((i) => `e${i}`));
      fcount += f.length;
      fhit += f.filter((x) => ft.has(x)).length;
    }
  }
  return { plain: hit / (Q * K), filtered: fhit / (FQ * K), filteredCount: fcount };
}

const data = clusteredData(N, D);

test('VSIM recall@10 on 10k × 128 clustered data (Q8, default EF) ≥ 0.95, and with a 1 % FILTER', async (t) => {
  await load('recall:q8', data, []);
  const r = await recall('recall:q8', data, []);
  t.log(`Q8 default EF: recall@10 ${r.plain.toFixed(3)}, 1 % filter ${r.filtered.toFixed(3)} with ${r.filteredCount}/${FQ * K} results`);
  t.true(r.plain >= 0.95, `recall@10 ${r.plain}`);
  t.true(r.filtered >= 0.95, `filtered recall@10 ${r.filtered}`);
  t.is(r.filteredCount, FQ * K);
});

test('VSIM recall@10 on 10k × 128 clustered data (NOQUANT, default EF) ≥ 0.95, and with a 1 % FILTER', async (t) => {
  await load('recall:f32', data, ['NOQUANT']);
  const r = await recall('recall:f32', data, []);
  t.log(`NOQUANT default EF: recall@10 ${r.plain.toFixed(3)}, 1 % filter ${r.filtered.toFixed(3)} with ${r.filteredCount}/${FQ * K} results`);
  t.true(r.plain >= 0.95, `recall@10 ${r.plain}`);
  t.true(r.filtered >= 0.95, `filtered recall@10 ${r.filtered}`);
  t.is(r.filteredCount, FQ * K);
});

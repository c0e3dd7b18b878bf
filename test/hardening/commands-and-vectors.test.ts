/**
 * Hostile commands and vectors: every row below, over raw sockets, against
 * the VEC.* commands and (where the server has them) the Redis 8 V* commands.
 *
 * Each refused row runs on a RESP2 and a RESP3 connection. After every row:
 * both connections are still open and answer PING, a PING from a third
 * connection answers within 100 ms, every byte received parsed as strict RESP
 * (resp-check.ts: no stack trace, no raw CR/LF inside an error line), and
 * nothing was half-applied (DBSIZE, the fixtures' cardinalities and the seed
 * element's vector and payload are what they were, no new key appeared).
 */
import test, { type ExecutionContext } from 'ava';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import { show, type RespValue } from '../helpers/resp-check.js';

type Arg = string | Buffer | number;

let srv: InProcess;
let c2: RawClient;
let c3: RawClient;
let pinger: RawClient;
/** Whether the server has the Redis 8 V* commands (they may not have landed yet). */
let haveVset = false;

/** Fixtures: key names hold no digits, so "naming both dimensions" can be checked with \b3\b, \b4\b. */
const COS = 'hz:cos'; // VEC.ADD-created, COSINE F32, DIM 4
const VS = 'hz:vset'; // VADD-created, DIM 4
const STR = 'hz:str'; // a string key, for WRONGTYPE
const FRESH = 'hz:fresh'; // never exists: refused first writes must not create it
const SEED_PAYLOAD = '{"tag":"seed","n":1}';

const f32 = (...xs: number[]): Buffer => Buffer.from(new Float32Array(xs).buffer);
const bits = (...us: number[]): Buffer => Buffer.from(new Uint32Array(us).buffer);

interface Snapshot { dbsize: string; cos: string; vs: string; seed: string; fresh: string }

async function snapshot(c: RawClient): Promise<Snapshot> {
  const [dbsize, cos, vs, seed, fresh] = await c.pipeline([
    ['DBSIZE'], ['VEC.CARD', COS], haveVset ? ['VCARD', VS] : ['PING'], ['VEC.GET', COS, 'seed'], ['EXISTS', FRESH],
  ]);
  return { dbsize: show(dbsize), cos: show(cos), vs: show(vs), seed: show(seed, 400), fresh: show(fresh) };
}
let before: Snapshot;

test.before(async () => {
  srv = await startInProcess();
  c2 = await RawClient.connect(srv.port);
  c3 = await RawClient.connect(srv.port);
  await c3.hello3();
  pinger = await RawClient.connect(srv.port);
  const probe = await c2.call(['VADD', VS, 'VALUES', '4', '1', '0', '0', '0', 'seed']);
  haveVset = !(probe?.type === 'error' && /^ERR unknown command/.test(probe.value));
  const setup = await c2.pipeline([
    ['VEC.ADD', COS, 'seed', 'VALUES', '4', '1', '0', '0', '0', 'PAYLOAD', SEED_PAYLOAD],
    ['VEC.ADD', COS, 'other', 'VALUES', '4', '0', '1', '0', '0'],
    ['SET', STR, 'v'],
  ]);
  if (show(setup[0]) !== ':1' || show(setup[1]) !== ':1') throw new Error(`fixtures not created: ${setup.map((r) => show(r)).join(' ')}`);
  before = await snapshot(c2);
});

test.after.always(async () => {
  c2?.close(); c3?.close(); pinger?.close();
  await srv?.stop();
});

/** The PING from another connection: within 100 ms (one retry, to tell a scheduler hiccup from a stall). */
async function pingFromElsewhere(t: ExecutionContext): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const t0 = performance.now();
    const r = await pinger.call(['PING'], 2000);
    const ms = performance.now() - t0;
    t.is(show(r), '+PONG', 'another connection answers PING');
    if (ms < 100 || attempt === 1) { t.true(ms < 100, `PING from another connection took ${ms.toFixed(1)} ms`); return; }
  }
}

/** After every row: connections open, PINGs answered, nothing half-applied. */
async function afterRow(t: ExecutionContext, opts: { changes?: boolean } = {}): Promise<void> {
  for (const c of [c2, c3]) {
    t.false(c.closed, 'the connection stays open');
    t.is(show(await c.call(['PING'])), '+PONG', 'the same connection still answers');
  }
  await pingFromElsewhere(t);
  if (!opts.changes) t.deepEqual(await snapshot(c2), before, 'nothing half-applied');
}

function errorText(r: RespValue | undefined): string {
  if (r?.type !== 'error') throw new Error(`expected an error, got ${show(r)}`);
  return r.value;
}

interface Row {
  name: string;
  cmd: Arg[];
  /** The whole error line must match. */
  reply: RegExp;
  /** Substrings the error must contain (the bad value, both dimensions…). */
  names?: string[];
  /** Needs the V* commands. */
  vset?: boolean;
}

const rows: Row[] = [];
const add = (r: Row) => rows.push(r);

// ---- unknown command --------------------------------------------------------
add({ name: 'unknown command', cmd: ['FOO', 'a', 'b'], reply: /^ERR unknown command 'FOO', with args beginning with: 'a' 'b' $/ });
add({ name: 'unknown VEC.* command', cmd: ['VEC.NOPE', 'k'], reply: /^ERR unknown command 'VEC\.NOPE', with args beginning with: 'k' $/ });
add({ name: 'unknown command without args', cmd: ['FOO'], reply: /^ERR unknown command 'FOO', with args beginning with: $/ });
add({ name: 'unknown command: a long argument is cut to 128 chars', cmd: ['FOO', 'x'.repeat(300)], reply: /^ERR unknown command 'FOO', with args beginning with: 'x{1,128}' $/ });
add({ name: 'unknown command: a long name is cut to 128 chars', cmd: ['F'.repeat(300), 'a'], reply: /^ERR unknown command 'F{128}', with args beginning with: 'a' $/ });
add({ name: 'unknown command: CR/LF become spaces', cmd: ['FOO\r\nBAR', 'a\rb\nc'], reply: /^ERR unknown command 'FOO {2}BAR', with args beginning with: 'a b c' $/ });
add({ name: 'unknown command: many arguments, bounded echo', cmd: ['FOO', ...Array.from({ length: 200 }, () => 'abcdefgh')], reply: /^ERR unknown command 'FOO', with args beginning with: ('abcdefgh' ){1,60}$/ });
add({ name: 'unknown command: a 1 MB argument, bounded echo', cmd: ['FOO', Buffer.alloc(1 << 20, 'y')], reply: /^ERR unknown command 'FOO', with args beginning with: 'y{1,128}' $/ });

// ---- arity -------------------------------------------------------------------
const arity: Array<[string, Arg[]]> = [
  ['vec.add', ['VEC.ADD', FRESH]], ['vec.add', ['VEC.ADD', FRESH, 'id', 'VALUES']], ['vec.add', ['vec.ADD', FRESH]],
  ['vec.search', ['VEC.SEARCH', COS, 'VALUES']], ['vec.get', ['VEC.GET', COS]], ['vec.get', ['VEC.GET', COS, 'a', 'b']],
  ['vec.del', ['VEC.DEL', COS]], ['vec.card', ['VEC.CARD']], ['vec.card', ['VEC.CARD', COS, COS]],
  ['vec.create', ['VEC.CREATE', FRESH, 'DIM']], ['vec.setpayload', ['VEC.SETPAYLOAD', COS, 'seed']],
  ['vec.setpayload', ['VEC.SETPAYLOAD', COS, 'seed', '{}', 'x']], ['vec.dim', ['VEC.DIM']], ['vec.info', ['VEC.INFO']], ['vec.list', ['VEC.LIST', 'x']],
];
for (const [name, cmd] of arity) add({ name: `arity: ${cmd.join(' ')}`, cmd, reply: new RegExp(`^ERR wrong number of arguments for '${name.replace('.', '\\.')}' command$`) });
for (const [name, cmd] of [['vadd', ['VADD', FRESH]], ['vsim', ['VSIM', VS]], ['vadd', ['VADD', FRESH, 'VALUES', '1']]] as Array<[string, Arg[]]>) {
  add({ name: `arity: ${cmd.join(' ')}`, cmd, reply: new RegExp(`^ERR wrong number of arguments for '${name}' command$`), vset: true });
}

// ---- wrong dimension -----------------------------------------------------------
const dims: Array<[string, Arg[], number]> = [
  ['VEC.ADD VALUES 3 into DIM 4', ['VEC.ADD', COS, 'x', 'VALUES', '3', '1', '2', '3'], 3],
  ['VEC.ADD VALUES 6 into DIM 4', ['VEC.ADD', COS, 'x', 'VALUES', '6', '1', '2', '3', '4', '5', '6'], 6],
  ['VEC.ADD FP32 of 3 floats into DIM 4', ['VEC.ADD', COS, 'x', 'FP32', f32(1, 2, 3)], 3],
  ['VEC.ADD FP32 of 5 floats into DIM 4', ['VEC.ADD', COS, 'x', 'FP32', f32(1, 2, 3, 4, 5)], 5],
  ['VEC.SEARCH VALUES 3 against DIM 4', ['VEC.SEARCH', COS, 'VALUES', '3', '1', '2', '3'], 3],
  ['VEC.SEARCH FP32 of 7 floats against DIM 4', ['VEC.SEARCH', COS, 'FP32', f32(1, 2, 3, 4, 5, 6, 7)], 7],
];
for (const [name, cmd, got] of dims) add({ name: `wrong dimension: ${name}`, cmd, reply: /^ERR /, names: [String(got), '4'] });
add({ name: 'wrong dimension: VADD VALUES 3 into DIM 4', cmd: ['VADD', VS, 'VALUES', '3', '1', '2', '3', 'x'], reply: /^ERR .*\b3\b.*\b4\b/, vset: true });
add({ name: 'wrong dimension: VSIM VALUES 5 against DIM 4', cmd: ['VSIM', VS, 'VALUES', '5', '1', '2', '3', '4', '5'], reply: /^ERR .*\b5\b.*\b4\b/, vset: true });

// ---- bad numbers ------------------------------------------------------------------
const badValues = ['nan', 'NaN', '-nan', 'inf', '+inf', '-inf', 'Infinity', '1e39', '-1e39', '3.5e38', '3.4028236e38', '1e309', '1.0abc', ' 1', '1 ', '', '0x10', '1e', '--1', '1..2', '1,5', '\x001'];
/** The value as an error shows it: non-printables as \xHH. */
const escaped = (v: string) => v.replace(/[^\x20-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
for (const v of badValues) {
  const label = JSON.stringify(v);
  add({ name: `bad value ${label}: VEC.ADD into an existing set`, cmd: ['VEC.ADD', COS, 'x', 'VALUES', '4', '1', v, '0', '0'], reply: /^ERR /, names: [`'${escaped(v)}'`] });
  add({ name: `bad value ${label}: VEC.ADD creating a set`, cmd: ['VEC.ADD', FRESH, 'x', 'VALUES', '4', v, '1', '0', '0'], reply: /^ERR /, names: [`'${escaped(v)}'`] });
  add({ name: `bad value ${label}: VEC.SEARCH`, cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', v], reply: /^ERR /, names: [`'${escaped(v)}'`] });
  // Redis 8 says only "invalid vector specification" for these: V* keeps its wording.
  add({ name: `bad value ${label}: VADD`, cmd: ['VADD', VS, 'VALUES', '4', '1', v, '0', '0', 'x'], reply: /^ERR /, vset: true });
  add({ name: `bad value ${label}: VADD creating a set`, cmd: ['VADD', FRESH, 'VALUES', '4', '1', v, '0', '0', 'x'], reply: /^ERR /, vset: true });
  add({ name: `bad value ${label}: VSIM`, cmd: ['VSIM', VS, 'VALUES', '4', v, '1', '0', '0'], reply: /^ERR /, vset: true });
}

// ---- vector shape ------------------------------------------------------------------
const NAN_PATTERNS: Array<[string, number]> = [['quiet NaN', 0x7fc00000], ['signalling NaN', 0x7f800001], ['negative NaN', 0xffffffff], ['+Inf', 0x7f800000], ['-Inf', 0xff800000]];
const shapes: Array<[string, Arg[]]> = [
  ['VALUES 0', ['VEC.ADD', FRESH, 'x', 'VALUES', '0']],
  ['VALUES 0 into an existing set', ['VEC.ADD', COS, 'x', 'VALUES', '0']],
  ['FP32 empty blob', ['VEC.ADD', FRESH, 'x', 'FP32', '']],
  ['FP32 empty blob, search', ['VEC.SEARCH', COS, 'FP32', '']],
  ['VALUES 9 with 2 values', ['VEC.ADD', FRESH, 'x', 'VALUES', '9', '1', '2']],
  ['VALUES 2 with 4 values', ['VEC.ADD', FRESH, 'x', 'VALUES', '2', '1', '2', '3', '4']],
  ['VALUES 4 with 3 values, search', ['VEC.SEARCH', COS, 'VALUES', '4', '1', '2', '3']],
  ['VALUES -1', ['VEC.ADD', FRESH, 'x', 'VALUES', '-1', '1']],
  ['VALUES abc', ['VEC.ADD', FRESH, 'x', 'VALUES', 'abc', '1']],
  ['VALUES 9223372036854775808', ['VEC.ADD', FRESH, 'x', 'VALUES', '9223372036854775808', '1']],
  ['VALUES 65537 (over the dimension limit)', ['VEC.ADD', FRESH, 'x', 'VALUES', '65537', '1']],
  ['VALUES 100000000', ['VEC.ADD', FRESH, 'x', 'VALUES', '100000000', '1']],
  ['FP32 blob of 15 bytes', ['VEC.ADD', FRESH, 'x', 'FP32', Buffer.alloc(15, 1)]],
  ['FP32 blob of 1 byte', ['VEC.ADD', FRESH, 'x', 'FP32', Buffer.alloc(1, 1)]],
  ['FP32 blob of 17 bytes into DIM 4', ['VEC.ADD', COS, 'x', 'FP32', Buffer.concat([f32(1, 2, 3, 4), Buffer.alloc(1)])]],
  ['FP32 blob of 65537 floats', ['VEC.ADD', FRESH, 'x', 'FP32', Buffer.alloc(65537 * 4, 0x3f)]],
  ['FP32 without a blob', ['VEC.ADD', FRESH, 'x', 'FP32']],
  ['neither FP32 nor VALUES', ['VEC.ADD', FRESH, 'x', 'FP16', f32(1, 2)]],
];
for (const [label, u] of NAN_PATTERNS) {
  shapes.push([`FP32 blob with ${label} first`, ['VEC.ADD', FRESH, 'x', 'FP32', bits(u, 0x3f800000, 0, 0)]]);
  shapes.push([`FP32 blob with ${label} last, existing set`, ['VEC.ADD', COS, 'x', 'FP32', Buffer.concat([f32(1, 0, 0), bits(u)])]]);
  shapes.push([`FP32 query with ${label}`, ['VEC.SEARCH', COS, 'FP32', Buffer.concat([f32(1, 0), bits(u), f32(0)])]]);
  shapes.push([`VADD FP32 with ${label}`, ['VADD', FRESH, 'FP32', bits(0x3f800000, u, 0, 0), 'x']]);
}
for (const [name, cmd] of shapes) add({ name: `vector shape: ${name}`, cmd, reply: /^ERR /, vset: cmd[0] === 'VADD' });
add({ name: 'vector shape: VADD FP32 of 15 bytes', cmd: ['VADD', VS, 'FP32', Buffer.alloc(15, 1), 'x'], reply: /^ERR /, vset: true });
add({ name: 'vector shape: VADD VALUES 0', cmd: ['VADD', FRESH, 'VALUES', '0', 'x'], reply: /^ERR /, vset: true });
add({ name: 'vector shape: VADD VALUES 9 with 2 values', cmd: ['VADD', FRESH, 'VALUES', '9', '1', '2', 'x'], reply: /^ERR /, vset: true });
add({ name: 'vector shape: VSIM FP32 empty blob', cmd: ['VSIM', VS, 'FP32', ''], reply: /^ERR /, vset: true });

// ---- zero vector under COSINE: refused by VEC.* ----------------------------------------
add({ name: 'zero vector: VEC.ADD VALUES into a COSINE set', cmd: ['VEC.ADD', COS, 'z', 'VALUES', '4', '0', '0', '0', '0'], reply: /^ERR .*zero/i });
add({ name: 'zero vector: VEC.ADD of -0.0s', cmd: ['VEC.ADD', COS, 'z', 'VALUES', '4', '-0', '0', '-0.0', '0e5'], reply: /^ERR .*zero/i });
add({ name: 'zero vector: VEC.ADD FP32 creating a set', cmd: ['VEC.ADD', FRESH, 'z', 'FP32', f32(0, 0, 0, 0)], reply: /^ERR .*zero/i });
add({ name: 'zero vector: VEC.ADD FP32 of -0.0 bit patterns', cmd: ['VEC.ADD', FRESH, 'z', 'FP32', bits(0x80000000, 0x80000000, 0, 0)], reply: /^ERR .*zero/i });
add({ name: 'zero vector: VEC.SEARCH query', cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '0', '0', '0', '0'], reply: /^ERR .*zero/i });

// ---- COUNT / EF / M and integer overflow ---------------------------------------------------
const BIG = '9223372036854775808';
for (const v of ['0', '-1', BIG, '-9223372036854775809', '99999999999999999999', 'abc', '1.5', '', ' 1', '+1', '01']) {
  add({ name: `COUNT ${JSON.stringify(v)}`, cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', '0', 'COUNT', v], reply: /^ERR / });
  add({ name: `VSIM COUNT ${JSON.stringify(v)}`, cmd: ['VSIM', VS, 'VALUES', '4', '1', '0', '0', '0', 'COUNT', v], reply: /^ERR /, vset: true });
}
for (const v of ['0', '-1', BIG, 'x']) {
  add({ name: `EF ${JSON.stringify(v)}`, cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', '0', 'EF', v], reply: /^ERR / });
  add({ name: `VSIM EF ${JSON.stringify(v)}`, cmd: ['VSIM', VS, 'VALUES', '4', '1', '0', '0', '0', 'EF', v], reply: /^ERR /, vset: true });
  add({ name: `VEC.ADD creating with EF_CONSTRUCTION ${JSON.stringify(v)}`, cmd: ['VEC.ADD', FRESH, 'x', 'VALUES', '4', '1', '0', '0', '0', 'EF_CONSTRUCTION', v], reply: /^ERR / });
  add({ name: `VEC.CREATE EF ${JSON.stringify(v)}`, cmd: ['VEC.CREATE', FRESH, 'DIM', '4', 'EF', v], reply: /^ERR / });
  add({ name: `VADD EF ${JSON.stringify(v)}`, cmd: ['VADD', FRESH, 'VALUES', '4', '1', '0', '0', '0', 'x', 'EF', v], reply: /^ERR /, vset: true });
}
for (const v of ['0', '1', '-1', BIG, '100000']) {
  add({ name: `VEC.ADD creating with M ${v}`, cmd: ['VEC.ADD', FRESH, 'x', 'VALUES', '4', '1', '0', '0', '0', 'M', v], reply: /^ERR / });
  add({ name: `VEC.CREATE M ${v}`, cmd: ['VEC.CREATE', FRESH, 'DIM', '4', 'M', v], reply: /^ERR / });
  add({ name: `VADD M ${v}`, cmd: ['VADD', FRESH, 'VALUES', '4', '1', '0', '0', '0', 'x', 'M', v], reply: /^ERR /, vset: true });
}
for (const v of ['0', '-1', '65537', BIG, 'four']) {
  add({ name: `VEC.CREATE DIM ${v}`, cmd: ['VEC.CREATE', FRESH, 'DIM', v], reply: /^ERR / });
}
add({ name: 'VEC.CREATE without DIM', cmd: ['VEC.CREATE', FRESH, 'METRIC', 'L2'], reply: /^ERR / });
add({ name: 'VEC.CREATE over an existing key', cmd: ['VEC.CREATE', COS, 'DIM', '4'], reply: /^ERR / });
add({ name: 'VEC.ADD creation options clash (HAMMING with F32)', cmd: ['VEC.ADD', FRESH, 'x', 'VALUES', '4', '1', '0', '0', '0', 'METRIC', 'HAMMING', 'QUANT', 'F32'], reply: /^ERR / });
add({ name: 'VEC.ADD option that differs from the set', cmd: ['VEC.ADD', COS, 'x', 'VALUES', '4', '1', '0', '0', '0', 'METRIC', 'L2'], reply: /^ERR / });
add({ name: 'VEC.ADD unknown option', cmd: ['VEC.ADD', FRESH, 'x', 'VALUES', '4', '1', '0', '0', '0', 'BOGUS'], reply: /^ERR / });
add({ name: 'VEC.SEARCH unknown option', cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', '0', 'BOGUS'], reply: /^ERR / });

// ---- payloads ------------------------------------------------------------------------------
const PAYLOAD_LIMIT = 64 * 1024; // vec-max-payload-bytes default
const overLimit = `{"a":"${'x'.repeat(PAYLOAD_LIMIT - 7)}"}`; // limit + 1 bytes
const badPayloads: Array<[string, Arg]> = [
  ['not JSON', '{not json'], ['an array', '[1,2]'], ['a string', '"s"'], ['a number', '1'], ['null', 'null'], ['true', 'true'],
  ['an object then junk', '{"a":1}x'], ['invalid UTF-8 bytes', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])], ['over the limit', overLimit],
];
for (const [label, p] of badPayloads) {
  add({ name: `payload ${label}: VEC.ADD new id`, cmd: ['VEC.ADD', COS, 'p', 'VALUES', '4', '0', '0', '1', '0', 'PAYLOAD', p], reply: /^ERR / });
  add({ name: `payload ${label}: VEC.ADD replacing the seed`, cmd: ['VEC.ADD', COS, 'seed', 'VALUES', '4', '0', '0', '1', '0', 'PAYLOAD', p], reply: /^ERR / });
  add({ name: `payload ${label}: VEC.ADD creating a set`, cmd: ['VEC.ADD', FRESH, 'p', 'VALUES', '4', '0', '0', '1', '0', 'PAYLOAD', p], reply: /^ERR / });
  add({ name: `payload ${label}: VEC.SETPAYLOAD`, cmd: ['VEC.SETPAYLOAD', COS, 'seed', p], reply: /^ERR / });
}
add({ name: 'payload over the limit: VADD SETATTR', cmd: ['VADD', VS, 'VALUES', '4', '0', '0', '1', '0', 'p', 'SETATTR', overLimit], reply: /^ERR /, vset: true });
add({ name: 'payload over the limit: VSETATTR', cmd: ['VSETATTR', VS, 'seed', overLimit], reply: /^ERR /, vset: true });

// ---- FILTER ------------------------------------------------------------------------------------
const badFilters: Array<[string, string]> = [
  ['.a == ', ''], ['(.a > 1', ''], ['.a >> 2', '> 2'], ['.a == "x', '"x'], ['.a and', ''], ['@', '@'], ['.a == 1 )', ')'],
  ['.a in [1,', ''], ['not', ''], ['.a == 1 .b', '.b'], ['1 +', ''], ['.a == 1\r\n.b', '.b'],
];
for (const [expr, rest] of badFilters) {
  // "Pointing at the token": the error shows the expression from the bad token on (CR/LF as spaces).
  const near = rest.replace(/[\r\n]/g, ' ');
  add({ name: `malformed FILTER ${JSON.stringify(expr)}`, cmd: ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', '0', 'FILTER', expr], reply: /^ERR .*FILTER.*/, names: near ? [near] : [] });
  add({ name: `malformed FILTER ${JSON.stringify(expr)}: on a missing key`, cmd: ['VEC.SEARCH', FRESH, 'VALUES', '4', '1', '0', '0', '0', 'FILTER', expr], reply: /^ERR .*FILTER.*/ });
  add({ name: `malformed FILTER ${JSON.stringify(expr)}: VSIM`, cmd: ['VSIM', VS, 'VALUES', '4', '1', '0', '0', '0', 'FILTER', expr], reply: /^ERR .*FILTER.*/, names: near ? [near] : [], vset: true });
}

// ---- wrong type ------------------------------------------------------------------------------
for (const cmd of [['VEC.ADD', STR, 'x', 'VALUES', '4', '1', '0', '0', '0'], ['VEC.SEARCH', STR, 'VALUES', '4', '1', '0', '0', '0'], ['VEC.GET', STR, 'x'], ['VEC.CARD', STR]]) {
  add({ name: `wrong type: ${cmd[0]}`, cmd, reply: /^WRONGTYPE / });
}
add({ name: 'wrong type: VADD', cmd: ['VADD', STR, 'VALUES', '4', '1', '0', '0', '0', 'x'], reply: /^WRONGTYPE /, vset: true });

for (const row of rows) {
  test.serial(`refused: ${row.name}`, async (t) => {
    if (row.vset && !haveVset) { t.log('V* commands not available (unknown command): skipped'); t.pass(); return; }
    const [r2, r3] = await Promise.all([c2.call(row.cmd), c3.call(row.cmd)]);
    const line = errorText(r2);
    t.regex(line, row.reply);
    for (const n of row.names ?? []) t.true(line.includes(n), `error names ${JSON.stringify(n)}: ${JSON.stringify(line.slice(0, 200))}`);
    t.true(line.length <= 1024, `error line is bounded (${line.length} chars)`);
    t.is(errorText(r3), line, 'RESP3 gives the same error');
    await afterRow(t);
  });
}

// ---- accepted edge cases: bit-exact values -----------------------------------------------------------

/** The float32 a reply's double stands for, RESP2 (bulk text) or RESP3 (`,` double). */
function float32Of(v: RespValue): number {
  const n = v.type === 'bulk' ? Number(v.value.toString('latin1')) : v.type === 'double' ? v.value : NaN;
  if (v.type === 'bulk') {
    // RESP2 doubles must be plain decimal text (no 'nan', no padding) that reads back.
    const text = v.value.toString('latin1');
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[+-]?[0-9]+)?$/.test(text)) return NaN;
  }
  return Math.fround(n);
}

const u32Of = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0];

/** VEC.GET's vector as float32 bit patterns. */
function vectorBits(reply: RespValue | undefined): number[] {
  const pairs: Array<[RespValue, RespValue]> = [];
  if (reply?.type === 'map') pairs.push(...reply.value);
  else if (reply?.type === 'array') for (let i = 0; i + 1 < reply.value.length; i += 2) pairs.push([reply.value[i], reply.value[i + 1]]);
  else throw new Error(`VEC.GET answered ${show(reply)}`);
  const vec = pairs.find(([k]) => k.type === 'bulk' && k.value.toString() === 'vector')?.[1];
  if (vec?.type !== 'array') throw new Error(`no vector in ${show(reply)}`);
  return vec.value.map((x) => u32Of(float32Of(x)));
}

const EDGE_BITS = [
  0x00000001, // smallest subnormal
  0x80000000, // -0.0
  0x7f7fffff, // FLT_MAX
  0x007fffff, // largest subnormal
  0x80000001, // -smallest subnormal
  0xff7fffff, // -FLT_MAX
  0x3f800000, // 1
  0x00800000, // smallest normal
];

test.serial('subnormals, -0.0 and ±FLT_MAX are accepted and read back bit-exact (FP32, RESP2 and RESP3)', async (t) => {
  const key = 'hz:exact';
  t.is(show(await c2.call(['VEC.ADD', key, 'e', 'FP32', bits(...EDGE_BITS)])), ':1');
  for (const c of [c2, c3]) {
    const got = vectorBits(await c.call(['VEC.GET', key, 'e']));
    t.deepEqual(got.map((u) => u.toString(16)), EDGE_BITS.map((u) => u.toString(16)), `RESP${c === c2 ? 2 : 3}`);
  }
  // A search with the extreme vector as query: scores are numbers, never NaN.
  for (const c of [c2, c3]) {
    const r = await c.call(['VEC.SEARCH', key, 'FP32', bits(...EDGE_BITS), 'WITHSCORES']);
    t.notRegex(show(r, 1000), /nan/i);
    t.regex(show(r), /"e"/);
  }
  t.is(show(await c2.call(['DEL', key])), ':1');
  await afterRow(t, { changes: true });
});

test.serial('subnormals, -0, 3.4028235e38 as VALUES text are accepted and read back as the same float32', async (t) => {
  const key = 'hz:exact-text';
  const texts = ['1e-45', '-0', '3.4028235e38', '1.1754942e-38', '-1.401298464324817e-45', '-3.4028235e38', '0.1', '3.40282356e38'];
  t.is(show(await c2.call(['VEC.ADD', key, 'e', 'VALUES', String(texts.length), ...texts])), ':1');
  const want = texts.map((s) => u32Of(Math.fround(Number(s))).toString(16));
  for (const c of [c2, c3]) t.deepEqual(vectorBits(await c.call(['VEC.GET', key, 'e'])).map((u) => u.toString(16)), want);
  t.is(show(await c2.call(['DEL', key])), ':1');
  await afterRow(t, { changes: true });
});

test.serial('VADD NOQUANT keeps subnormals, -0.0 and FLT_MAX bit-exact (VEMB)', async (t) => {
  if (!haveVset) { t.pass(); return; }
  const key = 'hz:vexact';
  t.is(show(await c2.call(['VADD', key, 'FP32', bits(...EDGE_BITS), 'e', 'NOQUANT'])), ':1');
  for (const c of [c2, c3]) {
    const r = await c.call(['VEMB', key, 'e']);
    if (r?.type !== 'array') { t.fail(`VEMB answered ${show(r)}`); continue; }
    t.deepEqual(r.value.map((x) => u32Of(float32Of(x)).toString(16)), EDGE_BITS.map((u) => u.toString(16)));
  }
  const sim = await c2.call(['VSIM', key, 'FP32', bits(...EDGE_BITS), 'WITHSCORES']);
  t.notRegex(show(sim), /nan/i);
  t.is(show(await c2.call(['DEL', key])), ':1');
  await afterRow(t, { changes: true });
});

test.serial('zero vector: accepted outside COSINE (L2) by VEC.ADD', async (t) => {
  const key = 'hz:l2';
  t.is(show(await c2.call(['VEC.CREATE', key, 'DIM', '4', 'METRIC', 'L2'])), '+OK');
  t.is(show(await c2.call(['VEC.ADD', key, 'z', 'VALUES', '4', '0', '-0', '0', '0'])), ':1');
  t.deepEqual(vectorBits(await c2.call(['VEC.GET', key, 'z'])), [0, 0x80000000, 0, 0]);
  t.is(show(await c2.call(['DEL', key])), ':1');
  await afterRow(t, { changes: true });
});

/** Every score in a VSIM WITHSCORES reply (RESP2 flat or RESP3 map). */
function scores(r: RespValue | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (r?.type === 'map') for (const [k, v] of r.value) out.set(k.type === 'bulk' ? k.value.toString() : show(k), v.type === 'double' ? v.value : NaN);
  else if (r?.type === 'array') for (let i = 0; i + 1 < r.value.length; i += 2) out.set(show(r.value[i]).replace(/"/g, ''), float32Of(r.value[i + 1]));
  return out;
}

for (const quant of ['Q8', 'NOQUANT', 'BIN'] as const) {
  test.serial(`zero vector: VADD ${quant} accepts it, scores 0.5 against everything, never NaN`, async (t) => {
    if (!haveVset) { t.pass(); return; }
    const key = `hz:zero:${quant}`;
    t.is(show(await c2.call(['VADD', key, 'VALUES', '4', '0', '0', '0', '0', 'zero', quant])), ':1');
    t.is(show(await c2.call(['VADD', key, 'VALUES', '4', '1', '2', '3', '4', 'a', quant])), ':1');
    t.is(show(await c2.call(['VADD', key, 'VALUES', '4', '-1', '0', '0', '0', 'b', quant])), ':1');
    for (const c of [c2, c3]) {
      const byVector = scores(await c.call(['VSIM', key, 'VALUES', '4', '1', '0', '0', '0', 'WITHSCORES']));
      const fromZero = scores(await c.call(['VSIM', key, 'VALUES', '4', '0', '0', '0', '0', 'WITHSCORES']));
      const byEle = scores(await c.call(['VSIM', key, 'ELE', 'zero', 'WITHSCORES']));
      t.is(byVector.size, 3);
      for (const m of [byVector, fromZero, byEle]) for (const [, s] of m) t.false(Number.isNaN(s), 'no NaN score');
      if (quant !== 'BIN') {
        t.is(byVector.get('zero'), 0.5, 'the zero element scores 0.5 against a vector');
        for (const [id, s] of fromZero) t.is(s, 0.5, `a zero query scores 0.5 against ${id}`);
        for (const [id, s] of byEle) t.is(s, 0.5, `ELE zero scores 0.5 against ${id}`);
      }
    }
    t.is(show(await c2.call(['DEL', key])), ':1');
    await afterRow(t, { changes: true });
  });
}

// ---- binary ids and keys ------------------------------------------------------------------------

/** `n` bytes holding NUL, CR, LF, CRLF, invalid UTF-8 (lone 0xff, truncated sequences) and plain text. */
function hostileBytes(n: number, salt: number): Buffer {
  const motif = Buffer.from([0x00, 0x0d, 0x0a, 0x41 + salt, 0x0d, 0x0a, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0x24, 0x2a, 0x5c, 0x78]);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = motif[(i + salt) % motif.length] ^ (i % 251 === 0 ? 0x01 : 0);
  return out;
}

function bulkEquals(v: RespValue | undefined, b: Buffer): boolean {
  return v?.type === 'bulk' && v.value.equals(b);
}

/** SCAN the whole keyspace. */
async function scanAll(c: RawClient): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const r = await c.call(['SCAN', cursor, 'COUNT', '1000']);
    if (r?.type !== 'array' || r.value[0].type !== 'bulk' || r.value[1].type !== 'array') throw new Error(`SCAN answered ${show(r)}`);
    cursor = r.value[0].value.toString();
    for (const k of r.value[1].value) if (k.type === 'bulk') keys.push(Buffer.from(k.value));
  } while (cursor !== '0');
  return keys;
}

/** An error line echoing hostile bytes: escaped (printable ASCII plus '…'), bounded. */
function assertEscaped(t: ExecutionContext, r: RespValue | undefined, what: string): void {
  const line = errorText(r);
  t.true(line.length <= 1024, `${what}: error line bounded (${line.length})`);
  t.false(/[\x00-\x1f\x7f]/.test(line), `${what}: no control bytes in ${JSON.stringify(line.slice(0, 120))}`);
  // Received as latin1: a raw 0xff / 0xfe / lone 0xc3 would show as itself; UTF-8 of '…' is allowed.
  const raw = Buffer.from(line, 'latin1');
  t.false(raw.toString('utf8').includes('\ufffd'), `${what}: valid UTF-8`);
  t.true(line.includes('\\x00') || line.includes('\\x0d') || line.includes('\\xff'), `${what}: the bytes appear escaped: ${JSON.stringify(line.slice(0, 120))}`);
}

for (const [label, size] of [['10 KB', 10 * 1024], ['1 MB', 1024 * 1024]] as const) {
  test.serial(`ids and keys of ${label} with NUL, CR/LF and invalid UTF-8 round-trip byte-exact`, async (t) => {
    const key = Buffer.concat([Buffer.from('hz:bin:'), hostileBytes(size, 1)]);
    const id = hostileBytes(size, 2);
    const id2 = Buffer.concat([hostileBytes(64, 3), Buffer.from([0])]);
    const missing = hostileBytes(100, 4);
    t.is(show(await c2.call(['VEC.ADD', key, id, 'VALUES', '4', '1', '2', '3', '4', 'PAYLOAD', '{"k":"v"}'])), ':1');
    t.is(show(await c2.call(['VEC.ADD', key, id2, 'VALUES', '4', '-1', '0', '0', '0'])), ':1');
    t.is(show(await c2.call(['VEC.ADD', key, id, 'VALUES', '4', '1', '2', '3', '4.5'])), ':0', 'same id again: an update');
    for (const c of [c2, c3]) {
      const found = await c.call(['VEC.SEARCH', key, 'VALUES', '4', '1', '2', '3', '4', 'COUNT', '2']);
      t.true(found?.type === 'array' && bulkEquals(found.value[0], id) && bulkEquals(found.value[1], id2), 'VEC.SEARCH returns the id bytes');
      const byEle = await c.call(['VEC.SEARCH', key, 'ELE', id2, 'COUNT', '1']);
      t.true(byEle?.type === 'array' && bulkEquals(byEle.value[0], id2), 'VEC.SEARCH ELE finds the binary id');
      t.is(vectorBits(await c.call(['VEC.GET', key, id])).length, 4);
      const keys = await c.call(['KEYS', '*']);
      t.true(keys?.type === 'array' && keys.value.some((k) => bulkEquals(k, key)), 'KEYS returns the key bytes');
    }
    t.true((await scanAll(c2)).some((k) => k.equals(key)), 'SCAN returns the key bytes');
    const list = await c2.call(['VEC.LIST']);
    t.true(list?.type === 'array' && list.value.some((k) => bulkEquals(k, key)), 'VEC.LIST returns the key bytes');
    // Echoed in errors: escaped, cut, never raw.
    assertEscaped(t, await c2.call(['VEC.ADD', key, id, 'VALUES', '3', '1', '2', '3']), 'wrong dimension names the key');
    assertEscaped(t, await c2.call(['VEC.SEARCH', key, 'ELE', missing]), 'missing ELE names the id');
    assertEscaped(t, await c2.call(['VEC.ADD', key, id, 'VALUES', '4', '1', '2', '3', '4', 'METRIC', 'L2']), 'option clash names the key');
    assertEscaped(t, await c2.call(['VEC.ADD', key, id, missing, '4']), 'a bad vector keyword is named');
    if (haveVset) {
      const vkey = Buffer.concat([Buffer.from('hz:vbin:'), hostileBytes(size, 5)]);
      t.is(show(await c2.call(['VADD', vkey, 'VALUES', '4', '1', '2', '3', '4', id])), ':1');
      const sim = await c2.call(['VSIM', vkey, 'VALUES', '4', '1', '2', '3', '4']);
      t.true(sim?.type === 'array' && bulkEquals(sim.value[0], id), 'VSIM returns the element bytes');
      const ism = await c2.call(['VISMEMBER', vkey, id]);
      t.true(show(ism) === ':1' || show(ism) === '#t', `VISMEMBER: ${show(ism)}`);
      t.is(show(await c2.call(['DEL', vkey])), ':1');
    }
    t.is(show(await c2.call(['VEC.DEL', key, id, missing])), ':1');
    t.is(show(await c2.call(['VEC.CARD', key])), ':1');
    t.is(show(await c2.call(['DEL', key])), ':1');
    await afterRow(t, { changes: true });
  });
}

// ---- payload limit edge ---------------------------------------------------------------------------
test.serial('a payload of exactly vec-max-payload-bytes is accepted, one byte more is not', async (t) => {
  const at = `{"a":"${'x'.repeat(PAYLOAD_LIMIT - 8)}"}`;
  t.is(Buffer.byteLength(at), PAYLOAD_LIMIT);
  t.is(show(await c2.call(['VEC.ADD', FRESH, 'p', 'VALUES', '4', '1', '0', '0', '0', 'PAYLOAD', at])), ':1');
  t.regex(errorText(await c2.call(['VEC.SETPAYLOAD', FRESH, 'p', overLimit])), /vec-max-payload-bytes|limit/);
  t.is(show(await c2.call(['DEL', FRESH])), ':1');
  await afterRow(t, { changes: true });
});

// ---- loading -----------------------------------------------------------------------------------------
test.serial('-LOADING for every data command while the dataset loads, nothing applied', async (t) => {
  const data: Arg[][] = [
    ['VEC.ADD', COS, 'l', 'VALUES', '4', '1', '1', '0', '0'], ['VEC.ADD', FRESH, 'l', 'VALUES', '4', '1', '1', '0', '0'],
    ['VEC.SEARCH', COS, 'VALUES', '4', '1', '0', '0', '0'], ['VEC.GET', COS, 'seed'], ['VEC.CARD', COS], ['VEC.DEL', COS, 'seed'],
    ['VEC.CREATE', FRESH, 'DIM', '4'], ['VEC.SETPAYLOAD', COS, 'seed', '{}'], ['VEC.INFO', COS], ['VEC.LIST'], ['GET', STR], ['SET', FRESH, 'x'], ['KEYS', '*'],
  ];
  if (haveVset) data.push(['VADD', VS, 'VALUES', '4', '1', '1', '0', '0', 'l'], ['VSIM', VS, 'VALUES', '4', '1', '0', '0', '0'], ['VCARD', VS], ['VREM', VS, 'seed']);
  const releaseLoading = srv.server.holdLoading();
  let replies: RespValue[][];
  try {
    replies = await Promise.all([c2.pipeline(data), c3.pipeline(data)]);
  } finally {
    releaseLoading();
  }
  for (const rs of replies) {
    t.is(rs.length, data.length);
    rs.forEach((r, i) => t.regex(errorText(r), /^LOADING /, String(data[i][0])));
  }
  await afterRow(t);
});

// ---- a transaction with a refused VEC.ADD ------------------------------------------------------------
test.serial('inside MULTI a refused VEC.ADD is refused alone; EXEC applies the rest', async (t) => {
  const rs = await c2.pipeline([
    ['MULTI'], ['VEC.ADD', FRESH, 'a', 'VALUES', '4', '1', '0', '0', '0'], ['VEC.ADD', FRESH, 'b', 'VALUES', '4', 'nan', '0', '0', '0'],
    ['VEC.ADD', FRESH, 'c', 'VALUES', '4', '0', '1', '0', '0'], ['EXEC'], ['VEC.CARD', FRESH], ['DEL', FRESH],
  ]);
  t.is(show(rs[4]).replace(/ /g, '').slice(0, 5), '[:1,-');
  t.is(show(rs[5]), ':2');
  t.is(show(rs[6]), ':1');
  await afterRow(t);
});

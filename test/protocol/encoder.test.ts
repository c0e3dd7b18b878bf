/**
 * ReplyEncoder: exact bytes for every reply type in RESP2 and RESP3, the
 * RESP2 downgrades checked against an independent decoder (the `redis-parser`
 * package), and RESP3 round trips through a small strict decoder written here.
 */
import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ReplyEncoder, encode, formatDouble } from '../../protocol/encoder.js';
import {
  BigNumber,
  Double,
  ErrorReply,
  NULL_ARRAY,
  NullArray,
  OK,
  PONG,
  Push,
  RawReply,
  ReplyMap,
  ReplySet,
  SimpleString,
  Verbatim,
  type Reply,
} from '../../protocol/reply.js';

const text = (b: Buffer): string => b.toString('latin1');
const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

// ---------------------------------------------------------------------------
// Exact bytes.

type Row = [name: string, reply: Reply, resp2: string, resp3: string];

const rows: Row[] = [
  ['simple string', PONG, '+PONG\r\n', '+PONG\r\n'],
  ['OK', OK, '+OK\r\n', '+OK\r\n'],
  ['CR/LF in a simple string become spaces', new SimpleString('a\r\nb\n'), '+a  b \r\n', '+a  b \r\n'],
  ['non-ASCII simple string with a newline', new SimpleString('é\nü'), utf8('+é ü\r\n'), utf8('+é ü\r\n')],
  ['error', new ErrorReply('ERR bad thing'), '-ERR bad thing\r\n', '-ERR bad thing\r\n'],
  ['CR/LF in an error become spaces', new ErrorReply('ERR a\r\nb'), '-ERR a  b\r\n', '-ERR a  b\r\n'],
  ['non-ASCII error with CR', new ErrorReply('ERR clé\r'), utf8('-ERR clé \r\n'), utf8('-ERR clé \r\n')],
  ['integer 0', 0, ':0\r\n', ':0\r\n'],
  ['integer -0', -0, ':0\r\n', ':0\r\n'],
  ['integer 9', 9, ':9\r\n', ':9\r\n'],
  ['integer 10', 10, ':10\r\n', ':10\r\n'],
  ['integer -1', -1, ':-1\r\n', ':-1\r\n'],
  ['integer 1234567', 1234567, ':1234567\r\n', ':1234567\r\n'],
  ['largest safe integer', Number.MAX_SAFE_INTEGER, ':9007199254740991\r\n', ':9007199254740991\r\n'],
  ['smallest safe integer', Number.MIN_SAFE_INTEGER, ':-9007199254740991\r\n', ':-9007199254740991\r\n'],
  ['bigint int64 max', 2n ** 63n - 1n, ':9223372036854775807\r\n', ':9223372036854775807\r\n'],
  ['bigint int64 min', -(2n ** 63n), ':-9223372036854775808\r\n', ':-9223372036854775808\r\n'],
  ['bulk string', 'hello', '$5\r\nhello\r\n', '$5\r\nhello\r\n'],
  ['empty bulk string', '', '$0\r\n\r\n', '$0\r\n\r\n'],
  ['UTF-8 bulk string', 'é€', utf8('$5\r\né€\r\n'), utf8('$5\r\né€\r\n')],
  ['long ASCII bulk string', 'x'.repeat(100), `$100\r\n${'x'.repeat(100)}\r\n`, `$100\r\n${'x'.repeat(100)}\r\n`],
  ['long UTF-8 bulk string', 'é'.repeat(100), utf8(`$200\r\n${'é'.repeat(100)}\r\n`), utf8(`$200\r\n${'é'.repeat(100)}\r\n`)],
  ['a lone surrogate becomes U+FFFD', 'a\ud800', '$4\r\na\xef\xbf\xbd\r\n', '$4\r\na\xef\xbf\xbd\r\n'],
  ['CRLF inside a bulk string is kept', 'a\r\nb', '$4\r\na\r\nb\r\n', '$4\r\na\r\nb\r\n'],
  ['binary bulk', Buffer.from([0, 13, 10, 255]), '$4\r\n\x00\r\n\xff\r\n', '$4\r\n\x00\r\n\xff\r\n'],
  ['large binary bulk', Buffer.alloc(1000, 0x41), `$1000\r\n${'A'.repeat(1000)}\r\n`, `$1000\r\n${'A'.repeat(1000)}\r\n`],
  ['null', null, '$-1\r\n', '_\r\n'],
  ['null array', NULL_ARRAY, '*-1\r\n', '_\r\n'],
  ['true', true, ':1\r\n', '#t\r\n'],
  ['false', false, ':0\r\n', '#f\r\n'],
  ['empty array', [], '*0\r\n', '*0\r\n'],
  ['array', [1, 'a', null], '*3\r\n:1\r\n$1\r\na\r\n$-1\r\n', '*3\r\n:1\r\n$1\r\na\r\n_\r\n'],
  ['array of 12', Array.from({ length: 12 }, (_, i) => i), `*12\r\n${Array.from({ length: 12 }, (_, i) => `:${i}\r\n`).join('')}`, `*12\r\n${Array.from({ length: 12 }, (_, i) => `:${i}\r\n`).join('')}`],
  ['double', new Double(1.5), '$3\r\n1.5\r\n', ',1.5\r\n'],
  ['integral double', new Double(1), '$1\r\n1\r\n', ',1\r\n'],
  ['negative double', new Double(-0.25), '$5\r\n-0.25\r\n', ',-0.25\r\n'],
  ['inf', new Double(Infinity), '$3\r\ninf\r\n', ',inf\r\n'],
  ['-inf', new Double(-Infinity), '$4\r\n-inf\r\n', ',-inf\r\n'],
  ['nan', new Double(NaN), '$3\r\nnan\r\n', ',nan\r\n'],
  ['-0 double', new Double(-0), '$2\r\n-0\r\n', ',-0\r\n'],
  [
    'map',
    new ReplyMap([['a', 1], ['b', new Double(2.5)]]),
    '*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n2.5\r\n',
    '%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,2.5\r\n',
  ],
  ['empty map', new ReplyMap([]), '*0\r\n', '%0\r\n'],
  ['set', new ReplySet(['x', 'y']), '*2\r\n$1\r\nx\r\n$1\r\ny\r\n', '~2\r\n$1\r\nx\r\n$1\r\ny\r\n'],
  ['push', new Push(['message', 'ch', 'hi']), '*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n', '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n'],
  ['verbatim', new Verbatim('txt', 'Some string'), '$11\r\nSome string\r\n', '=15\r\ntxt:Some string\r\n'],
  ['verbatim of bytes', new Verbatim('mkd', Buffer.from('é')), utf8('$2\r\né\r\n'), utf8('=6\r\nmkd:é\r\n')],
  ['big number', new BigNumber('3492890328409238509324850943850943825024385'), '$43\r\n3492890328409238509324850943850943825024385\r\n', '(3492890328409238509324850943850943825024385\r\n'],
  ['negative big number', new BigNumber('-12'), '$3\r\n-12\r\n', '(-12\r\n'],
  ['raw', new RawReply(Buffer.from('+QUEUED\r\n')), '+QUEUED\r\n', '+QUEUED\r\n'],
  [
    'nested',
    [new ReplyMap([['k', [1, null, NULL_ARRAY]]]), new ReplySet([true])],
    '*2\r\n*2\r\n$1\r\nk\r\n*3\r\n:1\r\n$-1\r\n*-1\r\n*1\r\n:1\r\n',
    '*2\r\n%1\r\n$1\r\nk\r\n*3\r\n:1\r\n_\r\n_\r\n~1\r\n#t\r\n',
  ],
];

for (const [name, reply, resp2, resp3] of rows) {
  test(`bytes: ${name}`, (t) => {
    t.is(text(encode(reply, 2)), resp2, 'RESP2');
    t.is(text(encode(reply, 3)), resp3, 'RESP3');
  });
}

test('bytes: a simple string or error never breaks the framing, whatever it holds', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', '\r', '\n', 'é', ' ', '\u2028') }), fc.boolean(), (s, isError) => {
      const b = encode(isError ? new ErrorReply(s) : new SimpleString(s), 3);
      assert.equal(b.indexOf('\r\n'), b.length - 2);
      assert.equal(b.indexOf('\n'), b.length - 1);
      assert.equal(b.indexOf('\r'), b.length - 2);
    }),
  );
  t.pass();
});

// ---------------------------------------------------------------------------
// Caller bugs are refused, and leave nothing half written.

const bad: [name: string, reply: unknown, proto: 2 | 3][] = [
  ['a fraction', 1.5, 2],
  ['NaN as an integer', NaN, 2],
  ['Infinity as an integer', Infinity, 3],
  ['2^53', 2 ** 53, 2],
  ['-(2^53)', -(2 ** 53), 3],
  ['bigint over 64 bits', 2n ** 63n, 2],
  ['bigint under 64 bits', -(2n ** 63n) - 1n, 3],
  ['a 4-letter verbatim format', new Verbatim('text', 'x'), 3],
  ['a verbatim format with a colon', new Verbatim('a:b', 'x'), 3],
  ['a big number that is not digits', new BigNumber('1.5'), 3],
  ['a big number with a newline', new BigNumber('12\r\n:1'), 2],
  ['undefined', undefined, 2],
  ['a plain object', { a: 1 }, 2],
  ['a nested fraction', [1, [2, 0.5]], 3],
];

for (const [name, reply, proto] of bad) {
  test(`refused: ${name}`, (t) => {
    const enc = new ReplyEncoder();
    enc.write('before', proto);
    t.throws(() => enc.write(reply as Reply, proto), { instanceOf: TypeError });
    enc.write('after', proto);
    t.is(text(enc.take()), '$6\r\nbefore\r\n$5\r\nafter\r\n');
  });
}

test('refused: a failure after the buffer grew still rolls back', (t) => {
  const enc = new ReplyEncoder(64);
  enc.write('x'.repeat(40), 2);
  t.throws(() => enc.write(['y'.repeat(5000), 0.5], 2), { instanceOf: TypeError });
  t.is(text(enc.take()), `$40\r\n${'x'.repeat(40)}\r\n`);
});

// ---------------------------------------------------------------------------
// formatDouble, as Redis's d2string.

const doubles: [number, string][] = [
  [1, '1'],
  [-1, '-1'],
  [0, '0'],
  [-0, '-0'],
  [1.5, '1.5'],
  [0.1, '0.1'],
  [1 / 3, '0.3333333333333333'],
  [-2.5e-8, '-2.5e-8'],
  [3.4028234663852886e38, '3.4028234663852886e+38'],
  [123456789012, '123456789012'],
  [2 ** 53 + 2, '9007199254740994'],
  [2 ** 62, '4611686018427387904'],
  [-(2 ** 62), '-4611686018427387904'],
  [2 ** 62 + 1024, '4.611686018427389e+18'],
  [1e19, '1e+19'],
  [-1e19, '-1e+19'],
  [1e21, '1e+21'],
  [Infinity, 'inf'],
  [-Infinity, '-inf'],
  [NaN, 'nan'],
];

for (const [x, s] of doubles) {
  test(`formatDouble → ${s}`, (t) => {
    t.is(formatDouble(x), s);
  });
}

test('formatDouble: reads back as the same double', (t) => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
      assert.ok(Object.is(Number(formatDouble(x)), x));
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------
// The buffer: take(), growth, independence of what was handed out.

test('encoder: take() returns what was written since the last take(), and resets', (t) => {
  const enc = new ReplyEncoder();
  t.is(enc.length, 0);
  t.is(enc.take().length, 0);
  enc.write(PONG, 2);
  enc.write(1, 2);
  enc.writeRaw(Buffer.from('+RAW\r\n'));
  t.is(enc.length, 17);
  const first = enc.take();
  t.is(text(first), '+PONG\r\n:1\r\n+RAW\r\n');
  t.is(enc.length, 0);
  enc.write('x', 3);
  const second = enc.take();
  t.is(text(second), '$1\r\nx\r\n');
  t.is(text(first), '+PONG\r\n:1\r\n+RAW\r\n', 'the first take is untouched by later writes');
});

test('encoder: handed-out buffers are never overwritten, across growth and many takes', (t) => {
  const enc = new ReplyEncoder(64);
  const taken: [Buffer, string][] = [];
  for (let i = 0; i < 2000; i++) {
    const reply = i % 97 === 0 ? 'z'.repeat(i * 10) : `v${i}`;
    enc.write(reply, 2);
    if (i % 3 === 0) enc.write([i, reply], 3);
    const expected = text(Buffer.concat([encodeFresh(reply, 2), ...(i % 3 === 0 ? [encodeFresh([i, reply], 3)] : [])]));
    taken.push([enc.take(), expected]);
  }
  for (const [b, expected] of taken) {
    if (text(b) !== expected) {
      t.fail(`overwritten: ${JSON.stringify(text(b).slice(0, 40))}`);
      return;
    }
  }
  t.pass();
});

/** Encoding in a fresh encoder every time: the reference for the test above. */
function encodeFresh(reply: Reply, proto: 2 | 3): Buffer {
  const e = new ReplyEncoder();
  e.write(reply, proto);
  return Buffer.from(e.take());
}

test('encoder: a large reply grows the buffer, and small ones work afterwards', (t) => {
  const enc = new ReplyEncoder(128);
  const big = Array.from({ length: 1000 }, (_, i) => `element-${i}`);
  enc.write(big, 2);
  const out = enc.take();
  t.is(out.length, text(encodeFresh(big, 2)).length);
  t.true(text(out).startsWith('*1000\r\n$9\r\nelement-0\r\n'));
  enc.write(PONG, 2);
  t.is(text(enc.take()), '+PONG\r\n');
});

// ---------------------------------------------------------------------------
// Random reply trees.

const anyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('a\r\nb', '\r', '\n', 'é\n', '\ud800', 'x'.repeat(70)) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 60, maxLength: 200 }) },
);
const raws = ['+OK\r\n', ':7\r\n', '-ERR raw\r\n', '*1\r\n$1\r\nx\r\n'];

const leaf: fc.Arbitrary<Reply> = fc.oneof(
  anyString,
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  fc.maxSafeInteger(),
  fc.integer({ min: -20, max: 20 }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(NULL_ARRAY),
  anyString.map((s) => new SimpleString(s)),
  anyString.map((s) => new ErrorReply(s)),
  fc.double().map((x) => new Double(x)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((b) => new BigNumber(b.toString())),
  fc.tuple(fc.constantFrom('txt', 'mkd'), fc.oneof(anyString, fc.uint8Array().map((a) => Buffer.from(a)))).map(([f, s]) => new Verbatim(f, s)),
  fc.constantFrom(...raws).map((s) => new RawReply(Buffer.from(s))),
);

const { tree } = fc.letrec<{ tree: Reply }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { maxLength: 5 }),
    fc.array(fc.tuple(tie('tree'), tie('tree')), { maxLength: 4 }).map((e) => new ReplyMap(e)),
    fc.array(tie('tree'), { maxLength: 4 }).map((items) => new ReplySet(items)),
    fc.array(tie('tree'), { maxLength: 4 }).map((items) => new Push(items)),
  ),
}));

const oneLine = (s: string): string => s.replace(/[\r\n]/g, ' ');

/**
 * What redis-parser (returnBuffers, stringNumbers) must decode a RESP2
 * encoding to: the downgrades Redis applies.
 */
function expectedResp2(r: Reply): unknown {
  switch (typeof r) {
    case 'string':
      return Buffer.from(r, 'utf8');
    case 'number':
    case 'bigint':
      return String(r);
    case 'boolean':
      return r ? '1' : '0';
  }
  if (r === null || r instanceof NullArray) return null;
  if (r instanceof Uint8Array) return Buffer.from(r);
  if (Array.isArray(r)) return r.map(expectedResp2);
  if (r instanceof SimpleString) return Buffer.from(oneLine(r.value), 'utf8');
  if (r instanceof ErrorReply) return { error: Buffer.from(oneLine(r.line), 'utf8').toString('utf8') };
  if (r instanceof Double) return Buffer.from(formatDouble(r.value));
  if (r instanceof ReplyMap) return r.entries.flatMap(([k, v]) => [expectedResp2(k), expectedResp2(v)]);
  if (r instanceof ReplySet || r instanceof Push) return r.items.map(expectedResp2);
  if (r instanceof BigNumber) return Buffer.from(r.digits);
  if (r instanceof Verbatim) return Buffer.from(r.text);
  if (r instanceof RawReply) {
    const known: Record<string, unknown> = { '+OK\r\n': Buffer.from('OK'), ':7\r\n': '7', '-ERR raw\r\n': { error: 'ERR raw' }, '*1\r\n$1\r\nx\r\n': [Buffer.from('x')] };
    return known[text(r.bytes)];
  }
  throw new Error('unexpected reply');
}

interface RedisParser {
  execute(b: Buffer): void;
}
const RedisParserClass = createRequire(import.meta.url)('redis-parser') as new (options: {
  returnReply: (r: unknown) => void;
  returnError: (e: Error) => void;
  returnFatalError: (e: Error) => void;
  returnBuffers: boolean;
  stringNumbers: boolean;
}) => RedisParser;

/** Error objects, wherever they sit in a reply, as `{ error: message }`. */
function plainErrors(v: unknown): unknown {
  if (v instanceof Error) return { error: v.message };
  if (Array.isArray(v)) return v.map(plainErrors);
  return v;
}

test('oracle: random reply trees encoded as RESP2 decode in redis-parser to Redis\'s downgrades', (t) => {
  fc.assert(
    fc.property(fc.array(tree, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (replies, cuts) => {
      const decoded: unknown[] = [];
      const fatal: Error[] = [];
      const parser = new RedisParserClass({
        returnReply: (r) => decoded.push(plainErrors(r)),
        returnError: (e) => decoded.push(plainErrors(e)),
        returnFatalError: (e) => fatal.push(e),
        returnBuffers: true,
        stringNumbers: true,
      });
      const enc = new ReplyEncoder(256);
      for (const r of replies) enc.write(r, 2);
      const stream = enc.take();
      // Fed in pieces, as a socket would deliver it.
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      let prev = 0;
      for (const p of [...points, stream.length]) {
        parser.execute(stream.subarray(prev, p));
        prev = p;
      }
      assert.deepEqual(fatal, []);
      assert.deepEqual(decoded, replies.map(expectedResp2));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------
// RESP3: a strict decoder, written from the spec, for round trips.

type V =
  | { t: 'simple' | 'error' | 'bulk'; v: string }
  | { t: 'int'; v: bigint }
  | { t: 'null' }
  | { t: 'double' | 'big'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'verbatim'; f: string; v: string }
  | { t: 'array' | 'set' | 'push'; v: V[] }
  | { t: 'map'; v: [V, V][] };

/** Decodes exactly one RESP3 value per call from `b` at `pos`; throws on anything malformed. Strings come back as latin1. */
class Resp3Decoder {
  pos = 0;
  constructor(private readonly b: Buffer) {}

  line(): string {
    const cr = this.b.indexOf('\r\n', this.pos);
    if (cr < 0) throw new Error(`no CRLF after ${this.pos}`);
    const s = this.b.toString('latin1', this.pos, cr);
    if (s.includes('\n') || s.includes('\r')) throw new Error('bare CR or LF in a line');
    this.pos = cr + 2;
    return s;
  }

  count(): number {
    const s = this.line();
    if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new Error(`bad count ${s}`);
    return Number(s);
  }

  blob(): string {
    const n = this.count();
    const s = this.b.toString('latin1', this.pos, this.pos + n);
    if (this.b[this.pos + n] !== 13 || this.b[this.pos + n + 1] !== 10 || s.length !== n) throw new Error('bad blob end');
    this.pos += n + 2;
    return s;
  }

  value(): V {
    const type = String.fromCharCode(this.b[this.pos++]);
    switch (type) {
      case '+':
        return { t: 'simple', v: this.line() };
      case '-':
        return { t: 'error', v: this.line() };
      case ':': {
        const s = this.line();
        if (!/^-?(0|[1-9][0-9]*)$/.test(s)) throw new Error(`bad integer ${s}`);
        return { t: 'int', v: BigInt(s) };
      }
      case '$':
        return { t: 'bulk', v: this.blob() };
      case '_':
        if (this.line() !== '') throw new Error('bad null');
        return { t: 'null' };
      case ',':
        return { t: 'double', v: this.line() };
      case '#': {
        const s = this.line();
        if (s !== 't' && s !== 'f') throw new Error('bad boolean');
        return { t: 'bool', v: s === 't' };
      }
      case '(': {
        const s = this.line();
        if (!/^-?[0-9]+$/.test(s)) throw new Error('bad big number');
        return { t: 'big', v: s };
      }
      case '=': {
        const s = this.blob();
        if (s[3] !== ':') throw new Error('bad verbatim');
        return { t: 'verbatim', f: s.slice(0, 3), v: s.slice(4) };
      }
      case '*':
      case '~':
      case '>': {
        const n = this.count();
        const v = Array.from({ length: n }, () => this.value());
        return { t: type === '*' ? 'array' : type === '~' ? 'set' : 'push', v };
      }
      case '%': {
        const n = this.count();
        return { t: 'map', v: Array.from({ length: n }, () => [this.value(), this.value()] as [V, V]) };
      }
      default:
        throw new Error(`unknown type ${JSON.stringify(type)} at ${this.pos - 1}`);
    }
  }
}

function decodeAll(b: Buffer): V[] {
  const d = new Resp3Decoder(b);
  const out: V[] = [];
  while (d.pos < b.length) out.push(d.value());
  return out;
}

function expectedResp3(r: Reply): V {
  switch (typeof r) {
    case 'string':
      return { t: 'bulk', v: utf8(r) };
    case 'number':
    case 'bigint':
      return { t: 'int', v: BigInt(r) };
    case 'boolean':
      return { t: 'bool', v: r };
  }
  if (r === null || r instanceof NullArray) return { t: 'null' };
  if (r instanceof Uint8Array) return { t: 'bulk', v: text(Buffer.from(r)) };
  if (Array.isArray(r)) return { t: 'array', v: r.map(expectedResp3) };
  if (r instanceof SimpleString) return { t: 'simple', v: utf8(oneLine(r.value)) };
  if (r instanceof ErrorReply) return { t: 'error', v: utf8(oneLine(r.line)) };
  if (r instanceof Double) return { t: 'double', v: formatDouble(r.value) };
  if (r instanceof ReplyMap) return { t: 'map', v: r.entries.map(([k, v]) => [expectedResp3(k), expectedResp3(v)]) };
  if (r instanceof ReplySet) return { t: 'set', v: r.items.map(expectedResp3) };
  if (r instanceof Push) return { t: 'push', v: r.items.map(expectedResp3) };
  if (r instanceof BigNumber) return { t: 'big', v: r.digits };
  if (r instanceof Verbatim) return { t: 'verbatim', f: r.format, v: typeof r.text === 'string' ? utf8(r.text) : text(r.text) };
  if (r instanceof RawReply) return decodeAll(r.bytes)[0];
  throw new Error('unexpected reply');
}

test('resp3: the decoder used below agrees with the exact bytes above', (t) => {
  for (const [name, reply, , resp3] of rows) t.deepEqual(decodeAll(Buffer.from(resp3, 'latin1')), [expectedResp3(reply)], name);
});

test('resp3: random reply trees round-trip', (t) => {
  fc.assert(
    fc.property(fc.array(tree, { minLength: 1, maxLength: 8 }), (replies) => {
      const enc = new ReplyEncoder(256);
      for (const r of replies) enc.write(r, 3);
      assert.deepEqual(decodeAll(enc.take()), replies.map(expectedResp3));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('resp3: doubles read back as the value written', (t) => {
  fc.assert(
    fc.property(fc.double(), (x) => {
      const [v] = decodeAll(encode(new Double(x), 3));
      assert.equal(v.t, 'double');
      const s = (v as { v: string }).v;
      const back = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
      assert.ok(Object.is(back, x));
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

/**
 * The oracle must be right before it judges the server: resp-check.ts accepts
 * well-formed RESP2/RESP3 in any chunking, agrees with `redis-parser` on RESP2,
 * and refuses every malformation the fuzzer relies on it to catch.
 */
import test from 'ava';
import { createRequire } from 'node:module';
import { ReplyReader, MalformedReply, parseAll, show } from '../helpers/resp-check.js';

const require = createRequire(import.meta.url);

const good2 = [
  '+OK\r\n', '-ERR unknown command \'x\'\r\n', ':0\r\n', ':-9223372036854775808\r\n', '$0\r\n\r\n', '$-1\r\n', '*-1\r\n', '*0\r\n',
  '$5\r\na\r\nb\x00\r\n', '*2\r\n$1\r\na\r\n*1\r\n:1\r\n', '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
];
const good3 = ['_\r\n', ',1.5\r\n', ',-0\r\n', ',inf\r\n', ',-inf\r\n', ',nan\r\n', ',1e-45\r\n', '#t\r\n', '(12345678901234567890\r\n', '%1\r\n+a\r\n:1\r\n', '~1\r\n+a\r\n', '>2\r\n+m\r\n+x\r\n', '=7\r\ntxt:abc\r\n', '!5\r\nERR x\r\n', '|1\r\n+k\r\n+v\r\n+real\r\n'];
const bad: Array<[string, string, boolean]> = [
  ['bare LF in a simple string', '+O\nK\r\n', false],
  ['CR without LF', '+O\rK\r\n', false],
  ['leading zero integer', ':01\r\n', false],
  ['integer overflow', ':9223372036854775808\r\n', false],
  ['negative zero integer', ':-0\r\n', false],
  ['bulk length lies', '$3\r\nabcd\r\n', false],
  ['bulk length -2', '$-2\r\n', false],
  ['unknown type byte', '?x\r\n', false],
  ['RESP3 null on RESP2', '_\r\n', false],
  ['RESP3 double on RESP2', ',1\r\n', false],
  ['double written 1.', ',1.\r\n', true],
  ['boolean x', '#x\r\n', true],
  ['verbatim without format', '=3\r\nabc\r\n', true],
  ['stack trace in an error', '-ERR boom    at Foo.bar (/work/src/x.js:10:5)\r\n', false],
  ['node internals in an error', '-ERR node:internal/streams oops\r\n', false],
  ['lower-case error code', '-err oops\r\n', false],
  ['empty error', '-\r\n', false],
];

test('well-formed RESP2 and RESP3 parse, whole and byte by byte', (t) => {
  for (const s of good2) t.is(parseAll(Buffer.from(s, 'latin1'), { resp3: false }).length, 1, s);
  for (const s of [...good2, ...good3]) {
    const bytes = Buffer.from(s, 'latin1');
    const r = new ReplyReader({ resp3: true });
    const got = [];
    for (const b of bytes) { r.feed(Buffer.from([b])); got.push(...r.drain()); }
    t.is(got.length, 1, JSON.stringify(s));
    t.is(show(got[0]), show(parseAll(bytes)[0]));
  }
});

test('malformed replies are refused', (t) => {
  for (const [name, s, resp3] of bad) {
    t.throws(() => parseAll(Buffer.from(s, 'latin1'), { resp3 }), { instanceOf: MalformedReply }, name);
  }
  t.throws(() => parseAll(Buffer.from('+OK\r\n$5\r\nab')), { instanceOf: MalformedReply }, 'trailing incomplete reply');
});

test('agrees with redis-parser on random RESP2 replies', (t) => {
  const Parser = require('redis-parser') as new (o: { returnReply: (r: unknown) => void; returnError: (e: Error) => void; returnBuffers: boolean }) => { execute(b: Buffer): void };
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const gen = (depth: number): string => {
    switch (rnd(depth > 2 ? 4 : 5)) {
      case 0: return `+s${rnd(1000)}\r\n`;
      case 1: return `:${rnd(2) ? '-' : ''}${rnd(1e9)}\r\n`;
      case 2: { const b = Buffer.from(Array.from({ length: rnd(20) }, () => rnd(256))).toString('latin1'); return `$${b.length}\r\n${b}\r\n`; }
      case 3: return `-ERR e${rnd(100)}\r\n`;
      default: { const n = rnd(4); let s = `*${n}\r\n`; for (let i = 0; i < n; i++) s += gen(depth + 1); return s; }
    }
  };
  const norm = (v: unknown): unknown => Buffer.isBuffer(v) ? v.toString('latin1') : Array.isArray(v) ? v.map(norm) : v instanceof Error ? `ERR:${v.message}` : typeof v === 'number' ? String(v) : v;
  for (let i = 0; i < 300; i++) {
    const text = gen(0);
    const theirs: unknown[] = [];
    new Parser({ returnReply: (r) => theirs.push(norm(r)), returnError: (e) => theirs.push(norm(e)), returnBuffers: true }).execute(Buffer.from(text, 'latin1'));
    const ours = parseAll(Buffer.from(text, 'latin1'), { resp3: false });
    t.is(ours.length, theirs.length);
    const mine = (v: (typeof ours)[number]): unknown => v.type === 'array' ? v.value.map(mine) : v.type === 'bulk' ? v.value.toString('latin1') : v.type === 'simple' ? v.value : v.type === 'integer' ? String(v.value) : v.type === 'error' ? `ERR:${v.value}` : null;
    t.deepEqual(mine(ours[0]), theirs[0], text);
  }
});

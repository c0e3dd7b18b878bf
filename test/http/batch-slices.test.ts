/**
 * A large HTTP batch insert is parsed, checked and applied in slices: 100 000
 * points held the event loop for 1.7 s in one turn. It stays one transaction:
 * commands on its key wait for all of it, the others are served meanwhile.
 * (The stall itself is measured by a script, not here: no timing asserts.)
 */
import test from 'ava';
import net from 'node:net';
import fc from 'fast-check';
import { freePort, spawnServer, startInProcess, tempDir } from '../helpers/server.js';
import { Redis } from 'ioredis';
import { encodeCommand } from '../helpers/raw.js';
import { parseJsonInSlices, JsonBodyError, JsonPieces } from '../../src/http/json-body.js';

/** A connection that sends `args` again each time the previous reply arrived, until stopped; keeps the replies. */
function loop(port: number, args: string[]): { replies: string[]; stop: () => Promise<void> } {
  const replies: string[] = [];
  const s = net.connect(port, '127.0.0.1');
  let stopped = false;
  let buf = '';
  s.on('connect', () => s.write(encodeCommand(args)));
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\r\n')) >= 0) { replies.push(buf.slice(0, i)); buf = buf.slice(i + 2); }
    if (!stopped) s.write(encodeCommand(args));
  });
  return { replies, stop: async () => { stopped = true; s.destroy(); } };
}

test('a 20 000-point batch runs in slices: other clients are served in between, commands on its key see all of it or none', async (t) => {
  const http = await freePort();
  const srv = await startInProcess({ 'http-port': http });
  const monitor = net.connect(srv.port, '127.0.0.1');
  let seen = '';
  let wake: (() => void) | null = null;
  monitor.on('data', (d) => { seen += d.toString('latin1'); wake?.(); });
  const until = async (s: string) => { while (!seen.includes(s)) await new Promise<void>((r) => { wake = r; }); };
  try {
    monitor.write(encodeCommand(['MONITOR']));
    await until('+OK\r\n');
    const n = 20_000;
    const points = Array.from({ length: n }, (_, i) => ({ id: `p${i}`, vector: [1, i / n, (i % 7) / 7, 0.5], payload: { i } }));
    const pinger = loop(srv.port, ['PING']);
    const reader = loop(srv.port, ['VEC.CARD', 'big']);
    const res = await fetch(`http://127.0.0.1:${http}/v1/insert`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'big', points }),
    });
    t.is(res.status, 200);
    t.deepEqual(await res.json(), { added: n, updated: 0 });
    await pinger.stop();
    await reader.stop();
    const done = net.connect(srv.port, '127.0.0.1', () => done.write(encodeCommand(['ECHO', 'batch-checked'])));
    await until('"batch-checked"');
    done.destroy();

    const cards = reader.replies.map((r) => Number(r.slice(1)));
    t.true(cards.length > 0);
    t.true(cards.every((c) => c === 0 || c === n), `VEC.CARD saw ${[...new Set(cards)].join(', ')}`);
    const lines = seen.split('\r\n');
    const first = lines.findIndex((l) => l.includes('"VEC.ADD"'));
    let last = lines.length - 1;
    while (last >= 0 && !lines[last].includes('"VEC.ADD"')) last--;
    t.is(lines.filter((l) => l.includes('"VEC.ADD"')).length, n);
    const during = lines.slice(first, last);
    t.true(during.some((l) => l.includes('"PING"')), 'another client was served while the batch was applied');
    t.false(during.some((l) => l.includes('"VEC.CARD"')), 'a command on the batch\'s key waited for all of it');
    const p = await fetch(`http://127.0.0.1:${http}/v1/sets/big/points/p12345`).then((r) => r.json());
    t.deepEqual(p.payload, { i: 12345 });
  } finally {
    monitor.destroy();
    await srv.stop();
  }
});

test('a batch acknowledged over HTTP survives SIGKILL whole: its record was built as it applied, in pieces of body', async (t) => {
  const dir = tempDir();
  const http = await freePort();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--http-port', String(http)];
  const first = await spawnServer(args, { dir });
  // Over JOIN_MAX_BYTES, so the body is read in its pieces too; ids and payloads of every size.
  const n = 30_000;
  const points = Array.from({ length: n }, (_, i) => ({ id: `p${i}${'x'.repeat(i % 50)}`, vector: [1, i / n, (i % 7) / 7, 0.5], payload: { i, s: 'y'.repeat(i % 300) } }));
  const body = JSON.stringify({ key: 'kept', points });
  t.true(body.length > 2 << 20);
  const res = await fetch(`http://127.0.0.1:${http}/v1/insert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.is(res.status, 200);
  t.deepEqual(await res.json(), { added: n, updated: 0 });
  first.child.kill('SIGKILL');
  await first.exited;
  const second = await spawnServer(['--appendonly', 'yes'], { dir });
  const r = new Redis({ port: second.port, lazyConnect: true });
  try {
    await r.connect();
    t.is(Number(await r.call('VEC.CARD', 'kept')), n);
    for (const i of [0, 1, 49, 299, 12345, n - 1]) {
      const attrs = JSON.parse(String(await r.call('VGETATTR', 'kept', `p${i}${'x'.repeat(i % 50)}`)));
      t.deepEqual(attrs, { i, s: 'y'.repeat(i % 300) });
    }
  } finally { r.disconnect(); await second.kill(); }
});

/** `text` cut at the given points (taken modulo its length), as a body arrives in chunks. */
function cut(text: string, at: number[]): JsonPieces {
  const points = [...new Set(at.map((a) => a % (text.length + 1)))].sort((a, b) => a - b);
  const parts: string[] = [];
  let from = 0;
  for (const p of points) { parts.push(text.slice(from, p)); from = p; }
  parts.push(text.slice(from));
  return new JsonPieces(parts);
}

test('a text in pieces reads as the joined string: characters, slices across any cuts, NaN outside', (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), fc.nat(), fc.nat(), (text, at, a, b) => {
    const pieces = cut(text, at);
    if (pieces.length !== text.length) return false;
    for (let i = -1; i <= text.length; i++) if (!Object.is(pieces.charCodeAt(i), text.charCodeAt(i))) return false;
    // Backwards too: the current piece is only a hint.
    for (let i = text.length - 1; i >= 0; i -= 3) if (pieces.charCodeAt(i) !== text.charCodeAt(i)) return false;
    const from = a % (text.length + 1), to = b % (text.length + 1);
    return pieces.slice(from, to) === text.slice(from, to) && pieces.slice(0, text.length) === text;
  }), { numRuns: 3000 });
  t.is(new JsonPieces([]).length, 0);
  t.is(new JsonPieces(['', 'ab', '', 'c']).slice(1, 3), 'bc');
});

test('bodies parsed in slices are what JSON.parse gives, and refused where it refuses', async (t) => {
  // Tiny groups and no one-go threshold, so every container takes the sliced path.
  const opts = { oneGoChars: 0, groupChars: 8, sliceMs: 0 };
  await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(undefined, 1), async (v, indent) => {
    const text = ` ${JSON.stringify(v, null, indent)}\n`;
    return JSON.stringify(await parseJsonInSlices(text, opts)) === JSON.stringify(JSON.parse(text));
  }), { numRuns: 2000 });
  // The same in pieces, cut anywhere (inside strings and escapes too).
  await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), fc.array(fc.nat(), { maxLength: 12 }), async (v, at) => {
    const text = ` ${JSON.stringify(v)}\n`;
    return JSON.stringify(await parseJsonInSlices(cut(text, at), opts)) === JSON.stringify(JSON.parse(text));
  }), { numRuns: 2000 });
  await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 5 }), fc.nat(), fc.constantFrom('', ',', '[', ']', '{', '}', ':', '"', ' ', 'x', '1'), fc.boolean(),
    async (v, at, insert, remove) => {
      const whole = JSON.stringify(v);
      const p = at % (whole.length + 1);
      const text = remove ? whole.slice(0, p) + whole.slice(p + 1) : whole.slice(0, p) + insert + whole.slice(p);
      let expected: unknown;
      const pieces = cut(text, [at, at * 7 + 3, at >> 1]);
      try { expected = JSON.parse(text); } catch {
        await t.throwsAsync(parseJsonInSlices(text, opts), { instanceOf: JsonBodyError });
        await t.throwsAsync(parseJsonInSlices(pieces, opts), { instanceOf: JsonBodyError });
        return true;
      }
      return JSON.stringify(await parseJsonInSlices(text, opts)) === JSON.stringify(expected)
        && JSON.stringify(await parseJsonInSlices(pieces, opts)) === JSON.stringify(expected);
    }), { numRuns: 5000 });
  const proto = await parseJsonInSlices('{"__proto__": {"x": 1}, "a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}', opts) as Record<string, unknown>;
  t.deepEqual(Object.keys(proto), ['__proto__', 'a'], '__proto__ is an own key, as JSON.parse makes it');
  t.is(Object.getPrototypeOf(proto), Object.prototype);
  const deep = await parseJsonInSlices(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, opts);
  t.truthy(deep, 'nesting costs no stack');
  const err = await t.throwsAsync(parseJsonInSlices('{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, x]}', opts));
  const at = Number(/position (\d+)/.exec(err!.message)?.[1]);
  t.true(at > 25 && at <= 34, `a position in the whole text, near the x: ${err!.message}`);
});

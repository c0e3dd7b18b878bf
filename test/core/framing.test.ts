/**
 * Framing errors and limits: every row over a raw socket against a real server,
 * with the reply, the connection state, and a PING from another connection
 * answered afterwards.
 */
import test from 'ava';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { encodeCommand, exchange } from '../helpers/raw.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

interface Row { name: string; send: Buffer | Buffer[]; reply: RegExp; close: boolean }

const rows: Row[] = [
  { name: 'huge multibulk count', send: Buffer.from('*3000000000\r\n'), reply: /^-ERR Protocol error: invalid multibulk length\r\n$/, close: true },
  { name: '*0, *-1 and an empty line are ignored', send: Buffer.from('*0\r\n*-1\r\n\r\nPING\r\n'), reply: /^\+PONG\r\n$/, close: false },
  { name: 'bulk length over the limit', send: Buffer.from('*1\r\n$2000000000\r\n'), reply: /^-ERR Protocol error: invalid bulk length\r\n$/, close: true },
  { name: 'negative bulk length', send: Buffer.from('*2\r\n$4\r\nPING\r\n$-10\r\n'), reply: /^-ERR Protocol error: invalid bulk length\r\n$/, close: true },
  { name: 'non-numeric bulk length', send: Buffer.from('*1\r\n$blabla\r\n'), reply: /^-ERR Protocol error: invalid bulk length\r\n$/, close: true },
  { name: 'bulk length with a plus sign', send: Buffer.from('*1\r\n$+5\r\nhello\r\n'), reply: /^-ERR Protocol error: invalid bulk length\r\n$/, close: true },
  { name: 'nil bulk as an argument', send: Buffer.from('*2\r\n$4\r\nPING\r\n$-1\r\n'), reply: /^-ERR Protocol error: invalid bulk length\r\n$/, close: true },
  { name: 'integer inside a multibulk', send: Buffer.from('*2\r\n$4\r\nPING\r\n:5\r\n'), reply: /^-ERR Protocol error: expected '\$', got ':'\r\n$/, close: true },
  { name: 'simple string inside a multibulk', send: Buffer.from('*1\r\n+x\r\n'), reply: /^-ERR Protocol error: expected '\$', got '\+'\r\n$/, close: true },
  { name: 'bare text inside a multibulk', send: Buffer.from('*1\r\nfoo\r\n'), reply: /^-ERR Protocol error: expected '\$', got 'f'\r\n$/, close: true },
  { name: 'no CRLF after the bulk bytes', send: Buffer.from('*1\r\n$4\r\nPINGxx'), reply: /^-ERR Protocol error: [^\r\n]+\r\n$/, close: true },
  { name: '64 KiB of inline text without a newline', send: Buffer.alloc(70000, 'a'), reply: /^-ERR Protocol error: too big inline request\r\n$/, close: true },
  { name: '64 KiB of multibulk header digits', send: Buffer.concat([Buffer.from('*'), Buffer.alloc(70000, '1')]), reply: /^-ERR Protocol error: too big mbulk count string\r\n$/, close: true },
  { name: 'unbalanced quotes inline', send: Buffer.from('set "a b\r\n'), reply: /^-ERR Protocol error: unbalanced quotes in request\r\n$/, close: true },
  { name: 'HTTP request line', send: Buffer.from('POST / HTTP/1.1\r\nHost: x\r\n\r\n'), reply: /^$/, close: true },
  { name: 'Host: header as a command', send: Buffer.from('Host: example\r\n'), reply: /^$/, close: true },
  { name: 'valid commands, then garbage: earlier replies flushed, later command not run', send: Buffer.from('PING\r\nPING\r\n*1\r\nfoo\r\nPING\r\n'), reply: /^\+PONG\r\n\+PONG\r\n-ERR Protocol error: expected '\$', got 'f'\r\n$/, close: true },
  { name: 'unknown command keeps the connection', send: encodeCommand(['FOO', 'a', 'b']), reply: /^-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n$/, close: false },
  { name: 'CR/LF in an unknown command is not echoed raw', send: encodeCommand(['FOO\r\nBAR', 'x\ny']), reply: /^-ERR unknown command 'FOO  BAR', with args beginning with: 'x y' \r\n$/, close: false },
  { name: 'wrong arity', send: encodeCommand(['ECHO']), reply: /^-ERR wrong number of arguments for 'echo' command\r\n$/, close: false },
  { name: 'inline command with quotes', send: Buffer.from('ECHO "a b" \'c\'\r\n'), reply: /^-ERR wrong number of arguments for 'echo' command\r\n$/, close: false },
  { name: 'inline escapes', send: Buffer.from('ECHO "a\\x41\\n"\r\n'), reply: /^\$3\r\naA\n\r\n$/, close: false },
];

for (const row of rows) {
  test(`framing: ${row.name}`, async (t) => {
    const r = await exchange(srv.port, row.send, { idleMs: 200 });
    t.regex(r.text, row.reply);
    t.is(r.closed, row.close, `connection ${row.close ? 'should' : 'should not'} close`);
    const ping = await exchange(srv.port, encodeCommand(['PING']), { idleMs: 50 });
    t.is(ping.text, '+PONG\r\n', 'another connection still answers');
  });
}

test('framing: every byte split of a pipeline gives byte-identical replies', async (t) => {
  const pipe = Buffer.concat([
    encodeCommand(['PING']), encodeCommand(['ECHO', 'x\r\ny']), Buffer.from('PING\r\n'),
    encodeCommand(['SET', 'k', Buffer.from([0, 1, 2, 13, 10])]), encodeCommand(['GET', 'k']), Buffer.from('ECHO "q u"\r\n'),
  ]);
  const whole = await exchange(srv.port, pipe);
  t.true(whole.text.startsWith('+PONG\r\n$4\r\nx\r\ny\r\n+PONG\r\n+OK\r\n$5\r\n'));
  const jobs: Array<Promise<void>> = [];
  for (let i = 1; i < pipe.length; i++) {
    jobs.push(exchange(srv.port, [pipe.subarray(0, i), pipe.subarray(i)]).then((r) => { t.is(r.text, whole.text, `split at ${i}`); }));
    if (jobs.length >= 16) { await Promise.all(jobs); jobs.length = 0; }
  }
  await Promise.all(jobs);
});

test('framing: a command sent one byte per write', async (t) => {
  const bytes = encodeCommand(['ECHO', 'slow']);
  const parts = [...bytes].map((b) => Buffer.from([b]));
  const r = await exchange(srv.port, parts);
  t.is(r.text, '$4\r\nslow\r\n');
});

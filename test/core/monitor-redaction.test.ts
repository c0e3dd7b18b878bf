/**
 * MONITOR never shows a password: AUTH, HELLO … AUTH, CONFIG SET requirepass,
 * from authenticated and unauthenticated clients, well-formed or not (a
 * refused line is still shown, and a mistyped one holds the real password).
 */
import test from 'ava';
import net from 'node:net';
import { Redis } from 'ioredis';
import { startInProcess } from '../helpers/server.js';
import { encodeCommand } from '../helpers/raw.js';

const SECRETS = ['s3cret', 'guess-one', 'guess-two', 'guess-three', 'guess-four', 'guess-five', 'guess-six', 'n3w-pass', 'n3w-pass-2', 'ioredis-pass'];

/** A raw connection that collects everything it receives. */
async function connect(port: number): Promise<{ socket: net.Socket; text: () => string; until: (s: string) => Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let wake: (() => void) | null = null;
  socket.on('data', (d) => { text += d.toString('latin1'); wake?.(); });
  await new Promise((resolve) => socket.once('connect', resolve));
  const until = async (s: string) => { while (!text.includes(s)) await new Promise<void>((r) => { wake = r; }); };
  return { socket, text: () => text, until };
}

test('MONITOR redacts AUTH, HELLO AUTH and CONFIG SET requirepass, including failed guesses and malformed lines', async (t) => {
  const srv = await startInProcess({ requirepass: 's3cret' });
  try {
    const monitor = await connect(srv.port);
    monitor.socket.write(Buffer.concat([encodeCommand(['AUTH', 's3cret']), encodeCommand(['MONITOR'])]));
    await monitor.until('+OK\r\n+OK\r\n');

    // An unauthenticated client guessing, in every form (inline too).
    const guesser = await connect(srv.port);
    guesser.socket.write(Buffer.concat([
      encodeCommand(['AUTH', 'guess-one']),
      encodeCommand(['AUTH', 'default', 'guess-two']),
      encodeCommand(['HELLO', '3', 'AUTH', 'default', 'guess-three']),
      encodeCommand(['HELLO', '3', 'AUTH', 'guess-four']), // username forgotten: refused, still a password
      Buffer.from('AUTH guess-five\r\n'),
      encodeCommand(['HELLO', '3', 'AUTH', 'guess-six', 'SETNAME', 'x']),
      encodeCommand(['ECHO', 'guesser-done']),
    ]));
    await guesser.until('-NOAUTH');

    // An authenticated client changing the password, then a well-formed and a malformed CONFIG SET.
    const admin = await connect(srv.port);
    admin.socket.write(Buffer.concat([
      encodeCommand(['AUTH', 's3cret']),
      encodeCommand(['HELLO', '3', 'AUTH', 'default', 's3cret']),
      encodeCommand(['CONFIG', 'SET', 'requirepass', 'n3w-pass']),
      encodeCommand(['CONFIG', 'SET', 'maxclients', 'REQUIREPASS', 'n3w-pass-2']), // a value missing: refused
      encodeCommand(['CONFIG', 'SET', 'requirepass', 'ioredis-pass']),
    ]));
    await admin.until('+OK\r\n%');
    const r = new Redis({ port: srv.port, password: 'ioredis-pass', lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    await r.call('ECHO', 'all-done');
    await monitor.until('"all-done"');
    r.disconnect();

    const seen = monitor.text();
    for (const secret of SECRETS) t.false(seen.includes(secret), `${secret} leaked`);
    const lines = seen.split('\r\n').map((l) => l.replace(/^\+\d+\.\d+ \[\d+ [^\]]+\] /, ''));
    t.true(lines.includes('"AUTH" "(redacted)"'), 'an unauthenticated guess is shown, redacted');
    t.true(lines.includes('"AUTH" "(redacted)" "(redacted)"'));
    t.true(lines.includes('"HELLO" "3" "AUTH" "(redacted)" "(redacted)"'));
    t.true(lines.includes('"HELLO" "3" "AUTH" "(redacted)"'), 'a malformed HELLO AUTH');
    t.true(lines.includes('"HELLO" "3" "AUTH" "(redacted)" "(redacted)" "x"'));
    t.true(lines.includes('"CONFIG" "SET" "requirepass" "(redacted)"'));
    t.true(lines.includes('"CONFIG" "SET" "maxclients" "REQUIREPASS" "(redacted)"'), 'a malformed CONFIG SET');
    for (const c of [monitor, guesser, admin]) c.socket.destroy();
  } finally { await srv.stop(); }
});

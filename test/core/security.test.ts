/**
 * Who gets in: requirepass with AUTH and HELLO … AUTH, the stricter limits
 * before authentication, protected mode for non-loopback clients, maxclients,
 * idle timeout, and the output limit for clients that never read.
 */
import test from 'ava';
import net from 'node:net';
import os from 'node:os';
import { Redis } from 'ioredis';
import { startInProcess } from '../helpers/server.js';
import { encodeCommand, exchange } from '../helpers/raw.js';

test('requirepass: NOAUTH before AUTH, WRONGPASS, AUTH default, HELLO AUTH', async (t) => {
  const srv = await startInProcess({ requirepass: 's3cret' });
  try {
    t.is((await exchange(srv.port, encodeCommand(['GET', 'k']))).text, '-NOAUTH Authentication required.\r\n');
    t.is((await exchange(srv.port, encodeCommand(['PING']))).text, '-NOAUTH Authentication required.\r\n');
    t.is((await exchange(srv.port, encodeCommand(['AUTH', 'nope']))).text, '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    t.is((await exchange(srv.port, encodeCommand(['AUTH', 'bob', 's3cret']))).text, '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    t.is((await exchange(srv.port, Buffer.concat([encodeCommand(['AUTH', 's3cret']), encodeCommand(['PING'])]))).text, '+OK\r\n+PONG\r\n');
    t.is((await exchange(srv.port, Buffer.concat([encodeCommand(['AUTH', 'default', 's3cret']), encodeCommand(['PING'])]))).text, '+OK\r\n+PONG\r\n');
    t.regex((await exchange(srv.port, encodeCommand(['HELLO', '3']))).text, /^-NOAUTH /);
    const hello = await exchange(srv.port, Buffer.concat([encodeCommand(['HELLO', '3', 'AUTH', 'default', 's3cret']), encodeCommand(['PING'])]));
    t.regex(hello.text, /^%7\r\n[\s\S]*\+PONG\r\n$/);
    const r = new Redis({ port: srv.port, password: 's3cret', lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    t.is(await r.ping(), 'PONG');
    r.disconnect();
    // RESET drops authentication again.
    t.is((await exchange(srv.port, Buffer.concat([encodeCommand(['AUTH', 's3cret']), encodeCommand(['RESET']), encodeCommand(['PING'])]))).text, '+OK\r\n+RESET\r\n-NOAUTH Authentication required.\r\n');
  } finally { await srv.stop(); }
});

test('unauthenticated clients get the stricter limits', async (t) => {
  const srv = await startInProcess({ requirepass: 'pw' });
  try {
    const many = await exchange(srv.port, encodeCommand(['AUTH', ...Array.from({ length: 11 }, () => 'x')]));
    t.is(many.text, '-ERR Protocol error: unauthenticated multibulk length\r\n');
    t.true(many.closed);
    const big = await exchange(srv.port, Buffer.from('*2\r\n$4\r\nAUTH\r\n$20000\r\n'));
    t.is(big.text, '-ERR Protocol error: unauthenticated bulk length\r\n');
    t.true(big.closed);
    // Once authenticated, the normal limits apply.
    const ok = await exchange(srv.port, Buffer.concat([encodeCommand(['AUTH', 'pw']), encodeCommand(['ECHO', 'y'.repeat(20000)])]));
    t.true(ok.text.startsWith('+OK\r\n$20000\r\n'));
  } finally { await srv.stop(); }
});

test('AUTH without a configured password says so', async (t) => {
  const srv = await startInProcess();
  try {
    t.regex((await exchange(srv.port, encodeCommand(['AUTH', 'x']))).text, /^-ERR AUTH <password> called without any password configured/);
  } finally { await srv.stop(); }
});

const external = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

test('protected mode refuses non-loopback clients while no password is set', async (t) => {
  if (!external) { t.pass('no non-loopback IPv4 interface on this machine'); return; }
  const srv = await startInProcess({ bind: ['0.0.0.0'] });
  try {
    const r = await new Promise<string>((resolve) => {
      const s = net.connect({ port: srv.port, host: external });
      let out = '';
      s.on('connect', () => s.write(encodeCommand(['PING'])));
      s.on('data', (d) => { out += d; });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    t.regex(r, /^-DENIED Astronaut is running in protected mode/);
    // Loopback is still welcome.
    t.is((await exchange(srv.port, encodeCommand(['PING']))).text, '+PONG\r\n');
  } finally { await srv.stop(); }
});

test('with a password, remote clients may connect (and must AUTH)', async (t) => {
  if (!external) { t.pass('no non-loopback IPv4 interface on this machine'); return; }
  const srv = await startInProcess({ bind: ['0.0.0.0'], requirepass: 'pw' });
  try {
    const r = new Redis({ port: srv.port, host: external, password: 'pw', lazyConnect: true, retryStrategy: () => null });
    await r.connect();
    t.is(await r.ping(), 'PONG');
    r.disconnect();
  } finally { await srv.stop(); }
});

test('the default bind is loopback only', async (t) => {
  const srv = await startInProcess({ bind: ['127.0.0.1', '-::1'] });
  try {
    t.deepEqual(srv.server.addresses.map((a) => a.replace(/:\d+$/, '')).sort(), ['127.0.0.1', '::1'].filter((a) => srv.server.addresses.some((x) => x.startsWith(a))).sort());
    if (external) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect({ port: srv.port, host: external });
        s.on('connect', () => { s.destroy(); resolve(false); });
        s.on('error', () => resolve(true));
      });
      t.true(refused, 'not reachable on a non-loopback address');
    }
  } finally { await srv.stop(); }
});

test('maxclients: the client over the limit is told and closed', async (t) => {
  const srv = await startInProcess({ maxclients: 2 });
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = net.connect(srv.port, '127.0.0.1');
      await new Promise((res) => s.on('connect', res));
      held.push(s);
    }
    while (srv.server.clientCount < 2) await new Promise((res) => setTimeout(res, 5));
    const r = await exchange(srv.port, encodeCommand(['PING']));
    t.is(r.text, '-ERR max number of clients reached\r\n');
    t.true(r.closed);
  } finally { held.forEach((s) => s.destroy()); await srv.stop(); }
});

test('timeout closes idle clients', async (t) => {
  const srv = await startInProcess({ timeout: 1 });
  try {
    const s = net.connect(srv.port, '127.0.0.1');
    const start = Date.now();
    await new Promise((res) => s.on('close', res));
    const waited = Date.now() - start;
    t.true(waited >= 900, `closed after ${waited} ms`);
  } finally { await srv.stop(); }
});

test('a client that pipelines without reading is stopped, then closed at the output limit', async (t) => {
  const srv = await startInProcess({ 'client-output-buffer-limit': 256 * 1024 });
  try {
    const s = net.connect(srv.port, '127.0.0.1');
    await new Promise((res) => s.on('connect', res));
    // Each ECHO answers 64 KiB; the client never reads. Reading stops past the soft
    // mark, and the server closes it once the queued replies pass the hard limit.
    const echo = encodeCommand(['ECHO', 'x'.repeat(64 * 1024)]);
    s.pause();
    let closed = false;
    s.on('close', () => { closed = true; });
    s.on('error', () => {});
    for (let i = 0; i < 200 && !closed; i++) {
      s.write(echo);
      await new Promise((res) => setTimeout(res, 2));
    }
    const deadline = Date.now() + 5000;
    while (!closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    t.true(closed, 'the server closed the connection');
    t.is((await exchange(srv.port, encodeCommand(['PING']))).text, '+PONG\r\n');
  } finally { await srv.stop(); }
});

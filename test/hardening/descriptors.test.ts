/**
 * Running out of file descriptors. With a hard limit of 1024 and 1100
 * connections, process.memoryUsage() in the one-second INFO sampler threw
 * EMFILE, uncaught, and the process exited. Now maxclients is fitted to the
 * limit at start (as Redis does, with its warning), HTTP connections count
 * against it too and are timed out, and no timer's exception ends the process.
 */
import test from 'ava';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { freePort, spawnServer, startInProcess, type Child } from '../helpers/server.js';
import { encodeCommand } from '../helpers/raw.js';
import { RawClient } from '../helpers/raw-client.js';
import type { RespValue } from '../helpers/resp-check.js';
import { RESERVED_FDS, clientsTheLimitAllows, openFilesLimit } from '../../src/core/fd-limit.js';
import { guarded, safeInterval } from '../../src/core/guard.js';

const havePrlimit = (() => { try { execFileSync('prlimit', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
const withPrlimit = havePrlimit ? test.serial : test.serial.skip;

/** A reply as text: strings as they are, errors without their '-', arrays space-separated. */
function str(v: RespValue | undefined): string {
  if (v === undefined) return '';
  switch (v.type) {
    case 'bulk': case 'verbatim': return v.value.toString();
    case 'simple': case 'error': return v.value;
    case 'array': case 'set': case 'push': return v.value.map(str).join(' ');
    case 'null': return '';
    default: return 'value' in v ? String(v.value) : '';
  }
}

/** Open `n` RESP connections; each resolves with the first bytes it gets after a PING (or '' if closed without any). */
async function flood(port: number, n: number): Promise<{ sockets: net.Socket[]; replies: Array<Promise<string>> }> {
  const sockets: net.Socket[] = [];
  const replies: Array<Promise<string>> = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    replies.push(new Promise((resolve) => {
      let got = '';
      s.on('data', (d) => { got += d.toString('latin1'); if (got.includes('\r\n')) resolve(got); });
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
    }));
    s.on('connect', () => s.write(encodeCommand(['PING'])));
  }
  return { sockets, replies };
}

/** Wait on an open connection until the server's clock has moved `seconds` (its one-second timers ran meanwhile). */
async function serverSeconds(c: RawClient, seconds: number): Promise<void> {
  const uptime = async () => {
    return Number(/uptime_in_seconds:(\d+)/.exec(str(await c.call(['INFO', 'server'])))![1]);
  };
  const start = await uptime();
  while ((await uptime()) < start + seconds) await new Promise((r) => setTimeout(r, 100));
}

/**
 * Still running and serving: PING and INFO memory answered on a new connection. The
 * descriptors of the clients just closed are freed as the server reads their FINs: until
 * then a new connection may be dropped at accept, so it is tried again.
 */
async function alive(srv: Child): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (srv.child.exitCode !== null || srv.child.signalCode) return false;
    const c = await RawClient.connect(srv.port);
    const [pong, info] = await c.pipeline([['PING'], ['INFO', 'memory']], 1000);
    c.close();
    if (str(pong) === 'PONG' && /used_memory:\d+/.test(str(info))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

withPrlimit('started under a low open-files limit: maxclients is lowered with a warning, clients past it refused, HTTP included', async (t) => {
  const http = await freePort();
  const srv = await spawnServer(['--appendonly', 'no', '--http-port', String(http)], { wrapper: ['prlimit', '--nofile=256:256'] });
  try {
    const c = await RawClient.connect(srv.port);
    const fitted = Number(str(await c.call(['CONFIG', 'GET', 'maxclients'])).split(' ')[1]);
    t.true(fitted > 0 && fitted <= 256 - RESERVED_FDS, `maxclients ${fitted}`);
    t.regex(srv.output(), new RegExp(`maxclients has been reduced to ${fitted} to compensate for low ulimit`));

    const { sockets, replies } = await flood(srv.port, fitted + 20);
    const texts = await Promise.all(replies);
    t.true(texts.filter((x) => x.startsWith('-ERR max number of clients reached')).length >= 20, 'the clients past maxclients are told');
    t.is(texts.filter((x) => x.startsWith('+PONG')).length, fitted - 1, 'the others are served (one slot is ours)');
    const h = await fetch(`http://127.0.0.1:${http}/healthz`);
    t.is(h.status, 503, 'an HTTP connection counts against maxclients too');
    t.regex(await h.text(), /max number of clients reached/);
    await serverSeconds(c, 2);
    for (const s of sockets) s.destroy();
    c.socket.destroy();
    t.true(await alive(srv));
  } finally { await srv.kill(); }
});

withPrlimit('descriptors running out under a running server: accept and the timers survive EMFILE', async (t) => {
  const srv = await spawnServer(['--appendonly', 'no']);
  try {
    const c = await RawClient.connect(srv.port);
    // maxclients (10000) was fitted to the limit at start: lowering the limit afterwards is running out for real.
    execFileSync('prlimit', ['--pid', String(srv.child.pid), '--nofile=64:64']);
    const { sockets } = await flood(srv.port, 120);
    // One client, one request at a time: a racing poll on the same connection could read another call's reply.
    await serverSeconds(c, 1);
    await serverSeconds(c, 2);
    t.regex(str(await c.call(['INFO', 'memory'])), /used_memory:\d+/, 'INFO memory answers even without a descriptor to spare');
    for (const s of sockets) s.destroy();
    c.socket.destroy();
    t.true(await alive(srv));
  } finally { await srv.kill(); }
});

test.serial('HTTP connections count against maxclients; a request sent too slowly is closed after http-request-timeout', async (t) => {
  const http = await freePort();
  const srv = await startInProcess({ 'http-port': http, maxclients: 4, 'http-request-timeout': 1 });
  const open: net.Socket[] = [];
  const connect = (port: number) => new Promise<net.Socket>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => {});
    open.push(s);
  });
  try {
    await connect(srv.port);
    await connect(srv.port);
    await connect(http);
    const slow = await connect(http);
    t.is(srv.server.openConnections(), 4);
    // A fifth connection, on either port, is refused.
    const resp = await RawClient.connect(srv.port);
    t.is(str((await resp.read(1))[0]), 'ERR max number of clients reached');
    const refused = await connect(http);
    const text = await new Promise<string>((resolve) => { let s = ''; refused.on('data', (d) => { s += d; }); refused.on('close', () => resolve(s)); });
    t.regex(text, /^HTTP\/1\.1 503 [\s\S]*max number of clients reached/);
    // The slow sender: headers and a promise of 100 bytes, then one byte only. node's default would wait 300 s.
    const closed = new Promise<string>((resolve) => { let s = ''; slow.on('data', (d) => { s += d; }); slow.on('close', () => resolve(s)); });
    slow.write('POST /v1/insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    t.regex(await closed, /^(HTTP\/1\.1 408|$)/);
  } finally {
    for (const s of open) s.destroy();
    await srv.stop();
  }
});

test('the open-files limit is read from /proc/self/limits; maxclients leaves a reserve', (t) => {
  const limits = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 4096                 files
Max locked memory         8388608              8388608              bytes`;
  t.is(openFilesLimit(limits), 1024, 'the soft limit is the one that applies');
  t.is(openFilesLimit(limits.replace('1024 ', 'unlimited ')), Infinity);
  t.is(openFilesLimit('nothing here'), null);
  t.is(clientsTheLimitAllows(1024, 20), 1024 - 20 - RESERVED_FDS);
  t.is(clientsTheLimitAllows(40, 20), 1, 'never below one');
  t.is(clientsTheLimitAllows(null, 20), null, 'unknown (not Linux): nothing is changed');
  t.is(clientsTheLimitAllows(Infinity, 20), null);
  if (process.platform === 'linux') t.true((openFilesLimit() ?? 0) > 0);
});

test('a timer callback that throws or rejects is logged, rate-limited, and keeps running', async (t) => {
  const logged: unknown[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => { logged.push(JSON.parse(line)); } });
  let calls = 0;
  const fail = guarded(log, 'test task', () => { calls++; throw new Error('EMFILE: too many open files'); });
  fail();
  fail();
  t.is(calls, 2);
  t.is(logged.length, 1, 'the second failure within a minute is counted, not logged');
  t.like(logged[0] as object, { task: 'test task', msg: 'background task failed; it keeps running' });
  const rejecting = guarded(log, 'async task', async () => { throw new Error('later'); });
  rejecting();
  await new Promise((r) => setImmediate(r));
  t.is(logged.length, 2);
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const timer = safeInterval(log, 'ticking', 1, () => {
      if (++ticks === 3) { clearInterval(timer); resolve(); }
      throw new Error('tick');
    });
    timer.ref(); // safeInterval unrefs its timers: this test has nothing else keeping it alive
  });
  t.is(ticks, 3, 'the interval survived its own exceptions');
});

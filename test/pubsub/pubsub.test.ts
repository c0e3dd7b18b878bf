/**
 * Pub/sub end to end: SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE fan-out and counts,
 * RESP2 subscriber mode, RESP3 pushes among replies, ordering, the pubsub
 * output-buffer limit, RESET/QUIT, INFO and CLIENT LIST, through raw sockets,
 * ioredis 6, node-redis 6 (RESP2 and RESP3) and redis-cli.
 */
import test from 'ava';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import { encodeCommand } from '../helpers/raw.js';
import type { RespValue } from '../helpers/resp-check.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

/** A reply as plain JS, for deepEqual: bulk → string, integer → number, null → null, aggregates → arrays. */
function plain(v: RespValue | undefined): unknown {
  if (!v) return undefined;
  switch (v.type) {
    case 'bulk': case 'verbatim': return v.value.toString('latin1');
    case 'integer': return Number(v.value);
    case 'null': return null;
    case 'simple': return `+${v.value}`;
    case 'error': return `-${v.value}`;
    case 'array': case 'set': return v.value.map(plain);
    case 'push': return { push: v.value.map(plain) };
    default: return v;
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const call = async (c: RawClient, ...args: Array<string | Buffer | number>) => plain(await c.call(args));

test.serial('SUBSCRIBE/PSUBSCRIBE fan-out: PUBLISH counts channel and pattern receivers, each gets the message once per match', async (t) => {
  const [a, b, p, pub] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port), RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    t.deepEqual(plain((await a.pipeline([['SUBSCRIBE', 'news', 'sport']]))[0]), ['subscribe', 'news', 1]);
    t.deepEqual(plain((await a.read(1))[0]), ['subscribe', 'sport', 2]);
    t.deepEqual(await call(b, 'SUBSCRIBE', 'news'), ['subscribe', 'news', 1]);
    t.deepEqual(await call(p, 'PSUBSCRIBE', 'n*'), ['psubscribe', 'n*', 1]);
    t.deepEqual(plain((await p.pipeline([['PSUBSCRIBE', 'ne?s', 'x*']]))[0]), ['psubscribe', 'ne?s', 2]);
    t.deepEqual(plain((await p.read(1))[0]), ['psubscribe', 'x*', 3]);
    // a and b by channel, p by two of its patterns.
    t.is(await call(pub, 'PUBLISH', 'news', 'hello'), 4);
    t.deepEqual(plain((await a.read(1))[0]), ['message', 'news', 'hello']);
    t.deepEqual(plain((await b.read(1))[0]), ['message', 'news', 'hello']);
    const got = (await p.read(2)).map(plain);
    t.deepEqual(got, [['pmessage', 'n*', 'news', 'hello'], ['pmessage', 'ne?s', 'news', 'hello']]);
    t.is(await call(pub, 'PUBLISH', 'nobody', 'x'), 1); // n*
    t.deepEqual(plain((await p.read(1))[0]), ['pmessage', 'n*', 'nobody', 'x']);
    t.is(await call(pub, 'PUBLISH', 'zzz', 'x'), 0);
    // Binary-safe names and payloads.
    const bin = Buffer.from([0, 255, 13, 10, 0x80]);
    t.deepEqual(await call(b, 'SUBSCRIBE', bin), ['subscribe', bin.toString('latin1'), 2]);
    t.is(await call(pub, 'PUBLISH', bin, bin), 1);
    t.deepEqual(plain((await b.read(1))[0]), ['message', bin.toString('latin1'), bin.toString('latin1')]);
    t.deepEqual(await call(pub, 'PUBSUB', 'NUMSUB', 'news', 'sport', 'none'), ['news', 2, 'sport', 1, 'none', 0]);
    t.is(await call(pub, 'PUBSUB', 'NUMPAT'), 3);
    t.deepEqual(((await call(pub, 'PUBSUB', 'CHANNELS')) as string[]).sort(), [bin.toString('latin1'), 'news', 'sport'].sort());
    t.deepEqual(await call(pub, 'PUBSUB', 'CHANNELS', 's*'), ['sport']);
    t.regex(String(await call(pub, 'PUBSUB', 'CHANNELS', 'a', 'b')), /^-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'\. Try PUBSUB HELP\.$/);
    t.is(await call(pub, 'PUBSUB', 'NUMPAT', 'x'), "-ERR wrong number of arguments for 'pubsub|numpat' command");
    t.is(await call(pub, 'PUBSUB'), "-ERR wrong number of arguments for 'pubsub' command");
    t.is(await call(pub, 'PUBSUB', 'FOO'), "-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.");
    t.is(((await call(pub, 'PUBSUB', 'HELP')) as string[]).length, 14);
    t.is(await call(pub, 'SUBSCRIBE'), "-ERR wrong number of arguments for 'subscribe' command");
    // Unsubscribing everything: one reply per channel, in subscription order, counts falling to 0.
    a.write(encodeCommand(['UNSUBSCRIBE']));
    t.deepEqual((await a.read(2)).map(plain), [['unsubscribe', 'news', 1], ['unsubscribe', 'sport', 0]]);
    t.deepEqual(await call(a, 'UNSUBSCRIBE'), ['unsubscribe', null, 0]);
    t.deepEqual(await call(a, 'PUNSUBSCRIBE'), ['punsubscribe', null, 0]);
    t.is(await call(a, 'PING'), '+PONG');
    p.write(encodeCommand(['PUNSUBSCRIBE', 'x*', 'never']));
    t.deepEqual((await p.read(2)).map(plain), [['punsubscribe', 'x*', 2], ['punsubscribe', 'never', 2]]);
  } finally {
    for (const c of [a, b, p, pub]) c.close();
  }
});

test.serial('RESP2 subscriber mode: only (P|S)(UN)SUBSCRIBE, PING, QUIT, RESET; PING answers [pong, msg]; arity and unknown commands keep their own errors', async (t) => {
  const c = await RawClient.connect(srv.port);
  try {
    await c.call(['SUBSCRIBE', 'ch']);
    t.is(await call(c, 'GET', 'x'), "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
    t.is(await call(c, 'CLIENT', 'LIST'), "-ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
    t.is(await call(c, 'MULTI'), "-ERR Can't execute 'multi': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
    t.is(await call(c, 'GET'), "-ERR wrong number of arguments for 'get' command");
    t.regex(String(await call(c, 'NOSUCH')), /^-ERR unknown command 'NOSUCH'/);
    t.deepEqual(await call(c, 'PING'), ['pong', '']);
    t.deepEqual(await call(c, 'PING', 'hi'), ['pong', 'hi']);
    t.deepEqual(await call(c, 'PSUBSCRIBE', 'p*'), ['psubscribe', 'p*', 2]);
    t.deepEqual(await call(c, 'SSUBSCRIBE', 's1'), ['ssubscribe', 's1', 1]);
    // RESET leaves subscriber mode and drops every subscription, silently.
    t.is(await call(c, 'RESET'), '+RESET');
    t.is(await call(c, 'GET', 'x'), null);
    t.deepEqual(await call(c, 'PUBSUB', 'NUMSUB', 'ch'), ['ch', 0]);
    t.is(await call(c, 'PUBSUB', 'NUMPAT'), 0);
    t.deepEqual(await call(c, 'PUBSUB', 'SHARDNUMSUB', 's1'), ['s1', 0]);
    // After unsubscribing from the last one, every command is allowed again.
    await c.call(['SUBSCRIBE', 'ch']);
    t.deepEqual(await call(c, 'UNSUBSCRIBE', 'ch'), ['unsubscribe', 'ch', 0]);
    t.is(await call(c, 'PING'), '+PONG');
    // QUIT while subscribed: +OK, the connection closes, the subscription is gone.
    await c.call(['SUBSCRIBE', 'q']);
    t.is(await call(c, 'QUIT'), '+OK');
    await until(() => c.closed, 'the close');
    const o = await RawClient.connect(srv.port);
    await until(async () => JSON.stringify(await call(o, 'PUBSUB', 'NUMSUB', 'q')) === '["q",0]', 'q to lose its subscriber');
    o.close();
    t.pass();
  } finally { c.close(); }
});

test.serial('shard channels are a namespace of their own: PUBLISH and SPUBLISH never cross', async (t) => {
  const [s, c, pub] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    t.deepEqual(await call(s, 'SSUBSCRIBE', 'sh'), ['ssubscribe', 'sh', 1]);
    t.deepEqual(await call(c, 'SUBSCRIBE', 'sh'), ['subscribe', 'sh', 1]);
    t.is(await call(pub, 'SPUBLISH', 'sh', 'one'), 1);
    t.is(await call(pub, 'PUBLISH', 'sh', 'two'), 1);
    t.deepEqual(plain((await s.read(1))[0]), ['smessage', 'sh', 'one']);
    t.deepEqual(plain((await c.read(1))[0]), ['message', 'sh', 'two']);
    t.deepEqual(await call(pub, 'PUBSUB', 'SHARDCHANNELS'), ['sh']);
    t.deepEqual(await call(pub, 'PUBSUB', 'SHARDNUMSUB', 'sh'), ['sh', 1]);
    t.deepEqual(await call(pub, 'COMMAND', 'GETKEYS', 'SPUBLISH', 'sh', 'm'), ['sh']);
    t.deepEqual(await call(s, 'SUNSUBSCRIBE'), ['sunsubscribe', 'sh', 0]);
    t.deepEqual(await call(s, 'SUNSUBSCRIBE'), ['sunsubscribe', null, 0]);
  } finally { for (const x of [s, c, pub]) x.close(); }
});

test.serial('RESP3: subscription replies and messages are pushes, any command runs while subscribed, and pushes never split a reply', async (t) => {
  const [sub, pub] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    await sub.hello3();
    const r = await sub.call(['SUBSCRIBE', 'r3']);
    t.deepEqual(plain(r), { push: ['subscribe', 'r3', 1] });
    await pub.call(['SET', 'r3key', 'v'.repeat(50_000)]);
    // The subscriber reads a large value over and over while messages are published:
    // every item that arrives must be a whole reply or a whole push (the strict reader checks framing).
    const N = 300;
    const publishing = (async () => { for (let i = 0; i < N; i++) await pub.call(['PUBLISH', 'r3', `m${i}`]); })();
    const gets: Array<Array<string | Buffer | number>> = Array.from({ length: 200 }, () => ['GET', 'r3key']);
    sub.write(Buffer.concat(gets.map(encodeCommand)));
    await publishing;
    const items = await sub.read(200 + N, 20_000);
    const pushes = items.filter((v) => v.type === 'push').map(plain) as Array<{ push: unknown[] }>;
    const replies = items.filter((v) => v.type !== 'push');
    t.is(replies.length, 200);
    t.true(replies.every((v) => v.type === 'bulk' && v.value.length === 50_000));
    t.deepEqual(pushes.map((p) => p.push[2]), Array.from({ length: N }, (_, i) => `m${i}`));
    // PING answers +PONG in RESP3, subscribed or not.
    t.deepEqual(plain(await sub.call(['PING'])), '+PONG');
    t.deepEqual(plain(await sub.call(['UNSUBSCRIBE'])), { push: ['unsubscribe', 'r3', 0] });
  } finally { sub.close(); pub.close(); }
});

test.serial('RESP3: a message published while the subscriber still waits on an earlier reply comes after it', async (t) => {
  const [sub, pub] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    await sub.hello3();
    await sub.call(['SUBSCRIBE', 'late']);
    // VADD replies complete off the event loop: publish while they are in flight.
    const adds = Array.from({ length: 300 }, (_, i) => ['VADD', 'late:set', 'VALUES', '3', String(i + 1), '1', '0', `e${i}`]);
    sub.write(Buffer.concat(adds.map(encodeCommand)));
    for (let i = 0; i < 50; i++) pub.write(encodeCommand(['PUBLISH', 'late', `p${i}`]));
    const items = await sub.read(350, 20_000);
    t.is(items.length, 350);
    const replies = items.filter((v) => v.type !== 'push');
    t.is(replies.length, 300);
    t.deepEqual(items.filter((v) => v.type === 'push').map((v) => (plain(v) as { push: unknown[] }).push[2]), Array.from({ length: 50 }, (_, i) => `p${i}`));
  } finally { sub.close(); pub.close(); }
});

test.serial('ordering: thousands of pipelined publishes arrive in publish order, to every subscriber', async (t) => {
  const subs = await Promise.all([0, 1, 2].map(() => RawClient.connect(srv.port)));
  const pub = await RawClient.connect(srv.port);
  try {
    await subs[0].call(['SUBSCRIBE', 'ord']);
    await subs[1].call(['PSUBSCRIBE', 'or*']);
    await subs[2].hello3();
    await subs[2].call(['SUBSCRIBE', 'ord']);
    const N = 5000;
    const counts = await pub.pipeline(Array.from({ length: N }, (_, i) => ['PUBLISH', 'ord', String(i)]), 30_000);
    t.true(counts.every((c) => plain(c) === 3));
    for (const s of subs) {
      const got = (await s.read(N, 30_000)).map((v) => { const p = plain(v) as unknown[] | { push: unknown[] }; const a = Array.isArray(p) ? p : p.push; return Number(a[a.length - 1]); });
      t.deepEqual(got, Array.from({ length: N }, (_, i) => i));
    }
  } finally { for (const s of [...subs, pub]) s.close(); }
});

test.serial('a subscriber that stops reading is closed past the pubsub output-buffer limit; the server lives on', async (t) => {
  const admin = await RawClient.connect(srv.port);
  t.is(await call(admin, 'CONFIG', 'SET', 'client-output-buffer-limit-pubsub', '256kb 64kb 0'), '+OK');
  t.is(await call(admin, 'CONFIG', 'GET', 'client-output-buffer-limit-pubsub').then((r) => (r as string[])[1]), '262144 65536 0');
  t.regex(String(await call(admin, 'CONFIG', 'SET', 'client-output-buffer-limit-pubsub', '1mb 2')), /^-ERR CONFIG SET failed \(possibly related to argument 'client-output-buffer-limit-pubsub'\)/);
  const slow = net.connect(srv.port, '127.0.0.1');
  let closed = false;
  slow.on('close', () => { closed = true; });
  slow.on('error', () => {});
  await new Promise((r) => slow.once('connect', r));
  slow.write(encodeCommand(['CLIENT', 'SETNAME', 'slowsub']));
  slow.write(encodeCommand(['SUBSCRIBE', 'flood']));
  await until(async () => JSON.stringify(await call(admin, 'PUBSUB', 'NUMSUB', 'flood')) === '["flood",1]', 'the subscription');
  slow.pause();
  try {
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 2000 && !closed; i++) {
      await admin.call(['PUBLISH', 'flood', big]);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await until(async () => !String(await call(admin, 'CLIENT', 'LIST')).includes('name=slowsub'), 'the slow subscriber to be closed', 20_000);
    t.deepEqual(await call(admin, 'PUBSUB', 'NUMSUB', 'flood'), ['flood', 0]);
    t.is(await call(admin, 'PING'), '+PONG');
  } finally {
    slow.destroy();
    await call(admin, 'CONFIG', 'SET', 'client-output-buffer-limit-pubsub', '32mb 8mb 60');
    admin.close();
  }
});

test.serial('CLIENT LIST shows sub/psub/ssub and flag P, TYPE pubsub filters; INFO counts channels and patterns', async (t) => {
  const [s, o] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    await s.call(['CLIENT', 'SETNAME', 'lister']);
    const id = Number(plain(await s.call(['CLIENT', 'ID'])));
    s.write(encodeCommand(['SUBSCRIBE', 'i1', 'i2']));
    await s.read(2);
    await s.call(['PSUBSCRIBE', 'i*']);
    await s.call(['SSUBSCRIBE', 'is']);
    const line = String(await call(o, 'CLIENT', 'LIST', 'TYPE', 'pubsub')).split('\n').find((l) => l.includes('name=lister'))!;
    t.regex(line, /flags=P /);
    t.regex(line, / sub=2 psub=1 ssub=1 /);
    t.false(String(await call(o, 'CLIENT', 'LIST', 'TYPE', 'normal')).includes('name=lister'));
    const info = String(await call(o, 'INFO', 'stats'));
    t.regex(info, /pubsub_channels:[1-9]/);
    t.regex(info, /pubsub_patterns:[1-9]/);
    t.regex(info, /pubsubshard_channels:[1-9]/);
    t.regex(String(await call(o, 'INFO', 'clients')), /tracking_clients:\d+/);
    t.is(await call(o, 'CLIENT', 'KILL', 'TYPE', 'normal', 'ID', id), 0);
    t.is(await call(o, 'CLIENT', 'KILL', 'TYPE', 'pubsub', 'ID', id), 1);
    await until(() => s.closed, 'the killed subscriber to close');
  } finally { s.close(); o.close(); }
});

for (const protocol of [2, 3] as const) {
  test.serial(`ioredis 6 (protocol ${protocol}): subscribe, psubscribe, message events, unsubscribe back to normal commands`, async (t) => {
    const opts = { port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, protocol };
    const sub = new Redis(opts);
    const pub = new Redis(opts);
    await sub.connect(); await pub.connect();
    try {
      const got: string[] = [];
      sub.on('message', (ch: string, m: string) => got.push(`${ch}:${m}`));
      sub.on('pmessage', (p: string, ch: string, m: string) => got.push(`${p}>${ch}:${m}`));
      t.is(await sub.subscribe('io1', 'io2'), 2);
      t.is(await sub.psubscribe('io*'), 3);
      t.is(await pub.publish('io1', 'a'), 2);
      await until(() => got.length === 2, 'two deliveries');
      t.deepEqual(got.sort(), ['io*>io1:a', 'io1:a']);
      // RESP2 subscriber mode (ioredis refuses on its side); RESP3 runs commands alongside.
      if (protocol === 2) await t.throwsAsync(sub.get('x'), { message: /subscriber mode/ });
      else t.is(await sub.get('io-none'), null);
      // Named: ioredis 6 waits forever on a bare UNSUBSCRIBE while patterns remain (against Redis too).
      t.is(await sub.unsubscribe('io1', 'io2'), 1);
      t.is(await sub.punsubscribe('io*'), 0);
      t.is(await sub.get('io-none'), null);
    } finally { sub.disconnect(); pub.disconnect(); }
  });
}

for (const RESP of [2, 3] as const) {
  test.serial(`node-redis 6 pub/sub in RESP${RESP}: subscribe, pSubscribe, sSubscribe, listeners called in order`, async (t) => {
    const sub = createClient({ RESP, socket: { port: srv.port, reconnectStrategy: false } });
    const pub = createClient({ RESP, socket: { port: srv.port, reconnectStrategy: false } });
    sub.on('error', () => {}); pub.on('error', () => {});
    await sub.connect(); await pub.connect();
    try {
      const got: string[] = [];
      await sub.subscribe(`nr${RESP}`, (m) => { got.push(`c:${m}`); });
      await sub.pSubscribe(`nr${RESP}*`, (m, ch) => { got.push(`p:${ch}:${m}`); });
      await sub.sSubscribe(`nrs${RESP}`, (m) => { got.push(`s:${m}`); });
      for (let i = 0; i < 20; i++) await pub.publish(`nr${RESP}`, String(i));
      t.is(await pub.sPublish(`nrs${RESP}`, 'sh'), 1);
      await until(() => got.length === 41, 'all deliveries');
      t.deepEqual(got.filter((g) => g.startsWith('c:')), Array.from({ length: 20 }, (_, i) => `c:${i}`));
      t.deepEqual(got.filter((g) => g.startsWith('s:')), ['s:sh']);
      t.deepEqual(await pub.pubSubNumSub([`nr${RESP}`]), { [`nr${RESP}`]: 1 });
      if (RESP === 3) t.is(await sub.get('nr-none'), null); // commands run alongside subscriptions in RESP3
      await sub.unsubscribe(); await sub.pUnsubscribe(); await sub.sUnsubscribe();
      // node-redis 6 in RESP2 hands this PONG back as a Buffer (against Redis too).
      t.is(String(await sub.ping()), 'PONG');
    } finally { await sub.quit(); await pub.quit(); }
  });
}

test.serial('redis-cli SUBSCRIBE prints the messages published', async (t) => {
  const child = spawn('timeout', ['20', 'redis-cli', '-p', String(srv.port), 'SUBSCRIBE', 'cli-ch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((r) => child.on('close', r));
  const pub = await RawClient.connect(srv.port);
  try {
    await until(async () => JSON.stringify(await call(pub, 'PUBSUB', 'NUMSUB', 'cli-ch')) === '["cli-ch",1]', 'redis-cli to subscribe');
    t.is(await call(pub, 'PUBLISH', 'cli-ch', 'from-test'), 1);
    await until(() => out.includes('from-test'), 'redis-cli to print the message');
    t.regex(out, /subscribe\ncli-ch\n1\n/);
    t.regex(out, /message\ncli-ch\nfrom-test\n/);
  } finally {
    child.kill('SIGTERM');
    await exited;
    pub.close();
  }
});

test.serial('PUBLISH inside MULTI/EXEC delivers at EXEC, in order, with its counts', async (t) => {
  const [s, c] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    await s.call(['SUBSCRIBE', 'tx']);
    const r = await c.pipeline([['MULTI'], ['PUBLISH', 'tx', 'a'], ['PUBLISH', 'tx', 'b'], ['EXEC']]);
    t.deepEqual(r.map(plain), ['+OK', '+QUEUED', '+QUEUED', [1, 1]]);
    t.deepEqual((await s.read(2)).map(plain), [['message', 'tx', 'a'], ['message', 'tx', 'b']]);
  } finally { s.close(); c.close(); }
});

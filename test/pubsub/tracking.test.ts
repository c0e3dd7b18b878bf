/**
 * CLIENT TRACKING: default mode (RESP3 invalidation pushes for the keys a
 * client read), OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, BCAST with
 * prefixes, REDIRECT to a RESP2 subscriber of __redis__:invalidate, flushes,
 * and node-redis 6's client-side cache against it.
 */
import test from 'ava';
import { createClient, BasicClientSideCache } from 'redis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import type { RespValue } from '../helpers/resp-check.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

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
    case 'map': return Object.fromEntries(v.value.map(([k, x]) => [String(plain(k)), plain(x)]));
    default: return v;
  }
}

const call = async (c: RawClient, ...args: Array<string | Buffer | number>) => plain(await c.call(args));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pair(): Promise<[RawClient, RawClient]> {
  const [t, w] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  await t.hello3();
  return [t, w];
}

/** Nothing else is queued for `c`: its next item is PING's reply. */
async function nothingPending(c: RawClient): Promise<boolean> {
  return (await call(c, 'PING')) === '+PONG';
}

test.serial('default mode: a key read is invalidated once when another client writes it, and tracked again when read again', async (t) => {
  const [tr, w] = await pair();
  try {
    await call(w, 'SET', 'tk', '1');
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON'), '+OK');
    t.is(await call(tr, 'GET', 'tk'), '1');
    t.is(await call(w, 'SET', 'tk', '2'), '+OK');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['tk']] });
    await call(w, 'SET', 'tk', '3'); // no longer tracked: no second message
    t.true(await nothingPending(tr));
    t.is(await call(tr, 'GET', 'tk'), '3');
    t.is(await call(w, 'DEL', 'tk'), 1);
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['tk']] });
    // Writes that fail or change nothing still name the key: invalidating too much is safe.
    t.is(await call(tr, 'GET', 'tk'), null);
    await call(w, 'FLUSHALL');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', null] });
    t.true(await nothingPending(tr));
  } finally { tr.close(); w.close(); }
});

test.serial('a client\'s own write is invalidated after its reply; NOLOOP skips it', async (t) => {
  const [tr, w] = await pair();
  try {
    await call(tr, 'CLIENT', 'TRACKING', 'ON');
    await call(tr, 'GET', 'own');
    const [ok, push] = await tr.pipeline([['SET', 'own', 'x'], ['PING']]);
    t.is(plain(ok), '+OK');
    t.deepEqual(plain(push), { push: ['invalidate', ['own']] });
    t.is(plain((await tr.read(1))[0]), '+PONG');
    await call(tr, 'CLIENT', 'TRACKING', 'ON', 'NOLOOP');
    t.deepEqual(((await call(tr, 'CLIENT', 'TRACKINGINFO')) as Record<string, unknown>).flags, ['on', 'noloop']);
    await call(tr, 'GET', 'own');
    await call(tr, 'SET', 'own', 'y');
    t.true(await nothingPending(tr));
    await call(tr, 'GET', 'own');
    await call(w, 'SET', 'own', 'z'); // others' writes still count
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['own']] });
  } finally { tr.close(); w.close(); }
});

test.serial('vector sets: a VSIM/VCARD read is invalidated by VADD, VREM or VSETATTR from anyone', async (t) => {
  const [tr, w] = await pair();
  try {
    await call(w, 'VADD', 'tv', 'VALUES', '2', '1', '0', 'a');
    await call(tr, 'CLIENT', 'TRACKING', 'ON');
    t.is(await call(tr, 'VCARD', 'tv'), 1);
    await call(w, 'VADD', 'tv', 'VALUES', '2', '0', '1', 'b');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['tv']] });
    await call(tr, 'VSIM', 'tv', 'ELE', 'a');
    await call(w, 'VSETATTR', 'tv', 'a', '{"n":1}');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['tv']] });
    await call(tr, 'VEC.CARD', 'tv');
    await call(w, 'VREM', 'tv', 'b');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['tv']] });
  } finally { tr.close(); w.close(); }
});

test.serial('OPTIN tracks only reads after CLIENT CACHING yes; OPTOUT all but those after CLIENT CACHING no', async (t) => {
  const [tr, w] = await pair();
  try {
    t.is(await call(tr, 'CLIENT', 'CACHING', 'yes'), '-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled');
    await call(tr, 'CLIENT', 'TRACKING', 'ON', 'OPTIN');
    t.is(await call(tr, 'CLIENT', 'CACHING', 'no'), '-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTIN mode.'.replace('OPTIN', 'OPTOUT'));
    await call(tr, 'GET', 'o1');
    t.is(await call(tr, 'CLIENT', 'CACHING', 'yes'), '+OK');
    t.deepEqual(((await call(tr, 'CLIENT', 'TRACKINGINFO')) as Record<string, unknown>).flags, ['on', 'optin', 'caching-yes']);
    await call(tr, 'GET', 'o2');
    await call(tr, 'GET', 'o3'); // CACHING lasted one command
    await call(w, 'MSET', 'o1', 'a', 'o2', 'b', 'o3', 'c');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['o2']] });
    t.true(await nothingPending(tr));
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'OPTOUT'), "-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    await call(tr, 'CLIENT', 'TRACKING', 'OFF');
    await call(tr, 'CLIENT', 'TRACKING', 'ON', 'OPTOUT');
    await call(tr, 'CLIENT', 'CACHING', 'no');
    await call(tr, 'GET', 'o1');
    await call(tr, 'GET', 'o2');
    await call(w, 'MSET', 'o1', 'a', 'o2', 'b');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['o2']] });
    t.true(await nothingPending(tr));
  } finally { tr.close(); w.close(); }
});

test.serial('BCAST: writes under the client\'s prefixes are sent without any read; overlapping prefixes are refused', async (t) => {
  const [tr, w] = await pair();
  try {
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'PREFIX', 'user:'), '-ERR PREFIX option requires BCAST mode to be enabled');
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'user:', 'PREFIX', 'user:1'), "-ERR Prefix 'user:' overlaps with another provided prefix 'user:1'. Prefixes for a single client must not overlap.");
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'user:', 'PREFIX', 'vs:'), '+OK');
    t.deepEqual(await call(tr, 'CLIENT', 'TRACKINGINFO'), { flags: ['on', 'bcast'], redirect: 0, prefixes: ['user:', 'vs:'] });
    await call(w, 'SET', 'user:1', 'x');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['user:1']] });
    await call(w, 'SET', 'other', 'x');
    await call(w, 'VADD', 'vs:a', 'VALUES', '2', '1', '0', 'e');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['invalidate', ['vs:a']] });
    t.true(await nothingPending(tr));
    const line = String(await call(tr, 'CLIENT', 'INFO'));
    t.regex(line, /flags=tB /);
    t.regex(line, /redir=0 /);
  } finally { tr.close(); w.close(); }
});

test.serial('REDIRECT to a RESP2 client subscribed to __redis__:invalidate; a closed target is reported as broken', async (t) => {
  const [target, tr, w] = await Promise.all([RawClient.connect(srv.port), RawClient.connect(srv.port), RawClient.connect(srv.port)]);
  try {
    const id = Number(await call(target, 'CLIENT', 'ID'));
    await call(target, 'SUBSCRIBE', '__redis__:invalidate');
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'REDIRECT', '999999'), '-ERR The client ID you want redirect to does not exist');
    t.is(await call(tr, 'CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id)), '+OK');
    t.is(await call(tr, 'CLIENT', 'GETREDIR'), id);
    await call(tr, 'GET', 'rk');
    await call(w, 'SET', 'rk', '1');
    t.deepEqual(plain((await target.read(1))[0]), ['message', '__redis__:invalidate', ['rk']]);
    await call(w, 'FLUSHDB');
    t.deepEqual(plain((await target.read(1))[0]), ['message', '__redis__:invalidate', null]);
    t.true(await nothingPending(tr)); // RESP2: nothing on the tracking connection itself
    // Switch to RESP3 and lose the target: told once.
    await tr.hello3();
    target.close();
    await until(async () => !String(await call(w, 'CLIENT', 'LIST')).includes(`id=${id} `), 'the target to go');
    await call(tr, 'GET', 'rk');
    await call(w, 'SET', 'rk', '2');
    t.deepEqual(plain((await tr.read(1))[0]), { push: ['tracking-redir-broken', id] });
    t.deepEqual(((await call(tr, 'CLIENT', 'TRACKINGINFO')) as Record<string, unknown>).flags, ['on', 'broken_redirect']);
    t.regex(String(await call(tr, 'CLIENT', 'INFO')), /flags=tR /);
  } finally { target.close(); tr.close(); w.close(); }
});

test.serial('RESET and TRACKING OFF stop invalidations; RESP2 without REDIRECT is accepted and silent; errors', async (t) => {
  const [tr, w] = await pair();
  try {
    await call(tr, 'CLIENT', 'TRACKING', 'ON');
    await call(tr, 'GET', 'rs');
    t.is(await call(tr, 'RESET'), '+RESET');
    t.is(await call(tr, 'CLIENT', 'GETREDIR'), -1);
    await tr.hello3();
    await call(w, 'SET', 'rs', '1');
    t.true(await nothingPending(tr));
    await call(tr, 'CLIENT', 'TRACKING', 'ON');
    await call(tr, 'GET', 'rs');
    await call(tr, 'CLIENT', 'TRACKING', 'OFF');
    await call(w, 'SET', 'rs', '2');
    t.true(await nothingPending(tr));
    t.deepEqual(await call(tr, 'CLIENT', 'TRACKINGINFO'), { flags: ['off'], redirect: -1, prefixes: [] });
    t.is(await call(w, 'CLIENT', 'TRACKING', 'ON'), '+OK'); // RESP2, no REDIRECT: allowed, nothing is sent
    await call(w, 'GET', 'rs');
    await call(w, 'SET', 'rs', '3');
    t.true(await nothingPending(w));
    t.is(await call(w, 'CLIENT', 'TRACKING', 'maybe'), '-ERR syntax error');
    t.is(await call(w, 'CLIENT', 'TRACKING', 'ON', 'OPTIN', 'OPTOUT'), "-ERR You can't specify both OPTIN mode and OPTOUT mode");
    t.is(await call(w, 'CLIENT', 'TRACKING', 'ON', 'BCAST'), "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    t.is(await call(w, 'CLIENT', 'TRACKING'), "-ERR wrong number of arguments for 'client|tracking' command");
    t.regex(String(await call(w, 'INFO', 'clients')), /tracking_clients:[1-9]/);
  } finally { tr.close(); w.close(); }
});

test.serial('node-redis 6 client-side cache (RESP3): repeated GETs are served locally until another client writes the key', async (t) => {
  const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0 });
  const cached = createClient({ RESP: 3, clientSideCache: cache, socket: { port: srv.port, reconnectStrategy: false } });
  const writer = createClient({ socket: { port: srv.port, reconnectStrategy: false } });
  const errors: unknown[] = [];
  cached.on('error', (e) => errors.push(e)); writer.on('error', () => {});
  await cached.connect(); await writer.connect();
  try {
    await writer.set('csc:k', 'one');
    const getsBefore = await serverGets(writer);
    t.is(await cached.get('csc:k'), 'one');
    for (let i = 0; i < 10; i++) t.is(await cached.get('csc:k'), 'one');
    t.is((await serverGets(writer)) - getsBefore, 1, 'only the first GET reached the server');
    t.true(cache.stats().hitCount >= 10);
    await writer.set('csc:k', 'two');
    // The invalidation push drops the entry: the next GET goes to the server again.
    await until(async () => (await cached.get('csc:k')) === 'two', 'the cache to see the new value');
    t.deepEqual(errors, []);
  } finally { await cached.quit(); await writer.quit(); }
});

async function serverGets(c: { info(section: string): Promise<string> }): Promise<number> {
  const info = await c.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

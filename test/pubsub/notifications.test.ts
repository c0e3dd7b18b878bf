/**
 * Keyspace notifications: `notify-keyspace-events` parsing and validation,
 * class filtering, the `__keyspace@<db>__` / `__keyevent@<db>__` channels for
 * generic and vector-set commands (class `v`), and the option in CONFIG
 * REWRITE.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import type { RespValue } from '../helpers/resp-check.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv.stop(); });

function plain(v: RespValue | undefined): unknown {
  if (!v) return undefined;
  switch (v.type) {
    case 'bulk': return v.value.toString('latin1');
    case 'integer': return Number(v.value);
    case 'null': return null;
    case 'simple': return `+${v.value}`;
    case 'error': return `-${v.value}`;
    case 'array': case 'push': return v.value.map(plain);
    default: return v;
  }
}

const call = async (c: RawClient, ...args: Array<string | Buffer | number>) => plain(await c.call(args));

/** Subscribe to every notification of db 0 and collect [channel, message] pairs. */
async function listener(): Promise<{ client: RawClient; next(n: number): Promise<Array<[string, string]>>; quiet(c: RawClient): Promise<void> }> {
  const client = await RawClient.connect(srv.port);
  await client.call(['PSUBSCRIBE', '__key*@0__:*']);
  return {
    client,
    async next(n) {
      const got = await client.read(n, 10_000);
      return got.map((v) => { const a = plain(v) as string[]; return [a[2], a[3]] as [string, string]; });
    },
    /** Nothing more is pending: a marker published last must be the next thing read. */
    async quiet(c) {
      await c.call(['PUBLISH', '__keyspace@0__:marker', 'end']);
      const [m] = await client.read(1, 10_000);
      if ((plain(m) as string[])[3] !== 'end') throw new Error(`unexpected notification ${JSON.stringify(plain(m))}`);
    },
  };
}

test.serial('CONFIG SET notify-keyspace-events: Redis letters plus v, canonical form, Redis\'s error for a bad letter', async (t) => {
  const c = await RawClient.connect(srv.port);
  try {
    t.deepEqual(await call(c, 'CONFIG', 'GET', 'notify-keyspace-events'), ['notify-keyspace-events', '']);
    const cases: Array<[string, string]> = [['KEA', 'AKE'], ['gK', 'gK'], ['Kg$lshzxetdn', 'g$lshzxetdnK'], ['Kv', 'vK'], ['AKEm', 'AKEm'], ['Ex', 'xE'], ['Kd', 'dK'], ['AA', 'A'], ['KnA', 'AnK'], ['', '']];
    for (const [given, shown] of cases) {
      t.is(await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', given), '+OK', given);
      t.deepEqual(await call(c, 'CONFIG', 'GET', 'notify-keyspace-events'), ['notify-keyspace-events', shown], given);
    }
    t.is(await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'Zq'),
      "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdnv'.");
    t.deepEqual(await call(c, 'CONFIG', 'GET', 'notify-keyspace-events'), ['notify-keyspace-events', ''], 'a refused value changes nothing');
  } finally { c.close(); }
});

test.serial('vector-set commands publish class v events on both channels; an emptied set adds a generic del', async (t) => {
  const c = await RawClient.connect(srv.port);
  const l = await listener();
  try {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'KEv');
    t.is(await call(c, 'VADD', 'vs', 'VALUES', '2', '1', '0', 'a'), 1);
    t.deepEqual(await l.next(2), [['__keyspace@0__:vs', 'vadd'], ['__keyevent@0__:vadd', 'vs']]);
    t.is(await call(c, 'VSETATTR', 'vs', 'a', '{"x":1}'), 1);
    t.deepEqual(await l.next(2), [['__keyspace@0__:vs', 'vsetattr'], ['__keyevent@0__:vsetattr', 'vs']]);
    t.is(await call(c, 'VSETATTR', 'vs', 'missing', '{"x":1}'), 0);
    t.is(await call(c, 'VREM', 'vs', 'missing'), 0);
    await l.quiet(c); // nothing changed: no event
    // The last element goes with its key: vrem, then del, which is class g (not enabled here).
    t.is(await call(c, 'VREM', 'vs', 'a'), 1);
    t.deepEqual(await l.next(2), [['__keyspace@0__:vs', 'vrem'], ['__keyevent@0__:vrem', 'vs']]);
    await l.quiet(c);
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'Egv');
    t.is(await call(c, 'VEC.CREATE', 'docs', 'DIM', '2'), '+OK');
    t.is(await call(c, 'VEC.ADD', 'docs', 'd1', 'VALUES', '2', '1', '1'), 1);
    t.is(await call(c, 'VEC.SETPAYLOAD', 'docs', 'd1', '{"a":2}'), 1);
    t.is(await call(c, 'VEC.DEL', 'docs', 'd1'), 1);
    t.is(await call(c, 'VEC.ADD', 'auto', 'x', 'VALUES', '2', '1', '1'), 1);
    t.is(await call(c, 'VEC.DEL', 'auto', 'x'), 1);
    t.deepEqual(await l.next(7), [
      ['__keyevent@0__:vec.create', 'docs'], ['__keyevent@0__:vec.add', 'docs'], ['__keyevent@0__:vec.setpayload', 'docs'],
      ['__keyevent@0__:vec.del', 'docs'], ['__keyevent@0__:vec.add', 'auto'], ['__keyevent@0__:vec.del', 'auto'], ['__keyevent@0__:del', 'auto'],
    ]);
  } finally {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', '');
    c.close(); l.client.close();
  }
});

test.serial('class n sends "new" when a key comes into being, class m "keymiss" when a read finds none', async (t) => {
  const c = await RawClient.connect(srv.port);
  const l = await listener();
  try {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'En$');
    t.is(await call(c, 'SET', 'nk', '1'), '+OK');
    // As Redis: "new" from the keyspace first, then the command's own event.
    t.deepEqual(await l.next(2), [['__keyevent@0__:new', 'nk'], ['__keyevent@0__:set', 'nk']]);
    t.is(await call(c, 'SET', 'nk', '2'), '+OK'); // overwritten: no "new"
    t.deepEqual(await l.next(1), [['__keyevent@0__:set', 'nk']]);
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'En');
    t.is(await call(c, 'VADD', 'nv', 'VALUES', '2', '1', '0', 'a'), 1);
    t.is(await call(c, 'HSET', 'nh', 'f', 'v'), 1);
    t.is(await call(c, 'RENAME', 'nk', 'nk2'), '+OK');
    t.deepEqual(await l.next(3), [['__keyevent@0__:new', 'nv'], ['__keyevent@0__:new', 'nh'], ['__keyevent@0__:new', 'nk2']]);
    t.is(await call(c, 'GET', 'absent'), null);
    await l.quiet(c); // m is off: no keymiss
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'Em');
    t.is(await call(c, 'GET', 'absent'), null);
    t.is(await call(c, 'HGET', 'absent2', 'f'), null);
    t.deepEqual(await l.next(2), [['__keyevent@0__:keymiss', 'absent'], ['__keyevent@0__:keymiss', 'absent2']]);
    t.is(await call(c, 'GET', 'nk2'), '2');
    await l.quiet(c); // a hit sends nothing
  } finally {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', '');
    await call(c, 'DEL', 'nk2', 'nv', 'nh');
    c.close(); l.client.close();
  }
});

test.serial('class filtering: only the enabled classes and channels are published; other databases use their own index', async (t) => {
  const c = await RawClient.connect(srv.port);
  const l = await listener();
  const l9 = await RawClient.connect(srv.port);
  try {
    await l9.call(['PSUBSCRIBE', '__keyspace@9__:*']);
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'Kg');
    await call(c, 'SET', 'gk', '1'); // class $: off
    await call(c, 'VADD', 'gv', 'VALUES', '2', '1', '0', 'a'); // class v: off
    t.is(await call(c, 'DEL', 'gk'), 1);
    t.deepEqual(await l.next(1), [['__keyspace@0__:gk', 'del']]);
    t.is(await call(c, 'RENAME', 'gv', 'gv2'), '+OK');
    t.deepEqual(await l.next(2), [['__keyspace@0__:gv', 'rename_from'], ['__keyspace@0__:gv2', 'rename_to']]);
    await l.quiet(c);
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'A'); // neither K nor E: nothing at all
    await call(c, 'DEL', 'gv2');
    await l.quiet(c);
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'KA');
    await call(c, 'SELECT', '9');
    await call(c, 'VADD', 'nine', 'VALUES', '2', '1', '0', 'a');
    t.deepEqual(plain((await l9.read(1))[0]), ['pmessage', '__keyspace@9__:*', '__keyspace@9__:nine', 'vadd']);
    await call(c, 'SELECT', '0');
    await l.quiet(c);
  } finally {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', '');
    c.close(); l.client.close(); l9.close();
  }
});

test.serial('binary keys are published byte for byte', async (t) => {
  const c = await RawClient.connect(srv.port);
  const l = await listener();
  try {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'KEg');
    const key = Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0x41]);
    await call(c, 'SET', key, 'v');
    t.is(await call(c, 'DEL', key), 1);
    t.deepEqual(await l.next(2), [[`__keyspace@0__:${key.toString('latin1')}`, 'del'], ['__keyevent@0__:del', key.toString('latin1')]]);
  } finally {
    await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', '');
    c.close(); l.client.close();
  }
});

test.serial('notify-keyspace-events from a config file, and through CONFIG REWRITE', async (t) => {
  const dir = srv.dir;
  const file = path.join(dir, 'notify.conf');
  writeFileSync(file, 'notify-keyspace-events "KEA"\n');
  const other = await startInProcess({ 'notify-keyspace-events': 'AKE' }, { configFile: file });
  const c = await RawClient.connect(other.port);
  try {
    t.deepEqual(await call(c, 'CONFIG', 'GET', 'notify-keyspace-events'), ['notify-keyspace-events', 'AKE']);
    t.is(await call(c, 'CONFIG', 'SET', 'notify-keyspace-events', 'Ex'), '+OK');
    t.is(await call(c, 'CONFIG', 'REWRITE'), '+OK');
    t.regex(readFileSync(file, 'utf8'), /^notify-keyspace-events "?xE"?$/m);
  } finally { c.close(); await other.stop(); }
});

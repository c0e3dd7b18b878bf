/**
 * INFO persistence while loading: loading_total_bytes and loading_loaded_bytes
 * are bytes (the snapshot file, then the WAL payloads after its cut), and
 * loading_loaded_perc is their ratio. The replay is held half way through by
 * the host's replay hook, so the fields are sampled mid-load deterministically.
 */
import test from 'ava';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { defaultConfig } from '../../src/config.js';
import { Keyspace } from '../../src/engine/keyspace.js';
import { Persistence } from '../../src/persistence/module.js';
import type { ModuleHost } from '../../src/core/module.js';
import { startInProcess, tempDir } from '../helpers/server.js';

const KEYS = 20_000;
/** Replies to replayed commands from this one on are promises the test settles: the replay window (4096) then waits. */
const HOLD_FROM = 2000;

function field(info: Array<[string, string | number]>, name: string): number {
  const f = info.find(([k]) => k === name);
  if (!f) throw new Error(`no ${name} in ${JSON.stringify(info)}`);
  return Number(f[1]);
}

test('loading_total_bytes / loading_loaded_bytes count bytes of the snapshot and the WAL, and loading_loaded_perc is their ratio', async (t) => {
  const dir = tempDir();
  const srv = await startInProcess({ dir, appendonly: true });
  const r = new Redis({ port: srv.port, lazyConnect: true });
  await r.connect();
  for (let i = 0; i < 100; i++) await r.set(`snap:${i}`, 'x'.repeat(100));
  await r.call('SAVE');
  for (let s = 0; s < KEYS; s += 1000) {
    const p = r.pipeline();
    for (let i = s; i < s + 1000; i++) p.set(`wal:${i}`, `value-${i}`);
    await p.exec();
  }
  r.disconnect();
  await srv.stop();
  const files = readdirSync(dir);
  const snapBytes = files.filter((f) => f.endsWith('.snap')).map((f) => statSync(path.join(dir, f)).size);
  t.is(snapBytes.length, 1);
  const walFileBytes = files.filter((f) => f.endsWith('.log')).reduce((a, f) => a + statSync(path.join(dir, f)).size, 0);

  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let blocked!: () => void;
  const isBlocked = new Promise<void>((resolve) => { blocked = resolve; });
  const host = {
    config: { ...defaultConfig(), dir, appendonly: true, save: [] },
    log: pino({ level: 'silent' }),
    options: {},
    keyspace: new Keyspace(16),
    loading: true,
    startedAt: Date.now(),
    replay: () => {
      calls++;
      if (calls < HOLD_FROM) return 'OK';
      if (calls === HOLD_FROM + 4095) blocked();
      return gate.then(() => 'OK');
    },
  } as unknown as ModuleHost & { loading: boolean };
  const p = new Persistence(host);
  const opening = p.open();
  await isBlocked;

  const mid = p.info();
  const total = field(mid, 'loading_total_bytes');
  const loaded = field(mid, 'loading_loaded_bytes');
  t.is(field(mid, 'loading'), 1);
  t.true(total > snapBytes[0] + KEYS * 20, `total ${total}: the snapshot's ${snapBytes[0]} bytes and ~30 bytes per logged SET, not a record count`);
  t.true(total <= snapBytes[0] + walFileBytes, `total ${total} ≤ snapshot + WAL files ${snapBytes[0] + walFileBytes}`);
  t.true(loaded > snapBytes[0], 'the snapshot is loaded before the WAL is replayed');
  t.true(loaded < total, `${loaded} < ${total}: held half way`);
  t.is(mid.find(([k]) => k === 'loading_loaded_perc')?.[1], ((100 * loaded) / total).toFixed(2));

  release();
  await opening;
  host.loading = false;
  t.is(calls, KEYS);
  t.is(field(p.info(), 'loading'), 0);
  t.falsy(p.info().find(([k]) => k === 'loading_total_bytes'));
  await p.shutdown('nosave');
});

test('rdb_last_bgsave_time_sec is a duration once a BGSAVE or SAVE has succeeded', async (t) => {
  const srv = await startInProcess({ appendonly: true });
  const r = new Redis({ port: srv.port, lazyConnect: true });
  await r.connect();
  const get = async (name: string) => Number(new RegExp(`^${name}:(-?\\d+)`, 'm').exec(await r.info('persistence'))?.[1]);
  t.is(await get('rdb_last_bgsave_time_sec'), -1, 'never saved yet: -1, as Redis');
  await r.set('k', 'v');
  t.is(await r.call('BGSAVE'), 'Background saving started');
  while (await get('rdb_bgsave_in_progress') === 1) await new Promise((res) => setTimeout(res, 20));
  t.regex(await r.info('persistence'), /^rdb_last_bgsave_status:ok/m);
  t.true(await get('rdb_last_bgsave_time_sec') >= 0);
  await r.call('SAVE');
  t.true(await get('rdb_last_bgsave_time_sec') >= 0);
  r.disconnect();
  await srv.stop();
});

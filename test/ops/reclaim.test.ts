/**
 * Memory given back after a busy period: a few quiet seconds after a burst the
 * server shrinks V8's young generation and trims malloc (src/ops/reclaim.ts), once;
 * MEMORY PURGE does it on demand. Checked on a spawned server, where RSS is its own.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { removeTempDirs, spawnServer } from '../helpers/server.js';
import { MemoryReclaimer } from '../../src/ops/reclaim.js';

test.after.always(removeTempDirs);

const field = (info: string, name: string): number => Number(new RegExp(`^${name}:(-?[\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForReclaims(r: Redis, above: number, withinMs: number): Promise<string> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const info = await r.info('memory');
    if (field(info, 'mem_reclaims') > above) return info;
    if (Date.now() > deadline) throw new Error(`no reclaim within ${withinMs} ms: ${info}`);
    await sleep(250);
  }
}

test('a burst of commands is followed by one reclaim that gives memory back, and a quiet server is then left alone', async (t) => {
  const srv = await spawnServer(['--save', '']);
  const r = new Redis({ port: srv.port, lazyConnect: true });
  try {
    await r.connect();
    // Whatever start-up did is reclaimed first, so the count below is the burst's.
    const settled = field(await waitForReclaims(r, 0, 15_000), 'mem_reclaims');
    const value = 'v'.repeat(1000);
    for (let round = 0; round < 5; round++) {
      const p = r.pipeline();
      for (let i = 0; i < 20_000; i++) p.set(`k${i}`, value);
      await p.exec();
      const d = r.pipeline();
      for (let i = 0; i < 20_000; i++) d.del(`k${i}`);
      await d.exec();
    }
    await waitForReclaims(r, settled, 25_000);
    await sleep(1500); // the trim follows at the next tick, once the incremental GC has freed
    const info = await r.info('memory');
    t.true(field(info, 'mem_reclaim_last_freed') > 0, `freed ${field(info, 'mem_reclaim_last_freed')} bytes`);
    t.true(field(info, 'mem_reclaim_last_ms') >= 0);
    const after = field(info, 'mem_reclaims');
    // Quiet seconds with nothing new to give back: no further GC is forced.
    await sleep(3500);
    t.is(field(await r.info('memory'), 'mem_reclaims'), after);
    t.is(await r.ping(), 'PONG');
  } finally {
    r.disconnect();
    await srv.kill();
  }
});

test('MEMORY PURGE reclaims at once and answers OK', async (t) => {
  const srv = await spawnServer(['--save', '']);
  const r = new Redis({ port: srv.port, lazyConnect: true });
  try {
    await r.connect();
    const before = field(await r.info('memory'), 'mem_reclaims');
    t.is(await r.call('MEMORY', 'PURGE'), 'OK');
    t.is(field(await r.info('memory'), 'mem_reclaims'), before + 1);
    t.regex(await r.info('memory'), /^mem_reclaim_last_ms:[\d.]+\r$/m);
  } finally {
    r.disconnect();
    await srv.kill();
  }
});

test('the trim that follows a reclaim waits until no snapshot streams and nothing loads', (t) => {
  let streaming = false, loading = false;
  const r = new MemoryReclaimer(() => 0, () => loading, () => streaming, undefined, 1);
  r.tick(); // the end of the (empty) load: a reclaim, its trim due at the next tick
  t.is(r.reclaims, 1);
  t.true(r.trimPending);
  streaming = true;
  r.tick();
  t.true(r.trimPending, 'no trim while a snapshot streams');
  streaming = false;
  loading = true;
  r.tick();
  t.true(r.trimPending, 'no trim while loading');
  loading = false;
  r.tick();
  t.false(r.trimPending);
  t.is(r.reclaims, 1, 'the next reclaim waits its minimum interval');
});

test('a server quiet for the settling time after a reclaim makes one full reclaim, and only one', async (t) => {
  let commands = 0;
  const r = new MemoryReclaimer(() => commands, () => false, () => false, 200, 1);
  r.tick(); // the end of the (empty) load: the quick reclaim
  r.tick(); // its trim
  t.is(r.reclaims, 1);
  await sleep(120);
  commands += 1000; // a busy second holds the settling reclaim back
  r.tick();
  await sleep(120);
  r.tick();
  t.is(r.reclaims, 1, 'activity 120 ms ago: not settled yet');
  await sleep(120);
  r.tick();
  t.is(r.reclaims, 2, 'quiet for the settling time: the full reclaim');
  t.false(r.trimPending, 'made at once, trim included');
  await sleep(250);
  r.tick();
  t.is(r.reclaims, 2, 'then left alone');
});

test('the automatic reclaim waits for several quiet seconds in a row: a pause between bursts is not the end of one', (t) => {
  let commands = 0;
  const r = new MemoryReclaimer(() => commands, () => false, () => false, 60_000, 3);
  r.tick(); // the end of the (empty) load arms it
  r.tick();
  t.is(r.reclaims, 0, 'two quiet seconds: not yet');
  commands += 1000; // the next burst: the count starts again
  r.tick();
  r.tick();
  r.tick();
  t.is(r.reclaims, 0, 'two quiet seconds after the burst: not yet');
  r.tick();
  t.is(r.reclaims, 1, 'the third quiet second in a row: the reclaim');
});

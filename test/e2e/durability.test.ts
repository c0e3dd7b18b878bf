/**
 * What survives a crash (docs/durability.md), proven end to end:
 * SIGKILL during pipelined writes from several connections at every fsync
 * policy, simulated power loss through the fault-injecting file system,
 * a failing disk (-MISCONF, reads keep working, writes resume), snapshots
 * plus WAL replay giving exactly the state the clients were told about,
 * and the `astronaut check` tool.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { BIN, removeTempDirs, spawnServer, startInProcess, tempDir } from '../helpers/server.js';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import { listSegments } from '../../src/store/wal-reader.js';
import { SnapshotReader } from '../../src/store/snapshot-reader.js';
import { RealFs } from '../../src/store/fs.js';
import { readManifest } from '../../src/store/manifest.js';

test.after.always(removeTempDirs);

const run = promisify(execFile);
const vec = (i: number) => Buffer.from(new Float32Array([1, (i % 97) / 97, (i % 13) / 13, 0.5]).buffer);
const client = async (port: number) => {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, protocol: 2 });
  r.on('error', () => {});
  await r.connect();
  return r;
};

/** Present ids among `ids` (one VEC.GET each, pipelined). */
async function present(port: number, key: string, ids: string[]): Promise<Set<string>> {
  const r = await client(port);
  const out = new Set<string>();
  for (let s = 0; s < ids.length; s += 2000) {
    const p = r.pipeline();
    for (const id of ids.slice(s, s + 2000)) p.call('VEC.GET', key, id);
    const res = await p.exec();
    res!.forEach(([err, v], i) => { if (!err && v !== null) out.add(ids[s + i]); });
  }
  r.disconnect();
  return out;
}

for (const policy of ['always', 'everysec', 'no'] as const) {
  test.serial(`SIGKILL under pipelined writes from 3 connections loses no acknowledged write (appendfsync ${policy})`, async (t) => {
    const dir = tempDir();
    const args = ['--appendonly', 'yes', '--appendfsync', policy, '--save', ''];
    let srv = await spawnServer(args, { dir });
    const acked = new Set<string>();
    const deleted = new Set<string>();
    // A delete sent but not acknowledged may or may not have happened: those ids prove nothing.
    const uncertain = new Set<string>();
    let seq = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      const writers = await Promise.all([0, 1, 2].map(() => client(srv.port)));
      let stop = false;
      const loops = writers.map(async (w) => {
        while (!stop) {
          const p = w.pipeline();
          const ids: string[] = [];
          for (let k = 0; k < 50; k++) { const id = `k${seq++}`; ids.push(id); p.call('VEC.ADD', 'd', id, 'FP32', vec(seq)); }
          // Deletes of acknowledged ids, so replay must also remove.
          const victim = [...acked].find((id) => !deleted.has(id) && !uncertain.has(id) && Number(id.slice(1)) % 7 === 0);
          if (victim) { uncertain.add(victim); p.call('VEC.DEL', 'd', victim); }
          await new Promise((res) => setImmediate(res));
          if (w.status !== 'ready') return;
          try {
            const res = await p.exec();
            res!.forEach(([err], i) => {
              if (err) return;
              if (i < ids.length) acked.add(ids[i]);
              else { deleted.add(victim!); uncertain.delete(victim!); }
            });
          } catch { return; }
        }
      });
      await new Promise((res) => setTimeout(res, 300 + cycle * 200));
      srv.child.kill('SIGKILL');
      stop = true;
      await Promise.allSettled(loops);
      for (const w of writers) w.disconnect();
      await srv.exited;
      srv = await spawnServer(args, { dir, port: srv.port });
      const live = [...acked].filter((id) => !deleted.has(id) && !uncertain.has(id));
      const got = await present(srv.port, 'd', live);
      t.is(got.size, live.length, `cycle ${cycle}: ${live.length - got.size} acknowledged writes lost`);
      const ghosts = await present(srv.port, 'd', [...deleted]);
      t.is(ghosts.size, 0, `cycle ${cycle}: acknowledged deletes came back`);
    }
    t.true(acked.size > 300, `only ${acked.size} writes acknowledged`);
    await srv.kill();
  });
}

test.serial('snapshot + WAL replay rebuild exactly the acknowledged state; graceful stop keeps everything', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'no', '--save', ''];
  let srv = await spawnServer(args, { dir });
  let r = await client(srv.port);
  const model = new Map<string, { v: number; payload: string | null }>();
  const step = async (i: number) => {
    const id = `e${i % 300}`;
    const op = i % 5;
    if (op === 4 && model.has(id)) { await r.call('VEC.DEL', 'm', id); model.delete(id); return; }
    if (op === 3 && model.has(id)) { const p = JSON.stringify({ i }); await r.call('VEC.SETPAYLOAD', 'm', id, p); model.get(id)!.payload = p; return; }
    const p = i % 2 ? JSON.stringify({ n: i }) : null;
    await r.call('VEC.ADD', 'm', id, 'FP32', vec(i), ...(p ? ['PAYLOAD', p] : []));
    model.set(id, { v: i, payload: p ?? model.get(id)?.payload ?? null });
  };
  for (let i = 0; i < 600; i++) await step(i);
  t.is(await r.call('SAVE'), 'OK');
  for (let i = 600; i < 1000; i++) await step(i);
  const check = async (label: string) => {
    r = await client(srv.port);
    t.is(await r.call('VEC.CARD', 'm'), model.size, label);
    for (const [id, { v, payload }] of model) {
      const got = await r.call('VEC.GET', 'm', id) as unknown[];
      t.deepEqual(new Float32Array((got[1] as string[]).map(Number)), new Float32Array(vec(v).buffer), `${label} ${id}`);
      t.is(got[3], payload, `${label} payload of ${id}`);
    }
    r.disconnect();
  };
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = await spawnServer(args, { dir, port: srv.port });
  await check('after SIGKILL');
  await srv.kill('SIGTERM');
  srv = await spawnServer(args, { dir, port: srv.port });
  await check('after a graceful stop');
  await srv.kill();
});

test.serial('a graph section damaged on disk is found while it loads: the server falls back to the snapshot before it and the WAL, and loses nothing', async (t) => {
  // A restart checks a graph's checksum as usearch loads it, not in a pass before: the keys
  // loaded up to the damage must be dropped and recovery must go back one snapshot.
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await client(srv.port);
  const model = new Map<string, number>();
  const add = async (from: number, to: number) => {
    const p = r.pipeline();
    for (let i = from; i < to; i++) { p.call('VEC.ADD', 'g', `e${i}`, 'FP32', vec(i)); model.set(`e${i}`, i); }
    await p.exec();
  };
  await add(0, 1500); // past the flat-set size: the set has a usearch graph
  await r.call('SET', 'before', '1');
  t.is(await r.call('SAVE'), 'OK');
  await add(1500, 2500);
  await r.call('VEC.DEL', 'g', 'e7');
  model.delete('e7');
  await r.call('SET', 'between', '2');
  // Replayed onto keys left from the damaged snapshot, this would count twice.
  await r.incr('counter');
  await r.incr('counter');
  t.is(await r.call('SAVE'), 'OK');
  await add(2500, 2600);
  await r.call('SET', 'after', '3');
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;

  const fs = new RealFs();
  const newest = path.join(dir, (await readManifest(fs, dir))!.snapshot!.file);
  const reader = await SnapshotReader.open(fs, newest);
  const graph = reader.sections.find((s) => s.name.startsWith('graph:'))!;
  await reader.close();
  const bytes = readFileSync(newest);
  bytes[graph.dataOffset + Math.floor(graph.length / 2)]! ^= 0x20;
  writeFileSync(newest, bytes);

  srv = await spawnServer(args, { dir, port: srv.port });
  t.regex(srv.output(), /snapshot found damaged while loading/);
  t.true(existsSync(newest + '.broken'), 'the damaged snapshot is set aside, not deleted');
  const check = async (label: string) => {
    const c = await client(srv.port);
    t.is(await c.call('VEC.CARD', 'g'), model.size, label);
    t.deepEqual(await c.mget('before', 'between', 'after', 'counter'), ['1', '2', '3', '2'], label);
    const got = await present(srv.port, 'g', [...model.keys()]);
    t.is(got.size, model.size, `${label}: elements lost`);
    // vec() repeats every 1261: e28, e1289 and e2550 are the three equal to vec(2550).
    t.deepEqual((await c.call('VEC.SEARCH', 'g', 'FP32', vec(2550), 'COUNT', '3') as string[]).sort(), ['e1289', 'e2550', 'e28'], `${label}: the graph answers`);
    c.disconnect();
  };
  await check('after the fallback');
  // The fallback took a fresh snapshot: a restart now loads without any damage.
  await srv.kill('SIGTERM');
  srv = await spawnServer(args, { dir, port: srv.port });
  t.notRegex(srv.output(), /damaged/);
  await check('after another restart');
  await srv.kill();
});

test.serial('MULTI/EXEC is one WAL record: replayed whole', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  const r = await client(srv.port);
  const res = await r.multi().call('VEC.ADD', 'tx', 'a', 'VALUES', '2', '1', '0').call('VEC.ADD', 'tx', 'b', 'VALUES', '2', '0', '1').call('VEC.DEL', 'tx', 'a').exec();
  t.is(res!.length, 3);
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = await spawnServer(args, { dir, port: srv.port });
  const r2 = await client(srv.port);
  t.deepEqual(await r2.call('VEC.SEARCH', 'tx', 'VALUES', '2', '1', '1'), ['b']);
  r2.disconnect();
  await srv.kill();
});

for (const policy of ['always', 'everysec'] as const) {
  test.serial(`power loss (unsynced data dropped) at appendfsync ${policy}`, async (t) => {
    const dir = tempDir();
    const sim = await SimulatedFs.create(dir);
    const srv = await startInProcess({ dir, appendonly: true, appendfsync: policy }, { fs: sim.session() });
    const r = await client(srv.port);
    const ackedAt = new Map<string, number>();
    for (let round = 0; round < 30; round++) {
      const p = r.pipeline();
      const ids = Array.from({ length: 20 }, (_, i) => `p${round}:${i}`);
      for (const id of ids) p.call('VEC.ADD', 'pl', id, 'FP32', vec(round));
      const res = await p.exec();
      const now = Date.now();
      res!.forEach(([err], i) => { if (!err) ackedAt.set(ids[i], now); });
      await new Promise((res2) => setTimeout(res2, 50));
    }
    const lossAt = Date.now();
    await sim.powerLoss();
    r.disconnect();
    await srv.stop();
    const back = await startInProcess({ dir, appendonly: true, appendfsync: policy });
    const got = await present(back.port, 'pl', [...ackedAt.keys()]);
    const lost = [...ackedAt].filter(([id]) => !got.has(id));
    if (policy === 'always') t.is(lost.length, 0, `${lost.length} acknowledged writes lost`);
    else t.true(lost.every(([, at]) => lossAt - at <= 2000), `lost writes older than 2 s: ${lost.filter(([, at]) => lossAt - at > 2000).length}`);
    t.true(ackedAt.size >= 500);
    await back.stop();
  });
}

test.serial('a failing disk: writes refused with -MISCONF, reads keep working, writes resume once it heals', async (t) => {
  const dir = tempDir();
  const sim = await SimulatedFs.create(dir);
  const srv = await startInProcess({ dir, appendonly: true, appendfsync: 'always' }, { fs: sim.session() });
  const r = await client(srv.port);
  t.is(await r.call('VEC.ADD', 'disk', 'a', 'VALUES', '2', '1', '0'), 1);
  const heal = sim.inject({ op: 'write', count: Infinity, code: 'ENOSPC' });
  await t.throwsAsync(r.call('VEC.ADD', 'disk', 'b', 'VALUES', '2', '0', '1'));
  await t.throwsAsync(r.call('VEC.ADD', 'disk', 'c', 'VALUES', '2', '0', '1'), { message: /^MISCONF/ });
  t.deepEqual(await r.call('VEC.SEARCH', 'disk', 'VALUES', '2', '1', '0', 'COUNT', '1'), ['a'], 'reads keep working');
  t.regex(await r.info('persistence'), /aof_last_write_status:err/);
  heal();
  let ok = false;
  for (let i = 0; i < 60 && !ok; i++) {
    try { ok = (await r.call('VEC.ADD', 'disk', 'd', 'VALUES', '2', '1', '1')) !== undefined; } catch { await new Promise((res) => setTimeout(res, 100)); }
  }
  t.true(ok, 'writes resumed after the disk healed');
  r.disconnect();
  await srv.stop();
  const back = await startInProcess({ dir, appendonly: true });
  const got = await present(back.port, 'disk', ['a', 'd']);
  t.deepEqual([...got].sort(), ['a', 'd']);
  await back.stop();
});

test.serial('BGSAVE serves meanwhile; LASTSAVE, INFO persistence fields, automatic save points', async (t) => {
  const srv = await startInProcess({ appendonly: true, save: [] });
  const r = await client(srv.port);
  for (let s = 0; s < 5000; s += 500) {
    const p = r.pipeline();
    for (let i = s; i < s + 500; i++) p.call('VEC.ADD', 'bg', `e${i}`, 'FP32', vec(i));
    await p.exec();
  }
  const before = await r.call('LASTSAVE') as number;
  t.is(await r.call('BGSAVE'), 'Background saving started');
  await t.throwsAsync(r.call('BGSAVE'), { message: /already in progress/ });
  // As Redis: a rewrite (or BGSAVE SCHEDULE) asked for during a save runs once it ends.
  t.is(await r.call('BGREWRITEAOF'), 'Background append only file rewriting scheduled');
  t.is(await r.call('BGSAVE', 'SCHEDULE'), 'Background saving scheduled');
  await t.throwsAsync(r.call('BGSAVE', 'NOW'), { message: /syntax error/ });
  t.is(await r.call('VEC.CARD', 'bg'), 5000, 'served during the snapshot');
  let info = '';
  for (let i = 0; i < 100; i++) { info = await r.info('persistence'); if (/rdb_bgsave_in_progress:0/.test(info)) break; await new Promise((res) => setTimeout(res, 50)); }
  t.regex(info, /rdb_last_bgsave_status:ok/);
  t.regex(info, /rdb_changes_since_last_save:0/);
  t.regex(info, /rdb_last_bgsave_max_stall_ms:\d+/);
  t.true((await r.call('LASTSAVE') as number) >= before);
  await r.call('CONFIG', 'SET', 'save', '1 1');
  await r.call('VEC.ADD', 'bg', 'new', 'FP32', vec(1));
  for (let i = 0; i < 60; i++) { info = await r.info('persistence'); if (/rdb_changes_since_last_save:0/.test(info)) break; await new Promise((res) => setTimeout(res, 100)); }
  t.regex(info, /rdb_changes_since_last_save:0/, 'the save point fired');
  // The save point's snapshot may still be running: then the rewrite is scheduled after it.
  t.regex(String(await r.call('BGREWRITEAOF')), /^Background append only file rewriting (started|scheduled)$/);
  r.disconnect();
  await srv.stop();
});

test.serial('astronaut check: a clean directory, then a torn WAL tail found and fixed', async (t) => {
  const dir = tempDir();
  const srv = await spawnServer(['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { dir });
  const r = await client(srv.port);
  for (let i = 0; i < 50; i++) await r.call('VEC.ADD', 'c', `e${i}`, 'FP32', vec(i));
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  const clean = await run(process.execPath, [BIN, 'check', dir]);
  t.regex(clean.stdout, /ok|OK|no problems/i);
  const wal = readdirSync(dir).filter((f) => f.startsWith('wal-')).map((f) => path.join(dir, f)).sort().at(-1)!;
  // After a SIGKILL the segment ends in the zeros the writer preallocated: cut into the last record itself.
  const bytes = readFileSync(wal);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  t.true(statSync(wal).size >= end);
  truncateSync(wal, end - 7);
  const torn = await run(process.execPath, [BIN, 'check', dir]).catch((e: { stdout: string; code: number }) => e);
  t.regex(torn.stdout, /torn/i);
  const fixed = await run(process.execPath, [BIN, 'check', dir, '--fix']).catch((e: { stdout: string }) => e);
  t.regex(fixed.stdout, /truncat|fixed/i);
  const after = await run(process.execPath, [BIN, 'check', dir]);
  t.regex(after.stdout, /ok|OK|no problems/i);
  const back = await spawnServer(['--appendonly', 'yes', '--save', ''], { dir });
  const got = await present(back.port, 'c', Array.from({ length: 50 }, (_, i) => `e${i}`));
  t.is(got.size, 49, 'every complete record kept; the torn last one gone');
  await back.kill();
});

const vec64 = (i: number) => Buffer.from(Float32Array.from({ length: 64 }, (_, k) => Math.sin(i * 0.37 + k) + (k === 0 ? 2 : 0)).buffer);
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

test.serial('a full disk under 8 pipelining writers: every refusal is MISCONF, no refused write is ever visible, every acknowledged one survives a restart', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('mounting a tmpfs needs root');
  // Its own mount point (not tempDir): removing temp dirs must not reach into a mounted file system.
  const dir = mkdtempSync(path.join(tmpdir(), 'astronaut-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir]);
  t.teardown(() => {
    try { execFileSync('umount', ['-l', dir]); rmdirSync(dir); } catch { /* already gone */ }
  });
  const args = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
  let srv = await spawnServer(args, { dir });
  t.teardown(() => void srv.child.kill('SIGKILL')); // before the unmount (teardowns run in reverse order)
  const acked = new Set<string>();
  const refused = new Set<string>();
  const errors = new Map<string, number>();
  let seq = 0;
  const writers = await Promise.all(Array.from({ length: 8 }, () => client(srv.port)));
  await Promise.all(writers.map(async (w) => {
    // Until this writer has had five batches refused: the disk is full and stays full.
    for (let refusedBatches = 0; refusedBatches < 5;) {
      const p = w.pipeline();
      const ids: string[] = [];
      for (let k = 0; k < 100; k++) { const id = `f${seq++}`; ids.push(id); p.call('VEC.ADD', 'full', id, 'FP32', vec64(seq)); }
      const res = await p.exec();
      let anyRefused = false;
      res!.forEach(([err], i) => {
        if (!err) { acked.add(ids[i]); return; }
        anyRefused = true;
        refused.add(ids[i]);
        const text = err.message.slice(0, 60);
        errors.set(text, (errors.get(text) ?? 0) + 1);
      });
      if (anyRefused) refusedBatches++;
    }
  }));
  const r = writers[0];
  // A transaction on the full disk: refused as a whole, nothing of it applied.
  const tx = await r.multi().call('VEC.ADD', 'full', 'tx-a', 'FP32', vec64(1)).call('VEC.ADD', 'full', 'tx-b', 'FP32', vec64(2)).exec().catch((e: Error) => e);
  t.true(tx instanceof Error, 'EXEC on a full disk is refused');
  t.log(`${acked.size} acknowledged, ${refused.size} refused; errors: ${JSON.stringify([...errors])}`);
  t.true(acked.size > 10_000, `only ${acked.size} writes acknowledged before the disk filled`);
  t.true(refused.size > 0);
  for (const text of errors.keys()) t.regex(text, /^MISCONF /, 'every refusal is MISCONF');
  t.regex(await r.info('persistence'), /aof_last_write_status:err/);
  // Reads before any restart: nothing refused shows up.
  t.is(await r.call('VEC.CARD', 'full'), acked.size, 'elements in memory = acknowledged writes');
  t.is((await present(srv.port, 'full', [...refused, 'tx-a', 'tx-b'])).size, 0, 'no refused write is visible');
  for (let q = 0; q < 5; q++) {
    const hits = await r.call('VEC.SEARCH', 'full', 'FP32', vec64(q * 7919), 'COUNT', '100') as string[];
    t.true(hits.length > 0 && hits.every((id) => acked.has(id)), 'searches return acknowledged elements only');
  }
  for (const w of writers) w.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = await spawnServer(args, { dir, port: srv.port, timeoutMs: 120_000 });
  const r2 = await client(srv.port);
  t.is(await r2.call('VEC.CARD', 'full'), acked.size, 'after the restart: exactly the acknowledged writes');
  t.is((await present(srv.port, 'full', [...acked])).size, acked.size);
  // Still full: writes go into what is left of the space the WAL had reserved, then are refused.
  let after: Error | null = null;
  for (let i = 0; i < 100_000 && !after; i++) {
    after = await r2.call('VEC.ADD', 'full', `again${i}`, 'FP32', vec64(i)).then(() => null, (e: Error) => e);
  }
  t.regex(after?.message ?? '', /^MISCONF /);
  r2.disconnect();
  await srv.kill();
});

test.serial('one data directory, one server: a second server is refused naming the holder\'s pid, so is check --fix; a SIGKILLed server\'s directory opens again', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  const first = await spawnServer(args, { dir });
  t.teardown(() => void first.child.kill('SIGKILL'));
  const r = await client(first.port);
  const ids = Array.from({ length: 20 }, (_, i) => `e${i}`);
  for (const [i, id] of ids.entries()) await r.call('VEC.ADD', 'lk', id, 'FP32', vec(i));
  const second = await t.throwsAsync(spawnServer(args, { dir }));
  t.regex(second!.message, new RegExp(`in use by another Astronaut server \\(pid ${first.child.pid}\\)`));
  const fix = await run(process.execPath, [BIN, 'check', dir, '--fix']).then(() => null, (e: { code: number; stdout: string }) => e);
  t.is(fix?.code, 1, 'check --fix refuses while a server holds the directory');
  t.regex(fix?.stdout ?? '', new RegExp(`pid ${first.child.pid}`));
  const readOnly = await run(process.execPath, [BIN, 'check', dir]);
  t.regex(readOnly.stdout, new RegExp(`a server \\(pid ${first.child.pid}\\) is using this directory`));
  await r.call('VEC.ADD', 'lk', 'after', 'FP32', vec(99));
  r.disconnect();
  first.child.kill('SIGKILL');
  await first.exited;
  const back = await spawnServer(args, { dir });
  t.teardown(() => void back.child.kill('SIGKILL'));
  t.is((await present(back.port, 'lk', [...ids, 'after'])).size, ids.length + 1, 'the stale lock was taken over, nothing lost');
  await back.kill();
});

test.serial('the WAL deleted under a running server: noticed, writes never acknowledged into the void, a snapshot re-establishes durability; the server restarts with everything', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  t.teardown(() => void srv.child.kill('SIGKILL'));
  const r = await client(srv.port);
  const acked = new Set<string>();
  for (let i = 0; i < 100; i++) { await r.call('VEC.ADD', 'wd', `a${i}`, 'FP32', vec(i)); acked.add(`a${i}`); }
  for (const f of readdirSync(dir)) if (f.startsWith('wal-')) unlinkSync(path.join(dir, f));
  const errors: string[] = [];
  // Until 200 more are acknowledged: refusals last until the re-establishing snapshot is committed.
  for (let i = 0, ok = 0; ok < 200 && errors.length < 5000; i++) {
    try {
      await r.call('VEC.ADD', 'wd', `b${i}`, 'FP32', vec(i));
      acked.add(`b${i}`);
      ok++;
    } catch (e) {
      errors.push((e as Error).message);
      await sleep(5);
    }
  }
  for (const e of new Set(errors)) t.regex(e, /^MISCONF /);
  t.is(acked.size, 300, 'writes resume once durability is re-established');
  t.regex(srv.output(), /was deleted/);
  t.regex(await r.info('persistence'), /aof_last_write_status:ok/);
  t.true(readdirSync(dir).some((f) => f.startsWith('wal-')), 'a new segment');
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  srv = await spawnServer(args, { dir, port: srv.port });
  t.is((await present(srv.port, 'wd', [...acked])).size, acked.size, 'every acknowledged write survived');
  await srv.kill();
});

test.serial('the WAL deleted and snapshots failing: writes refused with MISCONF (nothing applied), the write already in the deleted segment waits, all of it released once a snapshot succeeds', async (t) => {
  const dir = tempDir();
  const sim = await SimulatedFs.create(dir);
  const srv = await startInProcess({ dir, appendonly: true, appendfsync: 'always' }, { fs: sim.session() });
  const r = await client(srv.port);
  for (let i = 0; i < 20; i++) await r.call('VEC.ADD', 'ws', `a${i}`, 'FP32', vec(i));
  const failSnapshots = sim.inject({ op: 'open', path: /snap-.*\.tmp$/, count: Infinity, code: 'ENOSPC' });
  for (const seg of await listSegments(sim, dir)) await sim.unlink(path.join(dir, seg.file));
  await sim.syncDir(dir);
  let settled = false;
  const held = r.call('VEC.ADD', 'ws', 'held', 'FP32', vec(1)).finally(() => { settled = true; });
  // Until the server notices the deletion (its write of `held`, or its next tick), a write may
  // still be admitted: it then waits like `held`. Such a write gets no reply yet, so each
  // attempt goes on its own connection, and one that has not settled in 300 ms joins `held`.
  const alsoHeld: Array<{ id: string; reply: Promise<unknown> }> = [];
  const connections: Redis[] = [];
  const acked: string[] = [];
  let refusal = '', refused = '';
  for (let i = 0; i < 500 && !refusal; i++) {
    const w = await client(srv.port);
    connections.push(w);
    const id = `try${i}`;
    const reply = w.call('VEC.ADD', 'ws', id, 'FP32', vec(2));
    const outcome = await Promise.race([reply.then(() => 'ok', (e: Error) => e.message), sleep(300).then(() => 'pending')]);
    if (outcome === 'pending') alsoHeld.push({ id, reply });
    else if (outcome === 'ok') { acked.push(id); await sleep(5); }
    else { refusal = outcome; refused = id; }
  }
  t.regex(refusal, /^MISCONF .*deleted/);
  t.log(`${alsoHeld.length} write(s) admitted before the deletion was noticed, ${acked.length} acknowledged, then refused`);
  const w2 = connections.at(-1)!;
  t.is(await w2.call('VEC.GET', 'ws', refused), null, 'a refused write is not applied');
  await sleep(1500); // at least one snapshot attempt failed meanwhile
  t.false(settled, 'held, not answered with an error for a write already applied');
  failSnapshots();
  t.is(await held, 1);
  for (const h of alsoHeld) t.is(await h.reply, 1, `${h.id}, admitted before the deletion was noticed, is acknowledged once durable`);
  t.is(await w2.call('VEC.ADD', 'ws', 'later', 'FP32', vec(3)), 1);
  r.disconnect();
  for (const w of connections) w.disconnect();
  await srv.stop();
  const back = await startInProcess({ dir, appendonly: true });
  // Every write acknowledged at any point is there (an acknowledgement never went into the deleted file).
  const want = [...Array.from({ length: 20 }, (_, i) => `a${i}`), 'held', 'later', ...alsoHeld.map((h) => h.id), ...acked];
  t.is((await present(back.port, 'ws', want)).size, want.length);
  await back.stop();
});

test.serial('--repair: the damage named at start-up, what a repair keeps and drops shown by check and logged by the server, then a normal start', async (t) => {
  const dir = tempDir();
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv = await spawnServer(args, { dir });
  t.teardown(() => void srv.child.kill('SIGKILL'));
  const r = await client(srv.port);
  for (let i = 0; i < 30; i++) await r.call('VEC.ADD', 'rp', `s${i}`, 'FP32', vec(i));
  t.is(await r.call('SAVE'), 'OK');
  for (let i = 0; i < 10; i++) await r.call('VEC.ADD', 'rp', `w${i}`, 'FP32', vec(i));
  r.disconnect();
  srv.child.kill('SIGKILL');
  await srv.exited;
  const segs = readdirSync(dir).filter((f) => f.startsWith('wal-')).sort();
  unlinkSync(path.join(dir, segs.at(-1)!)); // the segment after the snapshot
  const refusedStart = await t.throwsAsync(spawnServer(args, { dir }));
  t.regex(refusedStart!.message, /--repair/);
  const check = await run(process.execPath, [BIN, 'check', dir]).then(() => null, (e: { code: number; stdout: string }) => e);
  t.is(check?.code, 1);
  t.regex(check?.stdout ?? '', /--repair/);
  t.regex(check?.stdout ?? '', /it would keep: snapshot snap-\d+\.snap/);
  srv = await spawnServer([...args, '--repair'], { dir });
  t.regex(srv.output(), /repair: kept snapshot .*dropped: .*missing/);
  const got = await present(srv.port, 'rp', Array.from({ length: 30 }, (_, i) => `s${i}`));
  t.is(got.size, 30, 'the snapshot was kept');
  await srv.kill();
  const ok = await run(process.execPath, [BIN, 'check', dir]);
  t.regex(ok.stdout, /OK: a server would start/);
  srv = await spawnServer(args, { dir });
  t.is((await present(srv.port, 'rp', ['s0', 's29'])).size, 2);
  await srv.kill();
});

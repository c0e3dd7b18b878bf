/**
 * The replication id and offset across restarts (the REPLICATION state file):
 * a replica stopped cleanly (SIGTERM, SHUTDOWN) resumes with a partial resync;
 * a replica SIGKILLed resumes partially only when the file provably matches its
 * data, and takes a full sync otherwise; a primary restarted cleanly keeps its
 * id, so its replica resumes. INFO's sync_full / sync_partial_ok on the primary
 * prove which sync happened, DEBUG DIGEST that the data is the same.
 */
import test, { type ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, tempDir, removeTempDirs, type Child } from '../helpers/server.js';
import { caughtUp, connect, digest, disconnectAll, info, linkUp, spawn, stats, until, writeSome } from '../helpers/replication.js';

test.after.always(removeTempDirs);
test.after.always(disconnectAll);

const COMMON = ['--appendonly', 'yes', '--enable-debug-command', 'yes'];

/** A data directory's state file, parsed (null while absent). */
function stateFile(dir: string): Record<string, string> | null {
  let text: string;
  try { text = readFileSync(path.join(dir, 'REPLICATION'), 'utf8'); } catch { return null; }
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split(' ', 2) as [string, string]));
}

/** A replica of the primary on `primaryPort`, on a directory and port of its own (kept for `respawn`), linked up. */
async function attachReplica(t: ExecutionContext, primaryPort: number): Promise<{ dir: string; port: number; args: string[]; s: Child; replica: Redis }> {
  const dir = tempDir();
  const port = await freePort();
  const args = [...COMMON, '--replicaof', `127.0.0.1 ${primaryPort}`];
  const s = await spawn(t, args, { dir, port });
  const replica = connect(s.port);
  await linkUp(replica);
  return { dir, port, args, s, replica };
}

/** Bytes of WAL records `node` has written to its files (not counting the preallocated tail). */
const walBytes = async (node: Redis): Promise<number> => Number((await info(node, 'persistence')).aof_current_size);
/** Until `node` has rewritten the state file in `dir` with the offset it has reached (its WAL stood still). */
const stateFileCurrent = (dir: string, node: Redis) =>
  until('state file current', async () => stateFile(dir)?.offset === (await info(node, 'replication')).master_repl_offset);

/** Start the replica again on its directory and port, and wait until it has caught up with `primary`. */
async function respawn(t: ExecutionContext, primary: Redis, args: string[], where: { dir: string; port: number }): Promise<{ s: Child; replica: Redis }> {
  const s = await spawn(t, args, where);
  const replica = connect(s.port);
  await linkUp(replica);
  await caughtUp(primary, replica);
  return { s, replica };
}

test('a replica stopped cleanly (SIGTERM, then SHUTDOWN) resumes with a partial resync', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  await writeSome(primary, 'before');
  const { dir, port, args, ...linked } = await attachReplica(t, p.port);
  let { s, replica } = linked;
  t.deepEqual(await stats(primary), { full: 1, partial: 0 });
  const replid = (await info(primary, 'replication')).master_replid;

  for (const [round, how] of [[1, 'SIGTERM'], [2, 'SHUTDOWN']] as const) {
    await writeSome(primary, `up${round}`);
    t.is(await primary.call('WAIT', 1, 10000), 1);
    if (how === 'SIGTERM') await s.kill('SIGTERM');
    else {
      await replica.call('SHUTDOWN').catch(() => { /* the connection closes instead of a reply */ });
      await s.exited;
    }
    const saved = stateFile(dir);
    t.is(saved?.replid, replid, `${how}: the file names the primary's id`);
    // Written while the replica is down: the backlog covers it.
    await writeSome(primary, `down${round}`);
    ({ s, replica } = await respawn(t, primary, args, { dir, port }));
    t.deepEqual(await stats(primary), { full: 1, partial: round }, `${how}: partial resync, no full sync`);
    t.is(await digest(replica), await digest(primary), `${how}: same data`);
    t.is(await replica.hget(`h:down${round}`, 'a'), `down${round}`);
  }
  t.is((await info(replica, 'replication')).master_replid, replid);
});

test('after SIGKILL a replica resumes partially only when its offset is provable; otherwise a full sync; never diverges', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  const { dir, port, args, ...linked } = await attachReplica(t, p.port);
  let { s, replica } = linked;
  await writeSome(primary, 'a');
  t.is(await primary.call('WAIT', 1, 10000), 1);

  // Idle: the file is rewritten once the WAL position has stood still, with the offset reached.
  await stateFileCurrent(dir, replica);
  await s.kill('SIGKILL');
  await writeSome(primary, 'b');
  ({ s, replica } = await respawn(t, primary, args, { dir, port }));
  t.deepEqual(await stats(primary), { full: 1, partial: 1 }, 'the WAL ended where the file said: partial resync');
  t.is(await digest(replica), await digest(primary));

  // Killed right after applying writes: its WAL holds records past the position the file
  // names (the file waits a quiet second), so nothing proves an offset: full sync.
  await stateFileCurrent(dir, replica);
  const walBefore = await walBytes(replica);
  await writeSome(primary, 'c');
  t.is(await primary.call('WAIT', 1, 10000), 1);
  // The replica acknowledges what it applied, not what reached its WAL file: under load the
  // file can lag, and a kill before it is written leaves the WAL where the state file says.
  await until('the replica\'s WAL holds the new records', async () => (await walBytes(replica)) > walBefore);
  await s.kill('SIGKILL');
  await writeSome(primary, 'd');
  ({ s, replica } = await respawn(t, primary, args, { dir, port }));
  t.deepEqual(await stats(primary), { full: 2, partial: 1 }, 'unprovable offset: full sync');
  t.is(await digest(replica), await digest(primary));
  t.is(await replica.get('s:d'), 'd');
});

test('a primary restarted cleanly keeps its replication id: its replica resumes with a partial resync', async (t) => {
  const pdir = tempDir();
  const pport = await freePort();
  let p = await spawn(t, COMMON, { dir: pdir, port: pport });
  let primary = connect(p.port);
  const s = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${p.port}`]);
  const replica = connect(s.port);
  await linkUp(replica);
  await writeSome(primary, 'a');
  t.is(await primary.call('WAIT', 1, 10000), 1);
  const before = await info(primary, 'replication');

  await p.kill('SIGTERM');
  p = await spawn(t, COMMON, { dir: pdir, port: pport });
  primary = connect(p.port);
  const after = await info(primary, 'replication');
  t.is(after.master_replid, before.master_replid);
  await linkUp(replica);
  await writeSome(primary, 'b');
  t.is(await primary.call('WAIT', 1, 10000), 1);
  t.deepEqual(await stats(primary), { full: 0, partial: 1 });
  t.is(await digest(replica), await digest(primary));

  // SIGKILLed under writes it cannot prove its offset: a new id, and its replica takes a full sync.
  await writeSome(primary, 'c');
  await p.kill('SIGKILL');
  p = await spawn(t, COMMON, { dir: pdir, port: pport });
  primary = connect(p.port);
  const third = await info(primary, 'replication');
  t.not(third.master_replid, before.master_replid);
  t.not(third.master_replid2, before.master_replid);
  await until('resynced', async () => (await stats(primary)).full === 1);
  await linkUp(replica);
  await caughtUp(primary, replica);
  t.is(await digest(replica), await digest(primary));

  // SIGKILLed idle: the data is provably at the saved offset, but pings may have gone out
  // after it, so the id is new and continues the old one up to that offset (as a
  // promotion): the replica, exactly there, resumes.
  await stateFileCurrent(pdir, primary);
  await p.kill('SIGKILL');
  p = await spawn(t, COMMON, { dir: pdir, port: pport });
  primary = connect(p.port);
  const fourth = await info(primary, 'replication');
  t.not(fourth.master_replid, third.master_replid);
  t.is(fourth.master_replid2, third.master_replid);
  await linkUp(replica);
  await writeSome(primary, 'd');
  t.is(await primary.call('WAIT', 1, 10000), 1);
  t.deepEqual(await stats(primary), { full: 0, partial: 1 });
  t.is(await digest(replica), await digest(primary));
});

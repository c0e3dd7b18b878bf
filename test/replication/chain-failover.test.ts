/**
 * Chained replicas (primary → replica → sub-replica: the middle forwards the
 * stream it receives, same id and offsets) and FAILOVER (writes paused, the
 * target caught up, roles swapped over PSYNC FAILOVER, nothing acknowledged
 * lost), with Redis's errors, ABORT and TIMEOUT.
 */
import test from 'ava';
import { removeTempDirs } from '../helpers/server.js';
import { caughtUp, connect, digest, disconnectAll, info, linkUp, spawn, stats, until, writeSome } from '../helpers/replication.js';

test.after.always(removeTempDirs);
test.after.always(disconnectAll);

const COMMON = ['--appendonly', 'yes', '--enable-debug-command', 'yes'];

test('a replica of a replica: full sync from the middle, then the primary\'s stream forwarded verbatim', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  await writeSome(primary, 'a');
  const m = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${p.port}`]);
  const middle = connect(m.port);
  await linkUp(middle);
  await writeSome(primary, 'b');
  const s = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${m.port}`]);
  const sub = connect(s.port);
  await linkUp(sub);
  await writeSome(primary, 'c');
  await caughtUp(primary, sub);
  const d = await digest(primary);
  t.is(await digest(middle), d);
  t.is(await digest(sub), d);
  t.is(await sub.get('s:c'), 'c');

  const mi = await info(middle, 'replication');
  t.is(mi.role, 'slave');
  t.is(mi.master_link_status, 'up');
  t.is(mi.connected_slaves, '1');
  t.regex(mi.slave0, new RegExp(`^ip=127\\.0\\.0\\.1,port=${s.port},state=online,`));
  const pi = await info(primary, 'replication');
  t.is(pi.connected_slaves, '1', 'the sub-replica hangs off the middle, not the primary');
  // One history: the same id and offsets down the chain.
  t.is((await info(sub, 'replication')).master_replid, pi.master_replid);
  t.deepEqual(await stats(middle), { full: 1, partial: 0 });

  // A cut link between middle and sub resumes from the middle's backlog.
  t.is(await middle.call('CLIENT', 'KILL', 'TYPE', 'replica'), 1);
  await writeSome(primary, 'd');
  await until('sub resumes', async () => (await stats(middle)).partial === 1);
  await caughtUp(primary, sub);
  t.is(await digest(sub), await digest(primary));
  t.deepEqual(await stats(middle), { full: 1, partial: 1 });

  // The middle promoted: its replica follows it under the new id, without a full sync.
  t.is(await middle.call('REPLICAOF', 'NO', 'ONE'), 'OK');
  await middle.set('after-promotion', '1');
  await until('sub follows the new id', async () => (await sub.get('after-promotion')) === '1');
  t.is((await info(sub, 'replication')).master_replid, (await info(middle, 'replication')).master_replid);
  t.is((await stats(middle)).full, 1);
  t.is(await digest(sub), await digest(middle));
});

test('FAILOVER: Redis\'s errors; writes paused; TIMEOUT and ABORT roll back', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  await t.throwsAsync(primary.call('FAILOVER'), { message: 'ERR FAILOVER requires connected replicas.' });
  await t.throwsAsync(primary.call('FAILOVER', 'ABORT'), { message: 'ERR No failover in progress.' });
  await t.throwsAsync(primary.call('FAILOVER', 'TIMEOUT', '0'), { message: 'ERR FAILOVER timeout must be greater than 0' });
  await t.throwsAsync(primary.call('FAILOVER', 'BOGUS'), { message: 'ERR syntax error' });
  const s = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${p.port}`]);
  const replica = connect(s.port);
  await linkUp(replica);
  await t.throwsAsync(replica.call('FAILOVER'), { message: 'ERR FAILOVER is not valid when server is a replica.' });
  // Only its own primary's history may ask a replica to take over.
  await t.throwsAsync(replica.call('PSYNC', 'f'.repeat(40), '1', 'FAILOVER'), { message: 'ERR PSYNC FAILOVER replid must match my replid.' });
  t.is((await info(replica, 'replication')).role, 'slave');
  await t.throwsAsync(primary.call('FAILOVER', 'TO', '127.0.0.1', '1'), { message: 'ERR FAILOVER target HOST and PORT is not a replica.' });
  await t.throwsAsync(primary.call('FAILOVER', 'TO', '127.0.0.1', String(s.port), 'FORCE'),
    { message: 'ERR FAILOVER with force option requires both a timeout and target HOST and IP.' });

  // A stopped replica cannot acknowledge what is written after it stopped: the failover waits.
  s.child.kill('SIGSTOP');
  try {
    await primary.set('k', '1');
    t.is(await primary.call('FAILOVER', 'TIMEOUT', '60000'), 'OK');
    t.is((await info(primary, 'replication')).master_failover_state, 'waiting-for-sync');
    await t.throwsAsync(primary.call('FAILOVER'), { message: 'ERR FAILOVER already in progress.' });
    await t.throwsAsync(primary.set('k', '2'), { message: /^READONLY Writes are paused/ });
    t.is(await primary.call('FAILOVER', 'ABORT'), 'OK');
    t.is((await info(primary, 'replication')).master_failover_state, 'no-failover');
    t.is(await primary.set('k', '3'), 'OK');

    t.is(await primary.call('FAILOVER', 'TO', '127.0.0.1', String(s.port), 'TIMEOUT', '300'), 'OK');
    await until('timed out', async () => (await info(primary, 'replication')).master_failover_state === 'no-failover');
    t.is((await info(primary, 'replication')).role, 'master');
    t.is(await primary.set('k', '4'), 'OK');
  } finally {
    s.child.kill('SIGCONT');
  }
  t.is(await primary.call('WAIT', 1, 10000), 1);
  t.is(await replica.get('k'), '4');

  // Caught up, then frozen: the handover starts (this server demotes itself), the target never
  // answers, and the timeout takes the primary role back (under a new id, as any promotion).
  const before = await info(primary, 'replication');
  s.child.kill('SIGSTOP');
  try {
    t.is(await primary.call('FAILOVER', 'TO', '127.0.0.1', String(s.port), 'TIMEOUT', '1000'), 'OK');
    await until('rolled back', async () => (await info(primary, 'replication')).master_failover_state === 'no-failover');
    const after = await info(primary, 'replication');
    t.is(after.role, 'master');
    t.not(after.master_replid, before.master_replid);
    t.is(after.master_replid2, before.master_replid);
    t.is(await primary.set('k', '5'), 'OK');
  } finally {
    s.child.kill('SIGCONT');
  }
  await until('replica back', async () => (await replica.get('k')) === '5');
  t.is(await digest(replica), await digest(primary));
});

test('FAILOVER TO the replica: roles swap, no acknowledged write is lost, the data is the same', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  const s = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${p.port}`]);
  const replica = connect(s.port);
  await linkUp(replica);
  await writeSome(primary, 'a');

  // A writer that never stops on its own: every OK it gets is an acknowledged write.
  const acked: number[] = [];
  let refused = 0;
  let stop = false;
  const writer = (async () => {
    const w = connect(p.port);
    for (let i = 0; !stop; i++) {
      try {
        await w.set(`w${i}`, String(i));
        acked.push(i);
      } catch (e) {
        if (!/^READONLY/.test((e as Error).message)) throw e;
        refused++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  })();
  await until('writes flowing', async () => acked.length >= 100);
  t.is(await primary.call('FAILOVER', 'TO', '127.0.0.1', String(s.port)), 'OK');
  await until('roles swapped', async () => {
    const pi = await info(primary, 'replication');
    return pi.role === 'slave' && pi.master_link_status === 'up' && pi.master_failover_state === 'no-failover'
      && (await info(replica, 'replication')).role === 'master';
  });
  stop = true;
  await writer;
  t.true(refused > 0, 'writes were refused once the old primary paused them');

  for (const i of acked) t.is(await replica.get(`w${i}`), String(i), `acknowledged write w${i} on the new primary`);
  t.is((await info(primary, 'replication')).master_port, String(s.port));
  // The new primary continued the old history: the old one resumed from it, no full sync.
  t.deepEqual(await stats(replica), { full: 0, partial: 1 });
  await writeSome(replica, 'b');
  t.is(await replica.call('WAIT', 1, 10000), 1);
  t.is(await primary.get('s:b'), 'b');
  t.is(await digest(primary), await digest(replica));
});

/**
 * Replication between real processes on loopback: full sync (vector sets with
 * their graphs, hashes, strings with deadlines), the stream after it, WAIT,
 * partial resync after a cut link (proved by INFO's counters), promotion,
 * -READONLY, INFO replication and ROLE, CONFIG REWRITE of replicaof, and bad
 * input on either side of the link.
 */
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { tempDir, removeTempDirs, type Child } from '../helpers/server.js';
import { connect, disconnectAll, f32, info, spawn, until as waitUntil } from '../helpers/replication.js';
import { encodeCommand, exchange } from '../helpers/raw.js';
import { FRAME, FrameReader, decodeSectionBegin } from '../../src/replication/stream.js';

test.after.always(removeTempDirs);
test.after.always(disconnectAll);

/** The shared poll with this file's deadline (no timing is asserted). */
const until = (what: string, check: () => Promise<boolean>): Promise<void> => waitUntil(what, check, 20000);

async function pair(t: ExecutionContext, replicaArgs: string[] = []): Promise<{ p: Child; s: Child; primary: Redis; replica: Redis }> {
  const p = await spawn(t, ['--appendonly', 'yes']);
  const s = await spawn(t, ['--appendonly', 'yes', '--replicaof', `127.0.0.1 ${p.port}`, ...replicaArgs]);
  const primary = connect(p.port);
  const replica = connect(s.port);
  await until('link up', async () => (await info(replica, 'replication')).master_link_status === 'up');
  return { p, s, primary, replica };
}

test('full sync of a graph many MiB long to a replica that reads late: every frame arrives intact, though the connection queues them', async (t) => {
  const p = await spawn(t, ['--appendonly', 'yes']);
  const primary = connect(p.port);
  // 30 000 × 128 F32: ~17 MB of graph section, more than loopback's socket buffers take.
  let seed = 11;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let s0 = 0; s0 < 30_000; s0 += 2000) {
    const pipe = primary.pipeline();
    for (let i = s0; i < s0 + 2000; i++) pipe.call('VEC.ADD', 'big', `e${i}`, 'FP32', f32(Array.from({ length: 128 }, rand)));
    await pipe.exec();
  }
  // A raw replica: PSYNC, then no reading for a while, so frames wait in the primary's output.
  const sock = net.connect(p.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.pause();
  sock.write(encodeCommand(['PSYNC', '?', '-1']));
  await new Promise((r) => setTimeout(r, 1500));
  const reader = new FrameReader();
  let graphBytes = 0, section = '', sections = 0;
  const done = new Promise<void>((resolve, reject) => {
    let handshake = true;
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.feed(chunk);
        if (handshake) {
          const line = reader.line();
          if (line === null) return;
          if (!line.startsWith('+FULLRESYNC')) throw new Error(line);
          handshake = false;
        }
        for (let f = reader.next(); f; f = reader.next()) { // throws on a frame whose checksum does not match
          if (f.type === FRAME.SECTION_BEGIN) { section = decodeSectionBegin(f.payload).name; sections++; }
          if (f.type === FRAME.SECTION_DATA && section.startsWith('graph')) graphBytes += f.payload.length;
          if (f.type === FRAME.SNAPSHOT_END) { resolve(); return; }
        }
      } catch (e) { reject(e); }
    });
  });
  sock.resume();
  await done;
  sock.destroy();
  t.true(sections > 2);
  t.true(graphBytes > 16 << 20, `graph section ${graphBytes} bytes`);
});

test('full sync carries vector sets bit-exact, hashes and deadlines; the stream follows; WAIT counts the replica', async (t) => {
  const p = await spawn(t, ['--appendonly', 'yes', '--enable-debug-command', 'yes']);
  const primary = connect(p.port);
  const vectors: Array<[string, number[]]> = [];
  for (let i = 0; i < 300; i++) vectors.push([`e${i}`, [Math.random(), Math.random() * 1e-3, -Math.random(), i / 7]]);
  const pipe = primary.pipeline();
  for (const [id, v] of vectors) pipe.call('VADD', 'vs', 'FP32', f32(v), id, 'NOQUANT');
  for (const [id, v] of vectors) pipe.call('VEC.ADD', 'docs', id, 'FP32', f32(v), 'PAYLOAD', JSON.stringify({ n: id }));
  pipe.hset('h', 'a', '1', 'b', '2');
  pipe.set('ttl', 'x', 'EX', 1000);
  pipe.set('plain', 'y');
  await pipe.exec();

  const s = await spawn(t, ['--appendonly', 'yes', '--replicaof', `127.0.0.1 ${p.port}`, '--enable-debug-command', 'yes']);
  const replica = connect(s.port);
  await until('link up', async () => (await info(replica, 'replication')).master_link_status === 'up');

  t.is(await replica.call('VCARD', 'vs'), 300);
  const digest = await primary.call('DEBUG', 'DIGEST') as string;
  t.regex(digest, /^[0-9a-f]{40}$/);
  t.not(digest, '0'.repeat(40));
  t.is(await replica.call('DEBUG', 'DIGEST'), digest);
  t.deepEqual(await replica.call('DEBUG', 'DIGEST-VALUE', 'vs', 'docs', 'h'), await primary.call('DEBUG', 'DIGEST-VALUE', 'vs', 'docs', 'h'));
  for (const [id] of vectors.slice(0, 50)) {
    t.deepEqual(await replica.call('VEMB', 'vs', id), await primary.call('VEMB', 'vs', id), `VEMB ${id}`);
    t.deepEqual(await replica.callBuffer('VEC.GET', 'docs', id), await primary.callBuffer('VEC.GET', 'docs', id), `VEC.GET ${id}`);
  }
  t.deepEqual(await replica.hgetall('h'), { a: '1', b: '2' });
  t.is(await replica.get('plain'), 'y');
  const ttl = await replica.pttl('ttl');
  t.true(ttl > 900_000 && ttl <= 1_000_000, `pttl ${ttl}`);
  // Searches run on the replica's own copy of the graph.
  t.deepEqual(await replica.call('VSIM', 'vs', 'ELE', 'e1', 'COUNT', 5), await primary.call('VSIM', 'vs', 'ELE', 'e1', 'COUNT', 5));

  // The stream after the snapshot.
  await primary.call('VADD', 'vs', 'FP32', f32([9, 8, 7, 6]), 'late', 'NOQUANT');
  await primary.hset('h', 'c', '3');
  t.is(await primary.call('WAIT', 1, 5000), 1);
  t.deepEqual(await replica.call('VEMB', 'vs', 'late'), ['9', '8', '7', '6']);
  t.is(await replica.hget('h', 'c'), '3');
  // Any change to an element or its attributes changes the digest, and the replica follows.
  // (Compared before the short-lived keys below exist: the two digests are taken at two
  // instants, and a key the primary's expiry cycle deletes in between is still on the replica.)
  await primary.call('VSETATTR', 'vs', 'e3', JSON.stringify({ changed: true }));
  t.is(await primary.call('WAIT', 1, 5000), 1);
  const after = await primary.call('DEBUG', 'DIGEST');
  t.not(after, digest);
  t.is(await replica.call('DEBUG', 'DIGEST'), after);
  await primary.set('gone', 'soon', 'PX', 200);
  // Reclaimed by the same tick of the active cycle, these go as one WAL record of several DELs.
  for (let i = 0; i < 50; i++) await primary.set(`gone:${i}`, 'soon', 'PX', 200);
  t.is(await primary.call('WAIT', 1, 5000), 1);

  // Expiry: the replica hides the key once past its deadline, and deletes it on the primary's DEL.
  await until('expired on the replica', async () => (await replica.get('gone')) === null);
  await until('primary reclaims it', async () => (await primary.exists('gone')) === 0);
  await until('replica deletes it', async () => (await info(replica, 'keyspace')).db0?.startsWith('keys=5,'));

  const pi = await info(primary, 'replication');
  const si = await info(replica, 'replication');
  t.is(pi.role, 'master');
  t.is(pi.connected_slaves, '1');
  t.regex(pi.slave0, new RegExp(`^ip=127\\.0\\.0\\.1,port=${s.port},state=online,offset=\\d+,lag=\\d+$`));
  t.is(si.role, 'slave');
  t.is(si.master_host, '127.0.0.1');
  t.is(si.master_port, String(p.port));
  t.is(si.master_sync_in_progress, '0');
  t.is(si.slave_priority, '100');
  t.is(si.slave_read_only, '1');
  t.is(si.replica_announced, '1');
  t.regex(si.master_last_io_seconds_ago, /^\d+$/);
  t.is(si.master_replid, pi.master_replid);
  t.regex(pi.master_replid, /^[0-9a-f]{40}$/);
  // Offsets count the same bytes on both sides.
  await until('offsets equal', async () => (await info(replica, 'replication')).slave_repl_offset === (await info(primary, 'replication')).master_repl_offset);
  t.regex((await info(primary, 'server')).run_id, /^[0-9a-f]{40}$/);
  t.is((await info(primary, 'stats')).sync_full, '1');

  const prole = await primary.call('ROLE') as [string, number, string[][]];
  t.is(prole[0], 'master');
  t.is(typeof prole[1], 'number');
  t.is(prole[2].length, 1);
  t.deepEqual(prole[2][0].slice(0, 2), ['127.0.0.1', String(s.port)]);
  const role = await replica.call('ROLE') as unknown[];
  t.deepEqual(role.slice(0, 4), ['slave', '127.0.0.1', p.port, 'connected']);

  await Promise.all([p.kill('SIGKILL'), s.kill('SIGKILL')]);
});

test('-READONLY on a replica; REPLICAOF NO ONE promotes it; the old primary follows it with a partial resync', async (t) => {
  const { p, s, primary, replica } = await pair(t);
  await primary.set('a', '1');
  t.is(await primary.call('WAIT', 1, 5000), 1);
  await t.throwsAsync(replica.set('b', '2'), { message: "READONLY You can't write against a read only replica." });
  await t.throwsAsync(replica.call('VADD', 'v', 'VALUES', 2, 1, 2, 'x'), { message: /^READONLY/ });
  // MULTI with a write is refused as a whole.
  const m = await replica.multi().set('c', '3').exec().catch((e: Error) => e);
  t.true(m instanceof Error && /EXECABORT/.test(m.message));
  t.is(await replica.get('a'), '1');

  t.is(await replica.call('REPLICAOF', 'NO', 'ONE'), 'OK');
  t.is((await info(replica, 'replication')).role, 'master');
  t.is(await replica.set('b', '2'), 'OK');
  t.is(await primary.call('REPLICAOF', '127.0.0.1', String(s.port)), 'OK');
  await until('old primary follows', async () => (await info(primary, 'replication')).master_link_status === 'up');
  await until('catches up', async () => (await primary.get('b')) === '2');
  const stats = await info(replica, 'stats');
  t.is(stats.sync_full, '0', 'the new primary continued the old history');
  t.is(stats.sync_partial_ok, '1');
  await Promise.all([p.kill('SIGKILL'), s.kill('SIGKILL')]);
});

test('a cut link resumes with a partial resync (CLIENT KILL TYPE replica); writes meanwhile arrive', async (t) => {
  const { p, s, primary, replica } = await pair(t);
  await primary.set('k0', 'v');
  t.is(await primary.call('WAIT', 1, 5000), 1);
  for (let round = 1; round <= 3; round++) {
    t.is(await primary.call('CLIENT', 'KILL', 'TYPE', 'replica'), 1);
    for (let i = 0; i < 50; i++) await primary.hset(`h${round}`, `f${i}`, String(i));
    await until(`resync ${round}`, async () => (await info(primary, 'stats')).sync_partial_ok === String(round));
    t.is(await primary.call('WAIT', 1, 10000), 1);
    t.is(await replica.hlen(`h${round}`), 50);
  }
  const stats = await info(primary, 'stats');
  t.is(stats.sync_full, '1');
  t.is(stats.sync_partial_ok, '3');
  await Promise.all([p.kill('SIGKILL'), s.kill('SIGKILL')]);
});

test('past the backlog a reconnecting replica takes a full sync', async (t) => {
  const p = await spawn(t, ['--appendonly', 'yes', '--repl-backlog-size', '16kb']);
  const s = await spawn(t, ['--appendonly', 'yes', '--replicaof', `127.0.0.1 ${p.port}`]);
  const primary = connect(p.port);
  const replica = connect(s.port);
  await until('link up', async () => (await info(replica, 'replication')).master_link_status === 'up');
  await primary.call('CLIENT', 'KILL', 'TYPE', 'replica');
  const pipe = primary.pipeline();
  for (let i = 0; i < 200; i++) pipe.set(`big${i}`, 'x'.repeat(500));
  await pipe.exec();
  await until('full resync', async () => (await info(primary, 'stats')).sync_full === '2');
  t.is(await primary.call('WAIT', 1, 10000), 1);
  t.is(await replica.get('big199'), 'x'.repeat(500));
  await Promise.all([p.kill('SIGKILL'), s.kill('SIGKILL')]);
});

test('a restarted replica keeps its data (its own WAL); CONFIG REWRITE persists replicaof', async (t) => {
  const p = await spawn(t, ['--appendonly', 'yes']);
  const dir = tempDir();
  const conf = path.join(dir, 'replica.conf');
  writeFileSync(conf, `# replica\nappendonly yes\n`);
  const s = await spawn(t, [conf], { dir });
  const primary = connect(p.port);
  const replica = connect(s.port);
  await primary.call('VADD', 'v', 'VALUES', 3, 1, 2, 3, 'a', 'NOQUANT');
  t.is(await replica.call('REPLICAOF', '127.0.0.1', String(p.port)), 'OK');
  await until('link up', async () => (await info(replica, 'replication')).master_link_status === 'up');
  await primary.call('VADD', 'v', 'VALUES', 3, 4, 5, 6, 'b', 'NOQUANT');
  t.is(await primary.call('WAIT', 1, 5000), 1);
  // Durable on the replica once its own snapshot of what the full sync brought is committed (the WAL holds the rest).
  await until('local snapshot', async () => Number((await info(replica, 'persistence')).rdb_saves) >= 1);
  await primary.call('VADD', 'v', 'VALUES', 3, 7, 8, 9, 'c', 'NOQUANT');
  t.is(await primary.call('WAIT', 1, 5000), 1);
  t.is(await replica.call('CONFIG', 'REWRITE'), 'OK');
  t.regex(readFileSync(conf, 'utf8'), new RegExp(`^replicaof 127\\.0\\.0\\.1 ${p.port}$`, 'm'));
  t.deepEqual(await replica.call('CONFIG', 'GET', 'replicaof'), ['replicaof', `127.0.0.1 ${p.port}`]);

  await s.kill('SIGKILL');
  await p.kill('SIGKILL');
  // The primary is gone: the replica comes back from its own files, and keeps trying to reach it.
  const again = await spawn(t, [conf], { dir });
  const r2 = connect(again.port);
  const n = await r2.call('VCARD', 'v');
  t.is(n, 3);
  t.deepEqual(await r2.call('VEMB', 'v', 'b'), ['4', '5', '6']);
  const si = await info(r2, 'replication');
  t.is(si.role, 'slave');
  t.is(si.master_link_status, 'down');
  t.regex(si.master_link_down_since_seconds, /^\d+$/);
  await again.kill('SIGKILL');
});

test('min-replicas-to-write refuses writes without a good replica (-NOREPLICAS)', async (t) => {
  const { p, s, primary } = await pair(t);
  t.is(await primary.config('SET', 'min-replicas-to-write', '1'), 'OK');
  t.is(await primary.set('ok', '1'), 'OK');
  t.is(await primary.config('SET', 'min-replicas-to-write', '2'), 'OK');
  await t.throwsAsync(primary.set('no', '1'), { message: 'NOREPLICAS Not enough good replicas to write.' });
  t.is(await primary.get('ok'), '1');
  t.is(await primary.call('WAIT', 2, 200), 1);
  await Promise.all([p.kill('SIGKILL'), s.kill('SIGKILL')]);
});

test('bad input never brings either side down', async (t) => {
  const p = await spawn(t, ['--appendonly', 'yes']);
  const primary = connect(p.port);
  await primary.set('x', '1');
  // A "replica" that sends garbage after PSYNC, and REPLCONF nonsense.
  const r1 = await exchange(p.port, [encodeCommand(['REPLCONF', 'listening-port', 'abc']), encodeCommand(['REPLCONF', 'bogus', '1']),
    encodeCommand(['PSYNC', 'zz', 'notanumber']), encodeCommand(['PSYNC', '?', '-1'])], { idleMs: 500 });
  t.regex(r1.text, /^-ERR Invalid listening port abc\r\n-ERR Unrecognized REPLCONF option: bogus\r\n-ERR value is not an integer or out of range\r\n\+FULLRESYNC [0-9a-f]{40} \d+\r\n/);
  // A replica link that turns to garbage is closed with a protocol error; the primary goes on.
  await exchange(p.port, [encodeCommand(['PSYNC', '?', '-1']), Buffer.from('\x00\xff garbage \r\n*1\r\n$999999999999\r\n')], { idleMs: 500 });
  // An ACK from a connection that is not a replica gets no reply (as in Redis) and changes nothing.
  t.is((await exchange(p.port, encodeCommand(['REPLCONF', 'ACK', '99999999999']), { expectSilence: true })).text, '');
  t.is(await primary.get('x'), '1');

  // A "primary" that answers the handshake, then sends frames with bad checksums, unknown types, huge lengths.
  for (const evil of [
    Buffer.from([16, 4, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9]),
    Buffer.from([99, 0, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from([16, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
    Buffer.from('not a frame at all, just text\r\n'),
  ]) {
    const fake = net.createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        const n = (buf.match(/\*\d+\r\n/g) ?? []).length;
        if (buf.includes('PSYNC')) { sock.write(`+CONTINUE\r\n`); sock.write(evil); buf = ''; return; }
        if (n > 0) { sock.write('+OK\r\n'.repeat(n)); buf = ''; }
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((res) => fake.listen(0, '127.0.0.1', res));
    t.teardown(() => { fake.close(); });
    const port = (fake.address() as net.AddressInfo).port;
    const s = await spawn(t, ['--appendonly', 'yes']);
    const replica = connect(s.port);
    // No history yet: PSYNC ? -1 and a +CONTINUE the replica did not ask for… then the evil bytes.
    await replica.set('before', '1');
    await replica.call('REPLICAOF', '127.0.0.1', String(port));
    await new Promise((r) => setTimeout(r, 300));
    t.is(await replica.ping(), 'PONG');
    t.is(await replica.get('before'), '1');
    await replica.call('REPLICAOF', 'NO', 'ONE');
    fake.close();
    await s.kill('SIGKILL');
  }
  await p.kill('SIGKILL');
});

/**
 * The shape of Redis 8's own vector-set replication test, in our words: a long run of
 * mixed vector-set writes (VADD, VADD … CAS, VREM, VSETATTR) on a primary with a replica
 * attached; afterwards VCARD, VDIM, DEBUG DIGEST-VALUE and exact VSIM answers are the
 * same on both. The set crosses the flat-store threshold (256) on both sides, and the
 * replica first takes a full sync mid-run, so the stream continues a snapshot.
 */
import test from 'ava';
import { removeTempDirs } from '../helpers/server.js';
import { caughtUp, connect, disconnectAll, f32, linkUp, spawn } from '../helpers/replication.js';
import { seeded } from '../helpers/data.js';

test.after.always(removeTempDirs);
test.after.always(disconnectAll);

const COMMON = ['--appendonly', 'yes', '--enable-debug-command', 'yes'];
const DIM = 8;

test('mixed vector-set writes replicate exactly: cardinality, dimension, per-key digest, exact VSIM', async (t) => {
  const p = await spawn(t, COMMON);
  const primary = connect(p.port);
  const rand = seeded(7);
  const vector = () => f32(Array.from({ length: DIM }, () => rand() * 2 - 1));
  const added: string[] = [];
  let replica: ReturnType<typeof connect> | null = null;
  for (let i = 0; i < 3000; i++) {
    if (i === 1200) {
      // Attach the replica half-way: a full sync of what exists, then the stream.
      const r = await spawn(t, [...COMMON, '--replicaof', `127.0.0.1 ${p.port}`]);
      replica = connect(r.port);
      await linkUp(replica);
    }
    const id = `item:${i}`;
    const cas = rand() < 0.3 && added.length > 0;
    const args: Array<string | Buffer> = ['VADD', 'mix', 'FP32', vector(), id];
    if (cas) args.push('CAS');
    if (rand() < 0.2) args.push('SETATTR', JSON.stringify({ n: i, even: i % 2 === 0 }));
    if ((await primary.call(args[0] as string, ...args.slice(1))) === 1) added.push(id);
    if (rand() < 0.1 && added.length > 0) {
      const victim = added.splice(Math.floor(rand() * added.length), 1)[0];
      t.is(await primary.call('VREM', 'mix', victim), 1);
    }
    if (rand() < 0.05 && added.length > 0) {
      const target = added[Math.floor(rand() * added.length)];
      await primary.call('VSETATTR', 'mix', target, JSON.stringify({ touched: i }));
    }
  }
  t.truthy(replica);
  const r = replica!;
  t.is(await primary.call('WAIT', 1, 10000), 1);
  await caughtUp(primary, r);

  const card = await primary.call('VCARD', 'mix');
  t.is(card, added.length);
  t.is(await r.call('VCARD', 'mix'), card);
  t.is(await r.call('VDIM', 'mix'), await primary.call('VDIM', 'mix'));
  t.deepEqual(await r.call('DEBUG', 'DIGEST-VALUE', 'mix'), await primary.call('DEBUG', 'DIGEST-VALUE', 'mix'));
  // Vectors are bit-exact on both sides, so exact answers agree (the graphs may differ).
  for (let q = 0; q < 5; q++) {
    const query = vector();
    const a = await primary.call('VSIM', 'mix', 'FP32', query, 'COUNT', 10, 'WITHSCORES', 'TRUTH');
    const b = await r.call('VSIM', 'mix', 'FP32', query, 'COUNT', 10, 'WITHSCORES', 'TRUTH');
    t.deepEqual(b, a);
  }
  const filtered = ['VSIM', 'mix', 'ELE', added[0], 'COUNT', 5, 'FILTER', '.even', 'TRUTH'] as const;
  t.deepEqual(await r.call(...filtered), await primary.call(...filtered));
});

/**
 * The CI slice of the protocol fuzzer (fuzz-engine.ts): a seeded run of about
 * half a minute against a child server. The long run (≥ 1 M frames) is
 * `npm run fuzz` (bench/fuzz.ts). A failure prints its seed and the first
 * problems seen, with the bytes sent, so it can be replayed.
 */
import test from 'ava';
import { spawnServer } from '../helpers/server.js';
import { runFuzz, summary } from '../helpers/fuzz-engine.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 25);
/** Generous: the server idles near 100 MB; the fuzzer's keyspace is flushed every 2 s. */
const RSS_LIMIT = 1024 * 1024 * 1024;

test('fuzz: random and mutated frames never crash the server, every reply is well-formed RESP', async (t) => {
  t.timeout((SECONDS + 60) * 1000);
  const srv = await spawnServer(['--appendonly', 'no']);
  let alive = true;
  void srv.exited.then(() => { alive = false; });
  try {
    const stats = await runFuzz({
      port: srv.port, pid: srv.child.pid!, seed: SEED, frames: Number.MAX_SAFE_INTEGER, maxMs: SECONDS * 1000,
      connections: 6, rssLimitBytes: RSS_LIMIT, alive: () => alive,
    });
    t.log(`seed ${SEED}: ${summary(stats)}`);
    for (const p of stats.problems) t.log(p);
    if (!alive) t.log(srv.output().slice(-3000));
    t.is(stats.crashes, 0, 'the server never dies');
    t.is(stats.malformed, 0, 'every reply parses as strict RESP');
    t.is(stats.violations, 0, 'no reply after a protocol error, clean batches fully answered, RSS bounded');
    t.is(stats.pingFailures, 0, 'PING from a separate connection keeps answering');
    t.true(stats.frames > 10_000, `enough frames sent (${stats.frames})`);
    t.true(stats.peakRssBytes < RSS_LIMIT);
  } finally {
    await srv.kill('SIGKILL');
  }
});

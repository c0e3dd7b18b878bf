/**
 * The long protocol fuzz run (the bar: ≥ 1 M random and mutated frames,
 * 0 crashes, bounded RSS, PING still answered). Starts the server as a child
 * (`--appendonly no`), runs test/helpers/fuzz-engine.ts against it, prints
 * progress and one summary line; exits non-zero on any crash, malformed reply
 * or violation.
 *
 *   node dist/bench/fuzz.js [--frames 1000000] [--seed N] [--connections 8] [--rss-limit-mb 1024]
 *                           [--monitor] [--exclude INFO,VEC.INFO]
 */
import { spawnServer } from '../test/helpers/server.js';
import { monitorTail, runFuzz, summary } from '../test/helpers/fuzz-engine.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}

const frames = option('frames', 1_000_000);
const seed = option('seed', Date.now() % 2 ** 31);
const connections = option('connections', 8);
const rssLimit = option('rss-limit-mb', 1024) * 1024 * 1024;
/** --monitor: keep the last commands the server saw (MONITOR), printed if it dies. Slower. */
const withMonitor = process.argv.includes('--monitor');
/** --exclude INFO,VEC.INFO: commands never generated (to step around a known bug and look for others). */
const excludeAt = process.argv.indexOf('--exclude');
const exclude = excludeAt > 0 ? (process.argv[excludeAt + 1] ?? '').split(',').filter(Boolean).map((s) => s.toUpperCase()) : [];

const srv = await spawnServer(['--appendonly', 'no']);
let alive = true;
let stopping = false;
void srv.exited.then((r) => { alive = false; if (!stopping) process.stderr.write(`server exited: ${JSON.stringify(r)}\n`); });
process.stdout.write(`fuzzing astronaut (pid ${srv.child.pid}, port ${srv.port}): ${frames} frames, seed ${seed}, ${connections} connections${exclude.length ? `, excluding ${exclude.join(' ')}` : ''}, Node ${process.version}\n`);
const tail = withMonitor ? monitorTail(srv.port) : null;
let lastPrint = 0;
const stats = await runFuzz({
  port: srv.port, pid: srv.child.pid!, seed, frames, connections, rssLimitBytes: rssLimit, alive: () => alive, exclude,
  progress: (s) => {
    if (s.elapsedMs - lastPrint < 5000) return;
    lastPrint = s.elapsedMs;
    process.stdout.write(`  ${(s.elapsedMs / 1000).toFixed(0)} s: ${s.frames} frames, ${Math.round(s.frames / (s.elapsedMs / 1000))}/s, peak RSS ${(s.peakRssBytes / 1048576).toFixed(0)} MB, malformed ${s.malformed}, violations ${s.violations}\n`);
  },
});
for (const p of stats.problems) process.stdout.write(`problem: ${p}\n`);
if (!alive) process.stdout.write(`server output:\n${srv.output().slice(-4000)}\n`);
if (!alive && tail) process.stdout.write(`last commands (MONITOR):\n${tail.lines().join('\n')}\n`);
tail?.stop();
stopping = true;
await srv.kill('SIGKILL');
const ok = stats.crashes === 0 && stats.malformed === 0 && stats.violations === 0 && stats.pingFailures === 0;
process.stdout.write(`${ok ? 'OK' : 'FAIL'} seed ${seed}: ${summary(stats)}\n`);
process.exit(ok ? 0 : 1);

/**
 * Q1, the RESP server: how close does Astronaut's request path come to Redis
 * itself on the smallest command? `redis-benchmark -t ping -n N -c 50` with
 * pipelines of 1 and 16 against Astronaut and Debian's redis-server, both
 * started here, alternating, median of the repeats after one unmeasured warm-up round each.
 * A pair of runs during which other processes kept more than 0.1 of a core busy is
 * measured again, as the search slices are: both servers and redis-benchmark share
 * two cores, and one busy neighbour moved a run by 30 % (1.38 M and 0.73 M PING/s for
 * the same server in one bench).
 * Bar: ops/s ≥ 0.8 × Redis.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Context } from './lib/context.js';
import { startAstronaut, startRedis, threadCpu, cpuBetween, machineBusySeconds, endedChildrenCpuSeconds, type ServerProc } from './lib/server.js';
import { CONTENDED, EXTRA_SLICES, leastContended } from './search.js';
import { median, fmtRate, fmtMs, fmtRatio } from './lib/stats.js';
import { printTable } from './lib/report.js';

const exec = promisify(execFile);

interface CsvRow { test: string; rps: number; avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }

/**
 * redis-benchmark 7 with `--csv` prints one row per test:
 * "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms".
 */
export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const header = lines.find((l) => l.startsWith('"test"'));
  if (!header) throw new Error(`redis-benchmark printed no CSV header:\n${text}`);
  const cols = header.split(',').map((c) => c.replace(/"/g, ''));
  const at = (name: string) => { const i = cols.indexOf(name); if (i < 0) throw new Error(`no column ${name} in ${header}`); return i; };
  for (const l of lines) {
    if (l === header || !l.startsWith('"')) continue;
    const f = l.split(',').map((c) => c.replace(/"/g, ''));
    rows.push({ test: f[at('test')], rps: Number(f[at('rps')]), avgMs: Number(f[at('avg_latency_ms')]), p50Ms: Number(f[at('p50_latency_ms')]),
      p95Ms: Number(f[at('p95_latency_ms')]), p99Ms: Number(f[at('p99_latency_ms')]), maxMs: Number(f[at('max_latency_ms')]) });
  }
  return rows;
}

interface Invocation { rows: CsvRow[]; cpuUsPerOp: number; otherCores: number }

async function benchmark(server: ServerProc, requests: number, pipeline: number): Promise<Invocation> {
  const port = server.port;
  const a = threadCpu(server.pid);
  const busy0 = machineBusySeconds(), tool0 = endedChildrenCpuSeconds(), own0 = process.cpuUsage();
  const t0 = performance.now();
  const { stdout } = await exec('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'ping', '-n', String(requests), '-c', '50',
    '-P', String(pipeline), '--csv'], { maxBuffer: 1 << 20, timeout: 300_000 });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuBetween(server.pid, a, threadCpu(server.pid), wall);
  const own = process.cpuUsage(own0);
  // What the rest of the machine kept busy meanwhile: all busy time less the server's,
  // redis-benchmark's (an ended child) and this process's.
  const others = machineBusySeconds() - busy0 - cpu.total - (endedChildrenCpuSeconds() - tool0) - (own.user + own.system) / 1e6;
  const rows = parseCsv(stdout);
  // Server CPU per command over the whole invocation (both PING tests): what each reply costs,
  // which the crowding of this machine moves far less than ops/s.
  return { rows, cpuUsPerOp: (cpu.total / (requests * rows.length)) * 1e6, otherCores: Math.max(0, others / wall) };
}

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const servers: ServerProc[] = [await startAstronaut(), await startRedis()];
  try {
    // One unmeasured invocation per server and pipeline first: a fresh Node process runs its
    // request path interpreted before it compiles it (back to back against one fresh server, the
    // first two -P 16 runs read p99 3.3 and 2.8 ms, the next four 0.7-1.1 ms). Redis gets the same.
    for (const s of servers) for (const p of [1, 16]) await benchmark(s, o.pingRequests, p);
    const samples = new Map<string, CsvRow[]>(); // `${server}|${P}|${test}` → one row per kept pair
    const cpuPerOp = new Map<string, number[]>(); // `${server}|${P}` → µs per command, one per kept pair
    const contention = new Map<number, number>(); // P → the most other processes kept busy in a kept pair (cores)
    for (const p of [1, 16]) {
      // A pair during which other processes kept more than CONTENDED cores busy (in either run)
      // is measured again; the least contended pingRepeats pairs are kept.
      const { kept } = await leastContended(o.pingRepeats, async (rep) => {
        // Alternate which server goes first, so a slow patch of the machine does not always hit the same one.
        const order = rep % 2 === 0 ? servers : [...servers].reverse();
        const runs = new Map<string, Invocation>();
        for (const s of order) runs.set(s.name, await benchmark(s, o.pingRequests, p));
        return { runs, others: Math.max(...[...runs.values()].map((b) => b.otherCores)) };
      }, (x) => x.others);
      contention.set(p, Math.max(...kept.map((x) => x.others)));
      for (const { runs } of kept) {
        for (const [name, b] of runs) {
          const ck = `${name}|${p}`;
          if (!cpuPerOp.has(ck)) cpuPerOp.set(ck, []);
          cpuPerOp.get(ck)!.push(b.cpuUsPerOp);
          for (const r of b.rows) {
            const key = `${name}|${p}|${r.test}`;
            if (!samples.has(key)) samples.set(key, []);
            samples.get(key)!.push(r);
          }
        }
      }
    }
    const rows: (string | number)[][] = [];
    const json: Record<string, unknown>[] = [];
    for (const p of [1, 16]) {
      for (const test of ['PING_INLINE', 'PING_MBULK']) {
        const med = (server: string) => {
          const rs = samples.get(`${server}|${p}|${test}`) ?? [];
          return { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50Ms)), p99: median(rs.map((r) => r.p99Ms)),
            max: median(rs.map((r) => r.maxMs)), runs: rs.map((r) => r.rps), cpuUsPerOp: median(cpuPerOp.get(`${server}|${p}`) ?? []) };
        };
        const r = med('redis-server');
        const a = med('astronaut');
        const ratio = a.rps / r.rps;
        const others = contention.get(p) ?? NaN;
        const mark = others > CONTENDED ? ' *' : '';
        // Sorted slowest first, as undici's benchmark table does.
        for (const [name, m] of [['redis-server', r], ['astronaut', a]] as const) {
          rows.push([`-P ${p}`, test, name, fmtRate(m.rps), fmtMs(m.p50), fmtMs(m.p99), fmtMs(m.max), name === 'astronaut' ? fmtRatio(ratio) + mark : '1.00×',
            m.cpuUsPerOp.toFixed(2), m.runs.map((x) => fmtRate(x)).join(' / '), others.toFixed(2)]);
        }
        json.push({ pipeline: p, test, redis: r, astronaut: a, ratio, otherCores: others });
        // Issue bars: pipelined at 0.8x Redis with a p99 at most twice its; unpipelined at 0.9x.
        const note = `others ${others.toFixed(2)} cores`;
        ctx.bars.add('Q1 PING', `${test} -P ${p} ops/s ÷ Redis`, ratio, '>=', p === 1 ? 0.9 : 0.8, '×', note);
        if (p === 16) ctx.bars.add('Q1 PING', `${test} -P ${p} p99 ÷ Redis p99 (${fmtMs(a.p99)} vs ${fmtMs(r.p99)})`, a.p99 / r.p99, '<=', 2, '×', note);
      }
    }
    printTable(`Q1 PING: redis-benchmark -t ping -n ${o.pingRequests} -c 50, median of ${o.pingRepeats} (alternating) after a warm-up round each`,
      ['pipeline', 'test', 'server', 'ops/s', 'p50', 'p99', 'max', 'vs Redis', 'server CPU µs/op', 'runs (ops/s)', 'others (cores)'], rows,
      'p50/p99/max: redis-benchmark --csv; server CPU µs/op: all server threads over each invocation (both tests) ÷ commands, median of the repeats.\n' +
      `others: cores the rest of the machine kept busy during the kept pairs (the worst); a pair above ${CONTENDED} was measured again (up to ${EXTRA_SLICES} more), * marks a ratio still taken under contention.`);
    ctx.results.ping = { requests: o.pingRequests, repeats: o.pingRepeats, rows: json };
  } finally {
    for (const s of servers) await s.stop();
  }
}

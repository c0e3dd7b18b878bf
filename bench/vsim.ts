/**
 * Q8, the Redis 8 dialect: `VSIM key FP32 blob COUNT k EF ef` beside
 * `VEC.SEARCH` on the same set, alternating, many clients. They share the
 * engine, so throughput should match (bar: within 5 % either way).
 * Skipped, and said so, while the server does not know VSIM.
 */
import type { Context } from './lib/context.js';
import { connect, connectLoad, closeAll } from './lib/client.js';
import { serverSearchLoop, mergeSlices, SLICES } from './search.js';
import { fmtRate, fmtRatio, fmtRecall, fmtUs, median } from './lib/stats.js';
import { printTable } from './lib/report.js';

/**
 * Slice pairs. A pair's ratio swung 0.77–1.15 between pairs of one quiet run (1.3 s slices, 50
 * clients on 2 cores), so the median of 6 was read to about ±5 %, the bar's width: five
 * runs of the same tree read 0.93–1.20, two of them within it. Twelve halve the variance.
 */
const PAIRS = 4 * SLICES;

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const f = await ctx.fixture();
  const ef = o.defaultEf;
  const probe = await connect(f.server.port);
  try {
    await probe.callBuffer('VSIM', f.key, 'FP32', f.queryBlobs[0], 'COUNT', String(o.k), 'EF', String(ef));
  } catch (e) {
    const msg = (e as Error).message;
    probe.disconnect();
    if (/unknown command/i.test(msg)) {
      console.log(`\n## Q8 VSIM beside VEC.SEARCH\n   skipped: the server answers "${msg.split(',')[0]}"`);
      ctx.results.vsim = { skipped: msg };
      ctx.bars.skip('Q8 VSIM', '|VSIM QPS ÷ VEC.SEARCH − 1|', 'VSIM is not implemented yet (unknown command)');
      return;
    }
    throw e;
  }
  probe.disconnect();
  const clients = await connectLoad(f.server.port, o.clients, o.driver);
  const runs: Record<'VEC.SEARCH' | 'VSIM', Awaited<ReturnType<typeof serverSearchLoop>>[]> = { 'VEC.SEARCH': [], VSIM: [] };
  try {
    // PAIRS alternating slices (A B B A A B …): a slow patch of the machine lands on both.
    for (let rep = 0; rep < PAIRS; rep++) {
      const order = rep % 2 === 0 ? (['VEC.SEARCH', 'VSIM'] as const) : (['VSIM', 'VEC.SEARCH'] as const);
      for (const cmd of order) runs[cmd].push(await serverSearchLoop(ctx, f, clients, ef, o.durationMs / (2 * SLICES), [], cmd, rep === 0 ? o.warmupMs : 200));
    }
  } finally { closeAll(clients); }
  const qps = (cmd: 'VEC.SEARCH' | 'VSIM') => median(runs[cmd].map((r) => r.qps));
  const cpuPerQuery = (cmd: 'VEC.SEARCH' | 'VSIM') => {
    const m = mergeSlices(f, runs[cmd]);
    return m.serverCpu ? (m.serverCpu.total / m.ops) * 1e6 : NaN;
  };
  // Each VSIM slice against the VEC.SEARCH slice taken right beside it, then the median: a
  // busy patch of the shared machine lands on both halves of a pair, not on one command.
  const ratio = median(runs.VSIM.map((r, i) => r.qps / runs['VEC.SEARCH'][i].qps));
  printTable(`Q8 VSIM beside VEC.SEARCH: EF ${ef}, ${o.clients} connections (${o.driver}), ${PAIRS} alternating slices each, medians; ratio: median of side-by-side pairs`,
    ['command', 'QPS', 'vs VEC.SEARCH', 'recall', 'p50', 'p99', 'server CPU µs/query', 'slices (QPS)'],
    (['VEC.SEARCH', 'VSIM'] as const).map((cmd) => [cmd, fmtRate(qps(cmd)), cmd === 'VSIM' ? fmtRatio(ratio) : '1.00×', fmtRecall(mergeSlices(f, runs[cmd]).recall),
      fmtUs(median(runs[cmd].map((r) => r.p50Us))), fmtUs(median(runs[cmd].map((r) => r.p99Us))), cpuPerQuery(cmd).toFixed(0),
      runs[cmd].map((r) => fmtRate(r.qps)).join(' / ')]));
  ctx.results.vsim = { ef, vecSearchQps: qps('VEC.SEARCH'), vsimQps: qps('VSIM'), ratio, vsimRecall: mergeSlices(f, runs.VSIM).recall,
    slices: { vecSearch: runs['VEC.SEARCH'].map((r) => r.qps), vsim: runs.VSIM.map((r) => r.qps) },
    cpuUsPerQuery: { vecSearch: cpuPerQuery('VEC.SEARCH'), vsim: cpuPerQuery('VSIM') } };
  // "Within 5 %" either way: a gap in either direction means one path does work the other does not.
  ctx.bars.add('Q8 VSIM', `|VSIM QPS ÷ VEC.SEARCH − 1| (ratio ${ratio.toFixed(3)}×)`, Math.abs(ratio - 1), '<=', 0.05);
}

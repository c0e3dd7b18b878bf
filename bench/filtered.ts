/**
 * Q5, filtered search: every element carries `{"c": i % 100}`; `FILTER '.c == 7'`
 * keeps 1 % of them. Recall@k against the exact nearest among the matching
 * elements (bar ≥ 0.9), and filtered ÷ unfiltered QPS with many clients at the
 * same EF, measured back to back (bar ≥ 0.5).
 */
import type { Context } from './lib/context.js';
import { connectMany, closeAll } from './lib/client.js';
import { exactKnn } from './lib/truth.js';
import { serverSearchLoop, cpuText, mergeSlices, SLICES, type ServerLoop } from './search.js';
import { fmtRate, fmtRatio, fmtRecall, fmtUs } from './lib/stats.js';
import { printTable } from './lib/report.js';

export const FILTER = '.c == 7';

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const f = await ctx.fixture();
  const payloadSeconds = await f.ensurePayloads();
  const matching: number[] = [];
  for (let i = 0; i < f.ds.n; i++) if (i % 100 === 7) matching.push(i);
  const subset = Uint32Array.from(matching);
  const truth = await exactKnn('cos', f.ds.vectors, f.ds.n, f.ds.queries, f.ds.q, f.ds.dim, o.k, subset);
  const ef = o.defaultEf;
  const clients = await connectMany(f.server.port, o.clients);
  const plainSlices: ServerLoop[] = [], filteredSlices: ServerLoop[] = [];
  try {
    // Alternating slices (U F F U …), medians: see search.ts.
    for (let i = 0; i < SLICES; i++) {
      const warm = i === 0 ? o.warmupMs : 200;
      const plainSlice = async () => plainSlices.push(await serverSearchLoop(ctx, f, clients, ef, o.durationMs / SLICES, [], 'VEC.SEARCH', warm));
      const filteredSlice = async () => filteredSlices.push(await serverSearchLoop(ctx, f, clients, ef, o.durationMs / SLICES, ['FILTER', FILTER], 'VEC.SEARCH', warm));
      if (i % 2 === 0) { await plainSlice(); await filteredSlice(); } else { await filteredSlice(); await plainSlice(); }
    }
  } finally { closeAll(clients); }
  const plain = mergeSlices(f, plainSlices);
  const filtered = mergeSlices(f, filteredSlices, truth);
  const recall = filtered.recall;
  const ratio = filtered.qps / plain.qps;
  printTable(`Q5 Filtered: FILTER '${FILTER}' (${subset.length} of ${f.ds.n} match, ${(100 * subset.length / f.ds.n).toFixed(1)} %), EF ${ef}, ${o.clients} connections`,
    ['search', 'QPS', 'vs unfiltered', 'recall', 'p50', 'p99', 'server cores: JS main + others (busy)'],
    [
      ['unfiltered', fmtRate(plain.qps), '1.00×', fmtRecall(plain.recall), fmtUs(plain.p50Us), fmtUs(plain.p99Us), cpuText(plain)],
      [`FILTER '${FILTER}'`, fmtRate(filtered.qps), fmtRatio(ratio), fmtRecall(recall), fmtUs(filtered.p50Us), fmtUs(filtered.p99Us), cpuText(filtered)],
    ],
    `QPS: median of ${SLICES} alternating slices each. Recall of the filtered search is against the exact nearest among matching elements; payloads set with pipelined VEC.SETPAYLOAD in ${payloadSeconds.toFixed(1)} s`);
  ctx.results.filtered = { filter: FILTER, matching: subset.length, ef, unfiltered: { qps: plain.qps, recall: plain.recall, p50Us: plain.p50Us, p99Us: plain.p99Us, cpu: plain.serverCpu, cpuWall: plain.cpuWall },
    filtered: { qps: filtered.qps, recall, p50Us: filtered.p50Us, p99Us: filtered.p99Us, cpu: filtered.serverCpu, cpuWall: filtered.cpuWall }, ratio };
  ctx.bars.add('Q5 filtered', `recall@${o.k} with FILTER (1 %)`, recall, '>=', 0.9);
  ctx.bars.add('Q5 filtered', 'filtered QPS ÷ unfiltered', ratio, '>=', 0.5, '×');
}

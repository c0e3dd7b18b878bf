/**
 * Q3, latency. (a) One connection, no pipelining: VEC.SEARCH p50/p99 against
 * a single in-process usearch search at the same EF; bar: server p50 ≤
 * in-process p50 + 60 µs (the whole cost of the wire, parsing and reply).
 * (b) While many clients search, PING on another connection (in a worker
 * thread); bar: PING p99 < 5 ms (searches must not stall the event loop).
 */
import { Worker } from 'node:worker_threads';
import type { Context } from './lib/context.js';
import { atEf, singleSearch } from './lib/baseline.js';
import { connectLoad, connectMany, closeAll } from './lib/client.js';
import { serverSearchLoop, cpuText, mergeSlices, SLICES, type ServerLoop } from './search.js';
import { percentiles, fmtUs, fmtRate, fmtRecall, median } from './lib/stats.js';
import { meanRecall } from './lib/truth.js';
import { printTable } from './lib/report.js';

async function pingProbe(port: number, durationMs: number): Promise<{ start: () => void; result: Promise<number[]> }> {
  const w = new Worker(new URL('./lib/ping-probe.js', import.meta.url), { workerData: { port, durationMs, pauseMs: 1 } });
  await new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); });
  const result = new Promise<number[]>((resolve, reject) => {
    w.on('message', (m: { type: string; latenciesUs: number[] }) => { if (m.type === 'done') resolve(m.latenciesUs); });
    w.once('error', reject);
  });
  return { start: () => w.postMessage('go'), result: result.finally(() => w.terminate()) };
}

/** p50/p99 in µs of one command from INFO latencystats (`latency_percentiles_usec_<cmd>:p50=…,p99=…`). */
function parseLatencyStats(text: string, command: string): { p50: number; p99: number } | null {
  const line = text.split('\n').find((l) => l.startsWith(`latency_percentiles_usec_${command}:`));
  if (!line) return null;
  const p50 = /p50=([\d.]+)/.exec(line), p99 = /p99=([\d.]+)/.exec(line);
  return p50 && p99 ? { p50: Number(p50[1]), p99: Number(p99[1]) } : null;
}

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const f = await ctx.fixture();
  const ef = o.defaultEf;

  // (a) one connection, one request at a time, alternating with the in-process single search.
  const one = await connectLoad(f.server.port, 1, o.driver);
  const [admin] = await connectMany(f.server.port, 1);
  const ix = atEf(f.stock, ef);
  const loneSlices: ServerLoop[] = [];
  const singles: ReturnType<typeof singleSearch>[] = [];
  // The server's own view (INFO latencystats, from dispatch to reply) splits the round trip
  // into time inside the server and time on the wire and in the client.
  const statsOk = await admin.call('CONFIG', 'RESETSTAT').then(() => true, () => false);
  let serverSide: { p50: number; p99: number } | null = null;
  try {
    for (let i = 0; i < SLICES; i++) {
      const s = () => singles.push(singleSearch(ix, f.ds.queries, f.ds.q, f.ds.dim, o.k, o.durationMs / SLICES / 3));
      const l = async () => loneSlices.push(await serverSearchLoop(ctx, f, one, ef, o.durationMs / SLICES / 2, [], 'VEC.SEARCH', i === 0 ? o.warmupMs : 200));
      if (i % 2 === 0) { s(); await l(); } else { await l(); s(); }
    }
    if (statsOk) serverSide = parseLatencyStats(String(await admin.call('INFO', 'latencystats')), 'vec.search');
  } finally { closeAll([...one, admin]); }
  const lone = mergeSlices(f, loneSlices);
  const single = { qps: median(singles.map((x) => x.qps)), p50Us: median(singles.map((x) => x.p50Us!)), p99Us: median(singles.map((x) => x.p99Us!)) };
  const singleRecall = meanRecall(f.truth, singles[0].answers).recall;

  // (b) PING on an idle server first (the floor this machine allows), then beside a full search load.
  const idleProbe = await pingProbe(f.server.port, Math.min(3000, o.durationMs / 2));
  idleProbe.start();
  const idlePings = await idleProbe.result;
  const [ip50, ip99, imax] = percentiles(idlePings, [50, 99, 100]);
  const clients = await connectLoad(f.server.port, o.clients, o.driver);
  const probe = await pingProbe(f.server.port, o.durationMs);
  let loaded;
  try {
    const loop = serverSearchLoop(ctx, f, clients, ef, o.durationMs);
    setTimeout(probe.start, o.warmupMs);
    loaded = await loop;
  } finally { closeAll(clients); }
  const pings = await probe.result;
  const [pp50, pp99, pmax] = percentiles(pings, [50, 99, 100]);

  printTable(`Q3 Latency at EF ${ef} (the server's default), k ${o.k}`,
    ['what', 'ops/s', 'p50', 'p99', 'max', 'recall', 'server cores: JS main + others (busy)'],
    [
      ['usearch in process, 1 query per call, 1 thread', fmtRate(single.qps), fmtUs(single.p50Us!), fmtUs(single.p99Us!), '–', fmtRecall(singleRecall), '–'],
      ['VEC.SEARCH, 1 connection, no pipelining', fmtRate(lone.qps), fmtUs(lone.p50Us), fmtUs(lone.p99Us), fmtUs(lone.maxUs), fmtRecall(lone.recall), cpuText(lone)],
      ['  of which inside the server (INFO latencystats)', '–', serverSide ? fmtUs(serverSide.p50) : '–', serverSide ? fmtUs(serverSide.p99) : '–', '–', '–', '–'],
      [`VEC.SEARCH, ${o.clients} connections (the load)`, fmtRate(loaded.qps), fmtUs(loaded.p50Us), fmtUs(loaded.p99Us), fmtUs(loaded.maxUs), fmtRecall(loaded.recall), cpuText(loaded)],
      [`PING on an idle server (control: ${idlePings.length} sent, 1 ms apart)`, '–', fmtUs(ip50), fmtUs(ip99), fmtUs(imax), '–', '–'],
      [`PING on another connection during that load (${pings.length} sent, 1 ms apart)`, '–', fmtUs(pp50), fmtUs(pp99), fmtUs(pmax), '–', '–'],
    ],
    `wire overhead at p50: ${fmtUs(lone.p50Us - single.p50Us!)} over in process (bar: ≤ 60 µs)` +
    (serverSide ? `; inside the server ${fmtUs(serverSide.p50)}, so ${fmtUs(lone.p50Us - serverSide.p50)} between the sockets (kernel, scheduling, the client)` : '') +
    `.\n1-connection and in-process figures are medians of ${SLICES} alternating slices; the idle PING shows this machine's round-trip floor right now.`);
  ctx.results.latency = {
    ef, inProcess: { qps: single.qps, p50Us: single.p50Us, p99Us: single.p99Us, recall: singleRecall },
    oneConnection: { qps: lone.qps, p50Us: lone.p50Us, p99Us: lone.p99Us, maxUs: lone.maxUs, recall: lone.recall, serverSideP50Us: serverSide?.p50 ?? null, serverSideP99Us: serverSide?.p99 ?? null },
    idlePing: { pings: idlePings.length, p50Us: ip50, p99Us: ip99, maxUs: imax },
    underLoad: { searchQps: loaded.qps, searchP99Us: loaded.p99Us, pings: pings.length, pingP50Us: pp50, pingP99Us: pp99, pingMaxUs: pmax },
  };
  ctx.bars.add('Q3 latency', `VEC.SEARCH QPS, 1 connection ÷ usearch one query per call (${fmtRate(lone.qps)} vs ${fmtRate(single.qps)})`, lone.qps / single.qps, '>=', 0.5, '×', `others ${(lone.otherCores || 0).toFixed(2)} cores`);
  ctx.bars.add('Q3 latency', `VEC.SEARCH p50 (1 conn) ≤ in-process p50 ${fmtUs(single.p50Us!)} + 60 µs`, lone.p50Us, '<=', single.p50Us! + 60, 'µs');
  ctx.bars.add('Q3 latency', `PING p99 while ${o.clients} clients search`, pp99 / 1000, '<=', 5, 'ms', `others ${(loaded.otherCores || 0).toFixed(2)} cores`);
}

/**
 * Q13, FT.* beside VEC.*: one server, the same clustered vectors loaded twice,
 * as a vector set (pipelined `VEC.ADD … FP32`) and as hashes under an indexed
 * prefix (pipelined `HSET doc:i v <blob>`, FT.CREATE … VECTOR HNSW with the
 * same M, EF_CONSTRUCTION and metric), then KNN searches through the same
 * connections, alternating slices: `VEC.SEARCH key FP32 q COUNT k EF ef` and
 * `FT.SEARCH idx "*=>[KNN k @v $q EF_RUNTIME ef]" PARAMS 2 q <blob> NOCONTENT
 * DIALECT 2` (plus, for information, the form frameworks send: scores
 * returned, no NOCONTENT). Bars (issue 16): FT.SEARCH QPS ≥ 0.8 × VEC.SEARCH (slice by slice),
 * HSET ingest ≥ 0.8 × VEC.ADD, FT.SEARCH recall@k ≥ 0.95.
 *
 * HSET is answered before the index has inserted the vector (the insert is
 * the index's upkeep, queued behind the write), so its ingest is timed until
 * a search answers, which waits for every queued insert: both rates are "until
 * searchable".
 */
import type { Context } from './lib/context.js';
import { configNumber } from './lib/context.js';
import { clustered, blobs } from './lib/data.js';
import { meanRecall } from './lib/truth.js';
import { startAstronaut, cpuBetween, threadCpu, cpuText } from './lib/server.js';
import { closedLoop, connect, connectMany, connectRaw, closeAll, encodeCommand, pipelinedLoad, roundRobin, type LoopResult } from './lib/client.js';
import { fmtRate, fmtRatio, fmtRecall, fmtUs, median, nowUs } from './lib/stats.js';
import { printTable } from './lib/report.js';

type Contender = 'VEC.SEARCH' | 'FT.SEARCH' | 'FT.SEARCH (scores)';
const CONTENDERS: Contender[] = ['VEC.SEARCH', 'FT.SEARCH', 'FT.SEARCH (scores)'];
/** Alternating slices per contender, and each one's length: the machine is shared, so many short back-to-back pairs. */
const SLICES = 8;
const sliceMs = (durationMs: number) => Math.max(1000, durationMs / 6);

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const ds = clustered(o.n, o.dim, o.q, o.seed);
  const truth = await ctx.truthFor(ds, 'cos');
  const vectors = blobs(ds.vectors, ds.n, ds.dim);
  const queries = blobs(ds.queries, ds.q, ds.dim);
  const server = await startAstronaut();
  const admin = await connect(server.port);
  try {
    const ef = o.defaultEf;
    // The same planner serves both: if this set is small enough to be scanned exactly, scan neither (as the search fixture does).
    const exactBelow = await configNumber(admin, 'vec-exact-search-below');
    if (exactBelow !== null && exactBelow > 0 && o.n * 64 <= exactBelow * ef) await admin.call('CONFIG', 'SET', 'vec-exact-search-below', '0');
    const graph = ['M', String(o.m), 'EF_CONSTRUCTION', String(o.efConstruction)];
    await admin.call('VEC.CREATE', 'vecs', 'DIM', String(o.dim), 'METRIC', 'COSINE', 'QUANT', 'F32', ...graph);
    await admin.call('FT.CREATE', 'idx', 'ON', 'HASH', 'PREFIX', '1', 'doc:', 'SCHEMA', 'v', 'VECTOR', 'HNSW', '10',
      'TYPE', 'FLOAT32', 'DIM', String(o.dim), 'DISTANCE_METRIC', 'COSINE', ...graph);

    const ingest = async (what: string, command: (i: number) => [string, ...(string | Buffer)[]], settle: () => Promise<unknown>) => {
      const loaders = await connectMany(server.port, o.ingestConnections);
      const cpuA = threadCpu(server.pid);
      const t0 = nowUs();
      try {
        await pipelinedLoad(loaders, ds.n, o.ingestPipeline, command);
        await settle();
      } finally { closeAll(loaders); }
      const seconds = (nowUs() - t0) / 1e6;
      console.log(`   · ${what}: ${ds.n} in ${seconds.toFixed(1)} s`);
      return { seconds, rate: ds.n / seconds, cpu: cpuBetween(server.pid, cpuA, threadCpu(server.pid), seconds) };
    };
    const vecIngest = await ingest('VEC.ADD', (i) => ['VEC.ADD', 'vecs', String(i), 'FP32', vectors[i]!],
      () => admin.callBuffer('VEC.SEARCH', 'vecs', 'FP32', queries[0]!, 'COUNT', '1'));
    const ftIngest = await ingest('HSET into an indexed prefix', (i) => ['HSET', `doc:${i}`, 'v', vectors[i]!],
      () => admin.callBuffer('FT.SEARCH', 'idx', '*=>[KNN 1 @v $q]', 'PARAMS', '2', 'q', queries[0]!, 'NOCONTENT', 'DIALECT', '2'));
    const ftDocs = await admin.call('FT.INFO', 'idx') as unknown[];
    const numDocs = Number(ftDocs[ftDocs.indexOf('num_docs') + 1]);
    if (numDocs !== ds.n) throw new Error(`FT.INFO num_docs is ${numDocs} after ${ds.n} HSETs`);

    const k = String(o.k);
    const knn = `*=>[KNN ${k} @v $q EF_RUNTIME ${ef}]`;
    const encoded: Record<Contender, Buffer[]> = {
      'VEC.SEARCH': queries.map((q) => encodeCommand(['VEC.SEARCH', 'vecs', 'FP32', q, 'COUNT', k, 'EF', String(ef)])),
      'FT.SEARCH': queries.map((q) => encodeCommand(['FT.SEARCH', 'idx', knn, 'PARAMS', '2', 'q', q, 'NOCONTENT', 'LIMIT', '0', k, 'DIALECT', '2'])),
      'FT.SEARCH (scores)': queries.map((q) => encodeCommand(['FT.SEARCH', 'idx', knn, 'PARAMS', '2', 'q', q, 'RETURN', '1', '__v_score', 'LIMIT', '0', k, 'DIALECT', '2'])),
    };
    const idsOf = (c: Contender, reply: unknown): number[] => {
      const r = reply as Array<Buffer | unknown[]>;
      if (c === 'VEC.SEARCH') return (r as Buffer[]).map((b) => Number(b.toString('latin1')));
      const out: number[] = [];
      for (let i = 1; i < r.length; i += c === 'FT.SEARCH' ? 1 : 2) out.push(Number((r[i] as Buffer).toString('latin1').slice(4)));
      return out;
    };
    const clients = await connectRaw(server.port, o.clients);
    const runs: Record<Contender, Array<LoopResult>> = { 'VEC.SEARCH': [], 'FT.SEARCH': [], 'FT.SEARCH (scores)': [] };
    const answers: Record<Contender, Array<number[] | undefined>> = { 'VEC.SEARCH': [], 'FT.SEARCH': [], 'FT.SEARCH (scores)': [] };
    try {
      // Alternating slices (A B C, C B A, …): a slow patch of the shared machine lands on every contender.
      for (let rep = 0; rep < SLICES; rep++) {
        const order = rep % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse();
        for (const c of order) {
          const r = await closedLoop(clients, {
            durationMs: sliceMs(o.durationMs), warmupMs: rep === 0 ? o.warmupMs : 200, next: roundRobin(ds.q), serverPid: server.pid,
            send: (conn, qi) => conn.send(encoded[c][qi]!),
            onReply: (qi, reply) => { answers[c][qi] ??= idsOf(c, reply); },
          });
          if (r.errors) throw new Error(`${c} failed: ${r.firstError}`);
          runs[c].push(r);
        }
      }
    } finally { closeAll(clients); }

    const qps = (c: Contender) => median(runs[c].map((r) => r.qps));
    const recall = (c: Contender) => meanRecall(truth, answers[c]).recall;
    const cpuPerQuery = (c: Contender) => {
      let cpu = 0, ops = 0;
      for (const r of runs[c]) { if (r.serverCpu) cpu += r.serverCpu.total; ops += r.ops; }
      return (cpu / ops) * 1e6;
    };
    // Each slice against the VEC.SEARCH slice next to it in time, then the median: load from other
    // tenants moves both members of a pair alike, where it moves independent medians apart.
    const paired = (c: Contender) => median(runs[c].map((r, i) => r.qps / runs['VEC.SEARCH'][i]!.qps));
    const searchRatio = paired('FT.SEARCH');
    const ingestRatio = ftIngest.rate / vecIngest.rate;
    printTable(`Q13 FT.SEARCH beside VEC.SEARCH: ${ds.n} × ${o.dim} f32 cosine, M ${o.m}, EF ${ef}, k ${k}, ${o.clients} connections, ${SLICES} alternating slices of ${(sliceMs(o.durationMs) / 1000).toFixed(1)} s each, medians`,
      ['command', 'QPS', 'vs VEC.SEARCH (paired slices)', `recall@${k}`, 'p50', 'p99', 'server CPU µs/query', 'slices (QPS)'],
      CONTENDERS.map((c) => [c, fmtRate(qps(c)), fmtRatio(paired(c)), fmtRecall(recall(c)),
        fmtUs(median(runs[c].map((r) => r.p50Us))), fmtUs(median(runs[c].map((r) => r.p99Us))), cpuPerQuery(c).toFixed(0),
        runs[c].map((r) => fmtRate(r.qps)).join(' / ')]),
      'FT.SEARCH is NOCONTENT (ids only, as VEC.SEARCH); "(scores)" returns each hit\'s __v_score as frameworks ask for it.\n' +
      '"vs VEC.SEARCH" is the median of each slice\'s QPS over the VEC.SEARCH slice beside it; server CPU µs/query moves least with the load.');
    printTable(`Q13 ingest until searchable: ${ds.n} × ${o.dim}, ${o.ingestConnections} connections × ${o.ingestPipeline}/pipeline`,
      ['how', 'seconds', 'vectors/s', 'vs VEC.ADD', 'server cores busy: JS main + others (n)'],
      [['VEC.ADD vecs i FP32 blob', vecIngest.seconds.toFixed(2), fmtRate(vecIngest.rate), '1.00×', cpuText(vecIngest.cpu)],
        ['HSET doc:i v blob (indexed prefix)', ftIngest.seconds.toFixed(2), fmtRate(ftIngest.rate), fmtRatio(ingestRatio), cpuText(ftIngest.cpu)]]);
    ctx.results.ft = {
      n: ds.n, ef, search: Object.fromEntries(CONTENDERS.map((c) => [c, { qps: qps(c), ratio: paired(c), recall: recall(c), slices: runs[c].map((r) => r.qps), cpuUsPerQuery: cpuPerQuery(c) }])),
      searchRatio, ingest: { vecAdd: vecIngest, hset: ftIngest, ratio: ingestRatio },
    };
    ctx.bars.add('Q13 FT.SEARCH', `FT.SEARCH KNN QPS ÷ VEC.SEARCH, EF ${ef}, ${o.clients} connections`, searchRatio, '>=', 0.8, '×');
    ctx.bars.add('Q13 FT ingest', 'HSET into an indexed prefix ÷ VEC.ADD, until searchable', ingestRatio, '>=', 0.8, '×');
    ctx.bars.add('Q13 FT recall', `FT.SEARCH recall@${k} at EF ${ef} (VEC.SEARCH: ${fmtRecall(recall('VEC.SEARCH'))})`, recall('FT.SEARCH'), '>=', 0.95);
  } finally {
    admin.disconnect();
    await server.stop();
  }
}

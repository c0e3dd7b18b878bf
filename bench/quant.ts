/**
 * Q6, quantizations: recall@k at the server's default EF for F32, F16, BF16
 * and I8 under COSINE and B1 under HAMMING (sign bits; recall against exact
 * Hamming, ties counted), and bytes per vector: the server's RSS growth while
 * loading the set, against the stock usearch index's RSS growth for the same
 * set in a fresh process. Each quantization gets a fresh server.
 * Bars: recall ≥ 0.95 for the float types; bytes ≤ 1.15 × usearch.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from './lib/context.js';
import { clustered, blobs } from './lib/data.js';
import { signBits, popcount32, meanRecall } from './lib/truth.js';
import { startAstronaut, rssBytes } from './lib/server.js';
import { connect, connectMany, closeAll, pipelinedLoad, idsOf } from './lib/client.js';
import { fmtRecall, fmtRatio } from './lib/stats.js';
import { printTable } from './lib/report.js';
import { configNumber } from './lib/context.js';
import type { Redis } from 'ioredis';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

interface Variant { quant: 'F32' | 'F16' | 'BF16' | 'I8' | 'B1'; metric: 'COSINE' | 'HAMMING'; floatBar: boolean }
const VARIANTS: Variant[] = [
  { quant: 'F32', metric: 'COSINE', floatBar: true },
  { quant: 'F16', metric: 'COSINE', floatBar: true },
  { quant: 'BF16', metric: 'COSINE', floatBar: true },
  { quant: 'I8', metric: 'COSINE', floatBar: false },
  { quant: 'B1', metric: 'HAMMING', floatBar: false },
];

/** The server's JS heap in use (INFO memory used_memory_js_heap), or NaN if it does not say. */
async function jsHeap(c: Redis): Promise<number> {
  const text = String(await c.call('INFO', 'memory'));
  const m = /used_memory_js_heap:(\d+)/.exec(text);
  return m ? Number(m[1]) : NaN;
}

const settle = () => new Promise((r) => setTimeout(r, 300));

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const n = o.quantN;
  const ds = clustered(n, o.dim, o.q, o.seed + 1);
  const truthCos = await ctx.truthFor(ds, 'cos');
  const truthHam = await ctx.truthFor(ds, 'hamming');
  const baseBits = signBits(ds.vectors, n, o.dim);
  const queryBits = signBits(ds.queries, ds.q, o.dim);
  const words = Math.ceil(o.dim / 32);
  const hamming = (qi: number, ids: ArrayLike<number>) => Array.from(ids, (id) => {
    let d = 0;
    for (let w = 0; w < words; w++) d += popcount32(baseBits[id * words + w] ^ queryBits[qi * words + w]);
    return d;
  });
  const vb = blobs(ds.vectors, n, o.dim);
  const qb = blobs(ds.queries, ds.q, o.dim);
  const half = Math.floor(n / 2);
  const rows: (string | number)[][] = [];
  const json: Record<string, unknown>[] = [];

  for (const v of VARIANTS) {
    const server = await startAstronaut();
    let s: { rss0: number; rssHalf: number; rssFull: number; heapGrowth: number; memoryBytes: number; recall: number; recallDefault: number; scanned: boolean };
    try {
      const admin = await connect(server.port);
      const loaders = await connectMany(server.port, o.ingestConnections);
      const key = `bench:${v.quant.toLowerCase()}`;
      await settle();
      const rss0 = rssBytes(server.pid);
      const heap0 = await jsHeap(admin);
      await admin.call('VEC.CREATE', key, 'DIM', String(o.dim), 'METRIC', v.metric, 'QUANT', v.quant, 'M', String(o.m), 'EF_CONSTRUCTION', String(o.efConstruction));
      await pipelinedLoad(loaders, half, o.ingestPipeline, (i) => ['VEC.ADD', key, String(i), 'FP32', vb[i]]);
      await settle();
      const rssHalf = rssBytes(server.pid);
      await pipelinedLoad(loaders, n - half, o.ingestPipeline, (i) => ['VEC.ADD', key, String(half + i), 'FP32', vb[half + i]]);
      await settle();
      const rssFull = rssBytes(server.pid);
      const heapFull = await jsHeap(admin);
      closeAll(loaders);
      const info = (await admin.call('VEC.INFO', key)) as unknown[];
      const memoryBytes = Number(info[info.indexOf('memory_bytes') + 1]);
      // At the default EF: no EF argument.
      const recallNow = async () => {
        const p = admin.pipeline();
        for (let qi = 0; qi < ds.q; qi++) p.callBuffer('VEC.SEARCH', key, 'FP32', qb[qi], 'COUNT', String(o.k));
        const answers = ((await p.exec()) ?? []).map(([err, r]) => { if (err) throw err; return idsOf(r); });
        return v.metric === 'HAMMING' ? meanRecall(truthHam, answers, hamming).recall : meanRecall(truthCos, answers).recall;
      };
      const recallDefault = await recallNow();
      // A set this small may be scanned exactly by default (vec-exact-search-below): then also
      // measure the graph, which is what the quantization does to recall on large sets.
      const exactBelow = await configNumber(admin, 'vec-exact-search-below');
      let recallGraph = recallDefault;
      let scanned = false;
      // (The limit is an element count at EF 64, scaled by the search's EF.)
      if (exactBelow !== null && exactBelow > 0 && n * 64 <= exactBelow * o.defaultEf) {
        scanned = true;
        await admin.call('CONFIG', 'SET', 'vec-exact-search-below', '0');
        recallGraph = await recallNow();
      }
      admin.disconnect();
      s = { rss0, rssHalf, rssFull, heapGrowth: heapFull - heap0, memoryBytes, recall: recallGraph, recallDefault, scanned };
    } finally {
      await server.stop();
    }
    const spec = { n, dim: o.dim, q: o.q, seed: o.seed + 1, quantization: v.quant.toLowerCase(), metric: v.metric === 'HAMMING' ? 'hamming' : 'cos',
      m: o.m, efConstruction: o.efConstruction, threads: o.threads };
    const { stdout } = await exec(process.execPath, [path.join(here, 'lib', 'usearch-memory.js'), JSON.stringify(spec)], { maxBuffer: 1 << 20 });
    const u = JSON.parse(stdout.trim().split('\n').pop()!) as { rss0: number; rssHalf: number; rssFull: number; size: number };
    const serverPer = (s.rssFull - s.rss0) / n, stockPer = (u.rssFull - u.rss0) / n;
    const serverMarginal = (s.rssFull - s.rssHalf) / (n - half), stockMarginal = (u.rssFull - u.rssHalf) / (n - half);
    const ratio = serverPer / stockPer;
    rows.push([`${v.quant} ${v.metric}`, fmtRecall(s.recall), s.scanned ? `${fmtRecall(s.recallDefault)} (exact scan)` : fmtRecall(s.recallDefault), serverPer.toFixed(0), stockPer.toFixed(0), fmtRatio(ratio),
      serverMarginal.toFixed(0), stockMarginal.toFixed(0), (s.heapGrowth / n).toFixed(0), (s.memoryBytes / n).toFixed(0)]);
    json.push({ quant: v.quant, metric: v.metric, recall: s.recall, server: s, stock: u, serverBytesPerVector: serverPer, stockBytesPerVector: stockPer, ratio,
      serverMarginal, stockMarginal });
    if (v.floatBar) ctx.bars.add('Q6 quant', `recall@${o.k} ${v.quant} COSINE, graph at default EF`, s.recall, '>=', 0.95);
    ctx.bars.add('Q6 memory', `${v.quant} bytes/vector ÷ usearch (${serverPer.toFixed(0)} vs ${stockPer.toFixed(0)} B)`, ratio, '<=', 1.15, '×');
  }
  printTable(`Q6 Quantizations: ${n} × ${o.dim} clustered, M ${o.m}, EF_CONSTRUCTION ${o.efConstruction}, search at the server's default EF, k ${o.k}`,
    ['set', 'recall (graph)', 'recall (default config)', 'server B/vec (RSS)', 'usearch B/vec (RSS)', 'server ÷ usearch', 'server marginal B/vec', 'usearch marginal B/vec', 'server JS heap growth B/vec (incl. garbage)', 'VEC.INFO memory_bytes/vec'],
    rows,
    'B/vec = RSS growth from before the set exists to after loading ÷ n (fixed costs included); marginal = growth over the second half ÷ its size.\n' +
    'recall (graph): the HNSW walk at the default EF; (default config): as shipped, where sets under vec-exact-search-below are scanned exactly.\n' +
    'B1 recall is against exact Hamming on sign bits, an answer counting when within the k-th true distance (ties). I8 and B1 have no recall bar.');
  ctx.results.quant = { n, dim: o.dim, rows: json };
}

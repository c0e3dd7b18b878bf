/**
 * Q4, ingest: the main set loaded through the wire (pipelined `VEC.ADD … FP32`,
 * several connections) against the stock usearch batch add of the same vectors
 * on every core. Bar: server rate ≥ 0.7 × in process.
 */
import type { Context } from './lib/context.js';
import { fmtRate, fmtRatio, fmtBytes } from './lib/stats.js';
import { printTable } from './lib/report.js';
import { cpuText } from './lib/server.js';

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const f = await ctx.fixture();
  const { server, stock, n } = f.ingest;
  const ratio = server.rate / stock.rate;
  const cores = (cpu: number, s: number) => `${(cpu / s).toFixed(2)}`;
  printTable(`Q4 Ingest: ${n} × ${o.dim} f32, cosine, M ${o.m}, EF_CONSTRUCTION ${o.efConstruction}`,
    ['contender', 'how', 'seconds', 'vectors/s', 'vs usearch', 'CPU µs/vector', 'cores busy', 'of which JS main + others (n)'],
    [
      ['stock usearch (in process)', `index.add(batch, threads=${o.threads})`, stock.seconds.toFixed(2), fmtRate(stock.rate), '1.00×',
        (stock.cpuSeconds / n * 1e6).toFixed(0), cores(stock.cpuSeconds, stock.seconds), '–'],
      ['astronaut (wire)', `VEC.ADD FP32, ${o.ingestConnections} conns × ${o.ingestPipeline}/pipeline`, server.seconds.toFixed(2), fmtRate(server.rate), fmtRatio(ratio),
        `${(server.cpu.total / n * 1e6).toFixed(0)} + ${(server.clientCpuSeconds / n * 1e6).toFixed(0)} client`, cores(server.cpu.total, server.seconds), cpuText(server.cpu)],
    ],
    `RSS growth during the load: server ${fmtBytes(server.rssGrowth)} (${(server.rssGrowth / n).toFixed(0)} B/vector), stock usearch in this process ${fmtBytes(stock.rssGrowth)} ` +
    `(${(stock.rssGrowth / n).toFixed(0)} B/vector).\nOne run each, server first (a 100k load cannot be sliced): CPU µs/vector is the figure that noise does not move much.`);
  ctx.results.ingest = { ...f.ingest, ratio };
  ctx.bars.add('Q4 ingest', 'VEC.ADD rate ÷ usearch batch add', ratio, '>=', 0.7, '×');
}

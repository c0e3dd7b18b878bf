/**
 * Does the libuv pool's size matter for VEC.SEARCH? Two servers hold the same
 * set, one started with UV_THREADPOOL_SIZE=<cores>, the other with Node's
 * default (4); closed-loop VEC.SEARCH slices alternate between them (order
 * flipped every slice) at each client count, and each figure is the median
 * over its slices. Both servers run all along, idle while the other is measured.
 *
 *   node dist/bench/threadpool.js [--n 100000] [--dim 128] [--clients 8,50] [--ef 64] [--slices 4] [--slice 3]
 *
 * The pool size must be in the environment when the server starts: the ESM
 * loader reads the entry module with fs/promises, which starts the pool
 * before the first statement of bin/astronaut.js runs. The thread counts
 * printed check that each server got the pool it was given.
 */
import os from 'node:os';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clustered, blobs } from './lib/data.js';
import { startAstronaut, cpuText, type ServerProc } from './lib/server.js';
import { connect, connectMany, closeAll, closedLoop, pipelinedLoad, roundRobin, type LoopResult } from './lib/client.js';
import { fmtRate, fmtUs, median } from './lib/stats.js';
import { printTable } from './lib/report.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' }, dim: { type: 'string', default: '128' }, q: { type: 'string', default: '500' },
    clients: { type: 'string', default: '8,50' }, ef: { type: 'string', default: '64' },
    slices: { type: 'string', default: '4' }, slice: { type: 'string', default: '3' },
  },
  strict: true,
});
const n = Number(values.n), dim = Number(values.dim), q = Number(values.q), ef = String(Number(values.ef));
const clientCounts = values.clients!.split(',').map(Number);
const slices = Number(values.slices), sliceMs = Number(values.slice) * 1000;
const cores = os.availableParallelism();

async function start(pool: number | null): Promise<ServerProc> {
  const saved = process.env.UV_THREADPOOL_SIZE;
  if (pool === null) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = String(pool);
  try {
    return await startAstronaut();
  } finally {
    if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = saved;
  }
}

const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;

async function main(): Promise<void> {
  const ds = clustered(n, dim, q, 42);
  const vectors = blobs(ds.vectors, ds.n, ds.dim);
  const queries = blobs(ds.queries, ds.q, ds.dim);
  const variants: Array<{ name: string; server: ServerProc }> = [
    { name: `UV_THREADPOOL_SIZE=${cores}`, server: await start(cores) },
    { name: 'default (4)', server: await start(null) },
  ];
  try {
    for (const v of variants) {
      const admin = await connect(v.server.port);
      await admin.call('VEC.CREATE', 'bench:tp', 'DIM', String(dim), 'METRIC', 'COSINE', 'QUANT', 'F32', 'M', '16', 'EF_CONSTRUCTION', '128');
      // The question is the graph search, not the small-set exact scan.
      await admin.call('CONFIG', 'SET', 'vec-exact-search-below', '0');
      const loaders = await connectMany(v.server.port, 4);
      const t = Date.now();
      await pipelinedLoad(loaders, ds.n, 1000, (i) => ['VEC.ADD', 'bench:tp', String(i), 'FP32', vectors[i]]);
      closeAll(loaders);
      console.log(`   · ${v.name}: ${ds.n} × ${dim} loaded in ${((Date.now() - t) / 1000).toFixed(1)} s; ${threads(v.server.pid)} threads`);
      admin.disconnect();
    }
    const rows: string[][] = [];
    for (const c of clientCounts) {
      const conns = await Promise.all(variants.map((v) => connectMany(v.server.port, c)));
      const results: LoopResult[][] = variants.map(() => []);
      for (let s = 0; s < slices; s++) {
        const order = s % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) {
          results[i].push(await closedLoop(conns[i], {
            durationMs: sliceMs, warmupMs: s === 0 ? 1000 : 200, next: roundRobin(ds.q), serverPid: variants[i].server.pid,
            send: (cl, qi) => cl.callBuffer('VEC.SEARCH', 'bench:tp', 'FP32', queries[qi], 'COUNT', '10', 'EF', ef),
          }));
        }
      }
      conns.forEach(closeAll);
      variants.forEach((v, i) => {
        const r = results[i];
        const cpu = r.map((x) => x.serverCpu).filter((x) => x !== null);
        const total = cpu.reduce((a, x) => a + x!.total, 0), ops = r.reduce((a, x) => a + x.ops, 0);
        rows.push([String(c), v.name, fmtRate(median(r.map((x) => x.qps))), r.map((x) => fmtRate(x.qps)).join(' '),
          fmtUs(median(r.map((x) => x.p50Us))), fmtUs(median(r.map((x) => x.p99Us))), ((total / ops) * 1e6).toFixed(0),
          cpuText(cpu.length ? { ...cpu[0]!, main: cpu.reduce((a, x) => a + x!.main, 0), workers: cpu.reduce((a, x) => a + x!.workers, 0),
            total, seconds: cpu.reduce((a, x) => a + x!.seconds, 0), busyWorkers: Math.max(...cpu.map((x) => x!.busyWorkers)) } : null),
          String(threads(v.server.pid))]);
      });
    }
    printTable(`VEC.SEARCH ${ds.n} × ${dim} (cosine, F32, M 16), k 10, EF ${ef}: pool size, ${slices} alternating slices of ${sliceMs / 1000} s`,
      ['clients', 'server', 'QPS (median)', 'slices', 'p50', 'p99', 'CPU µs/query', 'cores: main + others (n)', 'threads'], rows,
      `load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${cores} cores`);
  } finally {
    for (const v of variants) await v.server.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});

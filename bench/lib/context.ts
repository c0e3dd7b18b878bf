/**
 * What every benchmark script receives: options, the run's environment, the
 * bar checks, a place for JSON results, and the shared 100k fixture (the data
 * set loaded into one Astronaut through the wire and into one stock usearch
 * index in process), built on first use. Loading the fixture *is* the ingest
 * measurement, so it is timed as such.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { clustered, blobs, type Dataset } from './data.js';
import { exactKnn, type Truth, type TruthMetric } from './truth.js';
import { startAstronaut, rssBytes, threadCpu, cpuBetween, type ServerProc, type CpuSplit } from './server.js';
import { buildStock, type StockBuild } from './baseline.js';
import { connect, connectMany, closeAll, pipelinedLoad } from './client.js';
import { Bars } from './report.js';
import { nowUs } from './stats.js';
import type { RunEnv } from './env.js';

export interface Options {
  quick: boolean;
  /** Base vectors of the main set. */
  n: number;
  dim: number;
  /** Queries (recall is averaged over them; throughput loops cycle through them). */
  q: number;
  k: number;
  seed: number;
  m: number;
  efConstruction: number;
  /** The server's default EF (VEC.CREATE without EF). */
  defaultEf: number;
  efs: number[];
  clients: number;
  /** Load generator for the search and latency loops (see RawConn). */
  driver: 'raw' | 'ioredis';
  durationMs: number;
  warmupMs: number;
  ingestConnections: number;
  ingestPipeline: number;
  pingRequests: number;
  pingRepeats: number;
  quantN: number;
  threads: number;
  /** The biggest cases too (stalls: BGSAVE of 1 M × 128 vectors). */
  big?: boolean;
}

export interface IngestFigures {
  n: number;
  server: { seconds: number; rate: number; cpu: CpuSplit; rssGrowth: number; clientCpuSeconds: number };
  stock: { seconds: number; rate: number; cpuSeconds: number; rssGrowth: number };
}

export interface Fixture {
  ds: Dataset;
  truth: Truth;
  server: ServerProc;
  key: string;
  vectorBlobs: Buffer[];
  queryBlobs: Buffer[];
  stock: StockBuild;
  ingest: IngestFigures;
  /** Set when the server's configuration was changed for this fixture (and why). */
  planNote: string;
  /** Sets `{"c": i % 100}` on every element (once). */
  ensurePayloads(): Promise<number>;
}

/** Bump when the data generator or the truth computation changes: cached truths are keyed by it. */
const DATA_VERSION = 1;

export class Context {
  readonly bars = new Bars();
  readonly results: Record<string, unknown> = {};
  private fixturePromise: Promise<Fixture> | null = null;
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  constructor(readonly opts: Options, readonly env: RunEnv) {}

  /** Exact k-NN, cached in the temp dir by data version, sizes, seed and metric (it is the slowest fixed cost). */
  async truthFor(ds: Dataset, metric: TruthMetric, tag = 'all', subset: Uint32Array | null = null): Promise<Truth> {
    const k = this.opts.k;
    const file = path.join(os.tmpdir(), `astronaut-bench-truth-v${DATA_VERSION}-${metric}-${tag}-${ds.n}x${ds.dim}-q${ds.q}-k${k}-s${ds.spec.seed}.bin`);
    if (existsSync(file)) {
      const buf = readFileSync(file);
      if (buf.length === ds.q * k * 8) {
        const ids = new Int32Array(ds.q * k), distances = new Float32Array(ds.q * k);
        new Uint8Array(ids.buffer).set(buf.subarray(0, ds.q * k * 4));
        new Uint8Array(distances.buffer).set(buf.subarray(ds.q * k * 4));
        return { k, ids, distances };
      }
    }
    const t = await exactKnn(metric, ds.vectors, ds.n, ds.queries, ds.q, ds.dim, k, subset);
    writeFileSync(file, Buffer.concat([Buffer.from(t.ids.buffer), Buffer.from(t.distances.buffer)]));
    return t;
  }

  fixture(): Promise<Fixture> {
    this.fixturePromise ??= this.buildFixture();
    return this.fixturePromise;
  }

  onDispose(fn: () => Promise<void> | void): void { this.cleanups.push(fn); }

  async dispose(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await fn();
    this.cleanups.length = 0;
  }

  /** Stop the fixture's server (later benchmarks want the cores and the memory). */
  async releaseFixture(): Promise<void> {
    if (!this.fixturePromise) return;
    const f = await this.fixturePromise.catch(() => null);
    await f?.server.stop();
  }

  private async buildFixture(): Promise<Fixture> {
    const o = this.opts;
    const log = (s: string) => console.log(`   · ${s}`);
    const t0 = nowUs();
    const ds = clustered(o.n, o.dim, o.q, o.seed);
    log(`data: ${o.n} × ${o.dim} clustered (${ds.spec.clusters} Gaussians), ${o.q} queries, seed ${o.seed} (${((nowUs() - t0) / 1e6).toFixed(1)} s)`);
    const t1 = nowUs();
    const truth = await this.truthFor(ds, 'cos');
    log(`exact ground truth (cosine, k ${o.k}): ${((nowUs() - t1) / 1e6).toFixed(1)} s`);
    const vectorBlobs = blobs(ds.vectors, ds.n, ds.dim);
    const queryBlobs = blobs(ds.queries, ds.q, ds.dim);

    const server = await startAstronaut();
    this.onDispose(() => server.stop());
    const key = 'bench:main';
    const admin = await connect(server.port);
    this.onDispose(() => { admin.disconnect(); });
    await admin.call('VEC.CREATE', key, 'DIM', String(o.dim), 'METRIC', 'COSINE', 'QUANT', 'F32', 'M', String(o.m), 'EF_CONSTRUCTION', String(o.efConstruction));
    // The server's default EF is whatever a set created without EF gets: read it back rather than assume it.
    const info = (await admin.call('VEC.INFO', key)) as unknown[];
    const ef = Number(info[info.indexOf('ef') + 1]);
    if (Number.isInteger(ef) && ef > 0) o.defaultEf = ef;
    // Small sets may be scanned exactly instead of walking the graph (vec-exact-search-below).
    // The questions here are about the HNSW graph at a given EF, and a --quick run should take
    // the same path as the full one, so the scan is switched off when this set would fall under it.
    const exactBelow = await configNumber(admin, 'vec-exact-search-below');
    let planNote = '';
    // The limit is an element count at EF 64, scaled by the search's EF (src/engine/vector-set.ts).
    const widestEf = Math.max(o.defaultEf, ...o.efs);
    if (exactBelow !== null && exactBelow > 0 && o.n * 64 <= exactBelow * widestEf) {
      await admin.call('CONFIG', 'SET', 'vec-exact-search-below', '0');
      planNote = `vec-exact-search-below ${exactBelow} (elements at EF 64, scaled by EF) covers this set of ${o.n} at EF ${widestEf}: set to 0 so searches walk the graph`;
      log(planNote);
    }
    const loaders = await connectMany(server.port, o.ingestConnections);
    const rss0 = rssBytes(server.pid);
    const cpuA = threadCpu(server.pid);
    const clientA = process.cpuUsage();
    const ts = nowUs();
    await pipelinedLoad(loaders, ds.n, o.ingestPipeline, (i) => ['VEC.ADD', key, String(i), 'FP32', vectorBlobs[i]]);
    const serverSeconds = (nowUs() - ts) / 1e6;
    const cpu = cpuBetween(server.pid, cpuA, threadCpu(server.pid), serverSeconds);
    const clientUse = process.cpuUsage(clientA);
    closeAll(loaders);
    const card = Number(await admin.call('VEC.CARD', key));
    if (card !== ds.n) throw new Error(`VEC.CARD says ${card} after loading ${ds.n}`);
    const rssGrowth = rssBytes(server.pid) - rss0;
    log(`server ingest: ${ds.n} VEC.ADD in ${serverSeconds.toFixed(1)} s`);

    const stockRss0 = rssBytes(process.pid);
    const stock = buildStock({ dim: o.dim, metric: 'cos', quantization: 'f32', m: o.m, efConstruction: o.efConstruction, ef: o.defaultEf },
      ds.vectors, ds.n, o.threads);
    // This process holds other things too, but nothing else allocates while the build runs.
    const stockRssGrowth = rssBytes(process.pid) - stockRss0;
    this.onDispose(() => stock.dispose());
    log(`stock usearch batch add: ${stock.seconds.toFixed(1)} s`);

    let payloads: Promise<number> | null = null;
    const ensurePayloads = () => {
      payloads ??= (async () => {
        const c = await connectMany(server.port, o.ingestConnections);
        const tp = nowUs();
        await pipelinedLoad(c, ds.n, o.ingestPipeline, (i) => ['VEC.SETPAYLOAD', key, String(i), `{"c":${i % 100}}`]);
        closeAll(c);
        return (nowUs() - tp) / 1e6;
      })();
      return payloads;
    };
    return {
      ds, truth, server, key, vectorBlobs, queryBlobs, stock, ensurePayloads, planNote,
      ingest: {
        n: ds.n,
        server: { seconds: serverSeconds, rate: ds.n / serverSeconds, cpu, rssGrowth, clientCpuSeconds: (clientUse.user + clientUse.system) / 1e6 },
        stock: { seconds: stock.seconds, rate: ds.n / stock.seconds, cpuSeconds: stock.cpuSeconds, rssGrowth: stockRssGrowth },
      },
    };
  }
}

/** A numeric CONFIG GET value, or null when the server has no such parameter. */
export async function configNumber(c: Redis, name: string): Promise<number | null> {
  try {
    const r = (await c.call('CONFIG', 'GET', name)) as string[];
    const at = r.indexOf(name);
    return at >= 0 ? Number(r[at + 1]) : null;
  } catch { return null; }
}

export type { Redis };

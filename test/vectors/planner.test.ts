/**
 * The search planner: past the scan/walk crossover it samples each set's own
 * queries both ways and walks the graph only where the walk finds what the scan
 * finds. Observed through VEC.INFO (`planner`, `planner_graph_recall`) and the
 * answers themselves.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { clusteredData, exactCosine, fp32, rowOf, seeded, normal } from '../helpers/data.js';

let srv: InProcess;
test.before(async () => { srv = await startInProcess(); });
test.after.always(async () => { await srv?.stop(); });

async function client(): Promise<Redis> {
  return new Redis({ port: srv.port, lazyConnect: true });
}

async function load(r: Redis, key: string, data: Float32Array, d: number): Promise<void> {
  const n = data.length / d;
  for (let s = 0; s < n; s += 1000) {
    const p = r.pipeline();
    for (let i = s; i < Math.min(n, s + 1000); i++) p.call('VEC.ADD', key, `${i}`, 'FP32', fp32(rowOf(data, d, i)));
    await p.exec();
  }
}

async function info(r: Redis, key: string): Promise<Record<string, string>> {
  const flat = await r.call('VEC.INFO', key) as unknown[];
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/** Mean recall@k of the server's answers against exact cosine. */
async function searchAll(r: Redis, key: string, data: Float32Array, d: number, queries: Float32Array, k: number): Promise<number> {
  let hit = 0;
  const q = queries.length / d;
  for (let i = 0; i < q; i++) {
    const qv = rowOf(queries, d, i);
    const ids = await r.call('VEC.SEARCH', key, 'FP32', fp32(qv), 'COUNT', k) as string[];
    const truth = new Set(exactCosine(data, d, qv, k).map(String));
    for (const id of ids) if (truth.has(id)) hit++;
  }
  return hit / (q * k);
}

test.serial('queries like the data: after sampling, the set is walked through the graph', async (t) => {
  const r = await client();
  const d = 32, n = 4000;
  const data = clusteredData(n, d, { clusters: 40, spread: 1.0, seed: 3 });
  await load(r, 'near', data, d);
  t.is((await info(r, 'near')).planner, 'sampling');
  // Queries: stored vectors nudged a little, the graph's easy case.
  const rand = seeded(5);
  const queries = new Float32Array(64 * d);
  for (let i = 0; i < 64; i++) for (let j = 0; j < d; j++) queries[i * d + j] = data[((i * 37) % n) * d + j] + 0.05 * normal(rand);
  const recall = await searchAll(r, 'near', data, d, queries, 10);
  const st = await info(r, 'near');
  t.log(`recall ${recall.toFixed(3)}, planner ${st.planner}, sampled graph recall ${st.planner_graph_recall}`);
  t.is(st.planner, 'graph');
  t.true(Number(st.planner_graph_recall) >= 0.95);
  t.true(recall >= 0.95);
  r.disconnect();
});

test.serial('queries far from the data: the walk misses, so the set is scanned and every answer is exact', async (t) => {
  const r = await client();
  const d = 64, n = 12000;
  const data = clusteredData(n, d, { clusters: 100, spread: 0.35, seed: 7 });
  await load(r, 'far', data, d);
  const queries = clusteredData(96, d, { clusters: 100, spread: 0.35, seed: 99 });
  // The first window of queries is answered by the scan while the walk is sampled.
  const recall = await searchAll(r, 'far', data, d, queries, 10);
  const st = await info(r, 'far');
  t.log(`recall ${recall.toFixed(3)}, planner ${st.planner}, sampled graph recall ${st.planner_graph_recall}`);
  t.is(st.planner, 'scan');
  t.true(Number(st.planner_graph_recall) < 0.95);
  t.is(recall, 1);
  r.disconnect();
});

test.serial('vec-planner-recall 0 walks without sampling; vec-planner-scan-max caps what is scanned; bad values refused', async (t) => {
  const r = await client();
  const d = 64, n = 3000;
  const data = clusteredData(n, d, { clusters: 100, spread: 0.35, seed: 11 });
  await load(r, 'cfg', data, d);
  const queries = clusteredData(20, d, { clusters: 100, spread: 0.35, seed: 12 });
  try {
    await r.call('CONFIG', 'SET', 'vec-planner-recall', '0');
    await searchAll(r, 'cfg', data, d, queries, 10);
    t.is((await info(r, 'cfg')).planner_graph_recall, '-');
    await r.call('CONFIG', 'SET', 'vec-planner-recall', '0.95', 'vec-planner-scan-max', '300');
    await searchAll(r, 'cfg', data, d, queries, 10);
    t.is((await info(r, 'cfg')).planner_graph_recall, '-', 'a set over 8 x vec-planner-scan-max is never sampled (a probe would scan it)');
    await r.call('CONFIG', 'SET', 'vec-planner-scan-max', '32768');
    await searchAll(r, 'cfg', data, d, queries, 10);
    t.not((await info(r, 'cfg')).planner_graph_recall, '-');
    await t.throwsAsync(r.call('CONFIG', 'SET', 'vec-planner-recall', '1.5'), { message: /ERR/ });
    await t.throwsAsync(r.call('CONFIG', 'SET', 'vec-planner-recall', 'nan'), { message: /ERR/ });
    await t.throwsAsync(r.call('CONFIG', 'SET', 'vec-planner-scan-max', '-1'), { message: /ERR/ });
    t.deepEqual(await r.call('CONFIG', 'GET', 'vec-planner-*'), ['vec-planner-recall', '0.95', 'vec-planner-scan-max', '32768']);
  } finally {
    await r.call('CONFIG', 'SET', 'vec-planner-recall', '0.95', 'vec-planner-scan-max', '32768');
    r.disconnect();
  }
});

test.serial('EXACT and a beam covering the set are scans whatever the planner learnt; a narrower EF is walked', async (t) => {
  const r = await client();
  const d = 16, n = 2000;
  const data = clusteredData(n, d, { clusters: 10, spread: 0.5, seed: 21 });
  await load(r, 'opt', data, d);
  const qv = rowOf(clusteredData(1, d, { seed: 22 }), d, 0);
  const truth = exactCosine(data, d, qv, 10).map(String);
  t.deepEqual(await r.call('VEC.SEARCH', 'opt', 'FP32', fp32(qv), 'COUNT', 10, 'EXACT'), truth);
  t.deepEqual(await r.call('VEC.SEARCH', 'opt', 'FP32', fp32(qv), 'COUNT', 10, 'EF', n), truth);
  const narrow = await r.call('VEC.SEARCH', 'opt', 'FP32', fp32(qv), 'COUNT', 10, 'EF', 10) as string[];
  t.is(narrow.length, 10);
  t.is((await info(r, 'opt')).planner_graph_recall, '-', 'none of these was a sample');
  r.disconnect();
});

test.serial('a set too large to scan whose walk misses gets a wider beam until it finds what the scan finds', async (t) => {
  const r = await client();
  const d = 64, n = 6000;
  const data = clusteredData(n, d, { clusters: 100, spread: 0.25, seed: 31 });
  await load(r, 'wide', data, d);
  const queries = clusteredData(200, d, { clusters: 100, spread: 0.25, seed: 32 });
  try {
    await r.call('CONFIG', 'SET', 'vec-planner-scan-max', '1000'); // 6 k elements: too large to scan, not to sample
    const first = await searchAll(r, 'wide', data, d, queries.subarray(0, 120 * d), 10); // sampling, widening
    const st = await info(r, 'wide');
    const after = await searchAll(r, 'wide', data, d, queries.subarray(120 * d), 10);
    t.log(`recall while sampling ${first.toFixed(3)}, after ${after.toFixed(3)}; planner ${st.planner}, beam ${st.planner_ef}, sampled ${st.planner_graph_recall}`);
    t.true(Number(st.planner_ef) > 64, 'the beam was widened');
    // The planner aims at vec-planner-recall (0.95) on average; 80 unseen queries estimate a
    // mean of 0.95 give or take ~0.02 (per-query recall spreads ~0.1 here), so a beam right on
    // target reads 0.949 as often as 0.951: a bar at the target itself failed CI and 1 run in 8.
    t.true(after >= 0.93, `recall ${after}`);
    // An explicit EF is the caller's: the same queries at EF 64 walk exactly that beam.
    let hit = 0;
    for (let i = 120; i < 200; i++) {
      const qv = rowOf(queries, d, i);
      const ids = await r.call('VEC.SEARCH', 'wide', 'FP32', fp32(qv), 'COUNT', 10, 'EF', 64) as string[];
      const truth = new Set(exactCosine(data, d, qv, 10).map(String));
      for (const id of ids) if (truth.has(id)) hit++;
    }
    t.log(`EF 64 given: ${(hit / 800).toFixed(3)}`);
    t.true(hit / 800 < after, `EF 64 given: ${(hit / 800).toFixed(3)}`);
  } finally {
    await r.call('CONFIG', 'SET', 'vec-planner-scan-max', '32768');
    r.disconnect();
  }
});

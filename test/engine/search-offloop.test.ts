/**
 * No search does work proportional to the set on the event loop: wide beams, big COUNTs, long
 * exact scans of filter matches and the first evaluation of a new filter all leave the loop
 * free. Before, a lone search ran inline whatever its EF (EF 1e6 on 200 k held the loop 1 s),
 * a scan of all the matches of a filter ran inline however many there were, and a new filter
 * was evaluated over every payload in one go.
 *
 * How "off the loop" is observed without timing: the queue starts a search from a setImmediate
 * callback; one queued by the test right after the search runs in the same check phase. An
 * inline search has settled by then, one handed to a worker (or sliced over turns) has not.
 */
import test from 'ava';
import { VectorSet, type Hit, type SetParams } from '../../src/engine/vector-set.js';
import { compileFilter } from '../../src/engine/filter.js';
import { GraphTrust } from '../../src/engine/graph-trust.js';
import { seeded, normal } from '../helpers/data.js';

const DIM = 32;
const N = 6000;

function params(): SetParams {
  return { dim: DIM, metric: 'L2', quant: 'F32', m: 16, efConstruction: 64, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };
}

const rand = seeded(11);
const data = Array.from({ length: N }, () => Float32Array.from({ length: DIM }, () => normal(rand)));
const tenant = (i: number) => i % 2; // half the elements match `.tenant == 1`
const set = new VectorSet(params());
const small = new VectorSet(params());
test.before(async () => {
  data.forEach((v, i) => set.add(`e${i}`, v, JSON.stringify({ tenant: tenant(i), i })));
  for (let i = 0; i < 200; i++) small.add(`e${i}`, data[i], undefined);
  await Promise.all([set.idle(), small.idle()]);
});
test.after.always(async () => { await Promise.all([set.dispose(), small.dispose()]); });

/** Whether `run()`'s search was still pending once the event loop turned after it. */
async function offLoop<T>(run: () => T | Promise<T>): Promise<{ off: boolean; result: T }> {
  let settled = false;
  const p = Promise.resolve(run());
  p.then(() => { settled = true; }, () => { settled = true; });
  await new Promise((r) => setImmediate(r));
  const off = !settled;
  return { off, result: await p };
}

function bruteForce(q: Float32Array, keep: (i: number) => boolean): Array<{ id: string; d: number }> {
  const out: Array<{ id: string; d: number }> = [];
  data.forEach((v, i) => {
    if (!keep(i)) return;
    let d = 0;
    for (let j = 0; j < DIM; j++) d += (v[j] - q[j]) ** 2;
    out.push({ id: `e${i}`, d });
  });
  return out.sort((a, b) => a.d - b.d);
}

const ids = (hits: Hit[]) => hits.map((h) => h.id);

test.serial('control: a cheap search runs inline (the probe can tell)', async (t) => {
  const { off, result } = await offLoop(() => small.search(data[3], { k: 3, ef: 16 }));
  t.false(off);
  t.is(result[0].id, 'e3');
});

test.serial('EF 1e6 runs off the loop and is answered as an exact search', async (t) => {
  const { off, result } = await offLoop(() => set.search(data[42], { k: 10, ef: 1_000_000 }));
  t.true(off);
  t.deepEqual(ids(result), bruteForce(data[42], () => true).slice(0, 10).map((x) => x.id));
});

test.serial('a wide graph walk (EF 2000) and a big COUNT run off the loop', async (t) => {
  const saved = VectorSet.exactBelow;
  VectorSet.exactBelow = 0; // walk the graph unless EF covers the set
  try {
    const wide = await offLoop(() => set.search(data[7], { k: 10, ef: 2000 }));
    t.true(wide.off);
    t.is(wide.result[0].id, 'e7');
    const many = await offLoop(() => set.search(data[8], { k: 5000, ef: 64 }));
    t.true(many.off);
    t.is(many.result.length, 5000);
    t.is(many.result[0].id, 'e8');
    t.true(many.result.every((h, i) => i === 0 || h.distance >= many.result[i - 1].distance));
  } finally {
    VectorSet.exactBelow = saved;
  }
});

test.serial('an exact scan of 3000 filter matches runs off the loop, with the right answer', async (t) => {
  const filter = compileFilter('.tenant == 1');
  await set.search(data[0], { k: 1, ef: 64, filter }); // the filter is cached from here on
  const { off, result } = await offLoop(() => set.search(data[100], { k: 20, ef: 64, filter, exact: true }));
  t.true(off);
  t.deepEqual(ids(result), bruteForce(data[100], (i) => tenant(i) === 1).slice(0, 20).map((x) => x.id));
});

test.serial('a new filter is evaluated over the payloads in slices, and payload changes during the scan are honoured', async (t) => {
  const filter = compileFilter('.i >= 0 and .i < 6000 and .tenant == 0');
  const search = offLoop(() => set.search(data[5000], { k: 10, ef: 64, filter, exact: true }));
  // Same turn, after the first slice: one change below the scan's cursor, one above it.
  set.setPayload('e10', JSON.stringify({ tenant: 1, i: 10 }));      // was a match
  set.setPayload('e5001', JSON.stringify({ tenant: 0, i: 5001 }));  // was not
  const { off, result } = await search;
  t.true(off, 'the scan did not run in one go');
  const now = (i: number) => (i === 10 ? false : i === 5001 ? true : tenant(i) === 0);
  t.deepEqual(ids(result), bruteForce(data[5000], now).slice(0, 10).map((x) => x.id));
  // The cached bitmap is exact: a search over every match finds exactly the matching ids.
  const all = await set.search(data[0], { k: N, ef: 64, filter, exact: true });
  t.deepEqual(new Set(ids(all)), new Set(bruteForce(data[0], now).map((x) => x.id)));
  set.setPayload('e10', JSON.stringify({ tenant: 0, i: 10 }));
  set.setPayload('e5001', JSON.stringify({ tenant: 1, i: 5001 }));
});

test.serial('many cheap searches of one turn: answered by the team a budget per turn, in order with writes', async (t) => {
  // 300 walks at EF 64 (32 × 64 × 4 bytes of beam each; EF given, so the planner keeps it)
  // exceed one turn's team budget, so they are answered over several turns; every one must
  // still equal a lone search, and a write queued among them must be seen exactly by the
  // searches queued after it.
  const queries = Array.from({ length: 300 }, () => Float32Array.from({ length: DIM }, () => normal(rand)));
  // The planner off: it would answer a sample of the searches with exact scans.
  const target = GraphTrust.target;
  GraphTrust.target = 0;
  t.teardown(() => { GraphTrust.target = target; });
  const alone: string[][] = [];
  for (const q of queries) alone.push(ids(await set.search(q, { k: 5, ef: 64, efGiven: true })));
  const fresh = 'team-order';
  const near = queries[250];
  const turns: number[] = [];
  let turn = 0;
  const counter = () => { turn++; if (turn < 1000) setImmediate(counter); };
  setImmediate(counter);
  const pending = queries.map((q, i) => Promise.resolve(set.search(q, { k: 5, ef: 64, efGiven: true })).then((h) => { turns[i] = turn; return h; }));
  const added = set.add(fresh, near, undefined);
  const after = Promise.resolve(set.search(near, { k: 1, ef: 64, efGiven: true }));
  const hits = await Promise.all(pending);
  await added.done;
  hits.forEach((h, i) => t.deepEqual(ids(h), alone[i], `query ${i}`));
  t.false(hits[250].some((h) => h.id === fresh), 'a search queued before the add does not see it');
  t.deepEqual(ids(await after), [fresh], 'a search queued after the add sees it');
  t.true(Math.max(...turns) > Math.min(...turns), 'the searches were spread over several turns');
  t.is(set.remove([fresh]), 1);
  await set.idle();
});

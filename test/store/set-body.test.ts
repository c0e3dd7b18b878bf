/** A vector set's snapshot body: what encodeSetState streams, decodeSetState reads back, whatever the chunking. */
import test from 'ava';
import { decodeSetState, encodeSetState } from '../../src/store/format/set-body.js';
import { IdTable } from '../../src/engine/id-store.js';
import type { SetParams, VectorSetState } from '../../src/engine/vector-set.js';

const params: SetParams = { dim: 4, metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 32, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };

function sample(n: number): { state: VectorSetState; ids: Array<string | undefined> } {
  const ids = new Array<string | undefined>(n);
  const state: VectorSetState = { params, nextSlot: n, tombstones: 3, ids: IdTable.fromArray([]), payloads: [], scales: new Float32Array(n), zero: [7, 11] };
  for (let s = 0; s < n; s++) {
    state.scales![s] = s / 7;
    if (s % 10 === 3) continue; // a free slot
    ids[s] = s % 997 === 0 ? `\u0000\u00ff${s}\r\n` : `e${s}`;
    if (s % 5 === 0) state.payloads[s] = s === 5000 ? 'é'.repeat(100_000) : `{"c":${s % 100},"t":"日本"}`;
  }
  state.ids = IdTable.fromArray(ids, n);
  return { state, ids };
}

const idsOf = (t: IdTable) => Array.from({ length: t.nextSlot }, (_, s) => t.idAt(s));
const payloadsOf = (st: VectorSetState) => Array.from({ length: st.nextSlot }, (_, s) => st.payloads[s]);

test('encode → decode keeps every live slot: binary ids, UTF-8 and oversized payloads, scales, zero vectors, gaps', (t) => {
  const n = 50_000;
  const { state, ids } = sample(n);
  const chunks = [...encodeSetState(state)];
  t.true(chunks.length >= 5, `${chunks.length} chunks`);
  const back = decodeSetState(Buffer.concat(chunks));
  t.is(back.nextSlot, n);
  t.is(back.tombstones, 3);
  t.deepEqual(back.params, params);
  t.deepEqual(idsOf(back.ids), ids);
  t.is(back.ids.count(), ids.filter((x) => x !== undefined).length);
  t.deepEqual(payloadsOf(back), payloadsOf(state));
  t.deepEqual([...back.scales!], [...state.scales!]);
  t.deepEqual(back.zero.sort((a, b) => a - b), [7, 11]);
});

test('ids scattered in the arena (as churn leaves them) are packed in slot order', (t) => {
  // Offsets out of slot order and with garbage between them: what IdStore.freeze hands over after replacements.
  const bytes = Buffer.from('xxBBxAAAyyC');
  const table = new IdTable(4, Uint32Array.from([5, 2, 0, 10]), Int32Array.from([3, 2, -1, 1]), bytes);
  const state: VectorSetState = { params, nextSlot: 4, tombstones: 0, ids: table, payloads: [], scales: null, zero: [] };
  const back = decodeSetState(Buffer.concat([...encodeSetState(state)]));
  t.deepEqual(idsOf(back.ids), ['AAA', 'BB', undefined, 'C']);
});

/** Layout 1, as builds before the compact id store wrote it: one record per live slot. */
function layoutOne(state: VectorSetState, ids: Array<string | undefined>): Buffer {
  const header = Buffer.from(JSON.stringify({ params, nextSlot: state.nextSlot, tombstones: state.tombstones, count: ids.filter((x) => x !== undefined).length, hasScales: true }));
  const parts = [Buffer.alloc(4), header];
  parts[0].writeUInt32LE(header.length);
  for (let s = 0; s < state.nextSlot; s++) {
    const id = ids[s];
    if (id === undefined) continue;
    const p = state.payloads[s];
    const rec = Buffer.alloc(8 + id.length + 5);
    rec.writeUInt32LE(s, 0); rec.writeUInt32LE(id.length, 4); rec.write(id, 8, 'latin1');
    rec.writeFloatLE(state.scales![s], 8 + id.length);
    rec[8 + id.length + 4] = (state.zero.includes(s) ? 1 : 0) | (p !== undefined ? 2 : 0);
    parts.push(rec);
    if (p !== undefined) { const b = Buffer.from(p); const l = Buffer.alloc(4); l.writeUInt32LE(b.length); parts.push(l, b); }
  }
  return Buffer.concat(parts);
}

test('a layout 1 body (older snapshots, DUMP payloads) still decodes', (t) => {
  const { state, ids } = sample(2000);
  const back = decodeSetState(layoutOne(state, ids));
  t.deepEqual(idsOf(back.ids), ids);
  t.deepEqual(payloadsOf(back), payloadsOf(state));
  t.is(back.scales![5], state.scales![5]);
  t.deepEqual(back.zero.sort((a, b) => a - b), [7, 11]);
});

test('a set without scales or elements round-trips', (t) => {
  const empty: VectorSetState = { params, nextSlot: 0, tombstones: 0, ids: IdTable.fromArray([]), payloads: [], scales: null, zero: [] };
  const back = decodeSetState(Buffer.concat([...encodeSetState(empty)]));
  t.is(back.nextSlot, 0);
  t.is(back.scales, null);
});

test('a truncated, padded or inconsistent body is refused, never half-read', (t) => {
  const { state } = sample(300);
  const whole = Buffer.concat([...encodeSetState(state)]);
  for (const cut of [10, 200, 1500, whole.length - 1]) {
    t.throws(() => decodeSetState(whole.subarray(0, cut)), { message: /malformed|JSON/ }, `cut at ${cut}`);
  }
  t.throws(() => decodeSetState(Buffer.concat([whole, Buffer.from([0])])), { message: /trailing/ });
  // An id length that no longer adds up to the id bytes.
  const headerLength = whole.readUInt32LE(0);
  const bad = Buffer.from(whole);
  bad.writeInt32LE(9999, 4 + headerLength);
  t.throws(() => decodeSetState(bad), { message: /malformed/ });
});

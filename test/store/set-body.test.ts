/** A vector set's snapshot body: what encodeSetState streams, decodeSetState reads back, whatever the chunking. */
import test from 'ava';
import { decodeSetState, encodeSetState } from '../../src/store/format/set-body.js';
import type { SetParams, VectorSetState } from '../../src/engine/vector-set.js';

const params: SetParams = { dim: 4, metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 32, ef: 64, explicit: true, projectInputDim: 0, family: 'vec' };

test('encode → decode keeps every live slot: binary ids, UTF-8 and oversized payloads, scales, zero vectors, gaps', (t) => {
  const n = 50_000;
  const state: VectorSetState = {
    params, nextSlot: n, tombstones: 3, ids: new Array(n), payloads: new Array(n), scales: new Float32Array(n), zero: [7, 11],
  };
  for (let s = 0; s < n; s++) {
    if (s % 10 === 3) continue; // a free slot
    state.ids[s] = s % 997 === 0 ? `\u0000\u00ff${s}\r\n` : `e${s}`;
    if (s % 5 === 0) state.payloads[s] = s === 5000 ? 'é'.repeat(100_000) : `{"c":${s % 100},"t":"日本"}`;
    state.scales![s] = s / 7;
  }
  const chunks = [...encodeSetState(state)];
  t.true(chunks.length > 10, `${chunks.length} chunks`);
  const back = decodeSetState(Buffer.concat(chunks));
  t.is(back.nextSlot, n);
  t.is(back.tombstones, 3);
  t.deepEqual(back.params, params);
  t.deepEqual(back.ids, state.ids);
  t.deepEqual(back.payloads, state.payloads);
  t.deepEqual([...back.scales!], [...state.scales!].map((x, s) => (state.ids[s] === undefined ? 0 : x)));
  t.deepEqual(back.zero.sort((a, b) => a - b), [7, 11]);
});

test('a set without scales or elements round-trips', (t) => {
  const empty: VectorSetState = { params, nextSlot: 0, tombstones: 0, ids: [], payloads: [], scales: null, zero: [] };
  const back = decodeSetState(Buffer.concat([...encodeSetState(empty)]));
  t.is(back.nextSlot, 0);
  t.is(back.scales, null);
});

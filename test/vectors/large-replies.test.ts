/**
 * A search reply longer than REPLY_SLICE hits is encoded in slices, across
 * event-loop turns. It must be the reply the one-go path would give: same
 * shape in RESP2 and RESP3, every id with its own score and payload.
 */
import test from 'ava';
import { startInProcess, type InProcess } from '../helpers/server.js';
import { RawConn } from '../helpers/oracle.js';
import { parseAll, type RespValue } from '../helpers/resp-check.js';
import { REPLY_SLICE } from '../../src/vectors/vec-commands.js';

const N = REPLY_SLICE + 1808; // 10 000: the sliced path, with a part slice at the end
let srv: InProcess;
test.before(async () => {
  srv = await startInProcess();
  const c = await RawConn.connect(srv.port);
  await c.send(['VEC.CREATE', 'big', 'DIM', '4', 'METRIC', 'COSINE']);
  // Distinct directions, so the exact order has no ties.
  for (let i = 0; i < N; i++) {
    const a = (i / N) * Math.PI;
    await c.send(['VEC.ADD', 'big', `e${i}`, 'VALUES', '4', String(Math.cos(a)), String(Math.sin(a)), '0.25', '0', 'PAYLOAD', `{"i":${i}}`]);
  }
  c.close();
});
test.after.always(async () => { await srv.stop(); });

const one = (bytes: Buffer): RespValue => { const all = parseAll(bytes); if (all.length !== 1) throw new Error(`${all.length} values`); return all[0]; };
const text = (v: RespValue): string => (v.type === 'bulk' ? v.value.toString() : `<${v.type}>`);
const num = (v: RespValue): number => (v.type === 'double' ? v.value : Number(text(v)));

for (const proto of [2, 3] as const) {
  test(`RESP${proto}: COUNT past the slice size gives every hit once, ids with their own scores and payloads, in order`, async (t) => {
    const c = await RawConn.connect(srv.port);
    try {
      if (proto === 3) await c.send(['HELLO', '3']);
      const query = ['VEC.SEARCH', 'big', 'VALUES', '4', '1', '0', '0.25', '0', 'EXACT'];
      const rows = (v: RespValue): Array<[string, number, string]> => {
        if (proto === 3) {
          if (v.type !== 'map') throw new Error(v.type);
          return v.value.map(([k, val]) => {
            if (val.type !== 'array') throw new Error(val.type);
            return [text(k), num(val.value[0]), text(val.value[1])];
          });
        }
        if (v.type !== 'array') throw new Error(v.type);
        const out: Array<[string, number, string]> = [];
        for (let i = 0; i < v.value.length; i += 3) out.push([text(v.value[i]), num(v.value[i + 1]), text(v.value[i + 2])]);
        return out;
      };
      const all = rows(one(await c.send([...query, 'COUNT', String(N), 'WITHSCORES', 'WITHPAYLOADS'])));
      t.is(all.length, N);
      t.is(new Set(all.map((r) => r[0])).size, N, 'every id once');
      t.true(all.every(([id, , p]) => p === `{"i":${id.slice(1)}}`), 'each id with its own payload');
      t.true(all.every((r, i) => i === 0 || all[i - 1][1] <= r[1]), 'scores in order');
      // The one-go path (under the slice size) agrees on the common prefix.
      const head = rows(one(await c.send([...query, 'COUNT', '5000', 'WITHSCORES', 'WITHPAYLOADS'])));
      t.deepEqual(all.slice(0, 5000), head);
      // Ids alone: a plain array in both protocols.
      const ids = one(await c.send([...query, 'COUNT', String(N)]));
      t.is(ids.type, 'array');
      t.deepEqual((ids as { value: RespValue[] }).value.map(text), all.map((r) => r[0]));
      // Scores alone (RESP3: id → score).
      const scores = one(await c.send([...query, 'COUNT', String(N), 'WITHSCORES']));
      const flat = proto === 3 ? (scores as { value: Array<[RespValue, RespValue]> }).value.flat() : (scores as { value: RespValue[] }).value;
      t.is(flat.length, 2 * N);
      t.deepEqual(flat.filter((_, i) => i % 2 === 0).map(text), all.map((r) => r[0]));
    } finally { c.close(); }
  });
}

import test from 'ava';
import { ShardedMap } from '../../src/engine/sharded-map.js';

test('get/set/has/delete and size across shards, overwrites not double-counted', (t) => {
  const m = new ShardedMap<number>();
  for (let i = 0; i < 5000; i++) m.set(`k:${i}`, i);
  for (let i = 0; i < 5000; i += 2) m.set(`k:${i}`, -i);
  t.is(m.size, 5000);
  t.is(m.get('k:42'), -42);
  t.is(m.get('k:43'), 43);
  t.true(m.has('k:4999'));
  t.false(m.has('k:5000'));
  t.true(m.delete('k:43'));
  t.false(m.delete('k:43'));
  t.false(m.delete('never'));
  t.is(m.size, 4999);
  t.is(m.get('k:43'), undefined);
  // Binary-safe keys (latin1, one char per byte), the empty key included.
  m.set('', 1);
  m.set('\x00\xff', 2);
  t.is(m.get(''), 1);
  t.is(m.get('\x00\xff'), 2);
  t.is(m.size, 5001);
});

test('iteration reaches every key once, values and entries agree, forEach sees the same pairs', (t) => {
  const m = new ShardedMap<string>();
  const want = new Map<string, string>();
  for (let i = 0; i < 3000; i++) { m.set(`key-${i}`, `v${i}`); want.set(`key-${i}`, `v${i}`); }
  const sorted = (it: Iterable<[string, string]>) => [...it].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  t.deepEqual(sorted(m.entries()), sorted(want));
  t.deepEqual([...m.keys()].sort(), [...want.keys()].sort());
  t.deepEqual([...m.values()].sort(), [...want.values()].sort());
  const seen = new Map<string, string>();
  m.forEach((v, k) => seen.set(k, v));
  t.deepEqual(sorted(seen), sorted(want));
  t.is([...m].length, 3000);
});

test('a walk is live: keys deleted before it reaches them are skipped, keys present throughout are reached once', (t) => {
  const m = new ShardedMap<number>();
  for (let i = 0; i < 2000; i++) m.set(`k${i}`, i);
  const it = m.keys();
  const seen = new Set<string>();
  let steps = 0;
  for (let r = it.next(); r.done !== true; r = it.next()) {
    t.false(seen.has(r.value), `reached twice: ${r.value}`);
    seen.add(r.value);
    // Mid-walk: delete keys ahead and behind, add new ones (each key < 1000 deleted after 100 steps).
    if (++steps === 100) for (let i = 0; i < 1000; i++) m.delete(`k${i}`);
    if (steps === 150) for (let i = 2000; i < 2500; i++) m.set(`k${i}`, i);
  }
  for (let i = 1000; i < 2000; i++) t.true(seen.has(`k${i}`), `k${i} was present throughout`);
  for (const k of seen) if (+k.slice(1) < 1000) t.true(steps >= 100, k);
  // Of the deleted keys, only those reached in the first 100 steps were seen.
  t.is([...seen].filter((k) => +k.slice(1) < 1000).length <= 100, true);
});

test('a shard made after a walk began is walked too', (t) => {
  const m = new ShardedMap<number>();
  m.set('first', 1);
  const it = m.keys();
  t.is(it.next().value, 'first');
  for (let i = 0; i < 1000; i++) m.set(`later${i}`, i);
  let n = 0;
  for (let r = it.next(); r.done !== true; r = it.next()) n++;
  // Shards after 'first''s are new or grew: the walk reaches what lies ahead of it, never more than was added.
  t.true(n > 0 && n <= 1000, `${n}`);
});

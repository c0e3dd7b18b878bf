import test from 'ava';
import { PieceRing } from '../../src/replication/piece-ring.js';

test('a piece ring makes at most its count of buffers, then hands out only what was given back', async (t) => {
  const ring = new PieceRing(2, 1024);
  const a = await ring.take(1024), b = await ring.take(512);
  t.is(a.length, 1024);
  t.is(b.length, 1024, 'a ring buffer is the ring size, at least what was asked');
  t.not(a.buffer, b.buffer);
  let third: Buffer | null = null;
  const waiting = Promise.resolve(ring.take(1024)).then((x) => { third = x; });
  await new Promise((r) => setImmediate(r));
  t.is(third, null, 'all buffers are out: the next waits');
  ring.give(Buffer.alloc(16)); // not one of the ring's: nothing happens
  await new Promise((r) => setImmediate(r));
  t.is(third, null);
  ring.give(b.subarray(100, 200)); // a view of a ring buffer frees that buffer
  await waiting;
  t.is(third!.buffer, b.buffer);
  t.is((await ring.take(4096)).length, 4096, 'larger than the ring was made for: a buffer of its own');
});

test('closing a piece ring fails whoever waits, and every take after', async (t) => {
  const ring = new PieceRing(1, 64);
  const a = await ring.take(64);
  const waiting = ring.take(64);
  ring.close(new Error('replica gone'));
  await t.throwsAsync(async () => { await waiting; }, { message: 'replica gone' });
  await t.throwsAsync(async () => { await ring.take(64); }, { message: 'replica gone' });
  ring.give(a); // harmless after close
});

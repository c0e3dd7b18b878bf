/**
 * The SLOWLOG store on its own: a burst of slow commands in one task keeps the
 * newest max-len, copied and cut, as entries pushed one by one would.
 */
import test from 'ava';
import { SlowLog } from '../../src/ops/slowlog.js';

const client = { addr: '127.0.0.1:1', name: 'c' };
const argvOf = (i: number) => [Buffer.from('VEC.ADD'), Buffer.from('k'), Buffer.from(`id${i}`), Buffer.alloc(512, i & 0xff)];

test('a burst in one task keeps the newest max-len entries, newest first, cut and copied', async (t) => {
  const log = new SlowLog();
  const argvs = Array.from({ length: 10_000 }, (_, i) => argvOf(i));
  for (const argv of argvs) log.push(argv, 20_000, client, 10_000, 128);
  const entries = log.entries;
  t.is(entries.length, 128);
  t.deepEqual(entries.map((e) => e.id), Array.from({ length: 128 }, (_, i) => 9_999 - i));
  t.is(entries[0].argv[2].toString(), 'id9999');
  t.is(entries[0].argv[3].length, 128 + '... (384 more bytes)'.length, 'a long argument is cut as Redis cuts it');
  argvs[9_999][2].write('XX');
  t.is(entries[0].argv[2].toString(), 'id9999', 'the arguments were copied');
  // The next task's entries go in front; the list stays at max-len.
  await new Promise((r) => setImmediate(r));
  log.push(argvOf(-1), 20_000, client, 10_000, 128);
  log.push(argvOf(-2), 5_000, client, 10_000, 128); // under the threshold
  await Promise.resolve();
  t.is(log.entries.length, 128);
  t.deepEqual(log.entries.slice(0, 2).map((e) => e.id), [10_000, 9_999]);
});

test('RESET drops what the current task recorded too; max-len 0 keeps nothing; negative threshold logs nothing', (t) => {
  const log = new SlowLog();
  for (let i = 0; i < 10; i++) log.push(argvOf(i), 1, client, 0, 128);
  log.reset();
  t.is(log.entries.length, 0);
  for (let i = 0; i < 10; i++) log.push(argvOf(i), 1, client, 0, 0);
  t.is(log.entries.length, 0);
  log.push(argvOf(0), 1e9, client, -1, 128);
  t.is(log.entries.length, 0);
  log.push(argvOf(1), 1, client, 0, 128);
  t.deepEqual(log.entries.map((e) => e.id), [20], 'ids keep counting across resets, as Redis\'s do');
});

/**
 * The WAL's command record: encodeCommands and the writer a batch builds it
 * with a write at a time give the same bytes, and decodeCommands reads them back.
 */
import test from 'ava';
import fc from 'fast-check';
import { CommandRecordWriter, decodeCommands, encodeCommands, encodedCommandsSize, type LoggedCommand } from '../../src/store/format/command-record.js';

const entriesArb = fc.array(
  fc.tuple(fc.nat({ max: 15 }), fc.array(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 5 })),
  { maxLength: 30 },
) as fc.Arbitrary<LoggedCommand[]>;

test('a record written a command at a time is encodeCommands\' bytes, whatever the writer was sized for', (t) => {
  fc.assert(fc.property(entriesArb, fc.nat({ max: 64 }), (entries, capacity) => {
    const w = new CommandRecordWriter(capacity); // usually too small: it grows
    for (const [db, argv] of entries) w.add(db, argv);
    const bytes = w.finish();
    const whole = encodeCommands(entries);
    return w.count === entries.length && bytes.equals(whole) && whole.length === encodedCommandsSize(entries.map((e) => e[1]))
      && JSON.stringify(decodeCommands(bytes)) === JSON.stringify(entries);
  }), { numRuns: 500 });
  t.deepEqual(decodeCommands(new CommandRecordWriter(0).finish()), []);
});

test('the bytes are copies: the arguments\' buffers may be reused once a command is added', (t) => {
  const arg = Buffer.from('VEC.ADD');
  const w = new CommandRecordWriter(encodedCommandsSize([[arg]]));
  w.add(3, [arg]);
  arg.fill(0);
  t.deepEqual(decodeCommands(w.finish()), [[3, [Buffer.from('VEC.ADD')]]]);
});

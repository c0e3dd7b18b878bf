import test from 'ava';
import fc from 'fast-check';
import { crc32c, crc32cAsync, crc32cJs, crc32cImplementationName, setCrc32cImplementation } from '../../src/store/crc32c.js';

/** Bit-at-a-time reference, independent of the table code. */
function bitwise(buf: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('check value: "123456789" → 0xE3069283', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('known vectors (RFC 3720 B.4)', (t) => {
  t.is(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  t.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  t.is(crc32c(new Uint8Array(0)), 0);
});

test('matches the bitwise reference on random input, any length and alignment', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), fc.nat(), (bytes, skip, seed) => {
      const view = bytes.subarray(Math.min(skip, bytes.length));
      return crc32cJs(view, seed >>> 0) === bitwise(view, seed >>> 0);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('chaining through seed equals one pass over the concatenation', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
      return crc32c(b, crc32c(a)) === crc32c(Buffer.concat([a, b]));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('crc32cAsync equals crc32c on a multi-chunk buffer', async (t) => {
  const big = Buffer.alloc(3 * (1 << 20) + 12345);
  for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
  t.is(await crc32cAsync(big), crc32c(big));
  t.is(await crc32cAsync(big, 77), crc32c(big, 77));
});

test('setCrc32cImplementation accepts a correct one, rejects a wrong one, resets with null', async (t) => {
  let calls = 0;
  setCrc32cImplementation({
    name: 'counting',
    crc32c: (b, s) => {
      calls++;
      return crc32cJs(b, s);
    },
    crc32cAsync: async (b, s) => crc32cJs(b, s),
  });
  t.is(crc32cImplementationName(), 'counting');
  const before = calls;
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.true(calls > before);
  t.is(await crc32cAsync(Buffer.from('123456789')), 0xe3069283);
  t.throws(() => setCrc32cImplementation({ name: 'broken', crc32c: (b) => b.length }), { message: /check value/ });
  t.throws(() => setCrc32cImplementation({ name: 'noseed', crc32c: (b) => crc32cJs(b) }), { message: /disagrees/ });
  t.is(crc32cImplementationName(), 'counting');
  setCrc32cImplementation(null);
  t.is(crc32cImplementationName(), 'js-slicing-by-8');
});

import test from 'ava';
import fc from 'fast-check';
import { ArgError, NOT_AN_INTEGER } from '../../src/errors.js';
import {
  isKeyword, parseFiniteDouble, parseFloat32, parseInteger, parseIntegerInRange,
} from '../../src/core/numbers.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const FLT_MAX = 3.4028234663852886e38;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------- parseInteger

const INTEGERS: [string, number][] = [
  ['0', 0], ['1', 1], ['-1', -1], ['7', 7], ['10', 10], ['123456', 123456], ['-987654321', -987654321],
  ['9007199254740991', 9007199254740991], ['-9007199254740991', -9007199254740991],
  ['1000000000000000', 1e15],
];
for (const [text, value] of INTEGERS) {
  test(`parseInteger accepts ${JSON.stringify(text)}`, (t) => {
    t.is(parseInteger(b(text)), value);
  });
}

const NOT_INTEGERS = [
  '', '-', '+', '+1', '+0', ' 1', '1 ', ' ', '01', '00', '-0', '-01', '1.0', '1.', '.5', '1e3', '1E3', '0x10',
  'abc', '1a', 'a1', '--1', '1-', '\u00001', '1\u0000', '9007199254740992', '-9007199254740992',
  '9223372036854775807', '-9223372036854775808', '9223372036854775808', '99999999999999999999999',
  '10000000000000000', '１', 'inf', 'nan', '1_000', '1,000',
];
for (const text of NOT_INTEGERS) {
  test(`parseInteger refuses ${JSON.stringify(text)}`, (t) => {
    const err = t.throws(() => parseInteger(b(text)), { instanceOf: ArgError });
    t.is(err?.message, NOT_AN_INTEGER);
    t.is(err?.line(), 'ERR value is not an integer or out of range');
  });
}

test('parseInteger takes raw bytes (a non-ASCII byte is junk)', (t) => {
  t.throws(() => parseInteger(Buffer.from([0x31, 0xb9])), { instanceOf: ArgError });
  t.is(parseInteger(Buffer.from([0x34, 0x32])), 42);
  // A view into a larger buffer (how the server slices arguments).
  const big = Buffer.from('xx-1234yy');
  t.is(parseInteger(big.subarray(2, 7)), -1234);
});

test('property: parseInteger agrees with BigInt on int64 strings', (t) => {
  const int64 = fc.oneof(
    fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    fc.bigInt({ min: -SAFE - 10n, max: SAFE + 10n }),
    fc.integer({ min: -1000, max: 1000 }).map(BigInt),
    fc.constantFrom(INT64_MIN, INT64_MAX, SAFE, -SAFE, SAFE + 1n, -SAFE - 1n, 0n),
  );
  fc.assert(fc.property(int64, (v) => {
    const text = v.toString();
    if (v >= -SAFE && v <= SAFE) return parseInteger(b(text)) === Number(v);
    try { parseInteger(b(text)); return false; } catch (e) { return e instanceof ArgError; }
  }), { numRuns: 20000 });
  t.pass();
});

test('property: parseInteger refuses everything string2ll refuses', (t) => {
  const valid = /^(?:0|-?[1-9][0-9]*)$/;
  const junk = fc.oneof(
    fc.string({ maxLength: 24 }),
    fc.string({ unit: fc.constantFrom('0', '1', '9', '-', '+', ' ', '.', 'e', 'x'), maxLength: 12 }),
    fc.integer().map((n) => `0${Math.abs(n)}`),
    fc.integer().map((n) => `+${n}`),
    fc.integer().map((n) => ` ${n}`),
    fc.integer().map((n) => `${n} `),
    fc.integer().map((n) => `${n}.0`),
  ).filter((s) => !valid.test(s));
  fc.assert(fc.property(junk, (s) => {
    try { parseInteger(Buffer.from(s)); return false; } catch (e) { return e instanceof ArgError; }
  }), { numRuns: 20000 });
  t.pass();
});

test('parseIntegerInRange checks inclusive bounds and uses the given message', (t) => {
  t.is(parseIntegerInRange(b('1'), 1, 10), 1);
  t.is(parseIntegerInRange(b('10'), 1, 10), 10);
  t.is(parseIntegerInRange(b('-5'), -5, 5), -5);
  t.is(t.throws(() => parseIntegerInRange(b('0'), 1, 10), { instanceOf: ArgError })?.message, NOT_AN_INTEGER);
  t.is(t.throws(() => parseIntegerInRange(b('11'), 1, 10), { instanceOf: ArgError })?.message, NOT_AN_INTEGER);
  t.is(t.throws(() => parseIntegerInRange(b('0'), 1, 10, 'invalid COUNT'), { instanceOf: ArgError })?.message,
    'invalid COUNT');
  // Garbage gets the caller's message too (Redis: `ERR invalid EF` for 'abc').
  t.is(t.throws(() => parseIntegerInRange(b('abc'), 1, 10, 'invalid EF'), { instanceOf: ArgError })?.message,
    'invalid EF');
  t.is(t.throws(() => parseIntegerInRange(b('9223372036854775808'), 1, 10, 'invalid M'),
    { instanceOf: ArgError })?.message, 'invalid M');
});

// ---------------------------------------------------------------- parseFiniteDouble

const DOUBLES: [string, number][] = [
  ['1', 1], ['-1', -1], ['+2', 2], ['0', 0], ['0.0', 0], ['-0.5', -0.5], ['1e-7', 1e-7], ['.5', 0.5],
  ['-.5', -0.5], ['5.', 5], ['+.5', 0.5], ['1E5', 1e5], ['1e+5', 1e5], ['1e05', 1e5], ['2.5e-3', 0.0025],
  ['3.4028235e38', 3.4028235e38], ['3.14159', 3.14159], ['0.1', 0.1], ['0.3', 0.3], ['123.456', 123.456],
  ['007', 7], ['000.000100', 0.0001], ['1e22', 1e22], ['1e23', 1e23], ['9007199254740993', 9007199254740992],
  ['5e-324', 5e-324], ['4.9406564584124654e-324', 5e-324], ['2.2250738585072014e-308', 2.2250738585072014e-308],
  ['1.7976931348623157e308', 1.7976931348623157e308], ['0.1000000000000000055511151231257827', 0.1],
  ['123456789012345678901234567890', 1.2345678901234568e29], ['0.0000000000000000000000000001', 1e-28],
  ['1e-320', 1e-320], ['0e999999999', 0], ['0.000e-999999999999', 0],
  ['1' + '0'.repeat(60) + 'e-60', 1], ['0.' + '0'.repeat(60) + '1e61', 1],
  ['1' + '0'.repeat(400) + 'e-400', 1], ['12345678901234567890123', 1.2345678901234568e22],
  ['2.4703282292062328e-324', 5e-324], // just above half the smallest subnormal: rounds up, not to zero
];
for (const [text, value] of DOUBLES) {
  test(`parseFiniteDouble accepts ${JSON.stringify(text)}`, (t) => {
    t.is(parseFiniteDouble(b(text)), value);
  });
}

test('parseFiniteDouble keeps the sign of zero', (t) => {
  t.true(Object.is(parseFiniteDouble(b('-0')), -0));
  t.true(Object.is(parseFiniteDouble(b('-0.0e5')), -0));
  t.true(Object.is(parseFiniteDouble(b('0')), 0));
  t.true(Object.is(parseFiniteDouble(b('-0.00000000000000000000000000')), -0));
});

const NOT_DOUBLES = [
  '', ' ', ' 1', '1 ', '\t1', '1\n', '1.0abc', '0x10', '0X10', 'nan', 'NaN', 'inf', '+inf', '-inf', 'Inf',
  'infinity', 'Infinity', '-Infinity', '.', '-', '+', '-.', 'e5', '.e5', '1e', '1e+', '1e-', '1..2', '1.2.3',
  '--1', '+-1', '-+1', '1e5.5', '1e5e5', '1,5', '1_000', '٣', '１', '1f', '1d', '0b1', '0o7', '1e309',
  '-1e309', '1.8e308', '1e-400', '-1e-400', '2.4703282292062327e-324', '1e99999999999999999999', '\u00001',
];
for (const text of NOT_DOUBLES) {
  test(`parseFiniteDouble refuses ${JSON.stringify(text)}`, (t) => {
    t.true(Number.isNaN(parseFiniteDouble(Buffer.from(text))));
  });
}

test('parseFiniteDouble reads a view into a larger buffer', (t) => {
  const big = Buffer.from('$5\r\n-1.25\r\n');
  t.is(parseFiniteDouble(big.subarray(4, 9)), -1.25);
  t.is(parseFiniteDouble(Buffer.from('0.12345678901234567890').subarray(0, 8)), 0.123456);
});

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
/** parseFiniteDouble(s) is Number(s), or NaN where that overflows (toExponential can round up to 2e308). */
function check(s: string): boolean {
  const expected = Number(s);
  const got = parseFiniteDouble(Buffer.from(s));
  return Number.isFinite(expected) ? Object.is(got, expected) : Number.isNaN(got);
}

test('property: parseFiniteDouble agrees with Number() on String(double)', (t) => {
  // String(-0) is "0", hence `|| d === 0`.
  fc.assert(fc.property(finite, (d) => Object.is(parseFiniteDouble(Buffer.from(String(d))), d) || d === 0),
    { numRuns: 50000 });
  t.true(Object.is(parseFiniteDouble(b(String(-0))), 0));
  t.pass();
});

test('property: parseFiniteDouble agrees with Number() on toExponential/toFixed/toPrecision forms', (t) => {
  fc.assert(fc.property(finite, fc.integer({ min: 0, max: 20 }), (d, k) =>
    check(d.toExponential(k)) && (Math.abs(d) >= 1e21 || check(d.toFixed(k))) && check(d.toPrecision(k + 1))),
  { numRuns: 30000 });
  t.pass();
});

test('property: parseFiniteDouble agrees with Number() on short everyday decimals', (t) => {
  const short = fc.tuple(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 8 }))
    .map(([n, k]) => (n / 10 ** k).toString());
  fc.assert(fc.property(short, check), { numRuns: 30000 });
  t.pass();
});

test('property: parseFiniteDouble agrees with Number() on arbitrary digit strings', (t) => {
  const digits = (max: number) => fc.string({ unit: fc.constantFrom('0', '0', '1', '2', '5', '7', '9'), maxLength: max });
  const decimal = fc.tuple(
    fc.constantFrom('', '-', '+'), digits(30), fc.boolean(), digits(30),
    fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '-', '+'), fc.integer({ min: 0, max: 400 }))),
  ).map(([sign, int, dot, frac, exp]) =>
    sign + int + (dot ? '.' + frac : '') + (exp === null ? '' : exp[0] + exp[1] + String(exp[2])));
  fc.assert(fc.property(decimal, (s) => {
    const expected = Number(s);
    const got = parseFiniteDouble(Buffer.from(s));
    const hasDigit = /^[+-]?(\d|\.\d)/.test(s);
    if (!hasDigit || !Number.isFinite(expected)) return Number.isNaN(got);
    // Redis refuses strtod's underflow to zero: non-zero digits that round to 0.
    if (expected === 0 && /[1-9]/.test(s.split(/[eE]/)[0]!)) return Number.isNaN(got);
    return Object.is(got, expected);
  }), { numRuns: 50000 });
  t.pass();
});

test('property: parseFiniteDouble refuses junk', (t) => {
  const grammar = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  const junk = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.string({ unit: fc.constantFrom('1', '.', 'e', '-', '+', ' ', 'x', 'n', 'i', 'f'), maxLength: 10 }),
    finite.map((d) => ` ${d}`),
    finite.map((d) => `${d} `),
    finite.map((d) => `${d}x`),
    finite.map((d) => `0x${Math.abs(Math.trunc(d)).toString(16)}`),
  ).filter((s) => !grammar.test(s));
  fc.assert(fc.property(junk, (s) => Number.isNaN(parseFiniteDouble(Buffer.from(s)))), { numRuns: 30000 });
  t.pass();
});

// ---------------------------------------------------------------- parseFloat32

const FLOATS: [string, number][] = [
  ['1', 1], ['-0.5', -0.5], ['0.1', Math.fround(0.1)], ['3.4028235e38', FLT_MAX], ['-3.4028235e38', -FLT_MAX],
  ['3.4028234663852886e38', FLT_MAX], ['3.40282356e38', FLT_MAX], ['1e-45', 1.401298464324817e-45],
  ['1.401298464324817e-45', 1.401298464324817e-45], ['1.1754942e-38', Math.fround(1.1754942e-38)],
  ['1e-46', 0], ['0.1234567890123456789', Math.fround(0.1234567890123456789)],
  ['16777217', 16777216], ['16777219', 16777220], ['0.30000000000000004', Math.fround(0.3)],
];
for (const [text, value] of FLOATS) {
  test(`parseFloat32 accepts ${JSON.stringify(text)}`, (t) => {
    t.is(parseFloat32(b(text)), value);
  });
}

const NOT_FLOATS = ['1e39', '-1e39', '3.4028236e38', '3.5e38', '1e300', '1e309', 'nan', 'inf', '-inf', '', ' 1',
  '1.0abc', '0x10', '1e-400'];
for (const text of NOT_FLOATS) {
  test(`parseFloat32 refuses ${JSON.stringify(text)}`, (t) => {
    t.true(Number.isNaN(parseFloat32(b(text))));
  });
}

test('parseFloat32: -0.0 and subnormals read back bit-exact', (t) => {
  t.true(Object.is(parseFloat32(b('-0.0')), -0));
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (const bits of [1, 2, 3, 0x7fffff, 0x400000, 0x00800000, 0x80000001, 0x807fffff]) {
    u32[0] = bits;
    const f = f32[0]!;
    t.true(Object.is(parseFloat32(b(String(f))), f), `bits ${bits.toString(16)}`);
    t.true(Object.is(parseFloat32(b(f.toExponential(8))), f), `bits ${bits.toString(16)} exp`);
  }
});

/** What Redis computes: strtod (correctly rounded double), then a cast to float. */
function reference32(s: string): number {
  const d = Number(s);
  if (!Number.isFinite(d)) return NaN;
  const f = Math.fround(d);
  return Number.isFinite(f) ? f : NaN;
}

test('property: parseFloat32 round-trips every float32 through String()', (t) => {
  fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }),
    (f) => Object.is(parseFloat32(Buffer.from(String(f))), f) || f === 0), { numRuns: 50000 });
  t.pass();
});

test('property: parseFloat32 equals fround(Number()) on double strings (the 17-digit approximate path)', (t) => {
  const inRange = fc.double({ min: -4e38, max: 4e38, noNaN: true });
  fc.assert(fc.property(inRange, fc.integer({ min: 0, max: 24 }), (d, k) => {
    for (const s of [String(d), d.toExponential(k), d.toPrecision(k + 1)]) {
      if (!Object.is(parseFloat32(Buffer.from(s)), reference32(s))) return false;
    }
    return true;
  }), { numRuns: 50000 });
  t.pass();
});

test('property: parseFloat32 rounds correctly next to float32 rounding midpoints', (t) => {
  // Decimals within a few double ulps of the midpoint between two adjacent float32s:
  // the cases where an approximate double could round to the wrong float32.
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const near = fc.tuple(fc.integer({ min: 1, max: 0x7f7ffffe }), fc.integer({ min: -4, max: 4 }),
    fc.integer({ min: 17, max: 30 }))
    .map(([bits, ulps, precision]) => {
      u32[0] = bits;
      const lo = f32[0]!;
      u32[0] = bits + 1;
      const hi = f32[0]!;
      let m = (lo + hi) / 2; // exact in a double
      const step = m * 2 ** -52;
      m += ulps * step;
      return m.toPrecision(precision);
    });
  fc.assert(fc.property(near, (s) => Object.is(parseFloat32(Buffer.from(s)), reference32(s))), { numRuns: 50000 });
  t.pass();
});

// ---------------------------------------------------------------- isKeyword

test('isKeyword compares ASCII case-insensitively with an uppercase keyword', (t) => {
  t.true(isKeyword(b('filter'), 'FILTER'));
  t.true(isKeyword(b('Filter'), 'FILTER'));
  t.true(isKeyword(b('FILTER'), 'FILTER'));
  t.true(isKeyword(b('filter-ef'), 'FILTER-EF'));
  t.true(isKeyword(b('fp32'), 'FP32'));
  t.true(isKeyword(b(''), ''));
  t.false(isKeyword(b('FILTERS'), 'FILTER'));
  t.false(isKeyword(b('FILTE'), 'FILTER'));
  t.false(isKeyword(b('FILTEX'), 'FILTER'));
  t.false(isKeyword(b('filter_ef'), 'FILTER-EF'));
  // Only a-z fold: '{' (0x7b) is not '[' (0x5b), 0xe9 is not 'É'.
  t.false(isKeyword(b('a{'), 'A['));
  t.false(isKeyword(Buffer.from([0xe9]), 'É'));
  t.false(isKeyword(Buffer.from([0xc1]), 'A'));
  const big = Buffer.from('*2\r\n$5\r\ncount\r\n');
  t.true(isKeyword(big.subarray(8, 13), 'COUNT'));
});

test('property: isKeyword agrees with toUpperCase on ASCII', (t) => {
  const word = fc.string({ unit: fc.constantFrom('a', 'B', 'c', 'E', '-', '3', '_', '{', '['), maxLength: 6 });
  fc.assert(fc.property(word, word, (arg, kw) => {
    const upper = kw.toUpperCase();
    return isKeyword(Buffer.from(arg), upper) === (arg.toUpperCase() === upper);
  }), { numRuns: 20000 });
  t.pass();
});

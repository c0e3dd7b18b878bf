/**
 * Redis's `long double` arithmetic, reproduced exactly with BigInt, for
 * HINCRBYFLOAT (and INCRBYFLOAT): Redis parses both operands with strtold,
 * adds them in x87 extended precision (64-bit significand, 15-bit exponent)
 * and prints the sum with `%.17Lf`, trailing zeros removed (ld2string's
 * LD_STR_HUMAN). Doing it in doubles instead gives visibly different
 * results: 0.1 + 0.2 is `0.3` in Redis but `0.30000000000000004` in
 * doubles, and 1e400 is a valid Redis value but an infinite double. The
 * result is a string that clients read back, so it must be byte for byte.
 *
 * A value is `sign × m × 2^e` with m < 2^64 (m = 0 for zero), or ±Infinity.
 */

export interface LongDouble { readonly negative: boolean; readonly m: bigint; readonly e: number }
export type LongDoubleOrInf = LongDouble | 'inf' | '-inf';

const BITS = 64;
/** Largest finite exponent: values at or past 2^16384 overflow to infinity. */
const MAX_BINARY_EXPONENT = 16384;

/** Round `num / den` (both > 0) to a 64-bit significand, ties to even: the value as m × 2^e. */
function roundRational(num: bigint, den: bigint): { m: bigint; e: number } {
  // Scale so the integer quotient has 66+ bits: 64 kept, the rest decide the rounding with the remainder.
  const nb = num.toString(2).length, db = den.toString(2).length;
  let shift = BITS + 2 - (nb - db);
  let q: bigint, r: bigint;
  for (;;) {
    const n = shift >= 0 ? num << BigInt(shift) : num;
    const d = shift >= 0 ? den : den << BigInt(-shift);
    q = n / d; r = n % d;
    if (q >= 1n << BigInt(BITS + 1)) break;
    shift++;
  }
  const extra = BigInt(q.toString(2).length - BITS);
  const half = 1n << (extra - 1n);
  const low = q & ((1n << extra) - 1n);
  let m = q >> extra;
  if (low > half || (low === half && (r !== 0n || (m & 1n) === 1n))) m++;
  let e = -shift + Number(extra);
  if (m === 1n << BigInt(BITS)) { m >>= 1n; e++; }
  return { m, e };
}

function fromRational(negative: boolean, num: bigint, den: bigint): LongDoubleOrInf {
  if (num === 0n) return { negative, m: 0n, e: 0 };
  const { m, e } = roundRational(num, den);
  if (e + BITS > MAX_BINARY_EXPONENT) return negative ? '-inf' : 'inf';
  return { negative, m, e };
}

/**
 * strtold's grammar as Redis's string2ld accepts it: optional sign, then a
 * decimal (`1`, `.5`, `5.`, `1e-3`) or hexadecimal (`0x1.8p3`) number, or
 * `inf`/`infinity`; no spaces, nothing after it, no `nan`, no overflow to
 * infinity nor underflow to zero (strtold's ERANGE). Null when refused.
 */
export function parseLongDouble(text: string): LongDoubleOrInf | null {
  if (text.length === 0 || text.length > 5120) return null;
  let i = 0;
  let negative = false;
  if (text[0] === '+' || text[0] === '-') { negative = text[0] === '-'; i = 1; }
  const rest = text.slice(i).toLowerCase();
  if (rest === 'inf' || rest === 'infinity') return negative ? '-inf' : 'inf';
  if (rest.startsWith('0x')) return parseHex(negative, rest.slice(2));
  const m = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/.exec(rest);
  if (!m) return null;
  const intPart = m[1]!, frac = m[2] ?? '';
  if (intPart.length + frac.length === 0) return null;
  const digits = BigInt((intPart + frac) || '0');
  const exp = (m[3] ? Number(m[3]) : 0) - frac.length;
  if (digits === 0n) return { negative, m: 0n, e: 0 };
  // strtold's ERANGE (overflow, or underflow to zero), which string2ld refuses. Past
  // these bounds the answer is certain, and the BigInt powers would be huge.
  const magnitude = exp + (intPart + frac).replace(/^0+/, '').length;
  if (magnitude > 5000 || magnitude < -5000) return null;
  const v = exp >= 0 ? fromRational(negative, digits * 10n ** BigInt(exp), 1n) : fromRational(negative, digits, 10n ** BigInt(-exp));
  return typeof v === 'string' ? null : v;
}

function parseHex(negative: boolean, s: string): LongDoubleOrInf | null {
  const m = /^([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/.exec(s);
  if (!m) return null;
  const intPart = m[1]!, frac = m[2] ?? '';
  if (intPart.length + frac.length === 0) return null;
  const digits = BigInt('0x' + ((intPart + frac) || '0'));
  const exp = (m[3] ? Number(m[3]) : 0) - 4 * frac.length;
  if (digits === 0n) return { negative, m: 0n, e: 0 };
  if (exp > 20000 || exp < -20000) return null;
  const v = exp >= 0 ? fromRational(negative, digits << BigInt(exp), 1n) : fromRational(negative, digits, 1n << BigInt(-exp));
  return typeof v === 'string' ? null : v;
}

const isInf = (v: LongDoubleOrInf): v is 'inf' | '-inf' => typeof v === 'string';

/** a + b rounded to the extended format; null for NaN (inf − inf). */
export function addLongDouble(a: LongDoubleOrInf, b: LongDoubleOrInf): LongDoubleOrInf | null {
  if (isInf(a) || isInf(b)) {
    if (isInf(a) && isInf(b) && a !== b) return null;
    return isInf(a) ? a : b;
  }
  const e = Math.min(a.e, b.e);
  const sa = (a.negative ? -a.m : a.m) << BigInt(a.e - e);
  const sb = (b.negative ? -b.m : b.m) << BigInt(b.e - e);
  const sum = sa + sb;
  if (sum === 0n) return { negative: false, m: 0n, e: 0 };
  const negative = sum < 0n;
  const abs = negative ? -sum : sum;
  const r = e >= 0 ? fromRational(negative, abs << BigInt(e), 1n) : fromRational(negative, abs, 1n << BigInt(-e));
  return r;
}

/** `%.17Lf` with the trailing zeros (and a bare `.`) removed, `-0` printed `0`: Redis's LD_STR_HUMAN. */
export function formatLongDouble(v: LongDouble): string {
  const SCALE = 10n ** 17n;
  let fixed: bigint;
  if (v.e >= 0) {
    fixed = (v.m << BigInt(v.e)) * SCALE;
  } else {
    const num = v.m * SCALE, den = 1n << BigInt(-v.e);
    fixed = num / den;
    const r = num % den;
    // printf rounds the exact binary value to nearest, ties to even.
    if (2n * r > den || (2n * r === den && (fixed & 1n) === 1n)) fixed++;
  }
  const digits = fixed.toString().padStart(18, '0');
  const int = digits.slice(0, -17);
  const frac = digits.slice(-17).replace(/0+$/, '');
  const body = frac ? `${int}.${frac}` : int;
  return body === '0' ? '0' : (v.negative ? '-' : '') + body;
}

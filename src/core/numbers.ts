/**
 * Strict number and keyword parsing straight from argument Buffers: the hot path of
 * every command, so the common case reads bytes and allocates nothing.
 *
 * The rules are Redis's: `string2ll` for integers, strtod with Redis's own checks
 * (no leading space, nothing after the number, no overflow or underflow to zero, no
 * NaN) for doubles, minus what Astronaut refuses outright (hex, inf, nan).
 */
import { ArgError, NOT_AN_INTEGER } from '../errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Redis's string2ll rules: optional '-', digits, no leading '+', no spaces, no leading
 * zeros except '0', fits in int64. Returns a JS number when |v| ≤ 2^53-1 else throws;
 * throws ArgError('value is not an integer or out of range') otherwise.
 */
export function parseInteger(arg: Buffer): number {
  const v = integerOrNaN(arg);
  if (v !== v) throw new ArgError(NOT_AN_INTEGER);
  return v;
}

/** Same, then checks min..max (inclusive); on failure throws ArgError(message ?? 'value is not an integer or out of range'). */
export function parseIntegerInRange(arg: Buffer, min: number, max: number, message?: string): number {
  const v = integerOrNaN(arg);
  if (v !== v || v < min || v > max) throw new ArgError(message ?? NOT_AN_INTEGER);
  return v;
}

/**
 * The integer, or NaN. Every integer that string2ll accepts but that is beyond 2^53-1
 * (up to int64) is refused with the same error as garbage, so this only has to be
 * exact up to 2^53: 16 digits at most, and a 17th digit is out of range already.
 */
function integerOrNaN(arg: Buffer): number {
  const n = arg.length;
  if (n === 0) return NaN;
  let i = 0;
  let negative = false;
  if (arg[0] === 45 /* - */) {
    negative = true;
    i = 1;
    if (n === 1) return NaN;
  }
  const first = arg[i]!;
  if (first === 48 /* 0 */) return n === 1 ? 0 : NaN; // "-0", "00", "01" are refused, as string2ll does
  if (first < 49 || first > 57) return NaN;
  if (n - i > 16) return NaN; // 17+ digits without a leading zero: ≥ 10^16 > 2^53-1 (or not a number)
  let v = first - 48;
  for (i++; i < n; i++) {
    const d = arg[i]! - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d; // exact below 2^53; above it the rounded value is still > MAX_SAFE
  }
  if (v > MAX_SAFE) return NaN;
  return negative ? -v : v;
}

/** 10^0 … 10^22: every one is an exact double, which the exact fast path relies on. */
const POW10 = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/** With at most this many significant digits the mantissa is an exact integer (< 2^53). */
const EXACT_DIGITS = 15;
/** Digits kept in the mantissa; the rest only move the exponent (they are below 1e-18 relative). */
const KEPT_DIGITS = 19;

// The last scan's result. Module state instead of a result object: the hot path allocates
// nothing, and a scan never re-enters itself.
let scanMantissa = 0; // the first KEPT_DIGITS significant digits as an integer (inexact past 15)
let scanDigits = 0; // significant digits, counted from the first non-zero one
let scanExp10 = 0; // value = mantissa × 10^exp10
let scanNegative = false;

/**
 * Validate strtod's decimal grammar over the whole argument: [+-] digits [. digits]
 * [e [+-] digits], at least one mantissa digit, nothing else (no spaces, hex, inf, nan).
 * Fills the scan* variables; false if the text is not a number.
 */
function scanDecimal(arg: Buffer): boolean {
  const n = arg.length;
  if (n === 0) return false;
  let i = 0;
  let c = arg[0]!;
  scanNegative = c === 45; /* - */
  if (scanNegative || c === 43 /* + */) i = 1;
  let mantissa = 0;
  let significant = 0;
  let scale = 0;
  let digits = 0;
  for (; i < n; i++) {
    c = arg[i]!;
    if (c < 48 || c > 57) break;
    digits++;
    if (significant !== 0 || c !== 48) {
      if (++significant <= KEPT_DIGITS) mantissa = mantissa * 10 + (c - 48);
      else scale++;
    }
  }
  if (i < n && arg[i] === 46 /* . */) {
    for (i++; i < n; i++) {
      c = arg[i]!;
      if (c < 48 || c > 57) break;
      digits++;
      if (significant !== 0 || c !== 48) {
        if (++significant > KEPT_DIGITS) continue;
        mantissa = mantissa * 10 + (c - 48);
      }
      scale--;
    }
  }
  if (digits === 0) return false; // '', '.', '-', '+', 'inf', 'nan', …
  let exponent = 0;
  if (i < n && (arg[i] === 101 || arg[i] === 69) /* e E */) {
    i++;
    let expNegative = false;
    if (i < n && (arg[i] === 45 || arg[i] === 43)) {
      expNegative = arg[i] === 45;
      i++;
    }
    const start = i;
    for (; i < n; i++) {
      c = arg[i]!;
      if (c < 48 || c > 57) break;
      // Capped: far beyond this the value is 0 or infinite, which the slow path decides.
      if (exponent < 100000) exponent = exponent * 10 + (c - 48);
    }
    if (i === start) return false; // '1e', '1e+'
    if (expNegative) exponent = -exponent;
  }
  if (i !== n) return false; // trailing junk, a space, '0x10', a second '.', …
  scanMantissa = mantissa;
  scanDigits = significant;
  scanExp10 = scale + exponent;
  return true;
}

/**
 * The scanned value when one correctly rounded operation gives it: an exact integer
 * mantissa times or divided by an exact power of ten (Clinger's fast path). NaN if not.
 */
function exactFromScan(): number {
  if (scanDigits === 0) return scanNegative ? -0 : 0;
  const e10 = scanExp10;
  if (scanDigits > EXACT_DIGITS || e10 < -22 || e10 > 22) return NaN;
  const v = e10 < 0 ? scanMantissa / POW10[-e10]! : scanMantissa * POW10[e10]!;
  return scanNegative ? -v : v;
}

/** The general case: Number() on the validated ASCII (it accepts exactly this grammar and rounds correctly). */
function slowDouble(arg: Buffer): number {
  const v = Number(arg.toString('latin1'));
  // strtod's ERANGE cases, which Redis refuses: overflow, and underflow to zero.
  if (v === Infinity || v === -Infinity || v === 0) return NaN;
  return v;
}

/**
 * A decimal float as Redis's strtod-based parsers accept for scores (e.g. '1', '-0.5',
 * '1e-7', '.5', '5.', '+2', '3.4028235e38'), rejecting '', leading/trailing spaces,
 * '1.0abc', '0x10', 'nan', 'inf', '+inf', '-inf', 'infinity', overflow ('1e309') and
 * underflow to zero ('1e-400': Redis refuses strtod's ERANGE there too). Returns NaN when
 * invalid (callers produce their own error text). Subnormals and '-0' are accepted.
 *
 * Up to 15 significant digits and a decimal exponent within ±22 (what people type) no
 * string is built; longer input goes through `Number()`, also correctly rounded.
 */
export function parseFiniteDouble(arg: Buffer): number {
  if (!scanDecimal(arg)) return NaN;
  const v = exactFromScan();
  return v === v ? v : slowDouble(arg);
}

/** FLT_MAX: the largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;
/** Beyond this an approximate double might be on either side of the float32 overflow point. */
const NEAR_FLT_MAX = 3.4e38;
/**
 * Relative error bound of `approximateFromScan` (a few roundings of 2^-53 each, plus
 * dropped digits below 1e-18), with a wide margin.
 */
const APPROX_MARGIN = 2 ** -44;

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** |scanned value| within ~2^-48 relative, for exponents where doubles neither overflow nor underflow. */
function approximateFromScan(): number {
  const m = scanMantissa;
  const e = scanExp10;
  if (e >= 0) {
    if (e <= 22) return m * POW10[e]!;
    if (e <= 44) return m * POW10[22]! * POW10[e - 22]!;
    return NaN;
  }
  if (e >= -22) return m / POW10[-e]!;
  if (e >= -44) return m / POW10[22]! / POW10[-e - 22]!;
  if (e >= -66) return m / POW10[22]! / POW10[22]! / POW10[-e - 44]!;
  return NaN;
}

/**
 * Parse a float for a float32 vector component: parseFiniteDouble then Math.fround; NaN
 * if invalid or if the result overflows float32 (|x| > FLT_MAX after rounding, e.g. 1e39
 * → invalid; 3.4028235e38 is valid). Rounding through the double is what Redis does
 * (strtod, then a cast to float).
 *
 * Clients send 17-digit doubles (node-redis uses Number#toString), too long for the exact
 * fast path. A double within 2^-44 of the true value rounds to the same float32 as the
 * correctly rounded double unless a float32 rounding midpoint lies that close; only then
 * (about one input in 2^19) is the exact double computed by `Number()`.
 */
export function parseFloat32(arg: Buffer): number {
  if (!scanDecimal(arg)) return NaN;
  let v = exactFromScan();
  if (v !== v) {
    const d = approximateFromScan();
    if (d === d && d < NEAR_FLT_MAX) {
      F32[0] = d;
      const f = F32[0]!; // fround(d), d ≥ 0
      if (d !== f) {
        // The float32 rounding midpoint between f and its neighbour on d's side.
        U32[0] = d > f ? U32[0]! + 1 : U32[0]! - 1;
        const midpoint = (f + F32[0]!) / 2; // exact: 25 significant bits
        if (Math.abs(d - midpoint) > d * APPROX_MARGIN) return scanNegative ? -f : f;
      } else {
        return scanNegative ? -f : f;
      }
    }
    v = slowDouble(arg);
  }
  const f = Math.fround(v);
  return f <= FLT_MAX && f >= -FLT_MAX ? f : NaN; // false for NaN and ±Infinity
}

/** Case-insensitive ASCII compare of an argument with an UPPERCASE keyword, without allocating. */
export function isKeyword(arg: Buffer, upperKeyword: string): boolean {
  const n = upperKeyword.length;
  if (arg.length !== n) return false;
  for (let i = 0; i < n; i++) {
    let c = arg[i]!;
    if (c >= 97 && c <= 122) c -= 32; // a-z → A-Z; other bytes compare as they are
    if (c !== upperKeyword.charCodeAt(i)) return false;
  }
  return true;
}

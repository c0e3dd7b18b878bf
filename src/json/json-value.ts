/**
 * JSON documents as RedisJSON keeps them: a tree that keeps integers and
 * floats apart (`1` and `1.0` read back as written, `JSON.TYPE` says
 * `integer` or `number`), objects in insertion order, 64-bit integers exact.
 *
 * Node representation, chosen so reads walk plain JS values:
 * - null, booleans, strings: themselves;
 * - integers: a JS number when safe (|n| ≤ 2^53−1), else a bigint (up to the
 *   i64/u64 range serde_json keeps exact; beyond it a float, as serde does);
 * - floats: a JS number that is not an integer, or a `JsonFloat` around an
 *   integral one (`1.0`, `1e20`), the rare case that needs the flag;
 * - arrays: JS arrays; objects: `Map`s (any key is safe, order is kept).
 *
 * Text in and out follows serde_json (RedisJSON's parser and printer): the
 * same grammar, the same error sentences (`expected value at line 1 column
 * 1`), the same float printing (ryu's shortest digits: `1.0`, `1e20`, `1e-7`).
 */
import { MAX_PAYLOAD_DEPTH } from '../core/json-depth.js';
import { RespError } from '../errors.js';

export class JsonFloat { constructor(readonly value: number) {} }
export type JsonObject = Map<string, JsonNode>;
export type JsonNode = null | boolean | string | number | bigint | JsonFloat | JsonNode[] | JsonObject;

/** An error whose whole line is `text` (serde's messages carry no `ERR` code, as RedisJSON replies them). */
export class BareError extends RespError {
  constructor(text: string) {
    const sp = text.indexOf(' ');
    super(sp < 0 ? text : text.slice(0, sp), sp < 0 ? '' : text.slice(sp + 1));
  }
  override line(): string { return this.message ? `${this.code} ${this.message}` : this.code; }
}

export type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';

export function typeOf(n: JsonNode): JsonType {
  if (n === null) return 'null';
  switch (typeof n) {
    case 'boolean': return 'boolean';
    case 'string': return 'string';
    case 'bigint': return 'integer';
    case 'number': return Number.isInteger(n) ? 'integer' : 'number';
    default:
      if (n instanceof JsonFloat) return 'number';
      return Array.isArray(n) ? 'array' : 'object';
  }
}

export const isObject = (n: JsonNode): n is JsonObject => n instanceof Map;
export const isNumber = (n: JsonNode): boolean => typeof n === 'number' || typeof n === 'bigint' || n instanceof JsonFloat;

/** A number node's value as a double. */
export function numberOf(n: JsonNode): number {
  if (typeof n === 'number') return n;
  if (typeof n === 'bigint') return Number(n);
  return (n as JsonFloat).value;
}

const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n, U64_MAX = 2n ** 64n - 1n;

/** An integer as a node: a number when safe, a bigint within i64/u64, a float beyond. */
export function intNode(v: bigint): JsonNode {
  if (v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
  if (v >= I64_MIN && v <= U64_MAX) return v;
  return floatNode(Number(v));
}

export function floatNode(v: number): JsonNode { return Number.isInteger(v) ? new JsonFloat(v) : v; }

// ---- parsing ----

/** serde_json's position of an error: 1-based line, and column (the offending char, or the last one at EOF). */
function at(text: string, i: number): string {
  let line = 1, start = 0;
  const end = Math.min(i, text.length);
  for (let j = 0; j < end; j++) if (text.charCodeAt(j) === 10) { line++; start = j + 1; }
  const column = i >= text.length ? text.length - start : i - start + 1;
  return `at line ${line} column ${column}`;
}

class Parser {
  i = 0;
  constructor(readonly s: string, readonly maxDepth: number) {}

  fail(what: string, i = this.i): never { throw new BareError(`${what} ${at(this.s, i)}`); }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++; else break;
    }
  }

  value(depth: number): JsonNode {
    this.ws();
    const s = this.s;
    if (this.i >= s.length) this.fail('EOF while parsing a value');
    const c = s[this.i]!;
    if (c === '{' || c === '[') {
      if (depth >= this.maxDepth) this.fail('recursion limit exceeded', this.i);
      return c === '{' ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === 't' || c === 'f' || c === 'n') {
      const word = c === 't' ? 'true' : c === 'f' ? 'false' : 'null';
      if (s.startsWith(word, this.i)) { this.i += word.length; return c === 't' ? true : c === 'f' ? false : null; }
      let j = 0;
      while (this.i + j < s.length && s[this.i + j] === word[j]) j++;
      if (this.i + j >= s.length) this.fail('EOF while parsing a value', s.length);
      this.fail('expected ident', this.i + j);
    }
    this.fail('expected value');
  }

  object(depth: number): JsonObject {
    const s = this.s;
    const m: JsonObject = new Map();
    this.i++;
    this.ws();
    if (s[this.i] === '}') { this.i++; return m; }
    for (;;) {
      this.ws();
      if (this.i >= s.length) this.fail('EOF while parsing an object');
      if (s[this.i] !== '"') this.fail(s[this.i] === '}' ? 'trailing comma' : 'key must be a string');
      const k = this.string();
      this.ws();
      if (this.i >= s.length) this.fail('EOF while parsing an object');
      if (s[this.i] !== ':') this.fail('expected `:`');
      this.i++;
      m.set(k, this.value(depth));
      this.ws();
      if (this.i >= s.length) this.fail('EOF while parsing an object');
      const c = s[this.i++];
      if (c === '}') return m;
      if (c !== ',') this.fail('expected `,` or `}`', this.i - 1);
    }
  }

  array(depth: number): JsonNode[] {
    const s = this.s;
    const a: JsonNode[] = [];
    this.i++;
    this.ws();
    if (s[this.i] === ']') { this.i++; return a; }
    for (;;) {
      this.ws();
      if (s[this.i] === ']') this.fail('trailing comma');
      a.push(this.value(depth));
      this.ws();
      if (this.i >= s.length) this.fail('EOF while parsing a list');
      const c = s[this.i++];
      if (c === ']') return a;
      if (c !== ',') this.fail('expected `,` or `]`', this.i - 1);
    }
  }

  string(): string {
    const s = this.s;
    let i = this.i + 1;
    let out = '';
    let from = i;
    for (;;) {
      if (i >= s.length) { this.i = i; this.fail('EOF while parsing a string'); }
      const c = s.charCodeAt(i);
      if (c === 34 /* " */) { out += s.slice(from, i); this.i = i + 1; return out; }
      if (c < 0x20) this.fail('control character (\\u0000-\\u001F) found while parsing a string', i);
      if (c === 92 /* \ */) {
        out += s.slice(from, i);
        const e = s[i + 1];
        if (e === undefined) { this.i = s.length; this.fail('EOF while parsing a string'); }
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) { out += simple[e]; i += 2; }
        else if (e === 'u') {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(hex.length < 4 && i + 6 > s.length ? 'EOF while parsing a string' : 'invalid escape', Math.min(i + 6, s.length));
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          this.fail('invalid escape', i + 2);
        }
        from = i;
        continue;
      }
      i++;
    }
  }

  number(): JsonNode {
    const s = this.s;
    const start = this.i;
    let i = this.i;
    if (s[i] === '-') i++;
    if (i >= s.length) { this.i = i; this.fail('EOF while parsing a value'); }
    if (s[i] === '0') i++;
    else if (s[i]! >= '1' && s[i]! <= '9') while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
    else this.fail('invalid number', i + 1);
    let float = false;
    if (s[i] === '.') {
      float = true;
      i++;
      const d = i;
      while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
      if (i === d) this.fail(i >= s.length ? 'EOF while parsing a value' : 'invalid number', i + 1);
    }
    if (s[i] === 'e' || s[i] === 'E') {
      float = true;
      i++;
      if (s[i] === '+' || s[i] === '-') i++;
      const d = i;
      while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
      if (i === d) this.fail(i >= s.length ? 'EOF while parsing a value' : 'invalid number', i + 1);
    }
    this.i = i;
    const text = s.slice(start, i);
    if (!float) return intNode(BigInt(text));
    const v = Number(text);
    if (!Number.isFinite(v)) this.fail('number out of range', start + 1);
    return floatNode(v);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON text from a command argument: UTF-8, at most MAX_PAYLOAD_DEPTH levels deep. */
export function parseJson(arg: Buffer | string, maxDepth = MAX_PAYLOAD_DEPTH): JsonNode {
  let text: string;
  if (typeof arg === 'string') text = arg;
  else {
    try { text = utf8.decode(arg); } catch { throw new BareError('invalid UTF-8 in JSON text'); }
  }
  const p = new Parser(text, maxDepth);
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail('trailing characters');
  return v;
}

// ---- printing ----

/** ryu's layout of a double's shortest digits, as serde_json prints floats. */
export function formatFloat(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const neg = v < 0;
  const [mant, e] = Math.abs(v).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const length = digits.length;
  const kk = Number(e) + 1; // 10^(kk-1) ≤ |v| < 10^kk
  const k = kk - length;
  let s: string;
  if (k >= 0 && kk <= 16) s = `${digits}${'0'.repeat(k)}.0`;
  else if (kk > 0 && kk <= 16) s = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) s = `0.${'0'.repeat(-kk)}${digits}`;
  else if (length === 1) s = `${digits}e${kk - 1}`;
  else s = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return neg ? `-${s}` : s;
}

export function formatNumber(n: JsonNode): string {
  if (typeof n === 'bigint') return n.toString();
  if (typeof n === 'number') return Number.isInteger(n) ? String(n) : formatFloat(n);
  return formatFloat((n as JsonFloat).value);
}

/** JSON.GET's INDENT / NEWLINE / SPACE (RedisJSON's formatter); all empty: compact. */
export interface Layout { indent: string; newline: string; space: string }
export const COMPACT: Layout = { indent: '', newline: '', space: '' };

export function stringify(n: JsonNode, layout: Layout = COMPACT): string {
  const out: string[] = [];
  write(n, layout, 0, out);
  return out.join('');
}

function write(n: JsonNode, l: Layout, level: number, out: string[]): void {
  if (n === null) { out.push('null'); return; }
  switch (typeof n) {
    case 'boolean': out.push(n ? 'true' : 'false'); return;
    case 'string': out.push(JSON.stringify(n)); return;
    case 'number': case 'bigint': out.push(formatNumber(n)); return;
  }
  if (n instanceof JsonFloat) { out.push(formatFloat(n.value)); return; }
  const pad = (d: number) => { out.push(l.newline); for (let i = 0; i < d; i++) out.push(l.indent); };
  if (Array.isArray(n)) {
    out.push('[');
    n.forEach((c, i) => { if (i > 0) out.push(','); pad(level + 1); write(c, l, level + 1, out); });
    if (n.length > 0) pad(level);
    out.push(']');
    return;
  }
  out.push('{');
  let first = true;
  for (const [k, c] of n as JsonObject) {
    if (!first) out.push(',');
    first = false;
    pad(level + 1);
    out.push(JSON.stringify(k), ':', l.space);
    write(c, l, level + 1, out);
  }
  if (!first) pad(level);
  out.push('}');
}

// ---- copies and sizes ----

export function cloneNode(n: JsonNode): JsonNode {
  if (n === null || typeof n !== 'object' || n instanceof JsonFloat) return n;
  if (Array.isArray(n)) return n.map(cloneNode);
  const m: JsonObject = new Map();
  for (const [k, v] of n) m.set(k, cloneNode(v));
  return m;
}

/** Heap bytes of a string's chars: one per char when all are Latin-1, else two. */
function stringBytes(s: string): number {
  // eslint-disable-next-line no-control-regex
  const wide = /[^\u0000-\u00ff]/.test(s);
  return (16 + s.length * (wide ? 2 : 1) + 7) & ~7;
}

/** Estimated heap bytes of a node and everything under it (V8 layout on 64-bit Node). */
export function nodeBytes(n: JsonNode): number {
  if (n === null || typeof n === 'boolean') return 8;
  switch (typeof n) {
    case 'string': return 8 + stringBytes(n);
    case 'number': return Number.isInteger(n) && Math.abs(n) < 2 ** 31 ? 8 : 24;
    case 'bigint': return 32;
  }
  if (n instanceof JsonFloat) return 40;
  if (Array.isArray(n)) {
    let b = 32 + 16 + 8 * n.length;
    for (const c of n) b += nodeBytes(c);
    return b;
  }
  let b = 32 + 28 * 2 ** Math.ceil(Math.log2(Math.max(2, n.size)));
  for (const [k, c] of n) b += stringBytes(k) + nodeBytes(c);
  return b;
}

/** Nesting depth of arrays and objects under a node (`{}` is 1). */
export function nodeDepth(n: JsonNode): number {
  if (n === null || typeof n !== 'object' || n instanceof JsonFloat) return 0;
  let max = 0;
  for (const c of Array.isArray(n) ? n : n.values()) { const d = nodeDepth(c); if (d > max) max = d; }
  return max + 1;
}

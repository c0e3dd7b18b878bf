/**
 * A strict, incremental parser of what the *server* writes (replies), used as
 * the oracle of the hardening tests and the fuzzer. It is deliberately
 * independent of protocol/encoder.ts: it re-derives the wire rules from the
 * RESP2/RESP3 specification and refuses anything a lenient client would let
 * pass (a stray CR in a simple string, `:007`, a double written `1.`, a map
 * with an odd number of elements, a RESP3 type on a RESP2 connection…).
 *
 * Besides well-formedness it checks what the server promises of every error
 * line: no stack trace, no internal file paths.
 */

export type RespValue =
  | { type: 'simple'; value: string }
  | { type: 'error'; value: string }
  | { type: 'integer'; value: bigint }
  | { type: 'bulk'; value: Buffer }
  | { type: 'null' }
  | { type: 'array'; value: RespValue[] }
  | { type: 'double'; value: number; text: string }
  | { type: 'boolean'; value: boolean }
  | { type: 'bigint'; value: bigint }
  | { type: 'verbatim'; format: string; value: Buffer }
  | { type: 'map'; value: Array<[RespValue, RespValue]> }
  | { type: 'set'; value: RespValue[] }
  | { type: 'push'; value: RespValue[] }
  | { type: 'attribute'; value: Array<[RespValue, RespValue]> };

/** A reply the server should never have written. `offset` is where in the stream it went wrong. */
export class MalformedReply extends Error {
  constructor(message: string, readonly offset: number, readonly context: string) {
    super(`${message} at byte ${offset}: ${context}`);
    this.name = 'MalformedReply';
  }
}

export interface ReaderOptions {
  /**
   * Whether RESP3-only types may appear. A function so the caller can decide
   * per reply (the connection switched with HELLO 3, or might have).
   */
  resp3?: boolean | (() => boolean);
  /** Largest bulk length accepted (a sanity bound: the server never sends more). */
  maxBulk?: number;
  /** Deepest nesting accepted. */
  maxDepth?: number;
}

const CR = 13;
const LF = 10;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** `-?` digits without leading zeros (except `0` itself). */
const CANONICAL_INT = /^(0|-?[1-9][0-9]*)$/;
/** RESP3 double: `inf`, `-inf`, `nan`, or a decimal with optional fraction and exponent. */
const DOUBLE_TEXT = /^(inf|-inf|nan|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)$/;
/** What a Node stack frame or a leaked source path looks like. */
const STACK_TRACE = /(\bat [^ ]+ \(|\bat (file|node):|\.[cm]?[jt]s:\d+:\d+|node:internal)/;

/** Thrown inside the reader when the buffer ends mid-reply; never escapes. */
const INCOMPLETE = Symbol('incomplete');

/**
 * Feed it the bytes a connection received, in any chunking; `next()` returns
 * each complete reply, null when more bytes are needed, and throws
 * MalformedReply on the first byte that breaks the rules.
 */
export class ReplyReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private readonly maxBulk: number;
  private readonly maxDepth: number;
  private readonly resp3: () => boolean;
  /** Replies returned so far. */
  count = 0;

  constructor(opts: ReaderOptions = {}) {
    const r = opts.resp3 ?? true;
    this.resp3 = typeof r === 'function' ? r : () => r;
    this.maxBulk = opts.maxBulk ?? 2 ** 32;
    this.maxDepth = opts.maxDepth ?? 64;
  }

  /** Bytes received and not yet returned as part of a reply. */
  get pending(): number { return this.buf.length - this.pos; }

  feed(chunk: Buffer): void {
    if (this.pos === this.buf.length) {
      this.base += this.buf.length;
      this.buf = chunk;
      this.pos = 0;
    } else {
      const rest = this.buf.subarray(this.pos);
      this.base += this.pos;
      this.buf = Buffer.concat([rest, chunk]);
      this.pos = 0;
    }
  }

  next(): RespValue | null {
    if (this.pos >= this.buf.length) return null;
    const start = this.pos;
    try {
      const v = this.value(0);
      this.count++;
      return v;
    } catch (e) {
      if (e === INCOMPLETE) { this.pos = start; return null; }
      throw e;
    }
  }

  /** Every complete reply buffered. */
  drain(): RespValue[] {
    const out: RespValue[] = [];
    for (let v = this.next(); v !== null; v = this.next()) out.push(v);
    return out;
  }

  private fail(message: string, at = this.pos): never {
    const from = Math.max(0, at - 16);
    const context = JSON.stringify(this.buf.toString('latin1', from, Math.min(this.buf.length, at + 48)));
    throw new MalformedReply(message, this.base + at, context);
  }

  /** The text up to CRLF (exclusive); a bare CR or LF inside is malformed. */
  private line(): string {
    const buf = this.buf;
    const from = this.pos;
    for (let i = from; i < buf.length; i++) {
      const c = buf[i];
      if (c === LF) this.fail('bare LF inside a line', i);
      if (c === CR) {
        if (i + 1 >= buf.length) throw INCOMPLETE;
        if (buf[i + 1] !== LF) this.fail('CR not followed by LF inside a line', i);
        this.pos = i + 2;
        return buf.toString('latin1', from, i);
      }
    }
    throw INCOMPLETE;
  }

  private integerLine(what: string): bigint {
    const at = this.pos;
    const text = this.line();
    if (!CANONICAL_INT.test(text)) this.fail(`${what} is not a canonical integer: ${JSON.stringify(text.slice(0, 40))}`, at);
    const v = BigInt(text);
    if (v < INT64_MIN || v > INT64_MAX) this.fail(`${what} outside int64`, at);
    return v;
  }

  /** A length header: -1 (null, where allowed) or 0…max. */
  private length(what: string, allowNull: boolean, max: number): number {
    const at = this.pos;
    const v = this.integerLine(what);
    if (v === -1n && allowNull) return -1;
    if (v < 0n || v > BigInt(max)) this.fail(`${what} ${v} out of range`, at);
    return Number(v);
  }

  private bytes(n: number): Buffer {
    const end = this.pos + n;
    if (end + 2 > this.buf.length) throw INCOMPLETE;
    if (this.buf[end] !== CR || this.buf[end + 1] !== LF) this.fail('bulk data not followed by CRLF', end);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end + 2;
    return out;
  }

  private resp3Only(type: string, at: number): void {
    if (!this.resp3()) this.fail(`RESP3 type '${type}' on a RESP2 connection`, at);
  }

  private value(depth: number): RespValue {
    if (depth > this.maxDepth) this.fail('nesting too deep');
    if (this.pos >= this.buf.length) throw INCOMPLETE;
    const at = this.pos;
    const t = this.buf[this.pos++];
    switch (t) {
      case 43: /* + */ return { type: 'simple', value: this.line() };
      case 45: /* - */ {
        const text = this.line();
        checkErrorLine(text, (m) => this.fail(m, at));
        return { type: 'error', value: text };
      }
      case 58: /* : */ return { type: 'integer', value: this.integerLine('integer') };
      case 36: /* $ */ {
        const n = this.length('bulk length', true, this.maxBulk);
        return n < 0 ? { type: 'null' } : { type: 'bulk', value: this.bytes(n) };
      }
      case 42: /* * */ {
        const n = this.length('array length', true, 1 << 26);
        if (n < 0) return { type: 'null' };
        return { type: 'array', value: this.elements(n, depth) };
      }
      case 95: /* _ */ {
        this.resp3Only('_', at);
        if (this.line() !== '') this.fail('null with a payload', at);
        return { type: 'null' };
      }
      case 44: /* , */ {
        this.resp3Only(',', at);
        const text = this.line();
        if (!DOUBLE_TEXT.test(text)) this.fail(`malformed double ${JSON.stringify(text.slice(0, 40))}`, at);
        return { type: 'double', value: text === 'inf' ? Infinity : text === '-inf' ? -Infinity : Number(text), text };
      }
      case 35: /* # */ {
        this.resp3Only('#', at);
        const text = this.line();
        if (text !== 't' && text !== 'f') this.fail(`malformed boolean ${JSON.stringify(text)}`, at);
        return { type: 'boolean', value: text === 't' };
      }
      case 40: /* ( */ {
        this.resp3Only('(', at);
        const text = this.line();
        if (!CANONICAL_INT.test(text)) this.fail('malformed big number', at);
        return { type: 'bigint', value: BigInt(text) };
      }
      case 33: /* ! */ {
        this.resp3Only('!', at);
        const n = this.length('blob error length', false, this.maxBulk);
        const text = this.bytes(n).toString('latin1');
        checkErrorLine(text, (m) => this.fail(m, at));
        return { type: 'error', value: text };
      }
      case 61: /* = */ {
        this.resp3Only('=', at);
        const n = this.length('verbatim length', false, this.maxBulk);
        if (n < 4) this.fail('verbatim string shorter than its format prefix', at);
        const data = this.bytes(n);
        if (data[3] !== 58 /* : */) this.fail('verbatim string without a 3-letter format and ":"', at);
        return { type: 'verbatim', format: data.toString('latin1', 0, 3), value: data.subarray(4) };
      }
      case 37: /* % */ case 124: /* | */ {
        this.resp3Only(t === 37 ? '%' : '|', at);
        const n = this.length('map length', false, 1 << 25);
        const flat = this.elements(n * 2, depth);
        const pairs: Array<[RespValue, RespValue]> = [];
        for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
        if (t === 124) {
          // An attribute precedes the reply it describes: return that reply, as clients do.
          return this.value(depth);
        }
        return { type: 'map', value: pairs };
      }
      case 126: /* ~ */ case 62: /* > */ {
        this.resp3Only(t === 126 ? '~' : '>', at);
        const n = this.length('aggregate length', false, 1 << 26);
        return { type: t === 126 ? 'set' : 'push', value: this.elements(n, depth) };
      }
      default:
        this.fail(`unknown reply type byte 0x${t.toString(16).padStart(2, '0')}`, at);
    }
  }

  private elements(n: number, depth: number): RespValue[] {
    const out: RespValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }
}

/** An error never leaks a stack trace or a source path. */
function checkErrorLine(text: string, fail: (m: string) => never): void {
  if (text.length === 0) fail('empty error line');
  if (STACK_TRACE.test(text)) fail(`error line looks like a stack trace: ${JSON.stringify(text.slice(0, 120))}`);
  if (!/^[A-Z][A-Z0-9_-]* /.test(text) && !/^[A-Z][A-Z0-9_-]*$/.test(text)) fail(`error line does not start with an upper-case code: ${JSON.stringify(text.slice(0, 60))}`);
}

/** Parse a complete byte string into its replies; throws MalformedReply, or if bytes are left over. */
export function parseAll(bytes: Buffer, opts: ReaderOptions = {}): RespValue[] {
  const r = new ReplyReader(opts);
  r.feed(bytes);
  const out = r.drain();
  if (r.pending > 0) throw new MalformedReply(`${r.pending} trailing bytes do not form a complete reply`, bytes.length - r.pending, JSON.stringify(bytes.toString('latin1', bytes.length - r.pending, bytes.length - r.pending + 40)));
  return out;
}

/** A short readable form, for assertion messages. */
export function show(v: RespValue | undefined, max = 120): string {
  const s = (x: RespValue | undefined): string => {
    if (!x) return 'undefined';
    switch (x.type) {
      case 'simple': return `+${x.value}`;
      case 'error': return `-${x.value}`;
      case 'integer': case 'bigint': return `:${x.value}`;
      case 'bulk': return JSON.stringify(x.value.toString('latin1', 0, 60));
      case 'null': return 'nil';
      case 'double': return `,${x.text}`;
      case 'boolean': return `#${x.value ? 't' : 'f'}`;
      case 'verbatim': return `=${x.format}:${x.value.toString('latin1', 0, 40)}`;
      case 'array': case 'set': case 'push': return `[${x.value.map(s).join(', ')}]`;
      case 'map': case 'attribute': return `{${x.value.map(([k, v]) => `${s(k)}: ${s(v)}`).join(', ')}}`;
    }
  };
  const out = s(v);
  return out.length > max ? out.slice(0, max) + '…' : out;
}

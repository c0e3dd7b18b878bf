/**
 * Reply encoder for RESP2 and RESP3. RESP2 downgrades follow Redis
 * (networking.c `addReply*`): map → flat array, set/push → array, double and
 * big number → bulk string, boolean → `:1`/`:0`, null → `$-1`, null array →
 * `*-1`, verbatim → bulk string of the text.
 */
import {
  BigNumber,
  Double,
  ErrorReply,
  NullArray,
  Push,
  RawReply,
  ReplyMap,
  ReplySet,
  SimpleString,
  Verbatim,
  type Reply,
} from './reply.js';

/** Node's undocumented, argument-check-free writers behind `Buffer#write`. */
interface WritableBuffer extends Buffer {
  utf8Write(text: string, offset: number, length: number): number;
}

const CR = 13;
const LF = 10;
const DEFAULT_CHUNK = 16 * 1024;
/** A buffer that grew for one big reply is dropped afterwards rather than kept for small ones. */
const SHRINK_FACTOR = 4;
/** Strings up to this length are checked and copied char by char: cheaper than a native call. */
const SHORT_STRING = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Redis's `double2ll` prints integral doubles within ±LLONG_MAX/2 as integers. */
const DOUBLE_AS_INTEGER_LIMIT = 2 ** 62;
const BIG_NUMBER = /^-?[0-9]+$/;
const EMPTY = Buffer.alloc(0) as WritableBuffer;

/**
 * The text Redis gives a double (`d2string`): `nan`, `inf`, `-inf`, `0` and
 * `-0`, integral values without a fraction (`1`, not `1.0`), otherwise the
 * shortest text that reads back as the same double.
 */
export function formatDouble(x: number): string {
  if (x !== x) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (Number.isInteger(x) && x >= -DOUBLE_AS_INTEGER_LIMIT && x <= DOUBLE_AS_INTEGER_LIMIT) {
    // Past 2^53 JS String pads the shortest digits with zeros; Redis prints the exact integer.
    return Number.isSafeInteger(x) ? String(x) : BigInt(x).toString();
  }
  // Beyond that Redis switches to exponent form; JS String would print up to 21 digits first.
  if (Number.isInteger(x)) return x.toExponential();
  return String(x);
}

/** An aggregate being written: `i` of its `n` children done (a map's keys and values alternate). */
interface Frame {
  readonly items: readonly Reply[] | null;
  readonly entries: ReadonlyArray<readonly [Reply, Reply]> | null;
  i: number;
  readonly n: number;
}

/**
 * Appends encoded replies to a growing buffer; `take()` hands out everything
 * written since the previous `take()`.
 *
 * Handed-out bytes are never overwritten: later replies go after them, and a
 * new buffer is started when the current one is full. So `take()` costs no
 * copy, and its result may be passed straight to `socket.write`.
 */
export class ReplyEncoder {
  private buf: WritableBuffer = EMPTY;
  /** Start of what the next `take()` returns. */
  private start = 0;
  private end = 0;
  /** `buf[0, handedOut)` may be held by a `take()` caller: never written again. */
  private handedOut = 0;
  private readonly chunkSize: number;

  /** @param initialCapacity size of each buffer started (16 KiB by default); larger replies get a larger one. */
  constructor(initialCapacity = DEFAULT_CHUNK) {
    this.chunkSize = Math.max(64, initialCapacity | 0);
  }

  /**
   * Appends `reply` encoded for protocol 2 or 3.
   * @throws TypeError for a value the model does not allow (a non-integral or
   *   unsafe `number`, a bigint outside 64 bits, a verbatim format that is not
   *   3 characters, a big number that is not digits). Nothing is appended then.
   */
  write(reply: Reply, proto: 2 | 3): void {
    // The commonest reply (+OK, +PONG), straight to its writer: it cannot fail.
    if (reply instanceof SimpleString) {
      this.line(43 /* + */, reply.value);
      return;
    }
    const mark = this.end - this.start;
    try {
      this.value(reply, proto);
    } catch (err) {
      // A half-written reply would desynchronise the client; `start` may have moved if we grew.
      this.end = this.start + mark;
      throw err;
    }
  }

  /** Appends bytes as they are (prebuilt replies). */
  writeRaw(bytes: Buffer): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.end - this.start;
  }

  /**
   * Everything written since the last `take()`, as one Buffer the caller may
   * keep; the encoder then starts empty.
   */
  take(): Buffer {
    if (this.end === this.start) return EMPTY;
    const out = this.buf.subarray(this.start, this.end);
    this.start = this.end;
    this.handedOut = this.end;
    if (this.buf.length > this.chunkSize * SHRINK_FACTOR) {
      this.buf = EMPTY;
      this.start = this.end = this.handedOut = 0;
    }
    return out;
  }

  /** The buffer holding what `take()` would return, from `pendingOffset`, `length` bytes: to send without a Buffer of its own. */
  get pendingBuffer(): Buffer { return this.buf; }
  get pendingOffset(): number { return this.start; }

  /**
   * The caller has sent the first `n` pending bytes itself, synchronously
   * (from `pendingBuffer`): they are dropped. When that leaves nothing and no
   * part of this buffer was ever handed out by `take()`, later replies are
   * written from its start again: the buffer is reused rather than replaced.
   */
  drop(n: number): void {
    this.start += Math.max(0, Math.min(n, this.end - this.start));
    if (this.start !== this.end) return;
    if (this.buf.length > this.chunkSize * SHRINK_FACTOR) {
      // Grown for one big reply: not kept for the small ones (as in take()).
      this.buf = EMPTY;
      this.start = this.end = this.handedOut = 0;
    } else if (this.handedOut === 0) {
      this.start = this.end = 0;
    }
  }

  private reserve(n: number): void {
    if (this.end + n <= this.buf.length) return;
    const used = this.end - this.start;
    const want = used + n;
    const next = Buffer.allocUnsafe(want <= this.chunkSize ? this.chunkSize : Math.max(want * 2, this.chunkSize)) as WritableBuffer;
    if (used > 0) this.buf.copy(next, 0, this.start, this.end);
    this.buf = next;
    this.start = 0;
    this.end = used;
    this.handedOut = 0;
  }

  /**
   * Writes a reply tree with an explicit stack rather than recursion: the
   * encoder cannot bound how deeply a handler's reply nests, and recursing
   * overflows the call stack a few thousand levels down, mid-reply.
   */
  private value(root: Reply, proto: 2 | 3): void {
    let top = this.one(root, proto);
    if (top === null) return;
    const stack: Frame[] = [];
    for (;;) {
      // A frame's children are written in this inner loop, with the index in a local,
      // until one is itself an aggregate: flat arrays cost what a plain loop costs.
      const { items, entries, n } = top;
      let i = top.i;
      let inner: Frame | null = null;
      while (i < n && inner === null) {
        inner = this.one(entries !== null ? entries[i >> 1][i & 1] : items![i], proto);
        i++;
      }
      top.i = i;
      if (inner !== null) {
        stack.push(top);
        top = inner;
        continue;
      }
      const up = stack.pop();
      if (up === undefined) return;
      top = up;
    }
  }

  /** Writes a scalar, or an aggregate's header; returns the aggregate's frame when it has children to write. */
  private one(r: Reply, proto: 2 | 3): Frame | null {
    switch (typeof r) {
      case 'string':
        this.bulkString(r);
        return null;
      case 'number':
        if (!Number.isSafeInteger(r)) throw new TypeError(`integer reply is not a safe integer: ${r}`);
        this.header(58 /* : */, r);
        return null;
      case 'bigint':
        if (r < INT64_MIN || r > INT64_MAX) throw new TypeError(`integer reply outside 64 bits: ${r}`);
        this.line(58 /* : */, r.toString());
        return null;
      case 'boolean':
        if (proto === 3) this.short(r ? '#t\r\n' : '#f\r\n');
        else this.short(r ? ':1\r\n' : ':0\r\n');
        return null;
      case 'object':
        break;
      default:
        throw new TypeError(`not a reply: ${typeof r}`);
    }
    if (r === null) {
      this.short(proto === 3 ? '_\r\n' : '$-1\r\n');
    } else if (r instanceof Uint8Array) {
      this.bulkBytes(r);
    } else if (Array.isArray(r)) {
      return this.aggregate(42 /* * */, r);
    } else if (r instanceof SimpleString) {
      this.line(43 /* + */, r.value);
    } else if (r instanceof ErrorReply) {
      this.line(45 /* - */, r.line);
    } else if (r instanceof RawReply) {
      this.writeRaw(r.bytes);
    } else if (r instanceof Double) {
      if (proto === 3) this.line(44 /* , */, formatDouble(r.value));
      else this.bulkString(formatDouble(r.value));
    } else if (r instanceof ReplyMap) {
      const entries = r.entries;
      this.header(proto === 3 ? 37 /* % */ : 42 /* * */, proto === 3 ? entries.length : entries.length * 2);
      return entries.length === 0 ? null : { items: null, entries, i: 0, n: entries.length * 2 };
    } else if (r instanceof ReplySet) {
      return this.aggregate(proto === 3 ? 126 /* ~ */ : 42, r.items);
    } else if (r instanceof Push) {
      return this.aggregate(proto === 3 ? 62 /* > */ : 42, r.items);
    } else if (r instanceof NullArray) {
      this.short(proto === 3 ? '_\r\n' : '*-1\r\n');
    } else if (r instanceof Verbatim) {
      this.verbatim(r, proto);
    } else if (r instanceof BigNumber) {
      if (!BIG_NUMBER.test(r.digits)) throw new TypeError(`big number reply is not an integer: ${JSON.stringify(r.digits)}`);
      if (proto === 3) this.line(40 /* ( */, r.digits);
      else this.bulkString(r.digits);
    } else {
      throw new TypeError(`not a reply: ${Object.prototype.toString.call(r)}`);
    }
    return null;
  }

  private aggregate(prefix: number, items: readonly Reply[]): Frame | null {
    this.header(prefix, items.length);
    return items.length === 0 ? null : { items, entries: null, i: 0, n: items.length };
  }

  private verbatim(r: Verbatim, proto: 2 | 3): void {
    if (proto === 2) {
      if (typeof r.text === 'string') this.bulkString(r.text);
      else this.bulkBytes(r.text);
      return;
    }
    const f = r.format;
    if (f.length !== 3 || !/^[\x21-\x7e]{3}$/.test(f) || f.includes(':')) {
      throw new TypeError(`verbatim format must be 3 printable characters: ${JSON.stringify(f)}`);
    }
    const text = typeof r.text === 'string' ? Buffer.from(r.text, 'utf8') : r.text;
    this.header(61 /* = */, text.length + 4);
    this.reserve(text.length + 6);
    const buf = this.buf;
    let e = this.end;
    buf[e++] = f.charCodeAt(0);
    buf[e++] = f.charCodeAt(1);
    buf[e++] = f.charCodeAt(2);
    buf[e++] = 58; // ':'
    buf.set(text, e);
    e += text.length;
    buf[e++] = CR;
    buf[e++] = LF;
    this.end = e;
  }

  /** `prefix` + a safe integer + CRLF: aggregate headers, bulk lengths and integer replies. */
  private header(prefix: number, n: number): void {
    this.reserve(24);
    const buf = this.buf;
    let e = this.end;
    buf[e++] = prefix;
    if (n < 0) {
      buf[e++] = 45; // '-'
      n = -n;
    }
    if (n < 10) {
      buf[e++] = 48 + n;
    } else {
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      let i = e + digits;
      e = i;
      while (n >= 10) {
        const q = Math.floor(n / 10);
        buf[--i] = 48 + (n - q * 10);
        n = q;
      }
      buf[--i] = 48 + n;
    }
    buf[e++] = CR;
    buf[e++] = LF;
    this.end = e;
  }

  /** An ASCII constant such as `$-1\r\n`. */
  private short(text: string): void {
    this.reserve(text.length);
    const buf = this.buf;
    let e = this.end;
    for (let i = 0; i < text.length; i++) buf[e++] = text.charCodeAt(i);
    this.end = e;
  }

  /** A one-line reply (`+`, `-`, `,`, `(`, `:`). CR and LF become spaces so text can never end the line early. */
  private line(prefix: number, s: string): void {
    const n = s.length;
    this.reserve(n * 3 + 3);
    const buf = this.buf;
    let e = this.end;
    buf[e++] = prefix;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) break;
      buf[e + i] = c === CR || c === LF ? 32 : c;
    }
    e += i;
    if (i < n) {
      const rest = s.slice(i).replace(/[\r\n]/g, ' ');
      e += buf.utf8Write(rest, e, buf.length - e);
    }
    buf[e++] = CR;
    buf[e++] = LF;
    this.end = e;
  }

  private bulkString(s: string): void {
    const n = s.length;
    if (n <= SHORT_STRING) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) >= 128) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.header(36 /* $ */, n);
        this.reserve(n + 2);
        const buf = this.buf;
        let e = this.end;
        for (let i = 0; i < n; i++) buf[e++] = s.charCodeAt(i);
        buf[e++] = CR;
        buf[e++] = LF;
        this.end = e;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.header(36 /* $ */, len);
    this.reserve(len + 2);
    const buf = this.buf;
    let e = this.end;
    e += buf.utf8Write(s, e, len);
    buf[e++] = CR;
    buf[e++] = LF;
    this.end = e;
  }

  private bulkBytes(b: Uint8Array): void {
    const n = b.length;
    this.header(36 /* $ */, n);
    this.reserve(n + 2);
    const buf = this.buf;
    let e = this.end;
    if (n <= 16) {
      for (let i = 0; i < n; i++) buf[e + i] = b[i];
    } else {
      buf.set(b, e);
    }
    e += n;
    buf[e++] = CR;
    buf[e++] = LF;
    this.end = e;
  }
}

/** Shared by `encode()`: safe because `take()` never hands out bytes twice. */
const shared = new ReplyEncoder();

/** `reply` encoded for protocol 2 or 3, as a Buffer the caller may keep. */
export function encode(reply: Reply, proto: 2 | 3): Buffer {
  shared.write(reply, proto);
  return shared.take();
}

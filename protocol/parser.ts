/**
 * Incremental RESP request parser: multibulk (`*N\r\n$len\r\n…`) and inline
 * commands, with Redis's limits and error texts (README.md, "Security", lists
 * the limits). This is the server's hot path, so the common case (whole
 * commands inside one received chunk) costs one pass over the bytes, no string
 * conversion, and one `subarray` per argument.
 */
import { ProtocolError, QueryBufferLimitError } from './errors.js';

/** Size limits, named after their redis.conf settings where one exists. */
export interface ParserLimits {
  /** `proto-max-bulk-len`: largest bulk string argument. */
  maxBulkLen: number;
  /** Largest argument count of one multibulk command. */
  maxMultibulkLen: number;
  /**
   * Longest inline request line (bytes before its LF; a CR there counts, as
   * Redis counts buffered bytes) and longest `*N` / `$len` header line (bytes
   * before its CR). Values below 32 act as 32.
   */
  maxInlineLen: number;
  /** `client-query-buffer-limit`: largest single command, counted in received bytes. */
  queryBufferLimit: number;
}

/** Redis's defaults: 512 MiB bulk, 1 Mi arguments, 64 KiB inline, 1 GiB query buffer. */
export const DEFAULT_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxBulkLen: 512 * 1024 * 1024,
  maxMultibulkLen: 1024 * 1024,
  maxInlineLen: 64 * 1024,
  queryBufferLimit: 1024 * 1024 * 1024,
});

/** Redis's limits for a client that has not authenticated yet (networking.c). */
const UNAUTH_MAX_ARGS = 10;
const UNAUTH_MAX_BULK = 16384;
/** Header lines are at most 17 bytes when valid; a smaller configured limit would reject them. */
const MIN_LINE_LIMIT = 32;
/** Inline lines are looked for byte by byte up to here; a native indexOf costs more than that. */
const INLINE_FAST_SCAN = 256;
/** Commands with more arguments always take the general path (see `wholeMultibulk`). */
const FAST_MAX_ARGS = 1024;
/** Chunks up to this size that must be queued are copied together (see `stageChunk`). */
const SMALL_CHUNK = 1024;
const STAGE_SIZE = 16 * 1024;

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const EMPTY = Buffer.alloc(0);
/** Placeholder between commands, so a finished command's array is not held. Never pushed to. */
const EMPTY_ARGS: Buffer[] = [];

const INVALID_MBULK = 'Protocol error: invalid multibulk length';
const INVALID_BULK = 'Protocol error: invalid bulk length';
const UNAUTH_MBULK = 'Protocol error: unauthenticated multibulk length';
const UNAUTH_BULK = 'Protocol error: unauthenticated bulk length';
const TOO_BIG_INLINE = 'Protocol error: too big inline request';
const TOO_BIG_MBULK = 'Protocol error: too big mbulk count string';
const TOO_BIG_BULK = 'Protocol error: too big bulk count string';
const UNBALANCED = 'Protocol error: unbalanced quotes in request';
// Redis does not check these two bytes at all; we refuse rather than silently
// treat the next two bytes of a desynchronised stream as CRLF.
const NO_CRLF_AFTER_BULK = 'Protocol error: bulk string not followed by CRLF';

// What the parser is in the middle of. A command's state survives between
// chunks; only the one element that straddles a chunk boundary is ever joined.
const START = 0; // between commands
const MB_COUNT = 1; // `*N` line did not fit the fast path
const BULK_LEN = 2; // expecting `$len`
const BULK_DATA = 3; // expecting `bulkLen` bytes + CRLF
const INLINE = 4; // an inline line

/** Where `simpleLength` left off: the index after the LF. A module variable saves an allocation per header. */
let numEnd = 0;

/**
 * The common header shape `[1-9][0-9]{0,14}\r\n` or `0\r\n`, entirely inside
 * `buf[i, end)`. Returns the value, or -1 for anything else (incomplete,
 * negative, malformed, long): the caller then takes the slow path, which
 * applies the exact Redis rules.
 */
function simpleLength(buf: Buffer, i: number, end: number): number {
  const start = i;
  const stop = Math.min(end, i + 16);
  let n = 0;
  while (i < stop) {
    const c = buf[i];
    if (c === CR) {
      const digits = i - start;
      if (digits === 0 || (digits > 1 && buf[start] === 48) || i + 1 >= end || buf[i + 1] !== LF) return -1;
      numEnd = i + 2;
      return n;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    i++;
  }
  return -1;
}

/**
 * Redis's `string2ll` over `b[s, e)`: optional '-', no '+', no leading zeros
 * (except "0" itself), no spaces, within signed 64 bits. Returns NaN when it
 * would fail. Magnitudes above 2^53 come back rounded, which is harmless:
 * every limit we compare against is far smaller.
 */
function parseLongLong(b: Buffer, s: number, e: number): number {
  if (e - s === 1 && b[s] === 48) return 0;
  let p = s;
  let negative = false;
  if (p < e && b[p] === 45) {
    negative = true;
    p++;
  }
  if (p >= e || b[p] < 49 || b[p] > 57) return NaN;
  const digits = e - p;
  if (digits > 19) return NaN;
  let v = 0;
  for (let i = p; i < e; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  if (digits === 19) {
    // Equal-length digit strings compare numerically as text.
    const text = b.toString('latin1', p, e);
    if (text > (negative ? '9223372036854775808' : '9223372036854775807')) return NaN;
  }
  return negative ? -v : v;
}

/** Slots of the shared command names (see `commandName`); a power of two. */
const NAME_SLOTS = 64;
/** Longer first arguments are always sliced: no command name is that long. */
const NAME_MAX = 32;
/** Copies of command names seen recently, direct-mapped by length and first and last byte; shared by all parsers. */
const names: Array<Buffer | null> = new Array<Buffer | null>(NAME_SLOTS).fill(null);

/**
 * `buf[start, start + len)` as a Buffer: the shared copy of a command name
 * already seen with these very bytes, found by comparing a few bytes; else a
 * new copy, which takes the slot for next time. Copies, in memory of their
 * own: a slice kept there would pin its whole chunk.
 */
function commandName(buf: Buffer, start: number, len: number): Buffer {
  if (len === 0 || len > NAME_MAX) return buf.subarray(start, start + len);
  const slot = (len * 31 + buf[start] * 7 + buf[start + len - 1]) & (NAME_SLOTS - 1);
  const known = names[slot];
  if (known !== null && known.length === len) {
    let i = 0;
    while (i < len && known[i] === buf[start + i]) i++;
    if (i === len) return known;
  }
  const copy = Buffer.allocUnsafeSlow(len);
  buf.copy(copy, 0, start, start + len);
  names[slot] = copy;
  return copy;
}

/** C `isspace` in the "C" locale, which `sdssplitargs` uses to skip blanks. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** The byte at `i`, or 0 past the end: the C string's terminator that `sdssplitargs` relies on. */
function byteAt(src: Buffer, i: number, end: number): number {
  return i < end ? src[i] : 0;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** How a byte appears inside an error message: as itself if printable, CR/LF as spaces (as Redis sanitises), else `\xHH`. */
function showByte(c: number): string {
  if (c === CR || c === LF) return ' ';
  if (c >= 32 && c < 127) return String.fromCharCode(c);
  return `\\x${c.toString(16).padStart(2, '0')}`;
}

/**
 * `splitInline` for the usual line, without quotes or NUL bytes (null for any
 * other): a first pass counts the tokens so the result is allocated at its
 * size, not grown by push. `shareName`: the first token as `commandName` gives it.
 */
function splitPlain(src: Buffer, p: number, end: number, shareName: boolean): Buffer[] | null {
  let n = 0;
  for (let i = p; ;) {
    while (i < end && isSpace(src[i])) i++;
    if (i >= end) break;
    let c = src[i];
    while (c !== 32 && c !== LF && c !== CR && c !== 9) {
      if (c === 0 || c === 34 || c === 39) return null;
      if (++i >= end) break;
      c = src[i];
    }
    n++;
    if (i >= end) break;
    i++;
  }
  const out = new Array<Buffer>(n);
  for (let k = 0, i = p; k < n; k++) {
    while (isSpace(src[i])) i++;
    const start = i;
    while (i < end) {
      const c = src[i];
      if (c === 32 || c === LF || c === CR || c === 9) break;
      i++;
    }
    out[k] = k === 0 && shareName ? commandName(src, start, i - start) : src.subarray(start, i);
    i++;
  }
  return out;
}

/**
 * Redis's `sdssplitargs` over `src[p, end)`: unquoted tokens come back as
 * slices of `src`; quoted ones are decoded into one scratch buffer shared by
 * the line. A NUL byte ends the line, as it does for the C string Redis splits.
 * Throws on unbalanced quotes or a closing quote not followed by a space.
 */
function splitInline(src: Buffer, p: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let scratch: Buffer | null = null;
  let used = 0;
  for (;;) {
    while (p < end && isSpace(src[p])) p++;
    if (p >= end || src[p] === 0) return out;
    const start = p;
    let c = src[p];
    while (c !== 32 && c !== LF && c !== CR && c !== 9 && c !== 0 && c !== 34 && c !== 39) {
      if (++p >= end) break;
      c = src[p];
    }
    if (p >= end || (c !== 34 && c !== 39)) {
      out.push(src.subarray(start, p));
      if (p >= end || c === 0) return out;
      p++;
      continue;
    }
    // A quote: from here on the token is decoded, following sdssplitargs's state machine.
    if (scratch === null) scratch = Buffer.allocUnsafe(end - start);
    const tokenStart = used;
    used += src.copy(scratch, used, start, p);
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      c = byteAt(src, p, end);
      if (inDouble) {
        let h1: number, h2: number;
        if (c === 92 && byteAt(src, p + 1, end) === 120 && (h1 = hexValue(byteAt(src, p + 2, end))) >= 0 && (h2 = hexValue(byteAt(src, p + 3, end))) >= 0) {
          scratch[used++] = h1 * 16 + h2;
          p += 3;
        } else if (c === 92 && byteAt(src, p + 1, end) !== 0) {
          p++;
          const e = src[p];
          scratch[used++] = e === 110 ? LF : e === 114 ? CR : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e;
        } else if (c === 34) {
          const next = byteAt(src, p + 1, end);
          if (next !== 0 && !isSpace(next)) throw new ProtocolError(UNBALANCED);
          done = true;
        } else if (c === 0) {
          throw new ProtocolError(UNBALANCED);
        } else {
          scratch[used++] = c;
        }
      } else if (inSingle) {
        if (c === 92 && byteAt(src, p + 1, end) === 39) {
          p++;
          scratch[used++] = 39;
        } else if (c === 39) {
          const next = byteAt(src, p + 1, end);
          if (next !== 0 && !isSpace(next)) throw new ProtocolError(UNBALANCED);
          done = true;
        } else if (c === 0) {
          throw new ProtocolError(UNBALANCED);
        } else {
          scratch[used++] = c;
        }
      } else if (c === 32 || c === LF || c === CR || c === 9 || c === 0) {
        done = true;
      } else if (c === 34) {
        inDouble = true;
      } else if (c === 39) {
        inSingle = true;
      } else {
        scratch[used++] = c;
      }
      if (byteAt(src, p, end) !== 0) p++;
    }
    out.push(scratch.subarray(tokenStart, used));
  }
}

/**
 * Splits a byte stream into commands. Feed it chunks as they arrive and call
 * `next()` until it returns null.
 *
 * Arguments are slices of the received chunks (or, for an element split over
 * chunks, of one buffer joined once it is complete). Nothing handed out is
 * ever written again, but a slice keeps its whole chunk alive: copy
 * (`Buffer.from(arg)`) anything kept beyond the command, such as a key.
 *
 * Memory: bytes are held only as they arrive (a declared length is checked,
 * never allocated ahead), consumed chunks are dropped, and one command may not
 * exceed `limits.queryBufferLimit`. A caller that stops calling `next()` (say,
 * while applying backpressure) should stop reading the socket too: `feed()`
 * itself never refuses bytes.
 */
export class RequestParser {
  /** Read on every use, so they may be changed at any time (CONFIG SET). */
  limits: ParserLimits;
  /**
   * While true, Redis's stricter limits for unauthenticated clients apply:
   * more than 10 arguments → `Protocol error: unauthenticated multibulk length`,
   * a bulk over 16384 bytes → `Protocol error: unauthenticated bulk length`.
   */
  unauthenticated = false;
  /** Whether the command just returned by `next()` was an inline command. */
  lastWasInline = false;
  /**
   * When set, a command name seen recently is returned as a shared copy (see
   * `commandName`) instead of a new slice of the chunk: one Buffer object less
   * per command. Such an `args[0]` is not a slice of the received bytes, and
   * is the same object in many commands: it must never be written to (no
   * argument may be anyway).
   */
  shareCommandNames = false;

  /** The chunk being parsed, from `pos`. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Stream offset of `buf[0]`: lets sizes be measured across chunks and joins. */
  private base = 0;
  /** Chunks received after `buf`, from `qHead` (an index, so taking one is O(1)). */
  private queue: Buffer[] = [];
  private qHead = 0;
  private queued = 0;

  private phase = START;
  private args: Buffer[] = [];
  /** `args[0, argsOwned)` are copies of their own (compact() made them), not slices of a chunk. */
  private argsOwned = 0;
  private remaining = 0;
  private bulkLen = 0;
  /** Stream offset where the current command began. */
  private cmdStart = 0;

  // A line still missing its terminator is not rescanned from its start on
  // every arrival (a 1-byte-per-packet sender would make that quadratic):
  // the `scanned` bytes from stream offset `scanStart` hold no terminator.
  // Valid only while that line is pending: the queue then only grows at its end.
  private scanStart = -1;
  private scanned = 0;
  /** Index in `queue` of the chunk to resume scanning in, and its offset from the line's start. */
  private scanChunk = 0;
  private scanOffset = 0;

  /** Where small chunks are copied (see `stageChunk`); `stageSlot` is the queue index still growing in it, or -1. */
  private stage: Buffer | null = null;
  private stageUsed = 0;
  private stageStart = 0;
  private stageSlot = -1;

  private failure: ProtocolError | null = null;

  constructor(limits?: Partial<ParserLimits>) {
    this.limits = { ...DEFAULT_LIMITS };
    if (limits !== undefined) {
      for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ParserLimits)[]) {
        const value = limits[key];
        if (value !== undefined) this.limits[key] = value;
      }
    }
  }

  /**
   * Appends a received chunk. The chunk is referenced, not copied (except a
   * small one arriving behind an incomplete command, see `stageChunk`), and
   * must not be modified afterwards. Ignored once the parser has failed.
   */
  feed(chunk: Buffer): void {
    if (this.failure !== null || chunk.length === 0) return;
    if (this.pos >= this.buf.length && this.qHead === this.queue.length) {
      this.base += this.buf.length;
      this.buf = chunk;
      this.pos = 0;
    } else if (chunk.length <= SMALL_CHUNK) {
      this.stageChunk(chunk);
    } else {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.stageSlot = -1;
    }
  }

  /**
   * Queues a small chunk by copying it into a shared staging buffer: a sender
   * trickling bytes would otherwise cost a Buffer object (~100 bytes) per byte.
   * Consecutive small chunks extend one queue entry; offsets already scanned
   * in it stay valid because it only grows at its end.
   */
  private stageChunk(chunk: Buffer): void {
    const last = this.queue.length - 1;
    let stage = this.stage;
    if (stage === null || this.stageUsed + chunk.length > stage.length) {
      stage = this.stage = Buffer.allocUnsafeSlow(STAGE_SIZE);
      this.stageUsed = 0;
      this.stageSlot = -1;
    }
    chunk.copy(stage, this.stageUsed);
    this.stageUsed += chunk.length;
    this.queued += chunk.length;
    if (this.stageSlot === last && last >= this.qHead) {
      this.queue[last] = stage.subarray(this.stageStart, this.stageUsed);
    } else {
      this.stageStart = this.stageUsed - chunk.length;
      this.stageSlot = this.queue.length;
      this.queue.push(stage.subarray(this.stageStart, this.stageUsed));
    }
  }

  /**
   * The next complete command's arguments, or null if more bytes are needed.
   * `*0`, `*-1` (any non-positive count) and blank inline lines are skipped.
   *
   * @throws ProtocolError on malformed input or a broken limit (then, and on
   *   every later call, the parser is dead and holds no buffers: close the
   *   connection). `QueryBufferLimitError` when one command outgrows
   *   `limits.queryBufferLimit`.
   */
  next(): Buffer[] | null {
    if (this.failure !== null) throw this.failure;
    if (this.phase === START) {
      const buf = this.buf;
      const pos = this.pos;
      if (pos < buf.length && buf[pos] === STAR) {
        const args = this.wholeMultibulk(buf, pos, buf.length);
        if (args !== null) return args;
      }
    }
    try {
      return this.run();
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.failure = err;
        this.release();
      }
      throw err;
    }
  }

  /** Bytes received and not yet returned as part of a command (including a partly parsed one). */
  get pending(): number {
    const received = this.base + this.buf.length + this.queued;
    return received - (this.phase === START ? this.base + this.pos : this.cmdStart);
  }

  /**
   * Lets go of memory while the connection is idle. Consumed chunks are
   * already dropped by `next()`; this also copies a small unparsed tail out of
   * the large chunk that holds it, so a slow client pins only its own bytes.
   */
  compact(): void {
    if (this.failure !== null) return;
    // The arguments of a command still in progress are slices of the chunks they came
    // in: copy each (once) so that command pins only its own bytes, not whole chunks.
    for (let i = this.argsOwned; i < this.args.length; i++) this.args[i] = Buffer.from(this.args[i]);
    this.argsOwned = this.args.length;
    // Queue entries keep what they use of the staging buffer alive; the parser need not.
    this.stage = null;
    this.stageSlot = -1;
    const tail = this.buf.length - this.pos;
    if (tail === 0) {
      this.base += this.buf.length;
      this.buf = EMPTY;
      this.pos = 0;
    } else if (tail * 2 <= this.buf.length) {
      const copy = Buffer.allocUnsafeSlow(tail);
      this.buf.copy(copy, 0, this.pos);
      // Stream offsets, hence any scan in progress, are unchanged by this.
      this.base += this.pos;
      this.buf = copy;
      this.pos = 0;
    }
  }

  private run(): Buffer[] | null {
    for (;;) {
      const buf = this.buf;
      const end = buf.length;
      let pos = this.pos;
      if (pos >= end) {
        if (this.qHead < this.queue.length) {
          this.shift();
          continue;
        }
        if (this.phase === START) {
          // Drop the consumed chunk now; returned slices keep it alive only as long as they live.
          this.base += end;
          this.buf = EMPTY;
          this.pos = 0;
          return null;
        }
        return this.waiting();
      }
      switch (this.phase) {
        case START: {
          this.cmdStart = this.base + pos;
          if (buf[pos] !== STAR) {
            this.phase = INLINE;
            continue;
          }
          const n = simpleLength(buf, pos + 1, end);
          if (n < 0) {
            this.phase = MB_COUNT;
            continue;
          }
          this.pos = numEnd;
          this.beginMultibulk(n);
          continue;
        }
        case MB_COUNT: {
          const line = this.takeLine(CR, TOO_BIG_MBULK);
          if (line === null) return this.waiting();
          if (line[line.length - 1] !== LF) throw new ProtocolError(INVALID_MBULK);
          this.beginMultibulk(parseLongLong(line, 1, line.length - 2));
          continue;
        }
        case BULK_LEN: {
          if (buf[pos] === DOLLAR) {
            const len = simpleLength(buf, pos + 1, end);
            if (len >= 0) {
              this.checkBulkLen(len);
              pos = numEnd;
              // The whole bulk is usually right here: take it without another trip round the loop.
              if (end - pos >= len + 2) {
                if (buf[pos + len] !== CR || buf[pos + len + 1] !== LF) throw new ProtocolError(NO_CRLF_AFTER_BULK);
                this.args.push(buf.subarray(pos, pos + len));
                this.pos = pos + len + 2;
                if (--this.remaining === 0) return this.complete();
                continue;
              }
              this.pos = pos;
              this.bulkLen = len;
              this.phase = BULK_DATA;
              continue;
            }
          }
          const line = this.takeLine(CR, TOO_BIG_BULK);
          if (line === null) return this.waiting();
          if (line[0] !== DOLLAR) throw new ProtocolError(`Protocol error: expected '$', got '${showByte(line[0])}'`);
          if (line[line.length - 1] !== LF) throw new ProtocolError(INVALID_BULK);
          const len = parseLongLong(line, 1, line.length - 2);
          this.checkBulkLen(len);
          this.bulkLen = len;
          this.phase = BULK_DATA;
          continue;
        }
        case BULK_DATA: {
          const len = this.bulkLen;
          let data = buf;
          if (end - pos >= len + 2) {
            this.pos = pos + len + 2;
          } else {
            // Join only once every byte is here: a declared length is never allocated ahead.
            if (end - pos + this.queued < len + 2) return this.waiting();
            data = this.consume(len + 2);
            pos = 0;
          }
          if (data[pos + len] !== CR || data[pos + len + 1] !== LF) throw new ProtocolError(NO_CRLF_AFTER_BULK);
          this.args.push(data.subarray(pos, pos + len));
          this.phase = BULK_LEN;
          if (--this.remaining === 0) return this.complete();
          continue;
        }
        default: {
          // INLINE
          let src = buf;
          let lineEnd = -1;
          const stop = Math.min(end, pos + INLINE_FAST_SCAN);
          for (let i = pos; i < stop; i++) {
            if (buf[i] === LF) {
              lineEnd = i;
              break;
            }
          }
          if (lineEnd >= 0 && lineEnd - pos <= Math.max(this.limits.maxInlineLen, MIN_LINE_LIMIT)) {
            this.pos = lineEnd + 1;
          } else {
            const line = this.takeLine(LF, TOO_BIG_INLINE);
            if (line === null) return this.waiting();
            src = line;
            pos = 0;
            lineEnd = line.length - 1;
          }
          if (lineEnd > pos && src[lineEnd - 1] === CR) lineEnd--;
          const args = splitPlain(src, pos, lineEnd, this.shareCommandNames) ?? splitInline(src, pos, lineEnd);
          this.phase = START;
          if (args.length === 0) continue;
          this.checkCommandSize();
          this.lastWasInline = true;
          return args;
        }
      }
    }
  }

  /**
   * The common case on its own: a valid multibulk command lying entirely in
   * `buf`, parsed with locals only and committed at the end. Anything else
   * (incomplete, malformed, over a limit, unusual shape) returns null without
   * changing state, and the general state machine takes it from the start,
   * so errors are produced in one place only. That repeats work at most once
   * per command, bounded by FAST_MAX_ARGS.
   */
  private wholeMultibulk(buf: Buffer, pos: number, end: number): Buffer[] | null {
    const n = simpleLength(buf, pos + 1, end);
    const limits = this.limits;
    if (n <= 0 || n > FAST_MAX_ARGS || n > limits.maxMultibulkLen || (this.unauthenticated && n > UNAUTH_MAX_ARGS)) return null;
    const maxBulk = this.unauthenticated ? Math.min(limits.maxBulkLen, UNAUTH_MAX_BULK) : limits.maxBulkLen;
    let p = numEnd;
    const args = new Array<Buffer>(n);
    const share = this.shareCommandNames;
    for (let i = 0; i < n; i++) {
      if (p >= end || buf[p] !== DOLLAR) return null;
      const len = simpleLength(buf, p + 1, end);
      if (len < 0 || len > maxBulk) return null;
      p = numEnd;
      const stop = p + len;
      if (stop + 2 > end || buf[stop] !== CR || buf[stop + 1] !== LF) return null;
      args[i] = i === 0 && share ? commandName(buf, p, len) : buf.subarray(p, stop);
      p = stop + 2;
    }
    if (p - pos > limits.queryBufferLimit) return null;
    this.pos = p;
    this.lastWasInline = false;
    return args;
  }

  /** Validates a multibulk count (Redis order: invalid, then unauthenticated) and starts collecting. */
  private beginMultibulk(n: number): void {
    if (!(n <= this.limits.maxMultibulkLen)) throw new ProtocolError(INVALID_MBULK); // NaN lands here too
    if (this.unauthenticated && n > UNAUTH_MAX_ARGS) throw new ProtocolError(UNAUTH_MBULK);
    if (n <= 0) {
      this.phase = START;
      return;
    }
    // Grown by push, not sized by n: the count is a claim until the arguments arrive.
    this.args = [];
    this.argsOwned = 0;
    this.remaining = n;
    this.phase = BULK_LEN;
  }

  private checkBulkLen(len: number): void {
    if (!(len >= 0 && len <= this.limits.maxBulkLen)) throw new ProtocolError(INVALID_BULK);
    if (this.unauthenticated && len > UNAUTH_MAX_BULK) throw new ProtocolError(UNAUTH_BULK);
  }

  private complete(): Buffer[] {
    const args = this.args;
    this.args = EMPTY_ARGS;
    this.argsOwned = 0;
    this.phase = START;
    this.checkCommandSize();
    this.lastWasInline = false;
    return args;
  }

  /**
   * Measured on every command, not only on incomplete ones, so the outcome
   * does not depend on how the bytes happened to be split into chunks.
   */
  private checkCommandSize(): void {
    if (this.base + this.pos - this.cmdStart > this.limits.queryBufferLimit) {
      throw new QueryBufferLimitError(this.limits.queryBufferLimit);
    }
  }

  /** The current command is incomplete: enforce the query buffer limit on what it holds, then wait. */
  private waiting(): null {
    const held = this.base + this.buf.length + this.queued - this.cmdStart;
    if (held > this.limits.queryBufferLimit) throw new QueryBufferLimitError(this.limits.queryBufferLimit);
    return null;
  }

  /** Moves to the next queued chunk; `buf` must be fully consumed or copied out. */
  private shift(): void {
    this.base += this.buf.length;
    const chunk = this.queue[this.qHead];
    // Once it is `buf` a staged entry must not grow any more.
    if (this.stageSlot === this.qHead) this.stageSlot = -1;
    this.queue[this.qHead++] = EMPTY;
    this.queued -= chunk.length;
    if (this.qHead === this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
      this.stageSlot = -1;
    } else if (this.qHead >= 1024 && this.qHead * 2 >= this.queue.length) {
      // A queue that never drains (a stream of large bulks, always one in progress) would keep its spent head forever.
      // No line scan is in progress across a shift, so only the staging slot refers to indices.
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
      this.stageSlot = -1;
    }
    this.buf = chunk;
    this.pos = 0;
  }

  /** The next `n` bytes as one fresh buffer; `n` must not exceed what is buffered and must straddle `buf`'s end. */
  private consume(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = this.buf.copy(out, 0, this.pos);
    this.pos = this.buf.length;
    while (off < n) {
      this.shift();
      const take = Math.min(this.buf.length, n - off);
      this.buf.copy(out, off, 0, take);
      off += take;
      this.pos = take;
    }
    return out;
  }

  /**
   * Takes one line ending at the first `term` (CR: a header, which then needs
   * one more byte for its LF; LF: an inline line), possibly joining chunks.
   * Returns the line with its terminator, or null if it is not all here yet.
   * A line longer than the limit is an error whether or not its end has
   * arrived, so the outcome does not depend on chunking.
   */
  private takeLine(term: number, tooBig: string): Buffer | null {
    const buf = this.buf;
    const pos = this.pos;
    const tail = buf.length - pos;
    const max = Math.max(this.limits.maxInlineLen, MIN_LINE_LIMIT);
    // Resume where the last scan of this same line stopped: which queued chunk, at what offset.
    const start = this.base + pos;
    const resume = this.scanStart === start;
    const from = resume ? this.scanned : 0;
    let k = resume ? this.scanChunk : this.qHead;
    let offset = resume ? this.scanOffset : tail;
    let at = -1;
    if (from < tail) {
      const i = buf.indexOf(term, pos + from);
      if (i >= 0) at = i - pos;
    }
    if (at < 0) {
      for (; k < this.queue.length && offset <= max; k++) {
        const chunk = this.queue[k];
        const i = chunk.indexOf(term, Math.max(0, from - offset));
        if (i >= 0) {
          at = offset + i;
          break;
        }
        offset += chunk.length;
      }
    }
    const available = tail + this.queued;
    this.scanStart = start;
    if (at < 0) {
      if (available > max) throw new ProtocolError(tooBig);
      this.scanned = available;
      // Resume in the last chunk, not after it: a staged entry may still grow.
      if (k > this.qHead) {
        this.scanChunk = k - 1;
        this.scanOffset = offset - this.queue[k - 1].length;
      } else {
        this.scanChunk = this.qHead;
        this.scanOffset = tail;
      }
      return null;
    }
    this.scanChunk = k;
    this.scanOffset = offset;
    if (at > max) throw new ProtocolError(tooBig);
    const need = at + (term === CR ? 2 : 1);
    if (need > available) {
      // The CR is here, its LF is not: next time start from the CR itself.
      this.scanned = at;
      return null;
    }
    this.scanStart = -1;
    if (need <= tail) {
      this.pos = pos + need;
      return buf.subarray(pos, pos + need);
    }
    return this.consume(need);
  }

  private release(): void {
    this.buf = EMPTY;
    this.pos = 0;
    this.queue = [];
    this.qHead = 0;
    this.queued = 0;
    this.args = EMPTY_ARGS;
    this.scanStart = -1;
    this.stage = null;
    this.stageSlot = -1;
  }
}

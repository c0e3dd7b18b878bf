/**
 * A protocol fuzzer for a running Astronaut (bench/fuzz.ts, test/hardening/fuzz.test.ts):
 * random valid commands (VEC.*, V*, strings, connection, server,
 * transactions), encoded as multibulk or inline frames, then, batch by batch,
 * mutated (bit flips, interesting bytes, cuts, repeats, splices, deletions,
 * hostile length headers) and sent over several connections at once.
 *
 * Invariants checked while it runs:
 * - the server process never exits;
 * - every byte it sends parses as strict RESP (resp-check.ts): RESP2 unless
 *   the connection may have switched with HELLO, no stack trace in errors;
 * - after `-ERR Protocol error…` nothing more arrives and the connection closes;
 * - an unmutated batch gets exactly one reply per command (unless it QUITs);
 * - a separate connection's PING keeps answering;
 * - the server's RSS stays under a bound.
 *
 * Batches end with `DISCARD` + `PING <token>`: the token's echo proves the
 * server is at a command boundary again. A mutated batch may leave the parser
 * waiting for bytes that never come (a declared bulk length); after a quiet
 * spell the connection is dropped and reopened.
 *
 * Used by test/hardening/fuzz.test.ts (a seeded slice in CI) and by
 * bench/fuzz.ts (the long run).
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { ReplyReader, MalformedReply, show, type RespValue } from './resp-check.js';

// ---- randomness ----------------------------------------------------------------

/** Seeded PRNG (mulberry32): a failing run can be replayed from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 ≤ n < max. */
  int(max: number): number { return Math.floor(this.next() * max); }
  range(min: number, max: number): number { return min + this.int(max - min + 1); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A new seed for a sub-generator. */
  fork(): Rng { return new Rng(this.int(2 ** 32)); }
}

// ---- valid commands ---------------------------------------------------------------

type Args = Buffer[];
const B = (s: string | number): Buffer => Buffer.from(String(s));

const KEYS = ['fz:a', 'fz:b', 'fz:c', 'fz:d', 'fz:l2', 'fz:ip', 'fz:bin', 'fz:v', 'fz:w', 'fz:q', 'fz:s', 'fz:t'];
const DIMS = [1, 2, 3, 4, 4, 4, 8, 8, 16];
const INTS = ['0', '1', '-1', '2', '10', '100', '4096', '65536', '65537', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '18446744073709551616', '01', '+1', '1.5', '', ' 1', 'abc', '1e3'];
const FLOATS = ['0', '-0', '1', '-1', '0.5', '1e-45', '3.4028235e38', '-3.4028235e38', '1e39', 'nan', 'inf', '-inf', '1.0abc', ' 1', '', '0x10', '1e-400', '.5', '5.', '+2', '1e', '123456789.123456789'];
const FILTERS = ['.a == 1', '.a > 2 and .b == "x"', '.tag in ["x","y"]', 'not .a', '(.a + 1) * 2 >= 3', '.a == ', '(.a > 1', '.a >> 2', '"unterminated', '.a == 1 or', '.x.y.z', '!.a', '.a != null', '1', '""', '@'];
const METRICS = ['COSINE', 'L2', 'IP', 'HAMMING', 'JACCARD', 'cosine', 'MANHATTAN'];
const QUANTS = ['F32', 'F16', 'BF16', 'I8', 'B1', 'Q4'];
const PAYLOADS = ['{"a":1}', '{"a":2,"b":"x"}', '{"tag":"y","n":[1,2,3]}', '{}', '[1]', 'null', '{bad', '"s"', '{"a":{"b":{"c":1}}}', ''];

/** Generates plausible commands, biased toward the vector families and their edges. */
export class CommandGen {
  private ids: string[];
  /** `exclude`: command names (upper case) never generated, e.g. to step around a known crash. */
  constructor(private readonly rng: Rng, private readonly exclude: ReadonlySet<string> = new Set()) {
    this.ids = Array.from({ length: 64 }, (_, i) => `e${i}`);
  }

  private key(): Buffer {
    const r = this.rng;
    if (r.chance(0.03)) return r.bytes(r.range(0, 24));
    return B(r.pick(KEYS));
  }
  private id(): Buffer {
    const r = this.rng;
    if (r.chance(0.05)) return r.bytes(r.range(0, 40));
    return B(r.pick(this.ids));
  }
  private int(): Buffer {
    const r = this.rng;
    return r.chance(0.7) ? B(r.range(0, 20)) : B(r.pick(INTS));
  }
  private float(): Buffer {
    const r = this.rng;
    if (r.chance(0.85)) return B((r.next() * 4 - 2).toFixed(r.range(0, 8)));
    return B(r.pick(FLOATS));
  }
  private blob(dim: number): Buffer {
    const r = this.rng;
    const v = new Float32Array(dim);
    for (let i = 0; i < dim; i++) v[i] = r.next() * 2 - 1;
    const b = Buffer.from(v.buffer);
    if (dim > 0 && r.chance(0.05)) b.writeUInt32LE(r.pick([0x7fc00000, 0x7f800000, 0xff800000, 0x00000001, 0x80000000, 0x7f7fffff]), 4 * r.int(dim));
    if (r.chance(0.03)) return b.subarray(0, r.int(b.length));
    return b;
  }
  /** `VALUES n v…` or `FP32 blob`, usually of a plausible dimension. */
  private vector(): Args {
    const r = this.rng;
    let dim = r.pick(DIMS);
    if (r.chance(0.02)) dim = r.range(0, 70);
    if (r.chance(0.5)) return [B('FP32'), this.blob(dim)];
    const declared = r.chance(0.95) ? dim : r.range(0, dim + 3);
    const out: Args = [B('VALUES'), B(declared)];
    for (let i = 0; i < dim; i++) out.push(this.float());
    return out;
  }
  private query(): Args {
    return this.rng.chance(0.2) ? [B('ELE'), this.id()] : this.vector();
  }
  private text(max = 24): Buffer {
    const r = this.rng;
    if (r.chance(0.7)) {
      const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 _-:"\'\\';
      let s = '';
      const n = r.range(0, max);
      for (let i = 0; i < n; i++) s += alphabet[r.int(alphabet.length)];
      return B(s);
    }
    return r.bytes(r.range(0, max));
  }

  next(): Args {
    for (;;) {
      const args = this.any();
      if (this.exclude.size === 0 || !this.exclude.has(args[0].toString('latin1').toUpperCase())) return args;
    }
  }

  private any(): Args {
    const r = this.rng;
    const k = r.int(100);
    if (k < 22) return this.vecAdd();
    if (k < 40) return this.vecSearch();
    if (k < 45) return [B('VEC.DEL'), this.key(), ...Array.from({ length: r.range(1, 4) }, () => this.id())];
    if (k < 49) return [B(r.pick(['VEC.GET', 'VEC.GET', 'VEC.SETPAYLOAD'])), this.key(), this.id(), ...(r.chance(0.5) ? [B(r.pick(PAYLOADS))] : [])];
    if (k < 53) return [B(r.pick(['VEC.CARD', 'VEC.DIM', 'VEC.INFO'])), this.key()];
    if (k < 54) return [B('VEC.LIST')];
    if (k < 56) return this.vecCreate();
    if (k < 62) return this.vadd();
    if (k < 68) return this.vsim();
    if (k < 72) return this.vOther();
    if (k < 78) return this.strings();
    if (k < 90) return this.connection();
    if (k < 96) return this.server();
    return this.unknown();
  }

  private createOptions(): Args {
    const r = this.rng;
    const out: Args = [];
    if (r.chance(0.15)) out.push(B('METRIC'), B(r.pick(METRICS)));
    if (r.chance(0.1)) out.push(B('QUANT'), B(r.pick(QUANTS)));
    if (r.chance(0.08)) out.push(B('M'), r.chance(0.8) ? B(r.range(2, 48)) : this.int());
    if (r.chance(0.05)) out.push(B('EF_CONSTRUCTION'), r.chance(0.8) ? B(r.range(1, 200)) : this.int());
    return out;
  }

  private vecAdd(): Args {
    const r = this.rng;
    const out: Args = [B('VEC.ADD'), this.key(), this.id(), ...this.vector()];
    if (r.chance(0.3)) out.push(B('PAYLOAD'), B(r.pick(PAYLOADS)));
    out.push(...this.createOptions());
    return out;
  }

  private vecSearch(): Args {
    const r = this.rng;
    const out: Args = [B('VEC.SEARCH'), this.key(), ...this.query()];
    if (r.chance(0.4)) out.push(B('COUNT'), r.chance(0.8) ? B(r.range(1, 50)) : this.int());
    if (r.chance(0.15)) out.push(B('EF'), r.chance(0.8) ? B(r.range(1, 200)) : this.int());
    if (r.chance(0.2)) out.push(B('FILTER'), B(r.pick(FILTERS)));
    if (r.chance(0.3)) out.push(B('WITHSCORES'));
    if (r.chance(0.2)) out.push(B('WITHPAYLOADS'));
    if (r.chance(0.1)) out.push(B('EXACT'));
    return out;
  }

  private vecCreate(): Args {
    const r = this.rng;
    const out: Args = [B('VEC.CREATE'), this.key(), B('DIM'), r.chance(0.9) ? B(r.pick(DIMS)) : this.int(), ...this.createOptions()];
    if (r.chance(0.1)) out.push(B('EF'), this.int());
    return out;
  }

  private vadd(): Args {
    const r = this.rng;
    const out: Args = [B('VADD'), this.key()];
    if (r.chance(0.05)) out.push(B('REDUCE'), B(r.range(1, 4)));
    out.push(...this.vector(), this.id());
    if (r.chance(0.1)) out.push(B(r.pick(['NOQUANT', 'Q8', 'BIN', 'CAS'])));
    if (r.chance(0.1)) out.push(B('SETATTR'), B(r.pick(PAYLOADS)));
    if (r.chance(0.05)) out.push(B('M'), this.int());
    if (r.chance(0.05)) out.push(B('EF'), this.int());
    return out;
  }

  private vsim(): Args {
    const r = this.rng;
    const out: Args = [B('VSIM'), this.key(), ...this.query()];
    if (r.chance(0.3)) out.push(B('WITHSCORES'));
    if (r.chance(0.15)) out.push(B('WITHATTRIBS'));
    if (r.chance(0.3)) out.push(B('COUNT'), r.chance(0.8) ? B(r.range(1, 30)) : this.int());
    if (r.chance(0.1)) out.push(B('EPSILON'), this.float());
    if (r.chance(0.1)) out.push(B('EF'), this.int());
    if (r.chance(0.15)) out.push(B('FILTER'), B(r.pick(FILTERS)));
    if (r.chance(0.05)) out.push(B('FILTER-EF'), this.int());
    if (r.chance(0.05)) out.push(B(r.pick(['TRUTH', 'NOTHREAD'])));
    return out;
  }

  private vOther(): Args {
    const r = this.rng;
    switch (r.int(11)) {
      case 0: return [B('VREM'), this.key(), this.id()];
      case 1: return [B('VCARD'), this.key()];
      case 2: return [B('VDIM'), this.key()];
      case 3: return [B('VEMB'), this.key(), this.id(), ...(r.chance(0.3) ? [B('RAW')] : [])];
      case 4: return [B('VGETATTR'), this.key(), this.id()];
      case 5: return [B('VSETATTR'), this.key(), this.id(), B(r.pick(PAYLOADS))];
      case 6: return [B('VINFO'), this.key()];
      case 7: return [B('VLINKS'), this.key(), this.id(), ...(r.chance(0.5) ? [B('WITHSCORES')] : [])];
      case 8: return [B('VRANDMEMBER'), this.key(), ...(r.chance(0.7) ? [r.chance(0.8) ? B(r.range(-20, 20)) : this.int()] : [])];
      case 9: return [B('VISMEMBER'), this.key(), this.id()];
      default: return [B('VRANGE'), this.key(), B(r.pick(['-', '[e1', '(e2', '[a'])), B(r.pick(['+', '[e9', '(z'])), ...(r.chance(0.5) ? [this.int()] : [])];
    }
  }

  private strings(): Args {
    const r = this.rng;
    switch (r.int(9)) {
      case 0: return [B('SET'), this.key(), this.text(64), ...(r.chance(0.2) ? [B(r.pick(['NX', 'XX', 'GET']))] : [])];
      case 1: return [B('GET'), this.key()];
      case 2: return [B('DEL'), this.key(), ...(r.chance(0.3) ? [this.key()] : [])];
      case 3: return [B('EXISTS'), this.key()];
      case 4: return [B('TYPE'), this.key()];
      case 5: return [B('KEYS'), B(r.pick(['*', 'fz:*', 'fz:[ab]', '*\\', '[', '?'])) ];
      case 6: return [B('SCAN'), this.int(), ...(r.chance(0.5) ? [B('MATCH'), B('fz:*')] : []), ...(r.chance(0.4) ? [B('COUNT'), this.int()] : []), ...(r.chance(0.2) ? [B('TYPE'), B('vectorset')] : [])];
      case 7: return [B(r.pick(['RENAME', 'RENAMENX'])), this.key(), this.key()];
      default: return [B('DBSIZE')];
    }
  }

  private connection(): Args {
    const r = this.rng;
    switch (r.int(12)) {
      case 0: case 1: return r.chance(0.5) ? [B('PING')] : [B('PING'), this.text()];
      case 2: return [B('ECHO'), this.text(r.chance(0.05) ? 4096 : 32)];
      case 3: return [B('HELLO'), ...(r.chance(0.9) ? [B(r.pick(['2', '3', '3', '4', 'x']))] : []), ...(r.chance(0.1) ? [B('SETNAME'), this.text(8)] : []), ...(r.chance(0.05) ? [B('AUTH'), B('default'), this.text(8)] : [])];
      case 4: return [B('MULTI')];
      case 5: return [B('EXEC')];
      case 6: return [B('DISCARD')];
      case 7: return [B('SELECT'), r.chance(0.8) ? B(r.range(0, 16)) : this.int()];
      case 8: return [B('CLIENT'), B(r.pick(['ID', 'GETNAME', 'INFO', 'HELP', 'LIST']))];
      case 9: return [B('CLIENT'), B(r.pick(['SETNAME', 'NO-EVICT', 'NO-TOUCH'])), r.chance(0.5) ? B(r.pick(['on', 'off', 'name'])) : this.text(8)];
      case 10: return [B('CLIENT'), B('SETINFO'), B(r.pick(['LIB-NAME', 'LIB-VER', 'x'])), this.text(8)];
      default: return r.chance(0.02) ? [B('QUIT')] : r.chance(0.3) ? [B('RESET')] : [B('AUTH'), this.text(8)];
    }
  }

  private server(): Args {
    const r = this.rng;
    switch (r.int(7)) {
      case 0: return [B('COMMAND'), ...(r.chance(0.8) ? [B(r.pick(['COUNT', 'INFO', 'DOCS', 'LIST', 'GETKEYS']))] : []), ...(r.chance(0.5) ? [B(r.pick(['vec.add', 'get', 'vsim', 'nope']))] : [])];
      case 1: return [B('INFO'), ...(r.chance(0.5) ? [B(r.pick(['server', 'clients', 'memory', 'stats', 'vectors', 'keyspace', 'all', 'nope']))] : [])];
      case 2: return [B('TIME')];
      // One parameter only: a mutated GET → SET must stay an arity error, never a real CONFIG SET.
      case 3: return [B('CONFIG'), B('GET'), B(r.pick(['maxclients', 'proto-max-bulk-len', 'vec-*', '*max*', 'nope']))];
      case 4: return r.chance(0.3) ? [B('FLUSHDB')] : [B('DBSIZE')];
      case 5: return [B('ECHO'), this.text()];
      default: return [B('PING')];
    }
  }

  private unknown(): Args {
    const r = this.rng;
    const name = r.chance(0.5) ? B(r.pick(['FOO', 'VEC.', 'VEC.NOPE', 'V', 'HELLOX', 'GETT', 'vec.add.x'])) : this.text(12);
    return [name, ...Array.from({ length: r.int(4) }, () => this.text())];
  }
}

// ---- encoding and mutation ----------------------------------------------------------

export function multibulk(args: Args): Buffer {
  const parts: Buffer[] = [B(`*${args.length}\r\n`)];
  for (const a of args) parts.push(B(`$${a.length}\r\n`), a, B('\r\n'));
  return Buffer.concat(parts);
}

/** An inline command (sdssplitargs syntax): plain tokens where possible, else double quotes with escapes. */
export function inline(args: Args): Buffer {
  const words = args.map((a, i) => {
    // A leading '*' would make the line a multibulk header: quote it.
    let plain = a.length > 0 && !(i === 0 && a[0] === 42);
    for (const c of a) if (c <= 32 || c >= 127 || c === 34 || c === 39 || c === 92) { plain = false; break; }
    if (plain) return a.toString('latin1');
    let s = '"';
    for (const c of a) {
      if (c === 34 || c === 92) s += '\\' + String.fromCharCode(c);
      else if (c >= 32 && c < 127) s += String.fromCharCode(c);
      else s += `\\x${c.toString(16).padStart(2, '0')}`;
    }
    return s + '"';
  });
  return Buffer.from(words.join(' ') + '\r\n', 'latin1');
}

const INTERESTING = [13, 10, 42, 36, 58, 43, 45, 48, 57, 0, 255, 32, 34, 39, 92];
const HOSTILE_HEADERS = ['$2000000000\r\n', '*3000000000\r\n', '$-1\r\n', '*-5\r\n', '$-10\r\n', '*1000000\r\n', '$536870912\r\n', ':5\r\n', '+x\r\n', '$blabla\r\n', '*0\r\n', '\r\n', '$+5\r\n', '*1\r\n$4\r\nPOST\r\n', 'Host: x\r\n', 'set "a b\r\n'];

/** One random mutation of `frame`; `other` feeds splices. */
export function mutate(frame: Buffer, other: Buffer, rng: Rng): Buffer {
  const n = frame.length;
  const at = () => rng.int(n + 1);
  switch (rng.int(9)) {
    case 0: { // flip 1–8 bits
      const b = Buffer.from(frame);
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips && n > 0; i++) b[rng.int(n)] ^= 1 << rng.int(8);
      return b;
    }
    case 1: { // overwrite bytes with protocol-significant ones
      const b = Buffer.from(frame);
      const k = rng.range(1, 4);
      for (let i = 0; i < k && n > 0; i++) b[rng.int(n)] = rng.pick(INTERESTING);
      return b;
    }
    case 2: return frame.subarray(0, at()); // cut
    case 3: { // repeat a slice
      const s = at(); const e = Math.min(n, s + rng.range(1, 64));
      const times = rng.range(1, 8);
      return Buffer.concat([frame.subarray(0, e), ...Array.from({ length: times }, () => frame.subarray(s, e)), frame.subarray(e)]);
    }
    case 4: { // splice part of another frame in
      const s = rng.int(other.length + 1); const e = Math.min(other.length, s + rng.range(1, 128));
      const p = at();
      return Buffer.concat([frame.subarray(0, p), other.subarray(s, e), frame.subarray(rng.chance(0.5) ? p : Math.min(n, p + rng.range(1, 16)))]);
    }
    case 5: { // delete a range
      const s = at();
      return Buffer.concat([frame.subarray(0, s), frame.subarray(Math.min(n, s + rng.range(1, 32)))]);
    }
    case 6: { // a hostile header inserted
      const p = at();
      return Buffer.concat([frame.subarray(0, p), B(rng.pick(HOSTILE_HEADERS)), frame.subarray(p)]);
    }
    case 7: { // change a number in a length header
      const text = frame.toString('latin1');
      const re = /[*$](-?\d+)\r\n/g;
      const hits: Array<[number, number]> = [];
      for (let m = re.exec(text); m; m = re.exec(text)) hits.push([m.index + 1, m[1].length]);
      if (hits.length === 0) return frame;
      const [p, len] = rng.pick(hits);
      const v = rng.pick(['0', '-1', '1', String(rng.int(100)), String(rng.int(100000)), '2147483648', '9223372036854775808', '00', '-0']);
      return Buffer.concat([frame.subarray(0, p), B(v), frame.subarray(p + len)]);
    }
    default: // random garbage of its own
      return Buffer.concat([frame.subarray(0, at()), rng.bytes(rng.range(1, 32))]);
  }
}

// ---- the run ---------------------------------------------------------------------------

export interface FuzzOptions {
  port: number;
  /** The server's pid, for VmRSS and liveness (a child process). */
  pid: number;
  seed: number;
  /** Stop after this many frames… */
  frames: number;
  /** …or after this long. */
  maxMs?: number;
  connections?: number;
  /** Fail when the server's VmRSS goes past this. */
  rssLimitBytes: number;
  /** Share of batches that are mutated. */
  mutateRate?: number;
  /** A mutated batch quiet this long is considered stuck mid-frame: reconnect. */
  stuckMs?: number;
  /** Commands (upper case) the generator leaves out. */
  exclude?: string[];
  /** Called about once a second. */
  progress?: (s: FuzzStats) => void;
  /** Whether the server process is still alive (the caller watches its 'exit'). */
  alive: () => boolean;
}

export interface FuzzStats {
  frames: number;
  mutatedFrames: number;
  batches: number;
  bytesSent: number;
  replies: number;
  malformed: number;
  /** Server exits. */
  crashes: number;
  /** Replies after a protocol error, clean batches with the wrong reply count or no answer. */
  violations: number;
  protocolErrors: number;
  serverCloses: number;
  stuckReconnects: number;
  peakRssBytes: number;
  startRssBytes: number;
  pingMaxMs: number;
  pingFailures: number;
  elapsedMs: number;
  framesPerSec: number;
  /** The first few problems, with enough context to replay. */
  problems: string[];
}

export function vmRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One fuzzing connection: sends a batch, then waits for its sentinel, a close, or a quiet spell. */
class FuzzConn {
  socket!: net.Socket;
  reader!: ReplyReader;
  closed = false;
  /** Whether RESP3 types may appear: the connection sent something that could be HELLO. */
  private maybe3 = false;
  private gotProtocolError = false;
  private replies: RespValue[] = [];
  private lastData = 0;
  private wake: (() => void) | null = null;
  failure: string | null = null;

  constructor(private readonly port: number, private readonly stats: FuzzStats) {}

  async open(): Promise<void> {
    this.closed = false;
    this.maybe3 = false;
    this.gotProtocolError = false;
    this.failure = null;
    this.replies = [];
    this.reader = new ReplyReader({ resp3: () => this.maybe3, maxBulk: 1 << 30 });
    const s = net.connect(this.port, '127.0.0.1');
    s.setNoDelay(true);
    this.socket = s;
    // Handlers check the socket: a destroyed predecessor's late 'close' must not mark this one closed.
    s.on('data', (d: Buffer) => { if (this.socket === s) this.onData(d); });
    s.on('close', () => { if (this.socket === s) { this.closed = true; this.poke(); } });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    s.on('error', () => { /* close follows */ });
  }

  private poke(): void { const w = this.wake; this.wake = null; w?.(); }

  private onData(d: Buffer): void {
    this.lastData = Date.now();
    if (this.failure) return;
    try {
      this.reader.feed(d);
      for (let v = this.reader.next(); v !== null; v = this.reader.next()) {
        this.stats.replies++;
        if (this.gotProtocolError) {
          this.failure = `reply after a protocol error: ${show(v)}`;
          this.stats.violations++;
          break;
        }
        if (v.type === 'error' && v.value.startsWith('ERR Protocol error')) { this.gotProtocolError = true; this.stats.protocolErrors++; }
        this.replies.push(v);
      }
    } catch (e) {
      if (e instanceof MalformedReply) { this.stats.malformed++; this.failure = e.message; } else throw e;
    }
    this.poke();
  }

  /**
   * Send a batch and wait. Returns the replies before the sentinel (or all of
   * them if it never came), and how it ended.
   */
  async exchange(bytes: Buffer, token: string, stuckMs: number, clean: boolean): Promise<{ replies: RespValue[]; outcome: 'synced' | 'closed' | 'stuck' | 'failed' }> {
    if (/hello/i.test(bytes.toString('latin1'))) this.maybe3 = true;
    this.lastData = Date.now();
    this.socket.write(bytes);
    this.stats.bytesSent += bytes.length;
    const started = Date.now();
    // A clean batch must answer: wait long before calling it stuck (that is then a violation).
    const quiet = clean ? 15_000 : stuckMs;
    for (;;) {
      if (this.failure) return { replies: this.replies.splice(0), outcome: 'failed' };
      const i = this.replies.findIndex((v) => v.type === 'bulk' && v.value.length === token.length && v.value.toString('latin1') === token);
      if (i >= 0) {
        const before = this.replies.splice(0, i + 1);
        before.pop();
        return { replies: before, outcome: 'synced' };
      }
      if (this.closed) return { replies: this.replies.splice(0), outcome: 'closed' };
      const idle = Date.now() - Math.max(this.lastData, started);
      if (idle >= quiet) return { replies: this.replies.splice(0), outcome: 'stuck' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = null; resolve(); }, Math.max(5, quiet - idle));
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  destroy(): void { this.socket?.destroy(); }
}

/** Resolve once the server answers PING with +PONG (not -LOADING: recovery may still run). */
export async function waitReady(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new FuzzConn(port, { replies: 0 } as FuzzStats);
    try {
      await c.open();
      const r = await c.exchange(multibulk([B('PING'), B('ready')]), 'ready', 1000, false);
      if (r.outcome === 'synced') return;
    } catch { /* not listening yet */ } finally { c.destroy(); }
    if (Date.now() > deadline) throw new Error('the server never became ready');
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * MONITOR the server into a ring of the last `size` lines: when it dies, these
 * are the commands that led there. Returns a function giving the lines.
 */
export function monitorTail(port: number, size = 3000): { lines: () => string[]; stop: () => void } {
  const ring: string[] = [];
  const s = net.connect(port, '127.0.0.1');
  let rest = '';
  s.on('connect', () => s.write(multibulk([B('MONITOR')])));
  s.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('latin1')).split('\r\n');
    rest = parts.pop() ?? '';
    for (const p of parts) { ring.push(p.slice(0, 2000)); if (ring.length > size) ring.shift(); }
  });
  s.on('error', () => {});
  return { lines: () => ring.slice(), stop: () => s.destroy() };
}

/** Run the fuzzer against a server already listening on `opts.port`. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzStats> {
  await waitReady(opts.port);
  const root = new Rng(opts.seed);
  const connections = opts.connections ?? 8;
  const mutateRate = opts.mutateRate ?? 0.35;
  const stuckMs = opts.stuckMs ?? 150;
  const t0 = Date.now();
  const stats: FuzzStats = {
    frames: 0, mutatedFrames: 0, batches: 0, bytesSent: 0, replies: 0, malformed: 0, crashes: 0, violations: 0,
    protocolErrors: 0, serverCloses: 0, stuckReconnects: 0, peakRssBytes: 0, startRssBytes: vmRssBytes(opts.pid),
    pingMaxMs: 0, pingFailures: 0, elapsedMs: 0, framesPerSec: 0, problems: [],
  };
  const problem = (s: string) => { if (stats.problems.length < 20) stats.problems.push(s.slice(0, 600)); };
  let stop = false;
  const done = () => stop || stats.frames >= opts.frames || (opts.maxMs !== undefined && Date.now() - t0 >= opts.maxMs) || stats.crashes > 0;

  // Watchers: RSS, liveness, and a PING from a connection of its own.
  const watch = setInterval(() => {
    const rss = vmRssBytes(opts.pid);
    if (rss > stats.peakRssBytes) stats.peakRssBytes = rss;
    if (rss > opts.rssLimitBytes) { problem(`RSS ${rss} over the limit ${opts.rssLimitBytes}`); stats.violations++; stop = true; }
    if (!opts.alive()) { if (stats.crashes === 0) problem('the server exited'); stats.crashes = 1; stop = true; }
  }, 100);
  const pinger = (async () => {
    const c = new FuzzConn(opts.port, { ...stats, replies: 0 } as FuzzStats);
    try { await c.open(); } catch { stats.pingFailures++; return; }
    let n = 0;
    while (!done()) {
      const token = `pingtoken${n++}`;
      const t = performance.now();
      const r = await c.exchange(multibulk([B('PING'), B(token)]), token, 5000, false);
      const ms = performance.now() - t;
      if (r.outcome !== 'synced') {
        stats.pingFailures++;
        problem(`PING from a separate connection: ${r.outcome} after ${ms.toFixed(0)} ms${c.failure ? `: ${c.failure}` : ''}`);
        if (c.failure) stats.malformed++;
        c.destroy();
        try { await c.open(); } catch { /* counted next round */ }
      } else if (ms > stats.pingMaxMs) stats.pingMaxMs = ms;
      await new Promise((res) => setTimeout(res, 100));
    }
    c.destroy();
  })();
  // The keyspace would otherwise fill with mutated key names: flush it now and then.
  const janitor = (async () => {
    const c = new FuzzConn(opts.port, { ...stats, replies: 0 } as FuzzStats);
    try { await c.open(); } catch { return; }
    let n = 0;
    while (!done()) {
      await new Promise((res) => setTimeout(res, 2000));
      const token = `flushtoken${n++}`;
      await c.exchange(Buffer.concat([multibulk([B('FLUSHALL')]), multibulk([B('PING'), B(token)])]), token, 10_000, false);
    }
    c.destroy();
  })();
  let lastProgress = Date.now();

  const worker = async (w: number) => {
    const rng = root.fork();
    const gen = new CommandGen(rng.fork(), new Set(opts.exclude ?? []));
    const conn = new FuzzConn(opts.port, stats);
    let previous = multibulk([B('PING')]);
    const reopen = async () => {
      conn.destroy();
      for (let attempt = 0; ; attempt++) {
        try { await conn.open(); return; } catch (e) {
          if (!opts.alive() || attempt > 50) throw e;
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    };
    await reopen();
    let batchNo = 0;
    while (!done()) {
      const count = rng.range(1, 48);
      const frames: Buffer[] = [];
      const descr: string[] = [];
      for (let i = 0; i < count; i++) {
        const args = gen.next();
        frames.push(rng.chance(0.08) ? inline(args) : multibulk(args));
        descr.push(args[0].toString('latin1').slice(0, 16));
      }
      const mutated = rng.chance(mutateRate);
      if (mutated) {
        const k = rng.range(1, 3);
        for (let i = 0; i < k; i++) {
          const j = rng.int(frames.length);
          frames[j] = mutate(frames[j], rng.chance(0.5) ? previous : frames[rng.int(frames.length)], rng);
        }
        if (rng.chance(0.15)) frames.push(rng.bytes(rng.range(1, 64)));
        stats.mutatedFrames += count;
      }
      previous = frames[frames.length - 1];
      const token = `sync${w}x${batchNo++}x${rng.int(1e9)}`;
      const payload = Buffer.concat([...frames, multibulk([B('DISCARD')]), multibulk([B('PING'), B(token)])]);
      stats.frames += count;
      stats.batches++;
      const r = await conn.exchange(payload, token, stuckMs, !mutated);
      if (r.outcome === 'failed') {
        problem(`worker ${w} batch ${batchNo} (${mutated ? 'mutated' : 'clean'}; seed ${opts.seed}): ${conn.failure}; sent ${JSON.stringify(payload.toString('latin1').slice(0, 300))}`);
        await reopen();
        continue;
      }
      if (!mutated) {
        // Clean: one reply per command, then DISCARD's. A QUIT ends the connection early.
        const quits = descr.some((d) => /^(quit)$/i.test(d));
        const ok = r.outcome === 'synced' ? r.replies.length === count + 1 : r.outcome === 'closed' && quits;
        if (!ok) {
          stats.violations++;
          problem(`clean batch ${r.outcome} with ${r.replies.length} replies for ${count} commands (+DISCARD): ${descr.join(' ')} → ${r.replies.slice(-3).map((v) => show(v, 80)).join(' | ')}`);
        }
      }
      if (r.outcome === 'closed') stats.serverCloses++;
      if (r.outcome === 'stuck') stats.stuckReconnects++;
      if (r.outcome !== 'synced') await reopen();
      if (opts.progress && Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        stats.elapsedMs = Date.now() - t0;
        opts.progress(stats);
      }
    }
    conn.destroy();
  };

  try {
    await Promise.all(Array.from({ length: connections }, (_, w) => worker(w).catch((e: unknown) => {
      if (opts.alive()) { stats.violations++; problem(`worker ${w} gave up: ${(e as Error).message}`); }
    })));
  } finally {
    stop = true;
    await Promise.all([pinger, janitor]);
    clearInterval(watch);
  }
  if (!opts.alive()) stats.crashes = 1;
  const rss = vmRssBytes(opts.pid);
  if (rss > stats.peakRssBytes) stats.peakRssBytes = rss;
  stats.elapsedMs = Date.now() - t0;
  stats.framesPerSec = Math.round(stats.frames / (stats.elapsedMs / 1000));
  return stats;
}

export function summary(s: FuzzStats): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  return `frames ${s.frames} (${s.mutatedFrames} in mutated batches) in ${s.batches} batches, ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.framesPerSec} frames/s; `
    + `crashes ${s.crashes}, malformed replies ${s.malformed}, violations ${s.violations}; replies ${s.replies}, protocol errors ${s.protocolErrors}, `
    + `server closes ${s.serverCloses}, stuck reconnects ${s.stuckReconnects}; RSS start ${mb(s.startRssBytes)} peak ${mb(s.peakRssBytes)}; `
    + `PING max ${s.pingMaxMs.toFixed(1)} ms, failures ${s.pingFailures}`;
}

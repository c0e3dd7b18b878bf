/**
 * Plain strings: SET (with NX|XX|GET and EX|PX|EXAT|PXAT|KEEPTTL), GET, GETEX,
 * GETDEL, GETSET, SETNX, SETEX, PSETEX, MGET, MSET, MSETNX, INCR, DECR,
 * INCRBY, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE.
 *
 * Replies, errors and their order follow Redis 7.0's t_string.c. What is
 * logged is what replays to the same state: relative deadlines become PXAT /
 * PEXPIREAT, INCRBYFLOAT becomes the SET of its result (as Redis propagates
 * it), and a command that changed nothing logs nothing.
 */
import { OK, type Reply } from '../../protocol/reply.js';
import { ArgError, NOT_AN_INTEGER, NOT_A_FLOAT, SYNTAX, WrongTypeError } from '../errors.js';
import { StringValue, keyOf, type StoredValue } from '../engine/keyspace.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { isKeyword, parseInteger } from '../core/numbers.js';
import { wrongArity } from '../core/command-table.js';
import { INT64_MAX, INT64_MIN, msArg, parseInt64, setDeadline } from './expiry-args.js';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../core/long-double.js';

const base = { group: 'string', firstKey: 1, lastKey: 1, step: 1 } as const;
const SET = Buffer.from('SET');
const PXAT = Buffer.from('PXAT');
const KEEPTTL = Buffer.from('KEEPTTL');
const PEXPIREAT = Buffer.from('PEXPIREAT');
const PERSIST = Buffer.from('PERSIST');
const DEL = Buffer.from('DEL');
const EMPTY = Buffer.alloc(0);

/** The string at `key`, null when absent; WRONGTYPE for another type. */
function stringAt(v: StoredValue | undefined): Buffer | null {
  if (!v) return null;
  if (!(v instanceof StringValue)) throw new WrongTypeError();
  return v.value;
}

/** proto-max-bulk-len bounds what a command may build (checkStringLength); replay obeys what was accepted. */
function checkLength(ctx: Ctx, total: number): void {
  if (!ctx.replaying && total > ctx.server.config['proto-max-bulk-len']) throw new ArgError('string exceeds maximum allowed size (proto-max-bulk-len)');
}

const event = (ctx: Ctx, cls: string, name: string, key: string) => ctx.server.keyspaceEvent(ctx.client.db, cls, name, key);

// ---- SET and its relatives ----

type Unit = 'EX' | 'PX' | 'EXAT' | 'PXAT';

interface SetOptions {
  nx: boolean; xx: boolean; get: boolean; keepTtl: boolean; persist: boolean;
  unit: Unit | null; amount: Buffer | null;
}

/**
 * Redis's parseExtendedStringArgumentsOrReply: each option is accepted only
 * where it does not clash with one seen before (a repeated EX is taken, the
 * last amount wins); anything else is a syntax error.
 */
function parseSetOptions(argv: Buffer[], from: number, forSet: boolean): SetOptions {
  const o: SetOptions = { nx: false, xx: false, get: false, keepTtl: false, persist: false, unit: null, amount: null };
  for (let j = from; j < argv.length; j++) {
    const a = argv[j];
    const hasNext = j + 1 < argv.length;
    const unit = o.unit;
    if (forSet && isKeyword(a, 'NX') && !o.xx) o.nx = true;
    else if (forSet && isKeyword(a, 'XX') && !o.nx) o.xx = true;
    else if (forSet && isKeyword(a, 'GET')) o.get = true;
    else if (forSet && isKeyword(a, 'KEEPTTL') && unit === null) o.keepTtl = true;
    else if (!forSet && isKeyword(a, 'PERSIST') && unit === null) o.persist = true;
    else if (isKeyword(a, 'EX') && hasNext && !o.keepTtl && !o.persist && (unit === null || unit === 'EX')) { o.unit = 'EX'; o.amount = argv[++j]; }
    else if (isKeyword(a, 'PX') && hasNext && !o.keepTtl && !o.persist && (unit === null || unit === 'PX')) { o.unit = 'PX'; o.amount = argv[++j]; }
    else if (isKeyword(a, 'EXAT') && hasNext && !o.keepTtl && !o.persist && (unit === null || unit === 'EXAT')) { o.unit = 'EXAT'; o.amount = argv[++j]; }
    else if (isKeyword(a, 'PXAT') && hasNext && !o.keepTtl && !o.persist && (unit === null || unit === 'PXAT')) { o.unit = 'PXAT'; o.amount = argv[++j]; }
    else throw new ArgError(SYNTAX);
  }
  return o;
}

const deadlineOf = (unit: Unit, amount: Buffer, command: string, now: number) =>
  setDeadline(amount, unit === 'EX' || unit === 'EXAT', unit === 'EXAT' || unit === 'PXAT', command, now);

/**
 * setGenericCommand: the deadline is validated first, then GET's old value
 * (WRONGTYPE), then NX/XX. Logged as `SET key value PXAT <ms>` when it sets a
 * deadline, as received otherwise.
 */
function setGeneric(ctx: Ctx, argv: Buffer[], key: Buffer, value: Buffer, o: SetOptions, command: string, ok: Reply, aborted: Reply): Reply {
  const at = o.unit ? deadlineOf(o.unit, o.amount!, command, Date.now()) : undefined;
  const k = keyOf(key);
  const prev = o.get ? stringAt(ctx.db.get(k)) : undefined;
  if (o.nx || o.xx) {
    const found = ctx.db.has(k);
    if ((o.nx && found) || (o.xx && !found)) { ctx.propagate = null; return o.get ? prev! : aborted; }
  }
  // The argument slice points into a socket buffer that will be reused: setString keeps a copy.
  ctx.db.setString(k, value, o.keepTtl);
  event(ctx, '$', 'set', k);
  if (at !== undefined) {
    // A deadline already past is set all the same: the next lookup reclaims the key and logs its DEL.
    ctx.db.setDeadline(k, at);
    ctx.propagate = [[SET, key, value, PXAT, msArg(at)]];
    event(ctx, 'g', 'expire', k);
  }
  return o.get ? prev! : ok;
}

const SET_ARGS: ArgSpec[] = [
  { name: 'key', type: 'key' }, { name: 'value', type: 'string' },
  { name: 'condition', type: 'oneof', optional: true, since: '2.6.12', arguments: [{ name: 'nx', type: 'pure-token', token: 'NX' }, { name: 'xx', type: 'pure-token', token: 'XX' }] },
  { name: 'get', type: 'pure-token', token: 'GET', optional: true, since: '6.2.0' },
  {
    name: 'expiration', type: 'oneof', optional: true, arguments: [
      { name: 'seconds', type: 'integer', token: 'EX', since: '2.6.12' }, { name: 'milliseconds', type: 'integer', token: 'PX', since: '2.6.12' },
      { name: 'unix-time-seconds', type: 'unix-time', token: 'EXAT', since: '6.2.0' }, { name: 'unix-time-milliseconds', type: 'unix-time', token: 'PXAT', since: '6.2.0' },
      { name: 'keepttl', type: 'pure-token', token: 'KEEPTTL', since: '6.0.0' },
    ],
  },
];

/** GETEX: the value, and a new deadline (or none) when asked; a plain GETEX logs nothing. */
function getex(ctx: Ctx, argv: Buffer[]): Reply {
  const o = parseSetOptions(argv, 2, false);
  const k = keyOf(argv[1]);
  ctx.propagate = null;
  const value = stringAt(ctx.db.get(k));
  if (value === null) return null;
  const now = Date.now();
  const at = o.unit ? deadlineOf(o.unit, o.amount!, 'getex', now) : undefined;
  if (at !== undefined && (o.unit === 'EXAT' || o.unit === 'PXAT') && at <= now && !ctx.replaying) {
    ctx.db.delete(k);
    ctx.propagate = [[DEL, argv[1]]];
    event(ctx, 'g', 'del', k);
  } else if (at !== undefined) {
    ctx.db.setDeadline(k, at);
    ctx.propagate = [[PEXPIREAT, argv[1], msArg(at)]];
    event(ctx, 'g', 'expire', k);
  } else if (o.persist && ctx.db.persist(k)) {
    ctx.propagate = [[PERSIST, argv[1]]];
    event(ctx, 'g', 'persist', k);
  }
  return value;
}

// ---- counters ----

/** The integer a string holds (string2ll over the whole value), or Redis's error. */
function integerValue(v: Buffer | null): bigint {
  if (v === null) return 0n;
  try { return parseInt64(v); } catch { throw new ArgError(NOT_AN_INTEGER); }
}

/** incrDecrCommand: WRONGTYPE, then the value's check, then the overflow check; the deadline stays. */
function incrBy(ctx: Ctx, argv: Buffer[], by: bigint): Reply {
  const k = keyOf(argv[1]);
  const old = integerValue(stringAt(ctx.db.get(k)));
  const next = old + by;
  if (next > INT64_MAX || next < INT64_MIN) throw new ArgError('increment or decrement would overflow');
  ctx.db.set(k, new StringValue(Buffer.from(next.toString(), 'latin1')), true);
  event(ctx, '$', 'incrby', k);
  return next >= -9007199254740991n && next <= 9007199254740991n ? Number(next) : next;
}

function incrByFloat(ctx: Ctx, argv: Buffer[]): Reply {
  const k = keyOf(argv[1]);
  const current = stringAt(ctx.db.get(k));
  const value = current === null ? parseLongDouble('0') : parseLongDouble(current.toString('latin1'));
  const incr = parseLongDouble(argv[2].toString('latin1'));
  if (value === null || incr === null) throw new ArgError(NOT_A_FLOAT);
  const sum = addLongDouble(value, incr);
  if (sum === null || typeof sum === 'string') throw new ArgError('increment would produce NaN or Infinity');
  const text = Buffer.from(formatLongDouble(sum), 'latin1');
  ctx.db.set(k, new StringValue(text), true);
  event(ctx, '$', 'incrbyfloat', k);
  // As Redis propagates it: the result, so that a replay never re-does float arithmetic.
  ctx.propagate = [[SET, argv[1], text, KEEPTTL]];
  return text;
}

// ---- ranges ----

function getrange(ctx: Ctx, argv: Buffer[]): Reply {
  let start = Number(parseInt64(argv[2])), end = Number(parseInt64(argv[3]));
  const v = stringAt(ctx.db.get(keyOf(argv[1])));
  if (v === null) return EMPTY;
  const len = v.length;
  if (start < 0 && end < 0 && start > end) return EMPTY;
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return EMPTY;
  return Buffer.from(v.subarray(start, end + 1));
}

function setrange(ctx: Ctx, argv: Buffer[]): Reply {
  const offset = Number(parseInt64(argv[2]));
  if (offset < 0) throw new ArgError('offset is out of range');
  const piece = argv[3];
  const k = keyOf(argv[1]);
  const old = stringAt(ctx.db.get(k));
  if (old === null && piece.length === 0) { ctx.propagate = null; return 0; }
  if (old !== null && piece.length === 0) { ctx.propagate = null; return old.length; }
  checkLength(ctx, offset + piece.length);
  const len = Math.max(old?.length ?? 0, offset + piece.length);
  const out = Buffer.alloc(len);
  old?.copy(out, 0);
  piece.copy(out, offset);
  ctx.db.set(k, new StringValue(out), true);
  event(ctx, '$', 'setrange', k);
  return len;
}

// ---- multi-key ----

function mset(ctx: Ctx, argv: Buffer[], nx: boolean): Reply {
  if (argv.length % 2 === 0) throw wrongArity(nx ? 'msetnx' : 'mset');
  if (nx) {
    for (let i = 1; i < argv.length; i += 2) if (ctx.db.has(keyOf(argv[i]))) { ctx.propagate = null; return 0; }
  }
  for (let i = 1; i < argv.length; i += 2) {
    const k = keyOf(argv[i]);
    ctx.db.setString(k, argv[i + 1]);
    event(ctx, '$', 'set', k);
  }
  return nx ? 1 : OK;
}

export const stringCommands: CommandSpec[] = [
  {
    ...base, name: 'set', arity: -3, flags: ['write', 'denyoom'], since: '1.0.0', summary: 'Sets the string value of a key, ignoring its type. The key is created if it doesn\'t exist.',
    arguments: SET_ARGS,
    handler: (ctx, argv) => setGeneric(ctx, argv, argv[1], argv[2], parseSetOptions(argv, 3, true), 'set', OK, null),
  },
  {
    ...base, name: 'get', arity: 2, flags: ['readonly', 'fast'], since: '1.0.0', summary: 'Returns the string value of a key.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => stringAt(ctx.db.get(keyOf(argv[1]))),
  },
  {
    ...base, name: 'getex', arity: -2, flags: ['write', 'fast'], since: '6.2.0', summary: 'Returns the string value of a key after setting its expiration time.',
    arguments: [{ name: 'key', type: 'key' }, {
      name: 'expiration', type: 'oneof', optional: true, arguments: [
        { name: 'seconds', type: 'integer', token: 'EX' }, { name: 'milliseconds', type: 'integer', token: 'PX' },
        { name: 'unix-time-seconds', type: 'unix-time', token: 'EXAT' }, { name: 'unix-time-milliseconds', type: 'unix-time', token: 'PXAT' },
        { name: 'persist', type: 'pure-token', token: 'PERSIST' },
      ],
    }],
    handler: getex,
  },
  {
    ...base, name: 'getdel', arity: 2, flags: ['write', 'fast'], since: '6.2.0', summary: 'Returns the string value of a key after deleting the key.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => {
      const k = keyOf(argv[1]);
      const v = stringAt(ctx.db.get(k));
      if (v === null) { ctx.propagate = null; return null; }
      ctx.db.delete(k);
      ctx.propagate = [[DEL, argv[1]]];
      event(ctx, 'g', 'del', k);
      return v;
    },
  },
  {
    ...base, name: 'getset', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Returns the previous string value of a key after setting it to a new value.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => {
      const k = keyOf(argv[1]);
      const prev = stringAt(ctx.db.get(k));
      ctx.db.setString(k, argv[2]);
      event(ctx, '$', 'set', k);
      ctx.propagate = [[SET, argv[1], argv[2]]];
      return prev;
    },
  },
  {
    ...base, name: 'setnx', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Set the string value of a key only when the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => setGeneric(ctx, argv, argv[1], argv[2], { ...parseSetOptions(argv, 3, true), nx: true }, 'setnx', 1, 0),
  },
  {
    ...base, name: 'setex', arity: 4, flags: ['write', 'denyoom'], since: '2.0.0', summary: 'Sets the string value and expiration time of a key. Creates the key if it doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'seconds', type: 'integer' }, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => setGeneric(ctx, argv, argv[1], argv[3], { ...parseSetOptions(argv, 4, true), unit: 'EX', amount: argv[2] }, 'setex', OK, null),
  },
  {
    ...base, name: 'psetex', arity: 4, flags: ['write', 'denyoom'], since: '2.6.0', summary: 'Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'milliseconds', type: 'integer' }, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => setGeneric(ctx, argv, argv[1], argv[3], { ...parseSetOptions(argv, 4, true), unit: 'PX', amount: argv[2] }, 'psetex', OK, null),
  },
  {
    ...base, lastKey: -1, name: 'mget', arity: -2, flags: ['readonly', 'fast'], since: '1.0.0', summary: 'Atomically returns the string values of one or more keys.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: (ctx, argv) => {
      const out: Reply[] = [];
      for (let i = 1; i < argv.length; i++) {
        const v = ctx.db.get(keyOf(argv[i]));
        out.push(v instanceof StringValue ? v.value : null);
      }
      return out;
    },
  },
  {
    ...base, lastKey: -1, step: 2, name: 'mset', arity: -3, flags: ['write', 'denyoom'], since: '1.0.1', summary: 'Atomically creates or modifies the string values of one or more keys.',
    arguments: [{ name: 'data', type: 'block', multiple: true, arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }] }],
    handler: (ctx, argv) => mset(ctx, argv, false),
  },
  {
    ...base, lastKey: -1, step: 2, name: 'msetnx', arity: -3, flags: ['write', 'denyoom'], since: '1.0.1', summary: 'Atomically modifies the string values of one or more keys only when all keys don\'t exist.',
    arguments: [{ name: 'data', type: 'block', multiple: true, arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }] }],
    handler: (ctx, argv) => mset(ctx, argv, true),
  },
  {
    ...base, name: 'incr', arity: 2, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Increments the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => incrBy(ctx, argv, 1n),
  },
  {
    ...base, name: 'decr', arity: 2, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => incrBy(ctx, argv, -1n),
  },
  {
    ...base, name: 'incrby', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'increment', type: 'integer' }],
    handler: (ctx, argv) => incrBy(ctx, argv, parseInt64(argv[2])),
  },
  {
    ...base, name: 'decrby', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '1.0.0', summary: 'Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'decrement', type: 'integer' }],
    handler: (ctx, argv) => {
      const by = parseInt64(argv[2]);
      if (by === INT64_MIN) throw new ArgError('decrement would overflow');
      return incrBy(ctx, argv, -by);
    },
  },
  {
    ...base, name: 'incrbyfloat', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '2.6.0', summary: 'Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'increment', type: 'double' }], handler: incrByFloat,
  },
  {
    ...base, name: 'append', arity: 3, flags: ['write', 'denyoom', 'fast'], since: '2.0.0', summary: 'Appends a string to the value of a key. Creates the key if it doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => {
      const k = keyOf(argv[1]);
      const old = stringAt(ctx.db.get(k));
      if (old === null) {
        ctx.db.setString(k, argv[2]);
      } else {
        checkLength(ctx, old.length + argv[2].length);
        ctx.db.set(k, new StringValue(Buffer.concat([old, argv[2]])), true);
      }
      event(ctx, '$', 'append', k);
      return (old?.length ?? 0) + argv[2].length;
    },
  },
  {
    ...base, name: 'strlen', arity: 2, flags: ['readonly', 'fast'], since: '2.2.0', summary: 'Returns the length of a string value.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => stringAt(ctx.db.get(keyOf(argv[1])))?.length ?? 0,
  },
  {
    ...base, name: 'getrange', arity: 4, flags: ['readonly'], since: '2.4.0', summary: 'Returns a substring of the string stored at a key.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'start', type: 'integer' }, { name: 'end', type: 'integer' }], handler: getrange,
  },
  {
    ...base, name: 'setrange', arity: 4, flags: ['write', 'denyoom'], since: '2.2.0', summary: 'Overwrites a part of a string value with another by an offset. Creates the key if it doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'offset', type: 'integer' }, { name: 'value', type: 'string' }], handler: setrange,
  },
];

/** Exported for the keyspace commands (OBJECT ENCODING): is this string what Redis would keep as an `int`? */
export function looksLikeInt(v: Buffer): boolean {
  if (v.length === 0 || v.length > 20) return false;
  try { parseInteger(v); return true; } catch {
    try { parseInt64(v); return true; } catch { return false; }
  }
}

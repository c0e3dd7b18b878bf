/**
 * The hash commands (Redis's t_hash.c): HSET and friends, with Redis's
 * replies and error lines word for word (checked against redis-server 7.0).
 *
 * Every write goes through `writable()`: the hash a snapshot may be reading
 * is copied before it changes (Database.shared), and the key is touched
 * (db.set with the same value) so WATCH sees in-place changes.
 */
import { OK, ReplyMap, type Reply } from '../../protocol/reply.js';
import { ArgError, NOT_AN_INTEGER, SYNTAX, WrongTypeError } from '../errors.js';
import { keyBytes, keyOf } from '../engine/keyspace.js';
import { globMatch } from '../core/glob.js';
import { isKeyword } from '../core/numbers.js';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../core/long-double.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { HashValue } from './hash-value.js';

const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;
const LONG_MAX = INT64_MAX;

/** Redis's string2ll: optional '-', digits without a leading zero (or just "0"), within int64. */
export function parseInt64(s: string): bigint | null {
  const n = s.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  if (s.charCodeAt(0) === 45 /* - */) { if (n === 1) return null; i = 1; }
  const first = s.charCodeAt(i);
  if (first === 48 /* 0 */) return n === 1 ? 0n : null;
  if (first < 49 || first > 57) return null;
  for (let j = i + 1; j < n; j++) { const c = s.charCodeAt(j); if (c < 48 || c > 57) return null; }
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

const latin1 = (b: Buffer): string => b.toString('latin1');
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

function wrongArgs(name: string): ArgError {
  return new ArgError(`wrong number of arguments for '${name}' command`);
}

/** The hash at `key` for reading; WRONGTYPE for another type. */
function readHash(ctx: Ctx, key: Buffer): HashValue | undefined {
  const v = ctx.db.get(keyOf(key));
  if (v === undefined) return undefined;
  if (!(v instanceof HashValue)) throw new WrongTypeError();
  return v;
}

/** The existing hash, or undefined; WRONGTYPE for another type. No side effect. */
function existing(ctx: Ctx, key: string): HashValue | undefined {
  const v = ctx.db.peek(key);
  if (v === undefined) return undefined;
  if (!(v instanceof HashValue)) throw new WrongTypeError();
  return v;
}

/**
 * The hash to change at `key`, created when absent: a private copy when a
 * running snapshot may be reading it (see hash-value.ts), with its TTL kept.
 * Call only once the command is known to succeed.
 */
function writable(ctx: Ctx, key: string, h: HashValue | undefined): HashValue {
  const db = ctx.db;
  if (h === undefined) {
    const created = new HashValue(db.valueEpoch);
    db.set(key, created);
    return created;
  }
  if (db.shared(h.stamp)) {
    const copy = h.clone(db.valueEpoch);
    db.set(key, copy, true);
    return copy;
  }
  // Same value, TTL kept: no store, but the keyspace hears of the change (WATCH).
  db.set(key, h, true);
  return h;
}

function notify(ctx: Ctx, event: string, key: Buffer): void {
  ctx.server.keyspaceEvent(ctx.client.db, 'h', event, key);
}

function hset(ctx: Ctx, argv: Buffer[], name: string): number {
  if (argv.length % 2 !== 0) throw wrongArgs(name);
  const key = keyOf(argv[1]);
  const h = writable(ctx, key, existing(ctx, key));
  let added = 0;
  for (let i = 2; i < argv.length; i += 2) if (h.set(latin1(argv[i]), latin1(argv[i + 1]))) added++;
  notify(ctx, 'hset', argv[1]);
  return added;
}

function hdel(ctx: Ctx, argv: Buffer[]): number {
  const key = keyOf(argv[1]);
  const old = existing(ctx, key);
  if (old === undefined) { ctx.propagate = null; return 0; }
  let present = false;
  for (let i = 2; i < argv.length && !present; i++) present = old.has(latin1(argv[i]));
  if (!present) { ctx.propagate = null; return 0; }
  const h = writable(ctx, key, old);
  let n = 0;
  for (let i = 2; i < argv.length; i++) if (h.delete(latin1(argv[i]))) n++;
  notify(ctx, 'hdel', argv[1]);
  // A hash never exists empty, as in Redis.
  if (h.size === 0) {
    ctx.db.delete(key);
    ctx.server.keyspaceEvent(ctx.client.db, 'g', 'del', argv[1]);
  }
  return n;
}

function hincrby(ctx: Ctx, argv: Buffer[]): Reply {
  const incr = parseInt64(latin1(argv[3]));
  if (incr === null) throw new ArgError(NOT_AN_INTEGER);
  const key = keyOf(argv[1]), field = latin1(argv[2]);
  const old = existing(ctx, key);
  const cur = old?.get(field);
  let value = 0n;
  if (cur !== undefined) {
    const v = parseInt64(cur);
    if (v === null) throw new ArgError('hash value is not an integer');
    value = v;
  }
  const sum = value + incr;
  if (sum < INT64_MIN || sum > INT64_MAX) throw new ArgError('increment or decrement would overflow');
  writable(ctx, key, old).set(field, sum.toString());
  notify(ctx, 'hincrby', argv[1]);
  return sum;
}

function hincrbyfloat(ctx: Ctx, argv: Buffer[]): Reply {
  const incr = parseLongDouble(latin1(argv[3]));
  if (incr === null) throw new ArgError('value is not a valid float');
  if (typeof incr === 'string') throw new ArgError('value is NaN or Infinity');
  const key = keyOf(argv[1]), field = latin1(argv[2]);
  const old = existing(ctx, key);
  const cur = old?.get(field);
  let value = parseLongDouble('0')!;
  if (cur !== undefined) {
    const v = parseLongDouble(cur);
    if (v === null) throw new ArgError('hash value is not a float');
    value = v;
  }
  const sum = addLongDouble(value, incr);
  if (sum === null || typeof sum === 'string') throw new ArgError('increment would produce NaN or Infinity');
  const text = formatLongDouble(sum);
  writable(ctx, key, old).set(field, text);
  notify(ctx, 'hincrbyfloat', argv[1]);
  // Logged as the value it produced, as Redis propagates it: replay never re-does the arithmetic.
  const out = Buffer.from(text, 'latin1');
  ctx.propagate = [[Buffer.from('HSET'), argv[1], argv[2], out]];
  return out;
}

/** HSCAN's cursor as strtoul reads it: decimal digits, a leading '-' wraps (Redis accepts `-1`). */
function parseCursor(arg: Buffer): number {
  const s = latin1(arg);
  if (!/^-?\d+$/.test(s)) throw new ArgError('invalid cursor');
  const v = BigInt(s);
  if (v > 2n ** 64n - 1n || v < -(2n ** 64n - 1n)) throw new ArgError('invalid cursor');
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(v);
}

function hscan(ctx: Ctx, argv: Buffer[]): Reply {
  const cursor = parseCursor(argv[2]);
  // Redis looks the key up before it reads the options: a missing key answers an empty scan whatever follows.
  const h = readHash(ctx, argv[1]);
  if (!h) return ['0', []];
  let pattern: string | null = null, count = 10, novalues = false;
  for (let i = 3; i < argv.length; i++) {
    const left = argv.length - i;
    if (isKeyword(argv[i], 'COUNT') && left >= 2) {
      const c = parseInt64(latin1(argv[++i]));
      if (c === null) throw new ArgError(NOT_AN_INTEGER);
      if (c < 1n) throw new ArgError(SYNTAX);
      count = c > 1_000_000_000n ? 1_000_000_000 : Number(c);
    } else if (isKeyword(argv[i], 'MATCH') && left >= 2) {
      pattern = latin1(argv[++i]);
    } else if (isKeyword(argv[i], 'NOVALUES')) {
      novalues = true;
    } else {
      throw new ArgError(SYNTAX);
    }
  }
  const { next, pairs } = h.scan(cursor, count);
  const out: Buffer[] = [];
  for (const [f, v] of pairs) {
    if (pattern !== null && pattern !== '*' && !globMatch(pattern, f)) continue;
    out.push(bytes(f));
    if (!novalues) out.push(bytes(v));
  }
  return [String(next), out];
}

function hrandfield(ctx: Ctx, argv: Buffer[]): Reply {
  if (argv.length > 4 || (argv.length === 4 && !isKeyword(argv[3], 'WITHVALUES'))) throw new ArgError(SYNTAX);
  const withValues = argv.length === 4;
  if (argv.length === 2) {
    const h = readHash(ctx, argv[1]);
    if (!h) return null;
    const pairs = h.pairsArray();
    return bytes(pairs[2 * Math.floor(Math.random() * (pairs.length >> 1))]!);
  }
  const c = parseInt64(latin1(argv[2]));
  if (c === null) throw new ArgError(NOT_AN_INTEGER);
  if (c < -LONG_MAX) throw new ArgError('value is out of range, value must between -9223372036854775807 and 9223372036854775807');
  // Redis's own guard against count × 2 overflowing, with its shorter wording.
  if (withValues && c < -(LONG_MAX / 2n)) throw new ArgError('value is out of range');
  const h = readHash(ctx, argv[1]);
  if (!h || c === 0n) return [];
  const pairs = h.pairsArray();
  const n = pairs.length >> 1;
  const picks: number[] = [];
  if (c < 0n) {
    // Repeats allowed: exactly |count| picks. Capped by what a reply can hold anyway.
    const want = -c > 10_000_000n ? 10_000_000 : Number(-c);
    for (let i = 0; i < want; i++) picks.push(Math.floor(Math.random() * n));
  } else if (c >= BigInt(n)) {
    for (let i = 0; i < n; i++) picks.push(i);
  } else {
    // Distinct fields: a partial Fisher-Yates shuffle of the indexes.
    const idx = Array.from({ length: n }, (_, i) => i);
    const want = Number(c);
    for (let i = 0; i < want; i++) {
      const j = i + Math.floor(Math.random() * (n - i));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      picks.push(idx[i]!);
    }
  }
  if (!withValues) return picks.map((i) => bytes(pairs[2 * i]!));
  // RESP3: one [field, value] pair per pick; RESP2: flat, as Redis answers.
  if (ctx.client.proto === 3) return picks.map((i) => [bytes(pairs[2 * i]!), bytes(pairs[2 * i + 1]!)]);
  const out: Buffer[] = [];
  for (const i of picks) out.push(bytes(pairs[2 * i]!), bytes(pairs[2 * i + 1]!));
  return out;
}

const base = { group: 'hash', firstKey: 1, lastKey: 1, step: 1 } as const;
const key: ArgSpec = { name: 'key', type: 'key' };
const field: ArgSpec = { name: 'field', type: 'string' };
const fieldValue: ArgSpec = { name: 'data', type: 'block', multiple: true, arguments: [{ name: 'field', type: 'string' }, { name: 'value', type: 'string' }] };
const acl = (...c: string[]) => ['@hash', ...c];

export const hashCommands: CommandSpec[] = [
  {
    ...base, name: 'hset', arity: -4, flags: ['write', 'denyoom', 'fast'], since: '2.0.0', aclCategories: acl('@write', '@fast'),
    summary: 'Creates or modifies the value of a field in a hash.', complexity: 'O(1) for each field/value pair added',
    arguments: [key, fieldValue],
    handler: (ctx, argv) => hset(ctx, argv, 'hset'),
  },
  {
    ...base, name: 'hmset', arity: -4, flags: ['write', 'denyoom', 'fast'], since: '2.0.0', aclCategories: acl('@write', '@fast'),
    summary: 'Sets the values of multiple fields.', complexity: 'O(N) where N is the number of fields being set.',
    arguments: [key, fieldValue],
    handler: (ctx, argv) => { hset(ctx, argv, 'hmset'); return OK; },
  },
  {
    ...base, name: 'hsetnx', arity: 4, flags: ['write', 'denyoom', 'fast'], since: '2.0.0', aclCategories: acl('@write', '@fast'),
    summary: 'Sets the value of a field in a hash only when the field doesn\'t exist.', complexity: 'O(1)',
    arguments: [key, field, { name: 'value', type: 'string' }],
    handler: (ctx, argv) => {
      const k = keyOf(argv[1]);
      const old = existing(ctx, k);
      if (old?.has(latin1(argv[2]))) { ctx.propagate = null; return 0; }
      writable(ctx, k, old).set(latin1(argv[2]), latin1(argv[3]));
      notify(ctx, 'hset', argv[1]);
      return 1;
    },
  },
  {
    ...base, name: 'hget', arity: 3, flags: ['readonly', 'fast'], since: '2.0.0', aclCategories: acl('@read', '@fast'),
    summary: 'Returns the value of a field in a hash.', complexity: 'O(1)',
    arguments: [key, field],
    handler: (ctx, argv) => {
      const v = readHash(ctx, argv[1])?.get(latin1(argv[2]));
      return v === undefined ? null : bytes(v);
    },
  },
  {
    ...base, name: 'hmget', arity: -3, flags: ['readonly', 'fast'], since: '2.0.0', aclCategories: acl('@read', '@fast'),
    summary: 'Returns the values of all fields in a hash.', complexity: 'O(N) where N is the number of fields being requested.',
    arguments: [key, { ...field, multiple: true }],
    handler: (ctx, argv) => {
      const h = readHash(ctx, argv[1]);
      const out: Reply[] = [];
      for (let i = 2; i < argv.length; i++) {
        const v = h?.get(latin1(argv[i]));
        out.push(v === undefined ? null : bytes(v));
      }
      return out;
    },
  },
  {
    ...base, name: 'hgetall', arity: 2, flags: ['readonly'], since: '2.0.0', aclCategories: acl('@read', '@slow'),
    summary: 'Returns all fields and values in a hash.', complexity: 'O(N) where N is the size of the hash.',
    arguments: [key],
    handler: (ctx, argv) => {
      const h = readHash(ctx, argv[1]);
      const entries: Array<[Buffer, Buffer]> = [];
      if (h) for (const [f, v] of h.entries()) entries.push([bytes(f), bytes(v)]);
      // A map in RESP3; the encoder flattens it to field, value, … for RESP2.
      return new ReplyMap(entries);
    },
  },
  {
    ...base, name: 'hdel', arity: -3, flags: ['write', 'fast'], since: '2.0.0', aclCategories: acl('@write', '@fast'),
    summary: 'Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.', complexity: 'O(N) where N is the number of fields to be removed.',
    arguments: [key, { ...field, multiple: true }],
    handler: hdel,
  },
  {
    ...base, name: 'hlen', arity: 2, flags: ['readonly', 'fast'], since: '2.0.0', aclCategories: acl('@read', '@fast'),
    summary: 'Returns the number of fields in a hash.', complexity: 'O(1)',
    arguments: [key],
    handler: (ctx, argv) => readHash(ctx, argv[1])?.size ?? 0,
  },
  {
    ...base, name: 'hexists', arity: 3, flags: ['readonly', 'fast'], since: '2.0.0', aclCategories: acl('@read', '@fast'),
    summary: 'Determines whether a field exists in a hash.', complexity: 'O(1)',
    arguments: [key, field],
    handler: (ctx, argv) => (readHash(ctx, argv[1])?.has(latin1(argv[2])) ? 1 : 0),
  },
  {
    ...base, name: 'hkeys', arity: 2, flags: ['readonly'], since: '2.0.0', aclCategories: acl('@read', '@slow'),
    summary: 'Returns all fields in a hash.', complexity: 'O(N) where N is the size of the hash.',
    arguments: [key],
    handler: (ctx, argv) => {
      const h = readHash(ctx, argv[1]);
      const out: Buffer[] = [];
      if (h) for (const [f] of h.entries()) out.push(bytes(f));
      return out;
    },
  },
  {
    ...base, name: 'hvals', arity: 2, flags: ['readonly'], since: '2.0.0', aclCategories: acl('@read', '@slow'),
    summary: 'Returns all values in a hash.', complexity: 'O(N) where N is the size of the hash.',
    arguments: [key],
    handler: (ctx, argv) => {
      const h = readHash(ctx, argv[1]);
      const out: Buffer[] = [];
      if (h) for (const [, v] of h.entries()) out.push(bytes(v));
      return out;
    },
  },
  {
    ...base, name: 'hstrlen', arity: 3, flags: ['readonly', 'fast'], since: '3.2.0', aclCategories: acl('@read', '@fast'),
    summary: 'Returns the length of the value of a field.', complexity: 'O(1)',
    arguments: [key, field],
    handler: (ctx, argv) => readHash(ctx, argv[1])?.get(latin1(argv[2]))?.length ?? 0,
  },
  {
    ...base, name: 'hincrby', arity: 4, flags: ['write', 'denyoom', 'fast'], since: '2.0.0', aclCategories: acl('@write', '@fast'),
    summary: 'Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn\'t exist.', complexity: 'O(1)',
    arguments: [key, field, { name: 'increment', type: 'integer' }],
    handler: hincrby,
  },
  {
    ...base, name: 'hincrbyfloat', arity: 4, flags: ['write', 'denyoom', 'fast'], since: '2.6.0', aclCategories: acl('@write', '@fast'),
    summary: 'Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn\'t exist.', complexity: 'O(1)',
    arguments: [key, field, { name: 'increment', type: 'double' }],
    handler: hincrbyfloat,
  },
  {
    ...base, name: 'hscan', arity: -3, flags: ['readonly'], since: '2.8.0', aclCategories: acl('@read', '@slow'),
    summary: 'Iterates over fields and values of a hash.', complexity: 'O(1) for every call. O(N) for a complete iteration.',
    arguments: [key, { name: 'cursor', type: 'integer' }, { name: 'pattern', type: 'pattern', token: 'MATCH', optional: true },
      { name: 'count', type: 'integer', token: 'COUNT', optional: true }, { name: 'novalues', type: 'pure-token', token: 'NOVALUES', optional: true, since: '7.4.0' }],
    handler: hscan,
  },
  {
    ...base, name: 'hrandfield', arity: -2, flags: ['readonly'], since: '6.2.0', aclCategories: acl('@read', '@slow'),
    summary: 'Returns one or more random fields from a hash.', complexity: 'O(N) where N is the number of fields returned',
    arguments: [key, { name: 'options', type: 'block', optional: true, arguments: [{ name: 'count', type: 'integer' },
      { name: 'withvalues', type: 'pure-token', token: 'WITHVALUES', optional: true }] }],
    handler: hrandfield,
  },
];

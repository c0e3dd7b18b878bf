/**
 * Deadlines on keys of every type: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with
 * NX|XX|GT|LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.
 *
 * The WAL always holds absolute times: a relative EXPIRE is logged as the
 * PEXPIREAT it amounts to, so a replay (or a replica) later sets the same
 * deadline, and one already past is logged as the DEL it caused.
 */
import type { Reply } from '../../protocol/reply.js';
import { ArgError } from '../errors.js';
import { keyOf } from '../engine/keyspace.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { isKeyword } from '../core/numbers.js';
import { expireDeadline, msArg } from './expiry-args.js';

const base = { group: 'generic', firstKey: 1, lastKey: 1, step: 1 } as const;
const PEXPIREAT = Buffer.from('PEXPIREAT');
const DEL = Buffer.from('DEL');

const CONDITION: ArgSpec = {
  name: 'condition', type: 'oneof', optional: true, since: '7.0.0',
  arguments: [
    { name: 'nx', type: 'pure-token', token: 'NX' }, { name: 'xx', type: 'pure-token', token: 'XX' },
    { name: 'gt', type: 'pure-token', token: 'GT' }, { name: 'lt', type: 'pure-token', token: 'LT' },
  ],
};

function expire(ctx: Ctx, argv: Buffer[], seconds: boolean, absolute: boolean, command: string): Reply {
  let nx = false, xx = false, gt = false, lt = false;
  for (let i = 3; i < argv.length; i++) {
    const a = argv[i];
    if (isKeyword(a, 'NX')) nx = true;
    else if (isKeyword(a, 'XX')) xx = true;
    else if (isKeyword(a, 'GT')) gt = true;
    else if (isKeyword(a, 'LT')) lt = true;
    else throw new ArgError(`Unsupported option ${a.toString('latin1')}`);
  }
  if (nx && (xx || gt || lt)) throw new ArgError('NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) throw new ArgError('GT and LT options at the same time are not compatible');
  // The options are checked before the time, as expireGenericCommand does.
  const now = Date.now();
  const at = expireDeadline(argv[2], seconds, absolute, command, now);
  const key = keyOf(argv[1]);
  const current = ctx.db.deadline(key);
  ctx.propagate = null;
  if (current === null) return 0;
  // No deadline counts as an infinite one for GT and LT, as in Redis.
  if (nx && current !== undefined) return 0;
  if (xx && current === undefined) return 0;
  if (gt && (current === undefined || at <= current)) return 0;
  if (lt && current !== undefined && at >= current) return 0;
  const db = ctx.client.db;
  if (at <= now && !ctx.replaying) {
    // Past already: the key goes now, and the log says DEL (Redis's checkAlreadyExpired).
    ctx.db.delete(key);
    ctx.propagate = [[DEL, argv[1]]];
    ctx.server.keyspaceEvent(db, 'g', 'del', key);
    return 1;
  }
  ctx.db.setDeadline(key, at);
  ctx.propagate = [[PEXPIREAT, argv[1], msArg(at)]];
  ctx.server.keyspaceEvent(db, 'g', 'expire', key);
  return 1;
}

/** TTL / PTTL: -2 no key, -1 no deadline; seconds are rounded, as Redis's `(ttl+500)/1000`. */
function ttl(ctx: Ctx, argv: Buffer[], ms: boolean): Reply {
  const at = ctx.db.deadline(keyOf(argv[1]));
  if (at === null) return -2;
  if (at === undefined) return -1;
  const left = Math.max(0, at - Date.now());
  return ms ? left : Math.floor((left + 500) / 1000);
}

function expireTime(ctx: Ctx, argv: Buffer[], ms: boolean): Reply {
  const at = ctx.db.deadline(keyOf(argv[1]));
  if (at === null) return -2;
  if (at === undefined) return -1;
  return ms ? at : Math.floor(at / 1000);
}

const expireSpec = (name: string, unitArg: { name: string; type: 'integer' | 'unix-time' }, since: string, summary: string,
  seconds: boolean, absolute: boolean): CommandSpec => ({
  ...base, name, arity: -3, flags: ['write', 'fast'], since, summary,
  arguments: [{ name: 'key', type: 'key' }, unitArg, CONDITION],
  handler: (ctx, argv) => expire(ctx, argv, seconds, absolute, name),
});

export const expiryCommands: CommandSpec[] = [
  expireSpec('expire', { name: 'seconds', type: 'integer' }, '1.0.0', 'Sets the expiration time of a key in seconds.', true, false),
  expireSpec('pexpire', { name: 'milliseconds', type: 'integer' }, '2.6.0', 'Sets the expiration time of a key in milliseconds.', false, false),
  expireSpec('expireat', { name: 'unix-time-seconds', type: 'unix-time' }, '1.2.0', 'Sets the expiration time of a key to a Unix timestamp.', true, true),
  expireSpec('pexpireat', { name: 'unix-time-milliseconds', type: 'unix-time' }, '2.6.0', 'Sets the expiration time of a key to a Unix milliseconds timestamp.', false, true),
  {
    ...base, name: 'ttl', arity: 2, flags: ['readonly', 'fast'], since: '1.0.0', summary: 'Returns the expiration time in seconds of a key.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => ttl(ctx, argv, false),
  },
  {
    ...base, name: 'pttl', arity: 2, flags: ['readonly', 'fast'], since: '2.6.0', summary: 'Returns the expiration time in milliseconds of a key.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => ttl(ctx, argv, true),
  },
  {
    ...base, name: 'expiretime', arity: 2, flags: ['readonly', 'fast'], since: '7.0.0', summary: 'Returns the expiration time of a key as a Unix timestamp.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => expireTime(ctx, argv, false),
  },
  {
    ...base, name: 'pexpiretime', arity: 2, flags: ['readonly', 'fast'], since: '7.0.0', summary: 'Returns the expiration time of a key as a Unix milliseconds timestamp.',
    arguments: [{ name: 'key', type: 'key' }], handler: (ctx, argv) => expireTime(ctx, argv, true),
  },
  {
    ...base, name: 'persist', arity: 2, flags: ['write', 'fast'], since: '2.2.0', summary: 'Removes the expiration time of a key.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => {
      const key = keyOf(argv[1]);
      if (!ctx.db.persist(key)) { ctx.propagate = null; return 0; }
      ctx.server.keyspaceEvent(ctx.client.db, 'g', 'persist', key);
      return 1;
    },
  },
];

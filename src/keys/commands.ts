/**
 * Generic key commands (DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RENAME,
 * RENAMENX) and the plain string commands (SET, GET) that let applications keep
 * a small non-vector value beside their vector sets.
 */
import { OK, SimpleString, type Reply } from '../../protocol/reply.js';
import { ArgError, SYNTAX, WrongTypeError } from '../errors.js';
import { StringValue, keyBytes, keyOf } from '../engine/keyspace.js';
import { globMatch } from '../core/glob.js';
import type { CommandSpec, Ctx } from '../core/types.js';
import { isKeyword } from '../core/numbers.js';
import { parseInteger } from '../core/numbers.js';

const base = { group: 'generic', since: '1.0.0' } as const;
const oneKey = { firstKey: 1, lastKey: 1, step: 1 } as const;
const allKeys = { firstKey: 1, lastKey: -1, step: 1 } as const;
const noKeys = { firstKey: 0, lastKey: 0, step: 0 } as const;

/** SCAN's cursor is a position in the database's insertion order; the default COUNT is 10, as in Redis. */
function scan(ctx: Ctx, argv: Buffer[]): Reply {
  let cursor: number;
  try { cursor = parseInteger(argv[1]); } catch { throw new ArgError('invalid cursor'); }
  if (cursor < 0) throw new ArgError('invalid cursor');
  let pattern: string | null = null, count = 10, type: string | null = null;
  for (let i = 2; i < argv.length; i++) {
    if (i + 1 >= argv.length) throw new ArgError(SYNTAX);
    if (isKeyword(argv[i], 'MATCH')) pattern = argv[++i].toString('latin1');
    else if (isKeyword(argv[i], 'COUNT')) {
      count = parseInteger(argv[++i]);
      if (count < 1) throw new ArgError(SYNTAX);
    } else if (isKeyword(argv[i], 'TYPE')) type = argv[++i].toString().toLowerCase();
    else throw new ArgError(SYNTAX);
  }
  const out: Buffer[] = [];
  // COUNT bounds the keys visited, not the keys returned, as in Redis. Keys
  // inserted during an iteration land after the cursor, so a full iteration
  // returns every key that existed throughout it.
  let pos = 0, visited = 0, next = 0;
  // Keys only: a value is looked at (wrapped) only for TYPE, and only for the keys visited.
  for (const k of ctx.db.keys()) {
    if (pos < cursor) { pos++; continue; }
    if (visited >= count) { next = pos; break; }
    visited++; pos++;
    if (type && ctx.db.peek(k)?.type !== type) continue;
    if (pattern && !(pattern === '*' || globMatch(pattern, k))) continue;
    out.push(keyBytes(k));
  }
  return [String(next), out];
}

function rename(ctx: Ctx, argv: Buffer[], nx: boolean): Reply {
  const from = keyOf(argv[1]), to = keyOf(argv[2]);
  if (!ctx.db.peek(from)) throw new ArgError('no such key');
  if (nx && from !== to && ctx.db.peek(to)) { ctx.propagate = null; return 0; }
  ctx.db.rename(from, to);
  return nx ? 1 : OK;
}

function deleteKeys(ctx: Ctx, argv: Buffer[]): Reply {
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (ctx.db.delete(keyOf(argv[i]))) n++;
  if (n === 0) ctx.propagate = null;
  return n;
}

export const keyCommands: CommandSpec[] = [
  {
    ...base, ...allKeys, name: 'del', arity: -2, flags: ['write'], summary: 'Deletes one or more keys.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: deleteKeys,
  },
  {
    // Memory is released as the keys go either way: UNLINK is DEL under Redis's other name.
    ...base, ...allKeys, name: 'unlink', arity: -2, flags: ['write', 'fast'], since: '4.0.0',
    summary: 'Asynchronously deletes one or more keys.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: deleteKeys,
  },
  {
    ...base, ...allKeys, name: 'exists', arity: -2, flags: ['readonly', 'fast'], summary: 'Determines whether one or more keys exist.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: (ctx, argv) => {
      let n = 0;
      for (let i = 1; i < argv.length; i++) if (ctx.db.get(keyOf(argv[i]))) n++;
      return n;
    },
  },
  {
    ...base, ...oneKey, name: 'type', arity: 2, flags: ['readonly', 'fast'], summary: 'Determines the type of value stored at a key.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => new SimpleString(ctx.db.peek(keyOf(argv[1]))?.type ?? 'none'),
  },
  {
    ...base, ...noKeys, name: 'keys', arity: 2, flags: ['readonly'], summary: 'Returns all key names that match a pattern.',
    arguments: [{ name: 'pattern', type: 'pattern' }],
    handler: (ctx, argv) => {
      const pattern = argv[1].toString('latin1');
      const out: Buffer[] = [];
      for (const k of ctx.db.entries.keys()) if (pattern === '*' || globMatch(pattern, k)) out.push(keyBytes(k));
      return out;
    },
  },
  {
    ...base, ...noKeys, name: 'scan', arity: -2, flags: ['readonly'], since: '2.8.0', summary: 'Iterates over the key names in the database.',
    arguments: [{ name: 'cursor', type: 'integer' }, { name: 'pattern', type: 'pattern', token: 'MATCH', optional: true },
      { name: 'count', type: 'integer', token: 'COUNT', optional: true }, { name: 'type', type: 'string', token: 'TYPE', optional: true }],
    handler: scan,
  },
  {
    ...base, firstKey: 1, lastKey: 2, step: 1, name: 'rename', arity: 3, flags: ['write'], summary: 'Renames a key and overwrites the destination.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'newkey', type: 'key' }],
    handler: (ctx, argv) => rename(ctx, argv, false),
  },
  {
    ...base, firstKey: 1, lastKey: 2, step: 1, name: 'renamenx', arity: 3, flags: ['write', 'fast'], summary: 'Renames a key only when the target key name doesn\'t exist.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'newkey', type: 'key' }],
    handler: (ctx, argv) => rename(ctx, argv, true),
  },
  {
    group: 'string', since: '1.0.0', ...oneKey, name: 'set', arity: -3, flags: ['write', 'denyoom'], summary: 'Sets the string value of a key (NX, XX and GET; no expiry).',
    arguments: [{ name: 'key', type: 'key' }, { name: 'value', type: 'string' },
      { name: 'condition', type: 'oneof', optional: true, arguments: [{ name: 'nx', type: 'pure-token', token: 'NX' }, { name: 'xx', type: 'pure-token', token: 'XX' }] },
      { name: 'get', type: 'pure-token', token: 'GET', optional: true }],
    handler: (ctx, argv) => {
      let nx = false, xx = false, get = false;
      for (let i = 3; i < argv.length; i++) {
        if (isKeyword(argv[i], 'NX') && !xx) nx = true;
        else if (isKeyword(argv[i], 'XX') && !nx) xx = true;
        else if (isKeyword(argv[i], 'GET')) get = true;
        else throw new ArgError(SYNTAX);
      }
      const key = keyOf(argv[1]);
      const old = ctx.db.peek(key);
      if (get && old && !(old instanceof StringValue)) throw new WrongTypeError();
      const prev = get ? (old instanceof StringValue ? old.value : null) : undefined;
      if ((nx && old) || (xx && !old)) { ctx.propagate = null; return get ? prev! : null; }
      // The argument slice points into a socket buffer that will be reused: setString keeps a copy.
      ctx.db.setString(key, argv[2]);
      return get ? prev! : OK;
    },
  },
  {
    group: 'string', since: '1.0.0', ...oneKey, name: 'get', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns the string value of a key.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => {
      const v = ctx.db.get(keyOf(argv[1]));
      if (!v) return null;
      if (!(v instanceof StringValue)) throw new WrongTypeError();
      return v.value;
    },
  },
];

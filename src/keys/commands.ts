/**
 * Generic key commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RENAME,
 * RENAMENX, COPY, MOVE, SWAPDB, TOUCH, RANDOMKEY, OBJECT. Keys of every type;
 * deadlines go with the key where Redis carries them (RENAME, MOVE, COPY).
 * Strings are in string-commands.ts, deadlines in expiry-commands.ts.
 */
import { OK, SimpleString, type Reply } from '../../protocol/reply.js';
import { ArgError, SYNTAX } from '../errors.js';
import { StringValue, keyBytes, keyOf, type Database, type StoredValue } from '../engine/keyspace.js';
import { globMatch } from '../core/glob.js';
import { helpReply, subcommandBuilder } from '../core/command-table.js';
import type { CommandSpec, Ctx } from '../core/types.js';
import { isKeyword, parseInteger, parseIntegerInRange } from '../core/numbers.js';
import { ScanCursors } from './scan.js';
import { looksLikeInt } from './string-commands.js';

const base = { group: 'generic', since: '1.0.0' } as const;
const oneKey = { firstKey: 1, lastKey: 1, step: 1 } as const;
const allKeys = { firstKey: 1, lastKey: -1, step: 1 } as const;
const noKeys = { firstKey: 0, lastKey: 0, step: 0 } as const;

const SAME_OBJECT = 'source and destination objects are the same';
const DB_RANGE = 'DB index is out of range';
const INT_MAX = 2147483647;

const event = (ctx: Ctx, db: number, name: string, key: string) => ctx.server.keyspaceEvent(db, 'g', name, key);

/** A database index argument (getIntFromObjectOrReply, then the range check). */
function dbIndex(ctx: Ctx, arg: Buffer, notInt?: string): number {
  const i = parseIntegerInRange(arg, -INT_MAX - 1, INT_MAX, notInt);
  if (i < 0 || i >= ctx.server.keyspace.dbs.length) throw new ArgError(DB_RANGE);
  return i;
}

/** A value for another key: strings copy their bytes, other types must know how to clone themselves. */
function duplicate(v: StoredValue): StoredValue {
  if (v instanceof StringValue) return new StringValue(Buffer.from(v.value));
  if (v.clone) return v.clone();
  throw new ArgError(`COPY is not supported for ${v.type} values`);
}

function scan(cursors: ScanCursors, ctx: Ctx, argv: Buffer[]): Reply {
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
  const db = ctx.db;
  const out: Buffer[] = [];
  let { it, pos, epoch } = cursors.resume(db, cursor);
  // COUNT bounds the keys visited, not the keys returned, as in Redis.
  for (let visited = 0; visited < count; visited++) {
    const r = it.next();
    if (r.done) return ['0', out];
    pos++;
    const k = r.value;
    // `has` reclaims a key past its deadline (SCAN does in Redis too) and drops keys a stale iterator still yields.
    if (!db.has(k)) continue;
    if (type && db.peek(k)?.type !== type) continue;
    if (pattern && !(pattern === '*' || globMatch(pattern, k))) continue;
    out.push(keyBytes(k));
  }
  return [String(cursors.suspend(db, it, pos, epoch)), out];
}

function rename(ctx: Ctx, argv: Buffer[], nx: boolean): Reply {
  const from = keyOf(argv[1]), to = keyOf(argv[2]);
  if (!ctx.db.has(from)) throw new ArgError('no such key');
  if (from === to) { ctx.propagate = null; return nx ? 0 : OK; }
  if (nx && ctx.db.has(to)) { ctx.propagate = null; return 0; }
  ctx.db.rename(from, to);
  event(ctx, ctx.client.db, 'rename_from', from);
  event(ctx, ctx.client.db, 'rename_to', to);
  return nx ? 1 : OK;
}

function deleteKeys(ctx: Ctx, argv: Buffer[]): Reply {
  // Only the keys that existed changed: the keyspace reports those itself.
  ctx.touchedKeys = [];
  let n = 0;
  for (let i = 1; i < argv.length; i++) {
    const k = keyOf(argv[i]);
    if (ctx.db.delete(k)) { n++; event(ctx, ctx.client.db, 'del', k); }
  }
  if (n === 0) ctx.propagate = null;
  return n;
}

function copy(ctx: Ctx, argv: Buffer[]): Reply {
  let replace = false;
  let dst: Database = ctx.db;
  for (let j = 3; j < argv.length; j++) {
    if (isKeyword(argv[j], 'REPLACE')) replace = true;
    else if (isKeyword(argv[j], 'DB') && j + 1 < argv.length) dst = ctx.server.keyspace.db(dbIndex(ctx, argv[++j]));
    else throw new ArgError(SYNTAX);
  }
  const from = keyOf(argv[1]), to = keyOf(argv[2]);
  if (dst === ctx.db && from === to) throw new ArgError(SAME_OBJECT);
  // The source is only read; the destination is touched by the keyspace itself (in whichever database).
  ctx.touchedKeys = [];
  const v = ctx.db.get(from);
  if (!v) { ctx.propagate = null; return 0; }
  const deadline = ctx.db.deadline(from);
  if (!replace && dst.has(to)) { ctx.propagate = null; return 0; }
  dst.set(to, duplicate(v));
  if (deadline !== undefined && deadline !== null) dst.setDeadline(to, deadline);
  event(ctx, dst.index, 'copy_to', to);
  return 1;
}

function move(ctx: Ctx, argv: Buffer[]): Reply {
  const dst = ctx.server.keyspace.db(dbIndex(ctx, argv[2]));
  if (dst === ctx.db) throw new ArgError(SAME_OBJECT);
  const k = keyOf(argv[1]);
  if (!ctx.db.has(k) || dst.has(k)) { ctx.propagate = null; return 0; }
  const { value, deadline } = ctx.db.detach(k)!;
  dst.set(k, value);
  if (deadline !== undefined) dst.setDeadline(k, deadline);
  event(ctx, ctx.client.db, 'move_from', k);
  event(ctx, dst.index, 'move_to', k);
  return 1;
}

/** Per database, a live iterator that RANDOMKEY advances by a random stride: O(1) per call, not a walk to a random index. */
const randomWalks = new WeakMap<Database, Iterator<string>>();
const RANDOM_STRIDE = 64;

function randomKey(ctx: Ctx): Reply {
  const db = ctx.db;
  // As dbRandomKey: a key found past its deadline is reclaimed and another picked, a bounded number of times.
  for (let tries = 0; tries < 100 && db.size > 0; tries++) {
    let it = randomWalks.get(db) ?? db.allKeys();
    let k: string | undefined;
    let skip = Math.floor(Math.random() * Math.min(db.size, RANDOM_STRIDE));
    for (let steps = 0; steps < 2 * RANDOM_STRIDE + 2; steps++) {
      const r = it.next();
      if (r.done) { it = db.allKeys(); continue; }
      if (skip-- === 0) { k = r.value; break; }
    }
    randomWalks.set(db, it);
    if (k !== undefined && db.has(k)) return keyBytes(k);
  }
  return null;
}

/** OBJECT ENCODING: Redis's names for a string as SET would store it; other types name theirs. */
function encodingOf(v: StoredValue): string {
  if (v instanceof StringValue) return looksLikeInt(v.value) ? 'int' : v.value.length <= 44 ? 'embstr' : 'raw';
  return v.encoding ?? (v.type === 'vectorset' ? 'hnsw' : 'raw');
}

function objectContainer(): CommandSpec {
  const sub = subcommandBuilder('object', { ...base, firstKey: 2, lastKey: 2, step: 1, flags: ['readonly'], since: '2.2.3' });
  const keyArg = [{ name: 'key', type: 'key' as const }];
  return {
    ...base, ...noKeys, name: 'object', arity: -2, flags: [], since: '2.2.3', summary: 'A container for object introspection commands.',
    subcommands: [
      sub('encoding', 3, 'Returns the internal encoding of a Redis object.', (ctx, argv) => {
        const v = ctx.db.peek(keyOf(argv[2]));
        return v ? encodingOf(v) : null;
      }, { arguments: keyArg }),
      sub('refcount', 3, 'Returns the reference count of a value of a key.', (ctx, argv) => {
        const v = ctx.db.peek(keyOf(argv[2]));
        if (!v) return null;
        // Redis shares the integers below 10000 (OBJ_SHARED_INTEGERS) and reports them as INT_MAX.
        if (v instanceof StringValue && looksLikeInt(v.value)) {
          const n = Number(v.value.toString('latin1'));
          if (n >= 0 && n < 10000) return INT_MAX;
        }
        return 1;
      }, { arguments: keyArg }),
      sub('freq', 3, 'Returns the logarithmic access frequency counter of a Redis object.', (ctx, argv) => {
        if (!ctx.db.peek(keyOf(argv[2]))) return null;
        throw new ArgError('An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.');
      }, { since: '4.0.0', arguments: keyArg }),
      // Access times are not kept (they would cost a word per key): a key is always as fresh as just read.
      sub('idletime', 3, 'Returns the time since the last access to a Redis object.', (ctx, argv) => (ctx.db.peek(keyOf(argv[2])) ? 0 : null), { arguments: keyArg }),
      sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('object', [
        'ENCODING <key>',
        '    Return the kind of internal representation used in order to store the value',
        '    associated with a <key>.',
        'FREQ <key>',
        '    Return the access frequency index of the <key>. The returned integer is',
        '    proportional to the logarithm of the recent access frequency of the key.',
        'IDLETIME <key>',
        '    Return the idle time of the <key>, that is the approximated number of',
        '    seconds elapsed since the last access to the key.',
        'REFCOUNT <key>',
        '    Return the number of references of the value associated with the specified',
        '    <key>.',
        'HELP',
        '    Prints this help.',
      ]), { ...noKeys, flags: ['loading', 'stale'], since: '6.2.0' }),
    ],
  };
}

export function keyCommands(): CommandSpec[] {
  const cursors = new ScanCursors();
  return [
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
      ...base, ...allKeys, name: 'touch', arity: -2, flags: ['readonly', 'fast'], since: '3.2.1', summary: 'Returns the number of existing keys out of those specified after updating the time they were last accessed.',
      arguments: [{ name: 'key', type: 'key', multiple: true }],
      handler: (ctx, argv) => {
        let n = 0;
        for (let i = 1; i < argv.length; i++) if (ctx.db.has(keyOf(argv[i]))) n++;
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
        // Keys past their deadline are left out, not reclaimed, as Redis's KEYS does.
        for (const k of ctx.db.keys()) if (pattern === '*' || globMatch(pattern, k)) out.push(keyBytes(k));
        return out;
      },
    },
    {
      ...base, ...noKeys, name: 'scan', arity: -2, flags: ['readonly'], since: '2.8.0', summary: 'Iterates over the key names in the database.',
      arguments: [{ name: 'cursor', type: 'integer' }, { name: 'pattern', type: 'pattern', token: 'MATCH', optional: true },
        { name: 'count', type: 'integer', token: 'COUNT', optional: true }, { name: 'type', type: 'string', token: 'TYPE', optional: true, since: '6.0.0' }],
      handler: (ctx, argv) => scan(cursors, ctx, argv),
    },
    {
      ...base, ...noKeys, name: 'randomkey', arity: 1, flags: ['readonly'], summary: 'Returns a random key name from the database.',
      handler: randomKey,
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
      ...base, firstKey: 1, lastKey: 2, step: 1, name: 'copy', arity: -3, flags: ['write', 'denyoom'], since: '6.2.0', summary: 'Copies the value of a key to a new key.',
      arguments: [{ name: 'source', type: 'key' }, { name: 'destination', type: 'key' },
        { name: 'destination-db', type: 'integer', token: 'DB', optional: true }, { name: 'replace', type: 'pure-token', token: 'REPLACE', optional: true }],
      handler: copy,
    },
    {
      ...base, ...oneKey, name: 'move', arity: 3, flags: ['write', 'fast'], summary: 'Moves a key to another database.',
      arguments: [{ name: 'key', type: 'key' }, { name: 'db', type: 'integer' }],
      handler: move,
    },
    {
      ...base, ...noKeys, name: 'swapdb', arity: 3, flags: ['write', 'fast'], since: '4.0.0', summary: 'Swaps two Redis databases.',
      arguments: [{ name: 'index1', type: 'integer' }, { name: 'index2', type: 'integer' }],
      handler: (ctx, argv) => {
        const n = ctx.server.keyspace.dbs.length;
        const a = parseIntegerInRange(argv[1], -INT_MAX - 1, INT_MAX, 'invalid first DB index');
        const b = parseIntegerInRange(argv[2], -INT_MAX - 1, INT_MAX, 'invalid second DB index');
        if (a < 0 || a >= n || b < 0 || b >= n) throw new ArgError(DB_RANGE);
        ctx.server.keyspace.swap(a, b);
        // Not published (class ''): features holding per-database state (FT indexes) rebuild it.
        if (a !== b) { ctx.server.keyspaceEvent(a, '', 'swapdb', ''); ctx.server.keyspaceEvent(b, '', 'swapdb', ''); }
        return OK;
      },
    },
    objectContainer(),
  ];
}

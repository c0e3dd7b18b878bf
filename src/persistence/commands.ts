/**
 * SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF: snapshots on demand (the persistence
 * module does the work; spec/durability.md).
 */
import { OK, SimpleString } from '../../protocol/reply.js';
import { ArgError } from '../errors.js';
import type { CommandSpec, Ctx, PersistenceApi } from '../core/types.js';

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'server', since: '1.0.0' } as const;

function persistence(ctx: Ctx): PersistenceApi {
  if (!ctx.server.persistence) throw new ArgError('persistence is not enabled');
  return ctx.server.persistence;
}

export const persistenceCommands: CommandSpec[] = [
  {
    ...base, name: 'save', arity: 1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Synchronously saves a snapshot to disk (the server keeps serving other clients).',
    handler: async (ctx) => { await persistence(ctx).save(); return OK; },
  },
  {
    ...base, name: 'bgsave', arity: -1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Asynchronously saves a snapshot to disk.',
    arguments: [{ name: 'schedule', type: 'pure-token', token: 'SCHEDULE', optional: true }],
    handler: (ctx) => { persistence(ctx).background('bgsave'); return new SimpleString('Background saving started'); },
  },
  {
    ...base, name: 'bgrewriteaof', arity: 1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Compacts the write-ahead log: a snapshot plus a fresh WAL.',
    handler: (ctx) => { persistence(ctx).background('rewrite'); return new SimpleString('Background append only file rewriting started'); },
  },
  {
    ...base, name: 'lastsave', arity: 1, flags: ['loading', 'stale', 'fast'], summary: 'Returns the Unix timestamp of the last successful save to disk.',
    handler: (ctx) => persistence(ctx).lastSave(),
  },
];

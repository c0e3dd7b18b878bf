/**
 * SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF: snapshots on demand (the persistence
 * feature does the work; docs/durability.md).
 */
import { OK, SimpleString } from '../../protocol/reply.js';
import type { CommandSpec } from '../core/types.js';
import { isKeyword } from '../core/numbers.js';
import { ArgError, SYNTAX } from '../errors.js';

/** What SAVE, BGSAVE, LASTSAVE and BGREWRITEAOF need from persistence. */
export interface PersistenceApi {
  /** Take a snapshot and wait for it (SAVE). */
  save(): Promise<void>;
  /**
   * Start a snapshot in the background (BGSAVE, BGREWRITEAOF), or schedule it after the
   * running one (a rewrite, or `schedule`); throws where Redis refuses.
   */
  background(reason: 'bgsave' | 'rewrite', schedule?: boolean): 'started' | 'scheduled';
  inProgress(): boolean;
  /** Unix time of the last successful snapshot. */
  lastSave(): number;
}

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'server', since: '1.0.0' } as const;

export function persistenceCommands(p: PersistenceApi): CommandSpec[] {
  return [
  {
    ...base, name: 'save', arity: 1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Synchronously saves a snapshot to disk (the server keeps serving other clients).',
    handler: async () => { await p.save(); return OK; },
  },
  {
    ...base, name: 'bgsave', arity: -1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Asynchronously saves a snapshot to disk.',
    arguments: [{ name: 'schedule', type: 'pure-token', token: 'SCHEDULE', optional: true }],
    handler: (_ctx, argv) => {
      const schedule = argv.length === 2 && isKeyword(argv[1], 'SCHEDULE');
      if (argv.length > 2 || (argv.length === 2 && !schedule)) throw new ArgError(SYNTAX);
      return new SimpleString(p.background('bgsave', schedule) === 'started' ? 'Background saving started' : 'Background saving scheduled');
    },
  },
  {
    ...base, name: 'bgrewriteaof', arity: 1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Compacts the write-ahead log: a snapshot plus a fresh WAL.',
    handler: () => new SimpleString(p.background('rewrite') === 'started'
      ? 'Background append only file rewriting started' : 'Background append only file rewriting scheduled'),
  },
  {
    ...base, name: 'lastsave', arity: 1, flags: ['loading', 'stale', 'fast'], summary: 'Returns the Unix timestamp of the last successful save to disk.',
    handler: () => p.lastSave(),
  },
];
}

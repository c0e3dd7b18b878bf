/**
 * SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF: snapshots on demand (the persistence
 * feature does the work; docs/durability.md).
 */
import { OK, SimpleString } from '../../protocol/reply.js';
import type { CommandSpec } from '../core/types.js';

/** What SAVE, BGSAVE, LASTSAVE and BGREWRITEAOF need from persistence. */
export interface PersistenceApi {
  /** Take a snapshot and wait for it (SAVE). */
  save(): Promise<void>;
  /** Start a snapshot in the background (BGSAVE, BGREWRITEAOF); throws if one is running. */
  background(reason: 'bgsave' | 'rewrite'): void;
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
    handler: () => { p.background('bgsave'); return new SimpleString('Background saving started'); },
  },
  {
    ...base, name: 'bgrewriteaof', arity: 1, flags: ['admin', 'noscript', 'no_multi'], summary: 'Compacts the write-ahead log: a snapshot plus a fresh WAL.',
    handler: () => { p.background('rewrite'); return new SimpleString('Background append only file rewriting started'); },
  },
  {
    ...base, name: 'lastsave', arity: 1, flags: ['loading', 'stale', 'fast'], summary: 'Returns the Unix timestamp of the last successful save to disk.',
    handler: () => p.lastSave(),
  },
];
}

/**
 * MULTI / EXEC / DISCARD. Commands are queued by the dispatcher while a
 * transaction is open; EXEC runs them back to back and logs them as one WAL
 * record. WATCH is not offered: optimistic locking needs key versions we do
 * not track yet, and answering OK without honouring it would be a lie.
 */
import { OK } from '../../../protocol/reply.js';
import { ArgError, ExecAbortError } from '../../errors.js';
import type { CommandSpec } from '../types.js';

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'transactions', since: '1.2.0' } as const;

export const transactionCommands: CommandSpec[] = [
  {
    ...base, name: 'multi', arity: 1, flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
    summary: 'Starts a transaction.',
    handler: (ctx) => {
      if (ctx.client.multi) throw new ArgError('MULTI calls can not be nested');
      ctx.client.multi = [];
      ctx.client.multiDirty = false;
      return OK;
    },
  },
  {
    ...base, name: 'exec', arity: 1, flags: ['noscript', 'loading', 'stale', 'skip_slowlog'],
    summary: 'Executes all commands in a transaction.',
    handler: (ctx) => {
      const { client } = ctx;
      if (!client.multi) throw new ArgError('EXEC without MULTI');
      const queued = client.multi;
      const dirty = client.multiDirty;
      client.multi = null;
      client.multiDirty = false;
      if (dirty) throw new ExecAbortError();
      if (queued.length === 0) return [];
      return ctx.server.runTransaction(client, queued);
    },
  },
  {
    ...base, name: 'discard', arity: 1, flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], since: '2.0.0',
    summary: 'Discards a transaction.',
    handler: (ctx) => {
      if (!ctx.client.multi) throw new ArgError('DISCARD without MULTI');
      ctx.client.multi = null;
      ctx.client.multiDirty = false;
      return OK;
    },
  },
];

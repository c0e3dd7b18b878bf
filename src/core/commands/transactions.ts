/**
 * MULTI / EXEC / DISCARD / WATCH / UNWATCH. Commands are queued by the
 * dispatcher while a transaction is open; EXEC runs them back to back and
 * logs them as one WAL record. A watched key written, expired or flushed
 * since the WATCH makes EXEC answer null and run nothing (src/core/watch.ts).
 */
import { NULL_ARRAY, OK } from '../../../protocol/reply.js';
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
      // Refused commands abort with an error before a broken watch aborts with null, as in Redis.
      const broken = !dirty && ctx.server.watchBroken(client);
      ctx.server.unwatch(client);
      if (dirty) throw new ExecAbortError();
      if (broken) return NULL_ARRAY;
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
      ctx.server.unwatch(ctx.client);
      return OK;
    },
  },
  {
    ...base, firstKey: 1, lastKey: -1, step: 1, name: 'watch', arity: -2, flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], since: '2.2.0',
    summary: 'Monitors changes to keys to determine the execution of a transaction.',
    arguments: [{ name: 'key', type: 'key', multiple: true }],
    handler: (ctx, argv) => {
      if (ctx.client.multi) throw new ArgError('WATCH inside MULTI is not allowed');
      ctx.server.watch(ctx.client, argv.slice(1));
      return OK;
    },
  },
  {
    ...base, name: 'unwatch', arity: 1, flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], since: '2.2.0',
    summary: 'Forgets about watched keys of a transaction.',
    handler: (ctx) => { ctx.server.unwatch(ctx.client); return OK; },
  },
];

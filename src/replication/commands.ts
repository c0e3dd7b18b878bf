/**
 * REPLICAOF / SLAVEOF, ROLE, WAIT, and the commands a replica sends its
 * primary (REPLCONF, PSYNC, SYNC), with Redis's names, replies and errors.
 */
import { OK, SimpleString, type Reply } from '../../protocol/reply.js';
import type { CommandSpec, Ctx } from '../core/types.js';
import { isKeyword, parseInteger } from '../core/numbers.js';
import { ArgError, NOT_AN_INTEGER, RespError } from '../errors.js';
import type { Replication } from './module.js';

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'server' } as const;

function replicaOf(r: Replication) {
  return (ctx: Ctx, argv: Buffer[]): Reply => {
    if (isKeyword(argv[1], 'NO') && isKeyword(argv[2], 'ONE')) {
      if (r.isReplica) {
        r.promote();
        ctx.server.log.info({ by: ctx.client.addr }, 'MASTER MODE enabled');
      }
      return OK;
    }
    let port: number;
    try { port = parseInteger(argv[2]); } catch { throw new ArgError('Invalid master port'); }
    if (port < 0 || port > 65535) throw new ArgError('Invalid master port');
    const host = argv[1].toString();
    if (r.link && r.link.masterHost === host && r.link.masterPort === port) return new SimpleString('OK Already connected to specified master');
    r.replicaOf(host, port);
    return OK;
  };
}

const REPLICAOF_ARGS: CommandSpec['arguments'] = [{
  name: 'args', type: 'oneof', arguments: [
    { name: 'host-port', type: 'block', arguments: [{ name: 'host', type: 'string' }, { name: 'port', type: 'integer' }] },
    { name: 'no-one', type: 'block', arguments: [{ name: 'no', type: 'pure-token', token: 'NO' }, { name: 'one', type: 'pure-token', token: 'ONE' }] },
  ],
}];

export function replicationCommands(r: Replication): CommandSpec[] {
  return [
    {
      ...base, name: 'replicaof', arity: 3, flags: ['admin', 'noscript', 'stale'], since: '5.0.0',
      summary: 'Configures a server as replica of another, or promotes it to a primary.', arguments: REPLICAOF_ARGS,
      handler: replicaOf(r),
    },
    {
      ...base, name: 'slaveof', arity: 3, flags: ['admin', 'noscript', 'stale'], since: '1.0.0',
      summary: 'Configures a server as replica of another, or promotes it to a primary (old name of REPLICAOF).', arguments: REPLICAOF_ARGS,
      handler: replicaOf(r),
    },
    {
      ...base, name: 'role', arity: 1, flags: ['noscript', 'loading', 'stale', 'fast'], since: '2.8.12',
      summary: 'Returns the replication role.',
      handler: () => {
        const link = r.link;
        if (link) return ['slave', link.masterHost, link.masterPort, link.state, link.state === 'connected' ? r.state.offset : -1];
        return ['master', r.state.offset, r.primary.roleEntries()];
      },
    },
    {
      ...base, name: 'wait', arity: 3, flags: ['blocking'], group: 'generic', since: '3.0.0',
      summary: 'Blocks until the writes sent so far are acknowledged by a number of replicas, or a timeout.',
      arguments: [{ name: 'numreplicas', type: 'integer' }, { name: 'timeout', type: 'integer' }],
      handler: (ctx, argv) => {
        if (r.isReplica) {
          throw new ArgError('WAIT cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.');
        }
        let want: number, timeout: number;
        try { want = parseInteger(argv[1]); timeout = parseInteger(argv[2]); } catch { throw new ArgError(NOT_AN_INTEGER); }
        if (timeout < 0) throw new ArgError('timeout is negative');
        // Inside MULTI nothing may block: the count as it stands.
        const n = r.primary.wait(want, ctx.client.multi ? 1 : timeout);
        return n;
      },
    },
    {
      ...base, name: 'replconf', arity: -1, flags: ['admin', 'noscript', 'loading', 'stale', 'allow_busy'], since: '3.0.0',
      summary: 'An internal command for configuring the replication stream.',
      handler: (ctx, argv) => {
        if (argv.length % 2 === 0) throw new ArgError('syntax error');
        return r.primary.replconf(ctx.client, argv);
      },
    },
    {
      ...base, name: 'psync', arity: -3, flags: ['admin', 'noscript', 'no_multi'], since: '2.8.0',
      summary: 'An internal command used in replication.',
      arguments: [{ name: 'replicationid', type: 'string' }, { name: 'offset', type: 'integer' }],
      handler: (ctx, argv) => {
        if (r.isReplica) throw new RespError('NOMASTERLINK', "Can't SYNC while not connected with my master");
        let wanted: number;
        try { wanted = parseInteger(argv[2]); } catch { throw new ArgError(NOT_AN_INTEGER); }
        return r.primary.psync(ctx.client, argv[1].toString(), wanted);
      },
    },
    {
      ...base, name: 'sync', arity: 1, flags: ['admin', 'noscript', 'no_multi'], since: '1.0.0',
      summary: 'An internal command used in replication.',
      handler: (ctx) => {
        if (r.isReplica) throw new RespError('NOMASTERLINK', "Can't SYNC while not connected with my master");
        return r.primary.psync(ctx.client, '?', -1);
      },
    },
  ];
}

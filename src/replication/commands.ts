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
        const replid = argv[1].toString();
        if (argv.length > 3) {
          if (argv.length > 4 || !isKeyword(argv[3], 'FAILOVER')) throw new ArgError('syntax error');
          // Our primary hands its role over (its FAILOVER): the id it sends must be the history we follow.
          if (!r.isReplica || replid !== r.state.replid) throw new ArgError('PSYNC FAILOVER replid must match my replid.');
          ctx.server.log.info({ by: ctx.client.addr }, 'MASTER MODE enabled (failover request)');
          r.promote();
        }
        let wanted: number;
        try { wanted = parseInteger(argv[2]); } catch { throw new ArgError(NOT_AN_INTEGER); }
        refuseUnlinked(r);
        return r.primary.psync(ctx.client, replid, wanted);
      },
    },
    {
      ...base, name: 'sync', arity: 1, flags: ['admin', 'noscript', 'no_multi'], since: '1.0.0',
      summary: 'An internal command used in replication.',
      handler: (ctx) => {
        refuseUnlinked(r);
        return r.primary.psync(ctx.client, '?', -1);
      },
    },
    {
      ...base, name: 'failover', arity: -1, flags: ['admin', 'noscript', 'stale'], since: '6.2.0',
      summary: 'Starts a coordinated failover from a server to one of its replicas.',
      arguments: [
        { name: 'target', type: 'block', token: 'TO', optional: true, arguments: [
          { name: 'host', type: 'string' }, { name: 'port', type: 'integer' },
          { name: 'force', type: 'pure-token', token: 'FORCE', optional: true },
        ] },
        { name: 'abort', type: 'pure-token', token: 'ABORT', optional: true },
        { name: 'milliseconds', type: 'integer', token: 'TIMEOUT', optional: true },
      ],
      handler: (_ctx, argv) => failover(r, argv),
    },
  ];
}

/** A replica serves replicas of its own (chained) only while its own link streams: what it would send is that stream. */
function refuseUnlinked(r: Replication): void {
  if (r.link && r.link.state !== 'connected') throw new RespError('NOMASTERLINK', "Can't SYNC while not connected with my master");
}

/** FAILOVER's arguments and preconditions, checked in Redis's order with its replies. */
function failover(r: Replication, argv: Buffer[]): Reply {
  if (argv.length === 2 && isKeyword(argv[1], 'ABORT')) {
    if (!r.failover) throw new ArgError('No failover in progress.');
    r.endFailover('Failover manually aborted');
    return OK;
  }
  let timeout = 0;
  let force = false;
  let target: { host: string; port: number } | null = null;
  for (let i = 1; i < argv.length; i++) {
    if (isKeyword(argv[i], 'TIMEOUT') && i + 1 < argv.length && timeout === 0) {
      try { timeout = parseInteger(argv[i + 1]); } catch { throw new ArgError(NOT_AN_INTEGER); }
      if (timeout <= 0) throw new ArgError('FAILOVER timeout must be greater than 0');
      i++;
    } else if (isKeyword(argv[i], 'TO') && i + 2 < argv.length && !target) {
      let port: number;
      try { port = parseInteger(argv[i + 2]); } catch { throw new ArgError(NOT_AN_INTEGER); }
      target = { host: argv[i + 1].toString(), port };
      i += 2;
    } else if (isKeyword(argv[i], 'FORCE') && !force) {
      force = true;
    } else {
      throw new ArgError('syntax error');
    }
  }
  if (r.failover) throw new ArgError('FAILOVER already in progress.');
  if (r.isReplica) throw new ArgError('FAILOVER is not valid when server is a replica.');
  if (r.primary.replicaCount === 0) throw new ArgError('FAILOVER requires connected replicas.');
  if (force && (timeout === 0 || !target)) throw new ArgError('FAILOVER with force option requires both a timeout and target HOST and IP.');
  if (target) {
    const state = r.primary.find(target.host, target.port);
    if (state === null) throw new ArgError('FAILOVER target HOST and PORT is not a replica.');
    if (state !== 'online') throw new ArgError('FAILOVER target replica is not online.');
  }
  r.startFailover(target, force, timeout);
  return OK;
}

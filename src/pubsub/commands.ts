/**
 * Pub/sub commands (SUBSCRIBE … PUBSUB, the sharded S* forms) and CLIENT
 * TRACKING's subcommands, added to the core's CLIENT container.
 */
import { ReplyMap, ReplySet, OK, type Reply } from '../../protocol/reply.js';
import { ArgError } from '../errors.js';
import { helpReply, subcommandBuilder } from '../core/command-table.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import type { Hub, Namespace } from './hub.js';
import type { Tracking } from './tracking.js';

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'pubsub', since: '2.0.0' } as const;
const shardKeys = { firstKey: 1, lastKey: -1, step: 1 } as const;
const SUBSCRIBE_FLAGS = ['pubsub', 'noscript', 'loading', 'stale'] as const;
const PUBLISH_FLAGS = ['pubsub', 'loading', 'stale', 'fast'] as const;

/** A client with no connection of its own (HTTP) has nowhere to receive messages. */
function needsConnection(ctx: Ctx): void {
  if (!ctx.client.deliver) throw new ArgError('this client cannot receive messages: subscribe over a RESP connection');
}

function channelArg(name: string, multiple: boolean, optional = false): ArgSpec {
  return { name, type: 'string', multiple, optional };
}

export function pubsubCommands(hub: Hub): CommandSpec[] {
  const subscribe = (ns: Namespace) => (ctx: Ctx, argv: Buffer[]): Reply => {
    needsConnection(ctx);
    return hub.subscribe(ctx.client, ns, argv.slice(1));
  };
  const unsubscribe = (ns: Namespace) => (ctx: Ctx, argv: Buffer[]): Reply => hub.unsubscribe(ctx.client, ns, argv.slice(1));
  const sub = subcommandBuilder('pubsub', { ...base, flags: ['pubsub', 'loading', 'stale'], since: '2.8.0' });
  const patternArg = (argv: Buffer[]): string | null => {
    // Redis 7.0's wording for a second pattern: the arity check alone would let it through.
    if (argv.length > 3) throw new ArgError(`unknown subcommand or wrong number of arguments for '${argv[1].toString('latin1')}'. Try PUBSUB HELP.`);
    return argv.length === 3 ? argv[2].toString('latin1') : null;
  };
  const counts = (ns: 'channel' | 'shard') => (_ctx: Ctx, argv: Buffer[]): Reply => {
    const out: Reply[] = [];
    for (let i = 2; i < argv.length; i++) out.push(argv[i], hub.subscribersOf(ns, argv[i]));
    return out;
  };
  return [
    {
      ...base, name: 'subscribe', arity: -2, flags: SUBSCRIBE_FLAGS, summary: 'Listens for messages published to channels.',
      arguments: [channelArg('channel', true)], handler: subscribe('channel'),
    },
    {
      ...base, name: 'unsubscribe', arity: -1, flags: SUBSCRIBE_FLAGS, summary: 'Stops listening to messages posted to channels.',
      arguments: [channelArg('channel', true, true)], handler: unsubscribe('channel'),
    },
    {
      ...base, name: 'psubscribe', arity: -2, flags: SUBSCRIBE_FLAGS, summary: 'Listens for messages published to channels that match one or more patterns.',
      arguments: [{ name: 'pattern', type: 'pattern', multiple: true }], handler: subscribe('pattern'),
    },
    {
      ...base, name: 'punsubscribe', arity: -1, flags: SUBSCRIBE_FLAGS, summary: 'Stops listening to messages published to channels that match one or more patterns.',
      arguments: [{ name: 'pattern', type: 'pattern', multiple: true, optional: true }], handler: unsubscribe('pattern'),
    },
    {
      ...base, name: 'publish', arity: 3, flags: PUBLISH_FLAGS, summary: 'Posts a message to a channel.',
      complexity: 'O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).',
      arguments: [channelArg('channel', false), { name: 'message', type: 'string' }],
      handler: (_ctx, argv) => hub.publish(argv[1].toString('latin1'), argv[2], argv[1]),
    },
    {
      ...base, ...shardKeys, name: 'ssubscribe', arity: -2, flags: SUBSCRIBE_FLAGS, since: '7.0.0', summary: 'Listens for messages published to shard channels.',
      arguments: [{ name: 'shardchannel', type: 'string', multiple: true }], handler: subscribe('shard'),
    },
    {
      ...base, ...shardKeys, name: 'sunsubscribe', arity: -1, flags: SUBSCRIBE_FLAGS, since: '7.0.0', summary: 'Stops listening to messages posted to shard channels.',
      arguments: [{ name: 'shardchannel', type: 'string', multiple: true, optional: true }], handler: unsubscribe('shard'),
    },
    {
      ...base, firstKey: 1, lastKey: 1, step: 1, name: 'spublish', arity: 3, flags: PUBLISH_FLAGS, since: '7.0.0', summary: 'Post a message to a shard channel.',
      arguments: [{ name: 'shardchannel', type: 'string' }, { name: 'message', type: 'string' }],
      handler: (_ctx, argv) => hub.publishShard(argv[1], argv[2]),
    },
    {
      ...base, name: 'pubsub', arity: -2, flags: [], since: '2.8.0', summary: 'A container for Pub/Sub commands.',
      subcommands: [
        sub('channels', -2, 'Returns the active channels.', (_ctx, argv) => hub.active('channel', patternArg(argv)),
          { arguments: [{ name: 'pattern', type: 'pattern', optional: true }] }),
        sub('numpat', 2, 'Returns a count of unique pattern subscriptions.', () => hub.patternCount),
        sub('numsub', -2, 'Returns a count of subscribers to channels.', counts('channel'), { arguments: [channelArg('channel', true, true)] }),
        sub('shardchannels', -2, 'Returns the active shard channels.', (_ctx, argv) => hub.active('shard', patternArg(argv)),
          { since: '7.0.0', arguments: [{ name: 'pattern', type: 'pattern', optional: true }] }),
        sub('shardnumsub', -2, 'Returns the count of subscribers of shard channels.', counts('shard'),
          { since: '7.0.0', arguments: [{ name: 'shardchannel', type: 'string', multiple: true, optional: true }] }),
        sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('pubsub', [
          'CHANNELS [<pattern>]',
          "    Return the currently active channels matching a <pattern> (default: '*').",
          'NUMPAT',
          '    Return number of subscriptions to patterns.',
          'NUMSUB [<channel> ...]',
          '    Return the number of subscribers for the specified channels, excluding',
          '    pattern subscriptions(default: no channels).',
          'SHARDCHANNELS [<pattern>]',
          "    Return the currently active shard level channels matching a <pattern> (default: '*').",
          'SHARDNUMSUB [<shardchannel> ...]',
          '    Return the number of subscribers for the specified shard level channel(s)',
          'HELP',
          '    Prints this help.',
        ])),
      ],
    },
  ];
}

/** CLIENT TRACKING, TRACKINGINFO, GETREDIR, CACHING: subcommands of the core's CLIENT. */
export function trackingCommands(tracking: Tracking): CommandSpec[] {
  const sub = subcommandBuilder('client', { firstKey: 0, lastKey: 0, step: 0, group: 'connection', since: '6.0.0', flags: ['noscript', 'loading', 'stale'] });
  const onOff = (a: string, b: string): ArgSpec => ({
    name: 'status', type: 'oneof', arguments: [{ name: a.toLowerCase(), type: 'pure-token', token: a }, { name: b.toLowerCase(), type: 'pure-token', token: b }],
  });
  return [
    sub('tracking', -3, 'Controls server-assisted client-side caching for the connection.', (ctx, argv) => { tracking.command(ctx, argv); return OK; }, {
      arguments: [
        onOff('ON', 'OFF'),
        { name: 'client-id', type: 'integer', token: 'REDIRECT', optional: true },
        { name: 'prefix', type: 'string', token: 'PREFIX', optional: true, multiple: true, multipleToken: true },
        { name: 'bcast', type: 'pure-token', token: 'BCAST', optional: true },
        { name: 'optin', type: 'pure-token', token: 'OPTIN', optional: true },
        { name: 'optout', type: 'pure-token', token: 'OPTOUT', optional: true },
        { name: 'noloop', type: 'pure-token', token: 'NOLOOP', optional: true },
      ],
    }),
    sub('trackinginfo', 2, 'Returns information about server-assisted client-side caching for the connection.', (ctx) => new ReplyMap([
      ['flags', new ReplySet(tracking.flagsOf(ctx.client))],
      ['redirect', tracking.redirectOf(ctx.client)],
      ['prefixes', tracking.prefixesOf(ctx.client)],
    ]), { since: '6.2.0' }),
    sub('getredir', 2, 'Returns the client ID to which the connection\'s tracking notifications are redirected.', (ctx) => tracking.redirectOf(ctx.client)),
    sub('caching', 3, 'Instructs the server whether to track the keys in the next request.', (ctx, argv) => { tracking.caching(ctx, argv); return OK; },
      { arguments: [onOff('YES', 'NO')] }),
  ];
}

/**
 * The pub/sub feature: channels, patterns and shard channels (hub.ts),
 * keyspace notifications (notifications.ts) and CLIENT TRACKING
 * (tracking.ts). It owns `notify-keyspace-events` and listens to the
 * keyspace events every data feature reports; it learns what commands read
 * and wrote from the `observe` hook. Subscribed clients are put in the
 * `pubsub` client mode (RESP2 restrictions, the pubsub output-buffer limit).
 */
import type { FeatureModule } from '../core/module.js';
import type { ClientState } from '../core/types.js';
import { Hub } from './hub.js';
import { Notifications } from './notifications.js';
import { Tracking } from './tracking.js';
import { pubsubCommands, trackingCommands } from './commands.js';

export const pubsubModule: FeatureModule = {
  name: 'pubsub',
  create(host) {
    const hub = new Hub();
    const notifications = new Notifications(hub);
    const tracking = new Tracking(host.table, hub, () => host.clients());
    notifications.configure(host.config['notify-keyspace-events']);
    return {
      commands: [...pubsubCommands(hub), ...trackingCommands(tracking)],
      onConfig: { 'notify-keyspace-events': () => notifications.configure(host.config['notify-keyspace-events']) },
      keyspaceEvent(db, cls, event, key) {
        // Writes reach tracking through `observe`; these change keys with no command naming them.
        if ((cls === 'x' || cls === 'e') && tracking.clientCount > 0) tracking.invalidate(typeof key === 'string' ? key : key.toString('latin1'), null);
        notifications.emit(db, cls, event, key);
      },
      observe(client, spec, argv) { tracking.observe(client, spec, argv); },
      releaseClient(client: ClientState) {
        hub.release(client);
        tracking.release(client);
      },
      describeClient(client: ClientState) {
        const s = hub.subscriberOf(client);
        const t = tracking.stateOf(client);
        if (!s && !t) return null;
        let flags = s ? 'P' : '';
        if (t) flags += 't' + (t.brokenRedirect ? 'R' : '') + (t.bcast ? 'B' : '');
        return {
          flags,
          fields: { sub: s?.channels.size ?? 0, psub: s?.patterns.size ?? 0, ssub: s?.shards.size ?? 0, redir: t ? t.redirect : -1 },
        };
      },
      infoSections: [
        { name: 'clients', inDefault: true, extend: true, fields: () => [['tracking_clients', tracking.clientCount]] },
        {
          name: 'stats', inDefault: true, extend: true,
          metrics: [
            ['pubsub_channels', 'astronaut_pubsub_channels', 'gauge', 'Channels with at least one subscriber.'],
            ['pubsub_patterns', 'astronaut_pubsub_patterns', 'gauge', 'Patterns with at least one subscriber.'],
          ],
          fields: () => [
            ['pubsub_channels', hub.channelCount],
            ['pubsub_patterns', hub.patternCount],
            ['pubsubshard_channels', hub.shardChannelCount],
            ['tracking_total_keys', tracking.keyCount],
            ['tracking_total_items', tracking.itemCount],
            ['tracking_total_prefixes', tracking.prefixTotal],
          ],
        },
      ],
    };
  },
};

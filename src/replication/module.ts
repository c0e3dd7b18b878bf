/**
 * Replication (docs/formats.md "Replication"): a primary streams the records
 * its write log takes to its replicas; a replica applies them in order and
 * logs them to its own WAL. Redis's commands, INFO fields and client type, so
 * that Redis Sentinel and Sentinel-aware clients drive it unchanged. The
 * snapshot of a full sync comes from the persistence feature's Dataset.
 */
import type { FeatureModule, ModuleHost } from '../core/module.js';
import type { ClientState, InfoSection } from '../core/types.js';
import { RespError } from '../errors.js';
import { safeInterval } from '../core/guard.js';
import { Primary, ReplState } from './primary.js';
import { ReplicaLink } from './replica-link.js';
import { replicationCommands } from './commands.js';

export class ReadOnlyError extends RespError {
  constructor() { super('READONLY', "You can't write against a read only replica."); }
}

export class Replication {
  readonly state = new ReplState();
  readonly primary: Primary;
  link: ReplicaLink | null = null;
  private cron: NodeJS.Timeout | null = null;

  constructor(readonly host: ModuleHost) {
    this.primary = new Primary(host, this.state);
  }

  get isReplica(): boolean { return this.link !== null; }

  start(): void {
    const target = this.host.config.replicaof;
    if (target.length === 2) this.replicaOf(target[0], Number(target[1]));
    this.cron = safeInterval(this.host.log, 'replication cron', 1000, () => this.primary.cron());
  }

  stop(): void {
    if (this.cron) clearInterval(this.cron);
    this.link?.stop();
    this.primary.shutdown();
  }

  /** Follow the primary at host:port (REPLICAOF, the config file, Sentinel's reconfiguration). */
  replicaOf(host: string, port: number): void {
    if (this.link && this.link.masterHost === host && this.link.masterPort === port) return;
    this.link?.stop();
    // Our own replicas were following the history we are about to leave: let them resync.
    this.primary.dropAll();
    this.primary.active = false;
    this.host.config.replicaof = [host, String(port)];
    this.host.log.info({ primary: `${host}:${port}` }, 'becoming a replica');
    this.link = new ReplicaLink(this.host, this.state, this.primary, host, port);
  }

  /** REPLICAOF NO ONE: a primary from now on, continuing the stream it received under a new id. */
  promote(): void {
    if (!this.link) return;
    this.link.stop();
    this.link = null;
    this.host.config.replicaof = [];
    this.state.shift();
    this.primary.active = true;
    this.host.log.info({ replid: this.state.replid, offset: this.state.offset }, 'promoted to primary');
  }

  refuseWrites(): RespError | null {
    if (this.link) return this.host.config['replica-read-only'] ? new ReadOnlyError() : null;
    return this.primary.refuseWrites();
  }

  info(): Array<[string, string | number]> {
    const st = this.state;
    const cfg = this.host.config;
    const out: Array<[string, string | number]> = [];
    const link = this.link;
    if (link) {
      const now = Date.now();
      const up = link.state === 'connected';
      out.push(
        ['role', 'slave'],
        ['master_host', link.masterHost],
        ['master_port', link.masterPort],
        ['master_link_status', up ? 'up' : 'down'],
        ['master_last_io_seconds_ago', up ? Math.floor((now - link.lastIo) / 1000) : -1],
        ['master_sync_in_progress', link.syncInProgress ? 1 : 0],
        ['slave_read_repl_offset', st.offset],
        ['slave_repl_offset', st.offset],
      );
      if (!up) out.push(['master_link_down_since_seconds', Math.floor((now - link.downSince) / 1000)]);
      out.push(
        ['slave_priority', cfg['replica-priority']],
        ['slave_read_only', cfg['replica-read-only'] ? 1 : 0],
        ['replica_announced', cfg['replica-announced'] ? 1 : 0],
      );
    } else {
      out.push(['role', 'master']);
    }
    out.push(['connected_slaves', this.primary.replicaCount], ...this.primary.infoLines());
    if (!link && cfg['min-replicas-to-write'] > 0) out.push(['min_slaves_good_slaves', this.primary.good(cfg['min-replicas-max-lag'])]);
    const b = st.backlog;
    out.push(
      ['master_failover_state', 'no-failover'],
      ['master_replid', st.replid],
      ['master_replid2', st.replid2],
      ['master_repl_offset', st.offset],
      ['second_repl_offset', st.secondOffset],
      ['repl_backlog_active', b ? 1 : 0],
      ['repl_backlog_size', cfg['repl-backlog-size']],
      ['repl_backlog_first_byte_offset', b ? b.start + 1 : 0],
      ['repl_backlog_histlen', b ? b.length : 0],
    );
    return out;
  }
}

const REPLICATION_METRICS: InfoSection['metrics'] = [
  ['connected_slaves', 'astronaut_connected_replicas', 'gauge', 'Replicas attached to this primary.'],
  ['master_repl_offset', 'astronaut_repl_offset_bytes', 'gauge', 'Replication stream offset.'],
];

export const replicationModule: FeatureModule = {
  name: 'replication',
  create(host) {
    const r = new Replication(host);
    return {
      commands: replicationCommands(r),
      replication: {
        refuseWrites: () => r.refuseWrites(),
        logged: (entries) => r.primary.logged(entries),
        // A replica deletes an expired key only on its primary's DEL; until then reads do not see it.
        expiryMode: () => (r.link ? (r.link.applying ? 'keep' : 'hide') : null),
      },
      infoSections: [
        { name: 'replication', inDefault: true, fields: () => r.info(), metrics: REPLICATION_METRICS },
        {
          name: 'stats', inDefault: true, extend: true,
          metrics: [['sync_full', 'astronaut_sync_full_total', 'counter', 'Full syncs served to replicas.'],
            ['sync_partial_ok', 'astronaut_sync_partial_ok_total', 'counter', 'Partial resyncs accepted.']],
          fields: () => [['sync_full', r.state.syncFull], ['sync_partial_ok', r.state.syncPartialOk], ['sync_partial_err', r.state.syncPartialErr]],
        },
      ],
      onConfig: { 'repl-backlog-size': () => r.primary.resizeBacklog() },
      releaseClient: (client: ClientState) => r.primary.releaseClient(client),
      describeClient: (client: ClientState) => (client.mode?.type === 'replica' ? { flags: 'S' } : null),
      // Listed before persistence, so it stops first (no record arrives once the WAL is closed);
      // the link waits for the local load to finish before it asks for anything.
      start: async () => { r.start(); },
      stop: async () => { r.stop(); },
    };
  },
};

/**
 * Replication (docs/formats.md "Replication"): a primary streams the records
 * its write log takes to its replicas; a replica applies them in order and
 * logs them to its own WAL, and forwards the stream to replicas of its own
 * (chained). Redis's commands, INFO fields and client type, so that Redis
 * Sentinel and Sentinel-aware clients drive it unchanged; FAILOVER hands the
 * primary role over. The snapshot of a full sync comes from the persistence
 * feature's Dataset; the replication id and offset survive restarts in the
 * data directory's state file (state-file.ts) when the data provably matches.
 */
import type { Dataset, FeatureModule, ModuleHost } from '../core/module.js';
import type { ClientState, InfoSection } from '../core/types.js';
import { RespError } from '../errors.js';
import { safeInterval } from '../core/guard.js';
import { RealFs } from '../store/index.js';
import { Backlog } from './backlog.js';
import { Primary, ReplState } from './primary.js';
import { ReplicaLink } from './replica-link.js';
import { replicationCommands } from './commands.js';
import { readState, removeState, writeState, type SavedState } from './state-file.js';

export class ReadOnlyError extends RespError {
  constructor() { super('READONLY', "You can't write against a read only replica."); }
}

/**
 * Redis blocks writers during a FAILOVER; the dispatcher cannot hold one
 * client's pipeline back without reordering it, so writes are refused
 * instead, with the error a client already treats as "the primary moved".
 */
export class FailoverPausedError extends RespError {
  constructor() { super('READONLY', 'Writes are paused while FAILOVER hands the primary role to a replica.'); }
}

export type FailoverState = 'waiting-for-sync' | 'failover-in-progress';

interface Failover {
  state: FailoverState;
  target: { host: string; port: number } | null;
  force: boolean;
  /** Date.now() past which the failover is abandoned (or, with FORCE, forced); null: no TIMEOUT. */
  deadline: number | null;
  timer: NodeJS.Timeout;
  /** When the replicas were last asked for their offset (a GETACK moves the offset they must reach). */
  askedAt: number;
}

/** How often a waiting FAILOVER looks at its replicas' acknowledgements. */
const FAILOVER_TICK_MS = 50;
/**
 * How often it asks them (REPLCONF GETACK). Each ask adds a frame they must
 * then acknowledge too: asking at every tick, a replica slower to answer than
 * a tick would never be seen caught up.
 */
const FAILOVER_ASK_MS = 500;

export class Replication {
  readonly state = new ReplState();
  readonly primary: Primary;
  link: ReplicaLink | null = null;
  failover: Failover | null = null;
  private cron: NodeJS.Timeout | null = null;
  /** The state file is written only once the restart's own state is settled (restore()). */
  private ready = false;
  /** What the state file holds now, and (replid, position) at the last cron tick. */
  private saved: SavedState | null = null;
  private lastSeen: { replid: string; position: number } | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly host: ModuleHost) {
    this.primary = new Primary(host, this.state);
  }

  get isReplica(): boolean { return this.link !== null; }

  start(): void {
    const dataset = this.host.dataset();
    if (dataset) {
      // Nothing may be written (nor asked of a primary) before the saved id and offset are
      // taken back: a write first would be missing from the stream they continue.
      const release = this.host.holdLoading();
      this.restore(dataset)
        .catch((e: unknown) => this.host.log.error({ err: e }, 'could not read or reset the replication state file: starting a new replication history'))
        .finally(() => { this.ready = true; release(); });
    }
    const target = this.host.config.replicaof;
    if (target.length === 2) this.replicaOf(target[0], Number(target[1]));
    this.cron = safeInterval(this.host.log, 'replication cron', 1000, () => {
      this.primary.cron(this.failover === null);
      this.saveState(false);
    });
  }

  async stop(): Promise<void> {
    if (this.cron) clearInterval(this.cron);
    this.dropFailover('shutdown');
    this.link?.stop();
    // The stream stops here (writes still arriving during shutdown only move the WAL
    // position, which voids the file's claim): the offset saved is the last one sent.
    this.primary.active = false;
    this.primary.shutdown();
    // Persistence waits for this snapshot anyway; once it is in, the state file can name the data.
    await this.state.snapshotting;
    // No frame arrives any more: the offset and the position read now stay paired.
    this.saveState(true);
    await this.writing;
  }

  private get fs() { return this.host.options.fs ?? new RealFs(); }

  /**
   * Take back the replication id and offset the data directory's state file
   * names, when recovery ended exactly at the WAL position it was written
   * for (see state-file.ts); otherwise remove it, so that a claim that no
   * longer holds cannot match a later, different dataset at that position.
   */
  private async restore(dataset: Dataset): Promise<void> {
    const at = await dataset.recovered();
    const dir = this.host.config.dir;
    const found = await readState(this.fs, dir);
    const log = this.host.log;
    if (found !== 'absent' && found !== null && at !== null && found.position === at) {
      const st = this.state;
      st.replid = found.replid;
      st.offset = found.offset;
      // An empty backlog at the offset: a replica (or our primary) already there resumes with +CONTINUE.
      st.backlog = new Backlog(this.host.config['repl-backlog-size'], found.offset);
      this.saved = found;
      if (!found.clean && this.host.config.replicaof.length === 0) {
        // We originated this history and may have streamed pings past the saved offset
        // before the crash: new frames must not reuse those offsets under the same id.
        // A new id continuing the old one up to the offset (as a promotion does) lets
        // replicas at or before it resume and sends the others a full sync.
        st.shift();
        this.saved = null;
      } else if (found.clean) {
        // From now on frames may go out past the offset: a crash must not find the file still saying otherwise.
        const running = { ...found, clean: false };
        await writeState(this.fs, dir, running);
        this.saved = running;
      }
      log.info({ replid: st.replid, replid2: st.replid2, offset: found.offset, cleanStop: found.clean }, 'replication history restored: the data on disk is exactly the stream up to this offset');
      return;
    }
    if (found === 'absent') return;
    log.info({ reason: found === null ? 'the state file is damaged' : at === null ? 'recovery skipped or repaired data' : `recovery ended at WAL position ${at}, the state file describes ${found.position}` },
      'replication state not restored: a new replication history starts (a replica takes a full sync)');
    await removeState(this.fs, dir);
  }

  /**
   * Record (replid, offset, WAL position) in the state file. Read together,
   * synchronously: records and stream frames advance both in the same turn.
   * The cron writes only once the position has stood still for a tick (no
   * fsync per second under load); stop() always writes.
   */
  private saveState(clean: boolean): void {
    const dataset = this.host.dataset();
    if (!this.ready || !dataset) return;
    // A full sync replaced the data outside the WAL: until its snapshot commits, no position describes it.
    if (this.link?.syncInProgress || this.state.unsnapshotted) return;
    const st = this.state;
    const now: SavedState = { replid: st.replid, offset: st.offset, position: dataset.position(), clean };
    const last = this.lastSeen;
    this.lastSeen = { replid: now.replid, position: now.position };
    if (!clean && (!last || last.replid !== now.replid || last.position !== now.position)) return;
    const s = this.saved;
    if (s && s.replid === now.replid && s.offset === now.offset && s.position === now.position && s.clean === now.clean) return;
    this.saved = now;
    this.writing = this.writing
      .then(() => writeState(this.fs, this.host.config.dir, now))
      .catch((e: unknown) => { this.saved = null; this.host.log.warn({ err: e }, 'could not write the replication state file'); });
  }

  /** Follow the primary at host:port (REPLICAOF, the config file, Sentinel's reconfiguration). */
  replicaOf(host: string, port: number): void {
    if (this.link && this.link.masterHost === host && this.link.masterPort === port) return;
    // Told where to go: the handover (and its rollback) no longer applies.
    this.dropFailover('REPLICAOF');
    this.follow(host, port, false);
  }

  private follow(host: string, port: number, failover: boolean): void {
    this.link?.stop();
    // Our replicas reconnect and learn where we now stand (or refuse with -NOMASTERLINK until
    // our link is up); then they follow the stream we receive (chained replication).
    this.primary.dropAll();
    this.primary.active = false;
    this.host.config.replicaof = [host, String(port)];
    this.host.log.info({ primary: `${host}:${port}`, failover }, 'becoming a replica');
    this.link = new ReplicaLink(this.host, this.state, this.primary, host, port, failover ? {
      done: () => this.endFailover(null),
      refused: (line) => this.endFailover(`the target refused: ${line}`),
    } : null);
  }

  /** REPLICAOF NO ONE: a primary from now on, continuing the stream it received under a new id. */
  promote(): void {
    if (!this.link) return;
    this.dropFailover('REPLICAOF NO ONE');
    this.link.stop();
    this.link = null;
    this.host.config.replicaof = [];
    this.state.shift();
    // Chained replicas reconnect and resume under the new id (replid2 covers what they have).
    this.primary.dropAll();
    this.primary.active = true;
    this.host.log.info({ replid: this.state.replid, offset: this.state.offset }, 'promoted to primary');
  }

  refuseWrites(): RespError | null {
    if (this.link) return this.host.config['replica-read-only'] ? new ReadOnlyError() : null;
    if (this.failover) return new FailoverPausedError();
    return this.primary.refuseWrites();
  }

  // ---- FAILOVER ----

  /** FAILOVER [TO host port [FORCE]] [TIMEOUT ms], validated by the command: pause writes, wait for a replica, hand over. */
  startFailover(target: { host: string; port: number } | null, force: boolean, timeoutMs: number): void {
    this.failover = {
      state: 'waiting-for-sync', target, force,
      deadline: timeoutMs > 0 ? Date.now() + timeoutMs : null,
      timer: setInterval(() => this.failoverTick(), FAILOVER_TICK_MS),
      askedAt: 0,
    };
    this.host.log.info({ target, force, timeoutMs }, target ? 'FAILOVER requested to a replica' : 'FAILOVER requested to any replica');
    this.failoverTick();
  }

  private failoverTick(): void {
    const f = this.failover;
    if (!f) return;
    const late = f.deadline !== null && Date.now() >= f.deadline;
    if (f.state === 'failover-in-progress') {
      if (late) this.endFailover('the target did not take over before the timeout');
      return;
    }
    const st = this.state;
    // Caught up: acknowledged every byte of the stream, so it holds every write acknowledged here.
    const ready = this.primary.caughtUp(f.target);
    if (ready || (late && f.force && f.target)) {
      const to = ready ?? f.target!;
      f.state = 'failover-in-progress';
      this.host.log.info({ to, offset: st.offset, caughtUp: ready !== null }, 'FAILOVER: the replica caught up; demoting to its replica and asking it to take over');
      this.follow(to.host, to.port, true);
      return;
    }
    if (late) {
      this.endFailover('the replica never caught up before the timeout');
      return;
    }
    if (Date.now() - f.askedAt >= FAILOVER_ASK_MS) {
      f.askedAt = Date.now();
      this.primary.requestAcks();
    }
  }

  /** Forget a failover without undoing anything: the role is being set explicitly. */
  private dropFailover(by: string): void {
    const f = this.failover;
    if (!f) return;
    clearInterval(f.timer);
    this.failover = null;
    this.host.log.warn({ by, target: f.target }, 'FAILOVER abandoned');
  }

  /** The failover ended: done (reason null), or aborted, undoing the demotion if it had happened. */
  endFailover(reason: string | null): void {
    const f = this.failover;
    if (!f) return;
    clearInterval(f.timer);
    this.failover = null;
    if (reason === null) {
      this.host.log.info({ primary: this.link ? `${this.link.masterHost}:${this.link.masterPort}` : null }, 'FAILOVER done: following the new primary');
      return;
    }
    this.host.log.warn({ reason, target: f.target }, 'FAILOVER aborted');
    // Demoted already: take the primary role back (with a new id, as any promotion).
    if (f.state === 'failover-in-progress' && this.link) this.promote();
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
      ['master_failover_state', this.failover?.state ?? 'no-failover'],
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
      stop: () => r.stop(),
    };
  },
};

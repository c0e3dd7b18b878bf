/**
 * The primary's side: the replication stream (every record the write log
 * takes, framed, in log order), its backlog, the replicas attached to it
 * (full sync through the persistence feature's Dataset, partial resync from
 * the backlog), their acknowledgements, WAIT and min-replicas-to-write.
 *
 * A replica's link is an ordinary client connection that sent PSYNC: it is put
 * in the `replica` client mode (CLIENT KILL TYPE replica, its own output limit)
 * and the stream goes out through `deliver`, after the PSYNC reply.
 */
import { randomBytes } from 'node:crypto';
import { ErrorReply, RawReply, SimpleString, type Reply } from '../../protocol/reply.js';
import type { ModuleHost, SectionSink } from '../core/module.js';
import type { ClientMode, ClientState, ClientView, CommandSpec } from '../core/types.js';
import { RespError } from '../errors.js';
import { encodeCommands } from '../store/format/command-record.js';
import { chunksOf } from '../store/snapshot-writer.js';
import { Backlog } from './backlog.js';
import { PieceRing } from './piece-ring.js';
import { DATA_CHUNK, FRAME, frame, frameHeader, sectionBegin } from './stream.js';

/** Stream bytes and identity, shared by both roles: a replica keeps its primary's, so it can serve them once promoted. */
export class ReplState {
  replid = newReplid();
  /** The history this one continues (after a promotion): replicas of the old primary may resume against it. */
  replid2 = '0'.repeat(40);
  /** First offset not in `replid2`'s history (-1: none), as Redis's second_repl_offset. */
  secondOffset = -1;
  /** master_repl_offset: bytes of stream frames since the history began. */
  offset = 0;
  backlog: Backlog | null = null;
  syncFull = 0;
  syncPartialOk = 0;
  syncPartialErr = 0;
  /** Full syncs received, and the last of them a local snapshot holds: the data loaded is in no WAL. */
  fullSyncsReceived = 0;
  fullSyncsSnapshotted = 0;
  /** The local snapshot of the last full sync, while it is being written. */
  snapshotting: Promise<void> | null = null;

  get unsnapshotted(): boolean { return this.fullSyncsSnapshotted < this.fullSyncsReceived; }

  /** Start a new history that continues the current one (a promotion). */
  shift(): void {
    this.replid2 = this.replid;
    this.secondOffset = this.offset + 1;
    this.replid = newReplid();
  }
}

export function newReplid(): string { return randomBytes(20).toString('hex'); }

type PeerState = 'wait_bgsave' | 'send_bulk' | 'online';

interface Peer {
  client: ClientState;
  view: ClientView | null;
  state: PeerState;
  /** Stream frames held back until the snapshot (or the PSYNC reply) is out. */
  pending: Buffer[] | null;
  pendingBytes: number;
  ackOffset: number;
  ackAt: number;
  ip: string;
  port: number;
  /** The buffers its full sync copies graphs into, while it runs. */
  ring: PieceRing | null;
}

/** What a replica announced with REPLCONF before PSYNC. */
interface Announced { port: number; ip: string | null }

/** Snapshot bytes queued in a replica's socket past which the full sync waits for it to drain. */
const SYNC_HIGH_WATER = 8 * 1024 * 1024;
/** Stream frames held for one replica during its full sync past which it is dropped (Redis's replica hard limit). */
const PENDING_LIMIT = 256 * 1024 * 1024;
const NO_REPLY = new RawReply(Buffer.alloc(0));

export class NoReplicasError extends RespError {
  constructor() { super('NOREPLICAS', 'Not enough good replicas to write.'); }
}

export class Primary {
  private readonly peers = new Map<ClientState, Peer>();
  private readonly announced = new WeakMap<ClientState, Announced>();
  private waiters: Array<{ target: number; want: number; resolve: (n: number) => void; timer: NodeJS.Timeout | null }> = [];
  private lastPing = Date.now();
  /** Only while this server is a primary: a replica's records reach its backlog as received, not from its own log. */
  active = true;

  private readonly mode: ClientMode = {
    type: 'replica',
    answer: (client, spec, argv) => this.answer(client, spec, argv),
  };

  constructor(private readonly host: ModuleHost, private readonly state: ReplState) {}

  get replicaCount(): number { return this.peers.size; }

  // ---- the stream ----

  /** A record the write log took: framed into the stream, if anyone may read it. */
  logged(entries: ReadonlyArray<[number, Buffer[]]>, encoded?: Buffer): void {
    // No backlog until the first replica: a lone primary pays nothing per write.
    if (!this.active || !this.state.backlog) return;
    this.feed(frame(FRAME.RECORD, encoded ?? encodeCommands(entries)));
  }

  /** Add a frame to the stream: the backlog, then every replica (or its held frames). */
  feed(f: Buffer): void {
    const st = this.state;
    st.backlog!.append(f);
    st.offset += f.length;
    for (const peer of this.peers.values()) this.send(peer, f);
  }

  /**
   * A frame received from our own primary (chained replication): forwarded
   * as it came, so that our replicas count the same offsets under the same
   * id as every other replica of that history.
   */
  relay(f: Buffer): void {
    if (this.state.backlog) this.feed(f);
    else this.state.offset += f.length;
  }

  private send(peer: Peer, f: Buffer): void {
    if (peer.pending) {
      peer.pending.push(f);
      peer.pendingBytes += f.length;
      if (peer.pendingBytes > PENDING_LIMIT) {
        this.host.log.warn({ replica: peer.client.addr, bytes: peer.pendingBytes }, 'replica fell too far behind during its full sync: dropping it');
        this.drop(peer);
      }
      return;
    }
    if (peer.client.deliver && !peer.client.deliver(new RawReply(f))) this.drop(peer);
  }

  private release(peer: Peer): void {
    const held = peer.pending;
    peer.pending = null;
    peer.pendingBytes = 0;
    if (held) for (const f of held) this.send(peer, f);
  }

  private ensureBacklog(): void {
    const st = this.state;
    if (!st.backlog) st.backlog = new Backlog(this.host.config['repl-backlog-size'], st.offset);
  }

  resizeBacklog(): void {
    if (this.state.backlog) this.state.backlog.limit = this.host.config['repl-backlog-size'];
  }

  // ---- handshake ----

  replconf(client: ClientState, argv: Buffer[]): Reply {
    const peer = this.peers.get(client);
    for (let i = 1; i + 1 < argv.length; i += 2) {
      const opt = argv[i].toString().toLowerCase();
      const val = argv[i + 1].toString();
      if (opt === 'ack' || opt === 'fack') {
        if (peer && opt === 'ack') {
          const off = Number(val);
          // A replica reporting bytes we never sent is lying or confused: keep what we know.
          if (Number.isSafeInteger(off) && off >= 0 && off <= this.state.offset) {
            if (off > peer.ackOffset) peer.ackOffset = off;
            peer.ackAt = Date.now();
            this.checkWaiters();
          }
        }
        return NO_REPLY;
      }
      if (opt === 'getack') return NO_REPLY;
      const a = this.announced.get(client) ?? { port: 0, ip: null };
      if (opt === 'listening-port') {
        const port = Number(val);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RespError('ERR', `Invalid listening port ${val}`);
        a.port = port;
      } else if (opt === 'ip-address') {
        if (val.length > 255) throw new RespError('ERR', 'ip-address too long');
        a.ip = val;
      } else if (opt !== 'capa' && opt !== 'rdb-only' && opt !== 'rdb-filter-only' && opt !== 'rdb-channel') {
        throw new RespError('ERR', `Unrecognized REPLCONF option: ${argv[i].toString()}`);
      }
      this.announced.set(client, a);
    }
    return new SimpleString('OK');
  }

  /**
   * PSYNC <replid> <offset> (SYNC: `? -1`). `offset` is the next byte the
   * replica wants (its processed offset + 1), as Redis counts.
   */
  psync(client: ClientState, replid: string, wanted: number): Reply | Promise<Reply> {
    if (this.peers.has(client)) throw new RespError('ERR', 'this connection is already a replica');
    const st = this.state;
    const from = wanted - 1;
    const known = replid === st.replid || (replid === st.replid2 && wanted <= st.secondOffset);
    const tail = known && st.backlog ? st.backlog.from(from) : null;
    const peer = this.attach(client);
    if (tail) {
      st.syncPartialOk++;
      peer.state = 'online';
      peer.ackOffset = from;
      // Frames appended from now wait in `pending`; the reply and the missing tail go first.
      peer.pending = [...tail, ...(peer.pending ?? [])];
      queueMicrotask(() => { if (this.peers.get(client) === peer) this.release(peer); });
      this.host.log.info({ replica: peer.client.addr, offset: from, bytes: tail.reduce((n, b) => n + b.length, 0) }, 'partial resynchronization accepted');
      return new SimpleString(`CONTINUE ${st.replid}`);
    }
    if (replid !== '?') st.syncPartialErr++;
    st.syncFull++;
    return this.fullSync(peer);
  }

  private attach(client: ClientState): Peer {
    this.ensureBacklog();
    const a = this.announced.get(client);
    const addr = client.addr;
    const ip = a?.ip ?? addr.slice(0, addr.lastIndexOf(':')).replace(/^::ffff:/, '');
    let view: ClientView | null = null;
    for (const c of this.host.clients()) if (c.id === client.id) view = c;
    const peer: Peer = { client, view, state: 'wait_bgsave', pending: [], pendingBytes: 0, ackOffset: 0, ackAt: Date.now(), ip, port: a?.port ?? 0, ring: null };
    client.mode = this.mode;
    this.peers.set(client, peer);
    return peer;
  }

  private fullSync(peer: Peer): Promise<Reply> {
    const dataset = this.host.dataset();
    if (!dataset) {
      this.peers.delete(peer.client);
      peer.client.mode = null;
      return Promise.reject(new RespError('ERR', 'full sync needs the persistence feature'));
    }
    const st = this.state;
    const t0 = Date.now();
    let resolveReply!: (r: Reply) => void;
    const reply = new Promise<Reply>((resolve) => { resolveReply = resolve; });
    // Enough buffers that the socket's high-water mark, not the ring, is what paces the sync.
    const ring = new PieceRing(SYNC_HIGH_WATER / DATA_CHUNK + 2, DATA_CHUNK);
    peer.ring = ring;
    const sink: SectionSink = {
      // Frames wait in the connection's output until the socket takes them: a piece's buffer is
      // filled again only once its last frame is written.
      pieceBuffer: (bytes) => ring.take(bytes),
      addSection: async (kind, name, data) => {
        await this.ship(peer, sectionBegin(kind, name));
        for await (const c of chunksOf(data)) {
          for (let o = 0; o < c.length; o += DATA_CHUNK) {
            const part = Buffer.from(c.buffer, c.byteOffset + o, Math.min(c.length - o, DATA_CHUNK));
            const last = o + DATA_CHUNK >= c.length;
            await this.ship(peer, frameHeader(FRAME.SECTION_DATA, part), part, last ? () => ring.give(c) : undefined);
          }
        }
      },
    };
    dataset.capture(sink, () => {
      // The cut: the snapshot holds every record before this offset, the held frames every one after.
      peer.state = 'send_bulk';
      peer.pending = [];
      peer.pendingBytes = 0;
      resolveReply(new SimpleString(`FULLRESYNC ${st.replid} ${st.offset}`));
      this.host.log.info({ replica: peer.client.addr, offset: st.offset }, 'starting a full sync to a replica');
    }).finally(() => {
      ring.close(new Error('the full sync ended'));
      peer.ring = null;
    }).then(async () => {
      await this.ship(peer, frame(FRAME.SNAPSHOT_END));
      if (this.peers.get(peer.client) !== peer) return;
      peer.state = 'online';
      peer.ackAt = Date.now();
      this.release(peer);
      this.host.log.info({ replica: peer.client.addr, ms: Date.now() - t0 }, 'full sync to a replica done: streaming');
    }).catch((e: unknown) => {
      if (this.peers.get(peer.client) === peer) this.host.log.warn({ err: e, replica: peer.client.addr }, 'full sync to a replica failed');
      this.drop(peer);
      resolveReply(new ErrorReply('ERR full sync failed'));
    });
    return reply;
  }

  /**
   * Deliver snapshot bytes, waiting while the replica's socket holds too much
   * of them. The event loop gets a turn after every frame (at most DATA_CHUNK
   * bytes): clients are served in between, and the connection writes each
   * frame out on its own, from one reused output buffer. Frames left to pile
   * up within a turn made it grow, copy and reallocate megabytes, and the
   * garbage collector chasing that memory stalled the loop for tens of ms.
   */
  private async ship(peer: Peer, f: Buffer, payload?: Buffer, sent?: () => void): Promise<void> {
    if (this.peers.get(peer.client) !== peer) throw new Error('replica gone');
    if (!peer.client.deliver?.(new RawReply(f))) throw new Error('replica gone');
    if (payload && !peer.client.deliver(new RawReply(payload), sent)) throw new Error('replica gone');
    await new Promise((r) => setImmediate(r));
    const view = peer.view;
    if (!view) return;
    while (view.outputBytes > SYNC_HIGH_WATER) {
      await new Promise((r) => setTimeout(r, 2));
      if (this.peers.get(peer.client) !== peer) throw new Error('replica gone');
    }
  }

  /** What a replica's connection may send besides the stream it reads: acknowledgements. */
  private answer(client: ClientState, spec: CommandSpec, argv: Buffer[]): Reply | undefined {
    if (spec.name === 'replconf') return this.replconf(client, argv);
    return undefined;
  }

  releaseClient(client: ClientState): void {
    const peer = this.peers.get(client);
    if (peer) {
      this.peers.delete(client);
      peer.ring?.close(new Error('replica gone'));
      this.host.log.info({ replica: client.addr }, 'replica connection closed');
      this.checkWaiters();
    }
  }

  private drop(peer: Peer): void {
    this.peers.delete(peer.client);
    peer.ring?.close(new Error('replica gone'));
    peer.view?.kill();
    this.checkWaiters();
  }

  /** Close every replica link (this server becomes a replica itself). */
  dropAll(): void {
    for (const peer of [...this.peers.values()]) this.drop(peer);
  }

  // ---- acknowledgements ----

  /** Replicas whose last acknowledgement is at most `lagSeconds` old. */
  good(lagSeconds: number): number {
    const now = Date.now();
    let n = 0;
    for (const p of this.peers.values()) if (p.state === 'online' && now - p.ackAt <= lagSeconds * 1000) n++;
    return n;
  }

  refuseWrites(): RespError | null {
    const min = this.host.config['min-replicas-to-write'];
    if (min > 0 && this.good(this.host.config['min-replicas-max-lag']) < min) return new NoReplicasError();
    return null;
  }

  private acked(target: number): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.state === 'online' && p.ackOffset >= target) n++;
    return n;
  }

  /** WAIT: how many replicas acknowledged everything written so far, once `want` did or `timeoutMs` passed (0: forever). */
  wait(want: number, timeoutMs: number): number | Promise<number> {
    const target = this.state.offset;
    const now = this.acked(target);
    if (now >= want) return now;
    // Ask for acknowledgements now rather than at the replicas' next second.
    if (this.active && this.state.backlog && this.peers.size > 0) this.feed(frame(FRAME.GETACK));
    return new Promise<number>((resolve) => {
      const w = { target, want, resolve, timer: null as NodeJS.Timeout | null };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(this.acked(target));
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      const n = this.acked(w.target);
      if (n < w.want) return true;
      if (w.timer) clearTimeout(w.timer);
      w.resolve(n);
      return false;
    });
  }

  /** Ask every replica for its offset now (REPLCONF GETACK) rather than at its next second. */
  requestAcks(): void {
    if (this.active && this.state.backlog && this.peers.size > 0) this.feed(frame(FRAME.GETACK));
  }

  /**
   * A replica (the one at host:port, or any) that is online and has
   * acknowledged the whole stream, as the address it announced; null if none.
   */
  caughtUp(target: { host: string; port: number } | null): { host: string; port: number } | null {
    for (const p of this.peers.values()) {
      if (p.state !== 'online' || p.ackOffset < this.state.offset) continue;
      if (!target || (p.ip === target.host && p.port === target.port)) return { host: p.ip, port: p.port };
    }
    return null;
  }

  /** The replica announced as host:port, if attached: 'online' once it streams. */
  find(host: string, port: number): PeerState | null {
    for (const p of this.peers.values()) if (p.ip === host && p.port === port) return p.state;
    return null;
  }

  /**
   * Once a second: pings into the stream (replicas see the link alive),
   * silent replicas dropped. No pings while `pings` is false (a FAILOVER
   * waits for the replicas to reach an offset, which a ping would move).
   */
  cron(pings = true): void {
    const cfg = this.host.config;
    const now = Date.now();
    if (pings && this.active && this.state.backlog && this.peers.size > 0 && now - this.lastPing >= cfg['repl-ping-replica-period'] * 1000) {
      this.lastPing = now;
      this.feed(frame(FRAME.PING));
    }
    for (const p of [...this.peers.values()]) {
      if (p.state === 'online' && now - p.ackAt > cfg['repl-timeout'] * 1000) {
        this.host.log.warn({ replica: p.client.addr }, 'replica timed out: no acknowledgement within repl-timeout');
        this.drop(p);
      }
    }
  }

  /** INFO replication's `slaveN:` lines (the replicas Sentinel discovers). */
  infoLines(): Array<[string, string]> {
    const now = Date.now();
    const out: Array<[string, string]> = [];
    let i = 0;
    for (const p of this.peers.values()) {
      out.push([`slave${i++}`, `ip=${p.ip},port=${p.port},state=${p.state},offset=${p.ackOffset},lag=${Math.floor((now - p.ackAt) / 1000)}`]);
    }
    return out;
  }

  /** ROLE's replica list: [ip, port, offset] as strings. */
  roleEntries(): string[][] {
    return [...this.peers.values()].filter((p) => p.state === 'online').map((p) => [p.ip, String(p.port), String(p.ackOffset)]);
  }

  shutdown(): void {
    for (const w of this.waiters) { if (w.timer) clearTimeout(w.timer); w.resolve(this.acked(w.target)); }
    this.waiters = [];
  }
}

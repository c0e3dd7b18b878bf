/**
 * The replica's side: one outbound connection to the primary. Handshake as a
 * Redis replica does it (PING, AUTH with masterauth, REPLCONF listening-port /
 * ip-address / capa, PSYNC), then either a full sync (the dataset is replaced
 * by the primary's snapshot sections, -LOADING meanwhile, then persisted
 * locally) or a partial one, then the stream: each record applied in order
 * through the dispatcher's replay path and logged to this server's own WAL,
 * acknowledged every second and whenever the primary asks (GETACK).
 *
 * Whatever goes wrong on the link (a refused handshake, a malformed frame, a
 * record that does not decode) drops it and tries again a second later; the
 * data already applied stays, and the next PSYNC asks for what follows it.
 */
import net from 'node:net';
import { ErrorReply } from '../../protocol/reply.js';
import type { DatasetLoader, ModuleHost } from '../core/module.js';
import type { ClientState } from '../core/types.js';
import { safeInterval } from '../core/guard.js';
import { decodeCommands } from '../store/format/command-record.js';
import { Backlog } from './backlog.js';
import type { Primary, ReplState } from './primary.js';
import { FRAME, FrameReader, StreamError, decodeSectionBegin, respCommand, type Frame } from './stream.js';

export type LinkState = 'connect' | 'connecting' | 'handshake' | 'sync' | 'connected';

/** A link opened by FAILOVER: its PSYNC asks the target to take over, and the outcome ends the failover. */
export interface FailoverHooks {
  done(): void;
  refused(line: string): void;
}

/** Received bytes buffered past which the socket is paused until they are applied. */
const READ_HIGH_WATER = 64 * 1024 * 1024;
/** Replayed commands whose engine work may still be running before the link stops reading. */
const MAX_IN_FLIGHT = 8192;
const RECONNECT_MS = 1000;
/** Applying received records between two yields to the event loop, ms. */
const APPLY_SLICE_MS = 10;
const FLUSHALL = [Buffer.from('FLUSHALL')];

interface Syncing {
  loader: DatasetLoader;
  section: { kind: number; name: string; chunks: Buffer[]; bytes: number } | null;
  release: () => void;
  replid: string;
  offset: number;
  started: number;
}

export class ReplicaLink {
  state: LinkState = 'connect';
  lastIo = 0;
  downSince = Date.now();
  /** True while a record from the primary is being applied: expiry then keeps keys as the primary saw them. */
  applying = false;
  private socket: net.Socket | null = null;
  private reader = new FrameReader();
  private phase: 'lines' | 'frames' = 'lines';
  private lineWaiter: ((line: string) => void) | null = null;
  private syncing: Syncing | null = null;
  private busy = false;
  private inFlight = 0;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly client: ClientState;

  constructor(
    private readonly host: ModuleHost,
    private readonly repl: ReplState,
    private readonly primary: Primary,
    readonly masterHost: string,
    readonly masterPort: number,
    private failover: FailoverHooks | null = null,
  ) {
    this.client = {
      id: 0, name: 'master', proto: 2, db: 0, authenticated: true, libName: '', libVer: '', addr: `${masterHost}:${masterPort}`, laddr: 'replication',
      createdAt: Date.now(), lastInteraction: Date.now(), multi: null, multiDirty: false, closeAfterReply: false,
      lastCommand: '', noEvict: false, noTouch: false,
    };
    this.timer = safeInterval(host.log, 'replication link', 1000, () => this.tick());
    this.connect();
  }

  get syncInProgress(): boolean { return this.syncing !== null; }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.close();
  }

  private connect(): void {
    if (this.stopped) return;
    if (this.host.loading) {
      // The local dataset is still loading: what we would ask the primary for depends on it.
      this.retry = setTimeout(() => { this.retry = null; this.connect(); }, 100);
      return;
    }
    this.state = 'connecting';
    this.reader = new FrameReader();
    this.phase = 'lines';
    this.lastIo = Date.now();
    const socket = net.connect({ host: this.masterHost, port: this.masterPort });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.state = 'handshake';
      this.handshake(socket).catch((e: unknown) => this.fail(socket, e));
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (e) => this.fail(socket, e));
    socket.on('close', () => this.fail(socket, null));
  }

  private close(): void {
    const s = this.socket;
    this.socket = null;
    if (s) s.destroy();
    this.lineWaiter = null;
    if (this.syncing) {
      this.syncing.release();
      this.syncing = null;
    }
    if (this.state === 'connected' || this.state === 'sync') this.downSince = Date.now();
    this.state = 'connect';
  }

  private fail(socket: net.Socket, err: unknown): void {
    if (socket !== this.socket) return;
    if (err) this.host.log.warn({ err, primary: `${this.masterHost}:${this.masterPort}` }, 'replication link failed: reconnecting');
    else this.host.log.info({ primary: `${this.masterHost}:${this.masterPort}` }, 'replication link closed: reconnecting');
    this.close();
    if (!this.stopped && !this.retry) this.retry = setTimeout(() => { this.retry = null; this.connect(); }, RECONNECT_MS);
  }

  private tick(): void {
    const now = Date.now();
    if (this.socket && this.state !== 'connect' && now - this.lastIo > this.host.config['repl-timeout'] * 1000) {
      this.fail(this.socket, new Error('no data from the primary within repl-timeout'));
      return;
    }
    if (this.state === 'connected') this.ack();
  }

  private ack(): void {
    this.socket?.write(respCommand(['REPLCONF', 'ACK', String(this.repl.offset)]));
  }

  // ---- handshake ----

  private nextLine(): Promise<string> {
    return new Promise((resolve) => {
      this.lineWaiter = resolve;
      this.takeLine();
    });
  }

  private takeLine(): void {
    if (!this.lineWaiter) return;
    const line = this.reader.line();
    if (line === null) return;
    const w = this.lineWaiter;
    this.lineWaiter = null;
    w(line);
  }

  private async handshake(socket: net.Socket): Promise<void> {
    const cfg = this.host.config;
    const ask = async (args: string[]): Promise<string> => {
      socket.write(respCommand(args));
      const line = await this.nextLine();
      if (socket !== this.socket) throw new Error('link replaced');
      return line;
    };
    const expectOk = (what: string, line: string) => {
      if (!line.startsWith('+')) throw new Error(`${what} refused by the primary: ${line.slice(0, 200)}`);
    };
    const pong = await ask(['PING']);
    // -NOAUTH is an answer too: the primary is there, AUTH comes next.
    if (pong.startsWith('-') && !pong.startsWith('-NOAUTH')) throw new Error(`PING refused by the primary: ${pong.slice(0, 200)}`);
    if (cfg.masterauth !== '') {
      expectOk('AUTH', await ask(cfg.masteruser !== '' ? ['AUTH', cfg.masteruser, cfg.masterauth] : ['AUTH', cfg.masterauth]));
    }
    expectOk('REPLCONF listening-port', await ask(['REPLCONF', 'listening-port', String(cfg['replica-announce-port'] || this.host.tcpPort)]));
    if (cfg['replica-announce-ip'] !== '') expectOk('REPLCONF ip-address', await ask(['REPLCONF', 'ip-address', cfg['replica-announce-ip']]));
    expectOk('REPLCONF capa', await ask(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']));
    // Without a backlog this server has no stream history to continue (it never fed or followed one): ask for everything.
    const r = this.repl;
    const psync = r.backlog ? ['PSYNC', r.replid, String(r.offset + 1)] : ['PSYNC', '?', '-1'];
    // FAILOVER: the target, still our replica, checks the id is its primary's and promotes itself first.
    if (this.failover) psync.push('FAILOVER');
    const reply = await ask(psync);
    const words = reply.split(' ');
    if (words[0] === '+FULLRESYNC' && words.length === 3 && /^[0-9a-f]{40}$/.test(words[1]) && /^\d+$/.test(words[2])) {
      this.beginFullSync(words[1], Number(words[2]));
    } else if (words[0] === '+CONTINUE') {
      this.continueFrom(words[1]);
    } else {
      if (this.failover && reply.startsWith('-') && !reply.startsWith('-LOADING')) this.failover.refused(reply.slice(0, 200));
      throw new Error(`PSYNC refused by the primary: ${reply.slice(0, 200)}`);
    }
    this.phase = 'frames';
    const f = this.failover;
    this.failover = null;
    f?.done();
    void this.pump(socket);
  }

  private beginFullSync(replid: string, offset: number): void {
    const dataset = this.host.dataset();
    if (!dataset) throw new Error('a full sync needs the persistence feature');
    this.state = 'sync';
    this.host.log.info({ primary: `${this.masterHost}:${this.masterPort}`, replid, offset }, 'full sync from the primary: replacing the dataset');
    const release = this.host.holdLoading();
    // Our replicas hold the history being replaced: they resync from what we load.
    this.primary.dropAll();
    this.repl.fullSyncsReceived++;
    this.host.keyspace.flushAll();
    // In the WAL too: a restart before the local snapshot commits must not mix the old dataset with the new stream.
    this.host.appendToLog([[0, FLUSHALL]])?.catch(() => {});
    this.syncing = { loader: dataset.loader(), section: null, release, replid, offset, started: Date.now() };
  }

  private continueFrom(replid: string | undefined): void {
    const r = this.repl;
    if (replid && /^[0-9a-f]{40}$/.test(replid) && replid !== r.replid) {
      // The primary was promoted since: its new history continues ours.
      r.replid2 = r.replid;
      r.secondOffset = r.offset + 1;
      r.replid = replid;
      // Our replicas learn the new id by reconnecting (they resume: replid2 is what they hold).
      this.primary.dropAll();
    }
    if (!r.backlog) r.backlog = new Backlog(this.host.config['repl-backlog-size'], r.offset);
    this.state = 'connected';
    this.host.log.info({ primary: `${this.masterHost}:${this.masterPort}`, offset: r.offset }, 'partial resynchronization from the primary accepted');
  }

  // ---- the stream ----

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.lastIo = Date.now();
    this.host.stats.netInputBytes += chunk.length;
    this.reader.feed(chunk);
    try {
      if (this.phase === 'lines') this.takeLine();
      else void this.pump(socket);
    } catch (e) {
      this.fail(socket, e);
    }
  }

  /** Apply the frames received, in order; one pump at a time (a section load awaits). */
  private async pump(socket: net.Socket): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    let slice = performance.now();
    try {
      for (;;) {
        if (socket !== this.socket) return;
        // A backlog received at once is applied in slices: clients reading from this replica are served in between.
        if (performance.now() - slice > APPLY_SLICE_MS) {
          await new Promise((res) => setImmediate(res));
          slice = performance.now();
          continue;
        }
        if (this.reader.buffered > READ_HIGH_WATER) socket.pause();
        const f = this.reader.next();
        if (!f) break;
        const r = this.handle(f);
        if (r) await r;
        while (this.inFlight > MAX_IN_FLIGHT && socket === this.socket) await new Promise((res) => setImmediate(res));
      }
      socket.resume();
    } catch (e) {
      this.fail(socket, e);
    } finally {
      this.busy = false;
    }
  }

  private handle(f: Frame): Promise<void> | void {
    const s = this.syncing;
    if (s) {
      switch (f.type) {
        case FRAME.SECTION_BEGIN: return this.nextSection(s, decodeSectionBegin(f.payload));
        case FRAME.SECTION_DATA:
          if (!s.section) throw new StreamError('section data before any section');
          for (const part of f.parts) s.section.chunks.push(part);
          s.section.bytes += f.length;
          return;
        case FRAME.SNAPSHOT_END: return this.endFullSync(s);
        default: throw new StreamError(`frame ${f.type} inside a snapshot`);
      }
    }
    if (f.type === FRAME.SECTION_BEGIN || f.type === FRAME.SECTION_DATA || f.type === FRAME.SNAPSHOT_END) throw new StreamError('snapshot frame outside a full sync');
    if (f.type === FRAME.RECORD) this.apply(f.payload);
    // Kept as received so that our replicas, and we once promoted, serve the same bytes at the same offsets.
    this.primary.relay(f.raw); // a copy of its own, not a view of what the socket read
    if (f.type === FRAME.GETACK) this.ack();
  }

  private async nextSection(s: Syncing, next: { kind: number; name: string } | null): Promise<void> {
    const done = s.section;
    s.section = next ? { ...next, chunks: [], bytes: 0 } : null;
    if (done) await s.loader.section(done.kind, done.name, Buffer.concat(done.chunks, done.bytes));
  }

  private async endFullSync(s: Syncing): Promise<void> {
    await this.nextSection(s, null);
    await s.loader.finish();
    const r = this.repl;
    r.replid = s.replid;
    r.replid2 = '0'.repeat(40);
    r.secondOffset = -1;
    r.offset = s.offset;
    r.backlog = new Backlog(this.host.config['repl-backlog-size'], s.offset);
    this.syncing = null;
    s.release();
    this.state = 'connected';
    this.host.log.info({ keys: this.host.keyspace.totalKeys(), ms: Date.now() - s.started, offset: s.offset }, 'full sync from the primary done: streaming');
    // From here a restart must find this dataset without the primary: snapshot it locally.
    const gen = r.fullSyncsReceived;
    const persisting = this.host.dataset()?.persist().then(
      () => { if (r.fullSyncsSnapshotted < gen) r.fullSyncsSnapshotted = gen; },
      (e: unknown) => this.host.log.error({ err: e }, 'could not snapshot the dataset received from the primary'),
    ).finally(() => { if (r.snapshotting === persisting) r.snapshotting = null; });
    r.snapshotting = persisting ?? null;
    this.ack();
  }

  private apply(payload: Buffer): void {
    let entries: Array<[number, Buffer[]]>;
    try {
      entries = decodeCommands(payload);
    } catch (e) {
      throw new StreamError(`undecodable record: ${(e as Error).message}`);
    }
    const dbs = this.host.keyspace.dbs.length;
    for (const [db] of entries) if (db >= dbs) throw new StreamError(`record for database ${db} (this server has ${dbs})`);
    this.applying = true;
    try {
      for (const [db, argv] of entries) {
        if (argv.length === 0) continue;
        this.client.db = db;
        const r = this.host.replay(this.client, argv);
        if (r instanceof Promise) {
          this.inFlight++;
          void r.then((x) => { this.inFlight--; if (x instanceof ErrorReply) this.refused(argv, x); });
        } else if (r instanceof ErrorReply) this.refused(argv, r);
      }
    } finally {
      this.applying = false;
    }
    this.host.appendToLog(entries)?.catch(() => { /* the persistence feature reports WAL failures */ });
  }

  private refused(argv: Buffer[], r: ErrorReply): void {
    this.host.log.debug({ command: argv[0].toString(), error: r.line }, 'a replicated command was refused');
  }
}

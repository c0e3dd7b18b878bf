/**
 * Durability in the server (docs/durability.md): recovery at start (newest
 * valid snapshot, then the WAL after it, answering -LOADING meanwhile), every
 * successful write logged before its reply is released (group commit: one
 * WAL write per event-loop turn), snapshots (SAVE, BGSAVE, automatic save
 * points, WAL rewrite), graceful shutdown, and -MISCONF while the disk fails.
 */
import nodePath from 'node:path';
import { CorruptionError, StoreUnwritableError, openStore, setCrc32cImplementation, type Recovery, type SnapshotReader, type Store } from '../store/index.js';
import { capabilities, crc32c, crc32cAsync } from '../engine/native-index.js';
import { ArgError, MisconfError, type RespError } from '../errors.js';
import type { ClientState, InfoSection } from '../core/types.js';
import { isSerializable, keyBytes, type SerializableValue, type StateSection } from '../engine/keyspace.js';
import { VectorSet } from '../engine/vector-set.js';
import { decodeSetState, encodeSetState } from '../store/format/set-body.js';
import { CommandRecordWriter, decodeCommands, encodeCommands, encodedCommandsSize, type LoggedCommand } from '../store/format/command-record.js';
import {
  SCHEMA_VERSION, SECTION, decodeExpires, decodeMeta, encodeExpiresChunked, decodeSetHeader, decodeStrings, encodeMeta, encodeSetHeader, encodeStringsChunked,
  graphSectionName, setOfGraph, setSectionName,
} from '../store/format/snapshot-schema.js';
import type { Dataset, DatasetLoader, FeatureModule, ModuleHost, SectionSink, ShutdownMode, WriteLog } from '../core/module.js';
import { persistenceCommands, type PersistenceApi } from './commands.js';
import { safeInterval } from '../core/guard.js';

/** Replay this many commands before waiting for the engine to catch up. */
const REPLAY_WINDOW = 4096;
/** Bytes of a serialized graph copied out of native memory per piece (the writers' chunk size). */
const GRAPH_PIECE = 1 << 20;

export class Persistence implements WriteLog, PersistenceApi, Dataset {
  private store: Store | null = null;
  private running: Promise<void> | null = null;
  /** What the running snapshot is for, and a background one asked for while it runs (BGREWRITEAOF, BGSAVE SCHEDULE). */
  private runningReason = '';
  private scheduled: 'bgsave' | 'rewrite' | null = null;
  private lastStatus: 'ok' | 'err' = 'ok';
  private cron: NodeJS.Timeout | null = null;
  private loadStarted = 0;
  private loadTotal = 0;
  private loadDone = 0;
  /** Longest event-loop stall seen while the last snapshot ran (ms): BGSAVE must not freeze the server. */
  maxStallMs = 0;
  private lastAutoRewriteBase = 0;
  /**
   * A capture holding the keyspace frozen (a snapshot or a replica's full
   * sync): the keyspace freezes once at a time, so the next waits for it.
   */
  private capturing: Promise<void> | null = null;
  /** Settles once open() ends: the WAL position the loaded dataset stands at (see Dataset.recovered). */
  private readonly recoveredAt: Promise<number | null>;
  private settleRecovered!: (at: number | null) => void;

  constructor(private readonly server: ModuleHost) {
    this.recoveredAt = new Promise((resolve) => { this.settleRecovered = resolve; });
  }

  // ---- WriteLog ----

  /**
   * Asked before a write is applied, with the commands its record will hold:
   * the store admits a record only when it fits in WAL space already
   * reserved, so an admitted write cannot fail to be logged for want of disk
   * space, and a refused one changed nothing.
   */
  refuseWrites(commands?: ReadonlyArray<readonly Buffer[]>): RespError | null {
    const s = this.store;
    if (!s) return null;
    const e = s.refusal(commands && commands.length > 0 ? encodedCommandsSize(commands) : 0);
    return e ? this.misconf(e) : null;
  }

  recordWriter(commands: ReadonlyArray<readonly Buffer[]>): CommandRecordWriter {
    return new CommandRecordWriter(encodedCommandsSize(commands));
  }

  append(entries: LoggedCommand[], encoded?: Buffer): Promise<void> | null {
    const s = this.store;
    if (!s) return null;
    s.append(encoded ?? encodeCommands(entries), entries.length);
    if (!s.appendonly) return null;
    // Group commit: the store's commit() defers to the end of the event-loop turn,
    // so every write of this turn, from every client, shares one WAL write (and fsync).
    return s.commit().catch((e: unknown) => { this.onCommitFailure(e); throw this.misconf(e); });
  }

  /** The store's refusal or commit failure as the reply clients get (never `ERR internal error`). */
  private misconf(e: unknown): MisconfError {
    const reads = 'reads keep working';
    if (e instanceof StoreUnwritableError) {
      switch (e.reason) {
        case 'disk-full':
          return new MisconfError(`Disk full, ${e.message}: writes are refused until space is freed in ${this.server.config.dir}; ${reads}`);
        case 'reserving':
          return new MisconfError(`Not written: ${e.message}; retry shortly; ${reads}`);
        case 'wal-deleted':
          return new MisconfError(`${e.message}: writes are refused until a snapshot re-establishes durability; ${reads}`);
        case 'closing':
          return new MisconfError(`The server is shutting down (${e.message}): writes are refused`);
        default:
          return new MisconfError(`Errors writing to the WAL (${e.message}): writes are refused until the disk accepts them again; ${reads}`);
      }
    }
    const detail = e instanceof Error ? e.message : String(e);
    return new MisconfError(`Errors writing to the WAL (${detail}): this write is not acknowledged; writes are refused until the disk accepts them again; ${reads}`);
  }

  /** With `appendfsync always`, a failed fsync means we cannot promise anything: stop without acknowledging. */
  private onCommitFailure(e: unknown): void {
    const fatal = this.store?.fatalError;
    if (fatal) {
      this.server.log.fatal({ err: fatal }, 'fsync of the WAL failed under appendfsync always: stopping without acknowledging the pending writes');
      this.server.log.flush?.();
      process.exit(1);
    }
    this.server.log.error({ err: e }, 'WAL write failed: refusing writes (-MISCONF) until the disk recovers');
  }

  // ---- recovery ----

  async open(): Promise<void> {
    this.loadStarted = Date.now();
    // A graph section's checksum is checked as the graph loads (one read of the file, not two);
    // one found damaged then sends recovery back to the snapshot before it, with the keys loaded
    // so far dropped. Each file is distrusted at most once, so this ends.
    const distrust: string[] = [];
    for (;;) {
      const { store, rec } = await this.openStore(distrust);
      let damaged: string | null = null;
      try {
        damaged = await this.recover(store, rec);
      } catch (err) {
        this.settleRecovered(null);
        throw err;
      }
      if (damaged === null) return this.serveFrom(store, rec);
      distrust.push(damaged);
      // Forget the partial load: the keys, and the FT indexes that went with them.
      this.server.flushAll();
    }
  }

  private async openStore(distrust: readonly string[]): Promise<{ store: Store; rec: Recovery }> {
    const config = this.server.config;
    const store = await openStore(config.dir, {
      appendonly: config.appendonly, appendfsync: config.appendfsync, logger: this.server.log,
      fs: this.server.options.fs, repair: this.server.options.repair === true,
      onWalLost: () => this.reestablish(),
      deferSnapshotCrc: (s) => s.kind === SECTION.GRAPH,
      distrust,
    });
    const rec = store.recovery;
    for (const note of rec.notes) this.server.log.warn({ note }, 'recovery');
    return { store, rec };
  }

  /**
   * Loads what recovery planned; the store is closed on any failure. Returns the name of a
   * snapshot file found damaged while loading (to fall back from), else null.
   */
  private async recover(store: Store, rec: Recovery): Promise<string | null> {
    const { server } = this;
    // INFO's loading_*_bytes: the snapshot file, then the WAL payloads after its cut.
    this.loadTotal = (rec.snapshot?.size ?? 0) + rec.bytes;
    this.loadDone = 0;
    const progress = safeInterval(server.log, 'loading progress', 1000, () => {
      server.log.info({ loadedBytes: this.loadDone, totalBytes: this.loadTotal, seconds: Math.round((Date.now() - this.loadStarted) / 1000) }, 'loading in progress');
    });
    try {
      if (rec.snapshot) {
        const snap = rec.snapshot;
        try {
          const sets = await this.loadSnapshot(snap);
          // From the start of recovery: the file's verification is part of loading it.
          server.log.info({ file: snap.path, sets, keys: server.keyspace.totalKeys(), ms: Date.now() - this.loadStarted, bytes: snap.size }, 'snapshot loaded');
        } catch (err) {
          if (!(err instanceof CorruptionError) || err.file !== snap.path) throw err;
          server.log.error({ err, file: snap.path }, 'snapshot found damaged while loading: falling back to the one before it');
          await store.close().catch(() => undefined);
          return nodePath.basename(snap.path);
        }
      }
      const t1 = Date.now();
      const replayed = await this.replay(rec.replay);
      if (replayed > 0) server.log.info({ records: replayed, ms: Date.now() - t1 }, 'WAL replayed');
      await store.startWriting();
      return null;
    } catch (err) {
      // Release the directory (its lock) for whoever tries next, in this process too.
      await store.close().catch(() => undefined);
      throw err;
    } finally {
      clearInterval(progress);
    }
  }

  /** Recovery is complete: start serving from `store`. */
  private async serveFrom(store: Store, rec: Recovery): Promise<void> {
    const { server } = this;
    const repair = server.options.repair === true;
    this.store = store;
    // Skipped or repaired data is not what any earlier position described.
    this.settleRecovered(rec.degraded ? null : store.nextSeq);
    if (repair) {
      server.log.warn({ kept: rec.snapshot?.path ?? null, walRecords: rec.replayed, dropped: rec.notes }, repairSummary(rec));
      if (rec.degraded) {
        // Until this snapshot is committed the damage is still what a restart would read: take it before serving.
        await this.snapshot('repair').catch(() => server.log.error('the repaired dataset could not be snapshotted (see above): a restart would need --repair again'));
      }
    } else if (rec.degraded) {
      server.log.warn('recovery skipped or repaired data: taking a fresh snapshot');
      this.background('bgsave');
    }
  }

  /** The WAL segment being written was deleted: snapshot the dataset to make it durable again (retried by the cron). */
  private reestablish(): void {
    if (!this.store || this.running) return;
    this.server.log.error('the WAL segment in use was deleted: taking a snapshot to re-establish durability; writes are refused until it is committed');
    this.background('rewrite');
  }

  private async loadSnapshot(snap: SnapshotReader): Promise<number> {
    const loader = new SectionLoader(this.server);
    // On the real file system a graph is streamed into usearch from the file (read and
    // checksummed in one pass, no JS Buffer); a simulated one (tests) is read as bytes.
    const direct = !this.server.options.fs;
    for (const section of snap.sections) {
      if (direct && section.kind === SECTION.GRAPH) {
        try {
          await loader.graphFromFile(section.name, { path: snap.path, offset: section.dataOffset, length: section.length, crc: section.crc });
        } catch (err) {
          // The addon says why it stopped; whether the bytes are to blame is the checksum's call.
          if (!section.crcChecked && !(await snap.intact(section))) throw snap.damaged(section);
          throw err;
        }
      } else {
        await loader.section(section.kind, section.name, await snap.readSection(section));
      }
      this.loadDone += section.length;
    }
    await loader.finish();
    this.loadDone = snap.size;
    return loader.sets;
  }

  // ---- Dataset (replication's full sync) ----

  loader(): DatasetLoader { return new SectionLoader(this.server); }

  async capture(sink: SectionSink, atCut: () => void): Promise<void> {
    await this.captureIdle();
    atCut();
    const p = this.writeSections(sink);
    const tracked: Promise<void> = p.then(() => {}, () => {}).finally(() => { if (this.capturing === tracked) this.capturing = null; });
    this.capturing = tracked;
    return p;
  }

  /** Wait until no capture holds the keyspace (ours or a snapshot's). */
  private async captureIdle(): Promise<void> {
    for (;;) {
      if (this.capturing) { await this.capturing; continue; }
      if (this.running) { await this.running.catch(() => {}); continue; }
      return;
    }
  }

  position(): number { return this.store?.nextSeq ?? 0; }
  recovered(): Promise<number | null> { return this.recoveredAt; }
  streaming(): boolean { return this.running !== null || this.capturing !== null; }

  async persist(): Promise<void> {
    if (!this.store) return;
    for (;;) {
      await this.captureIdle();
      if (!this.running) break;
    }
    await this.snapshot('replication');
  }

  private async replay(records: AsyncIterable<{ seq: number; payload: Buffer | Uint8Array }>): Promise<number> {
    const client = replayClient();
    let n = 0;
    let window: Array<Promise<unknown>> = [];
    for await (const rec of records) {
      for (const [db, argv] of decodeCommands(rec.payload)) {
        client.db = db;
        const r = this.server.replay(client, argv);
        if (r instanceof Promise) window.push(r);
        if (window.length >= REPLAY_WINDOW) { await Promise.all(window); window = []; }
      }
      n++;
      this.loadDone += rec.payload.length;
    }
    await Promise.all(window);
    // Let every set's queued engine work finish before declaring the data loaded.
    for (const [, , v] of [...this.server.keyspace.objects()]) if (v instanceof VectorSet) await v.idle();
    return n;
  }

  // ---- snapshots ----

  inProgress(): boolean { return this.running !== null; }
  lastSave(): number { return this.store?.lastSave ?? Math.floor(this.server.startedAt / 1000); }

  save(): Promise<void> {
    if (this.running) return Promise.reject(new ArgError('Background save already in progress'));
    return this.snapshot('save');
  }

  background(reason: 'bgsave' | 'rewrite', schedule = false): 'started' | 'scheduled' {
    if (this.running) {
      // Redis's answers: a rewrite asked for during a save runs once it ends (and one already
      // waiting covers a second); BGSAVE SCHEDULE likewise; a plain BGSAVE is refused.
      if (reason === 'rewrite' && this.runningReason === 'rewrite') throw new ArgError('Background append only file rewriting already in progress');
      if (reason === 'bgsave' && !schedule) throw new ArgError('Background save already in progress');
      if (!this.scheduled) {
        this.scheduled = reason;
        void this.running.catch(() => {}).then(() => {
          const next = this.scheduled;
          this.scheduled = null;
          if (next && !this.running) this.snapshot(next).catch(() => { /* logged in snapshot() */ });
        });
      }
      return 'scheduled';
    }
    this.snapshot(reason).catch(() => { /* logged in snapshot() */ });
    return 'started';
  }

  /** Write a snapshot at this instant; the event loop keeps serving meanwhile. */
  private snapshot(reason: string): Promise<void> {
    const store = this.store;
    if (!store) return Promise.reject(new Error('persistence is not open yet'));
    // A full sync is streaming the frozen keyspace to a replica: this snapshot cuts once it is done.
    if (this.capturing) {
      const p = this.capturing.then(() => { this.running = null; return this.snapshot(reason); });
      this.running = p;
      return p;
    }
    const log = this.server.log;
    const t0 = Date.now();
    this.maxStallMs = 0;
    const stallWatch = watchStalls((ms) => { if (ms > this.maxStallMs) this.maxStallMs = ms; });
    log.info({ reason }, 'snapshot started');
    this.runningReason = reason;
    const p = store.snapshot((w) => this.writeSections(w)).then(
      (info) => {
        this.lastStatus = 'ok';
        this.lastAutoRewriteBase = 0;
        log.info({ reason, file: info.file, bytes: info.size, ms: Date.now() - t0, maxEventLoopStallMs: Math.round(this.maxStallMs) }, 'snapshot done');
      },
      (e: unknown) => {
        this.lastStatus = 'err';
        log.error({ reason, err: e }, 'snapshot failed');
        throw e;
      },
    ).finally(() => { stallWatch(); this.running = null; });
    this.running = p;
    return p;
  }

  /**
   * Called synchronously at the WAL cut. Vector sets are captured now (cheap
   * copies, graphs queued for serialization in order). String keys are not
   * copied: the keyspace is frozen (copy-on-write by key, keyspace.ts), so the
   * strings section, encoded chunk by chunk as the writer pulls it, holds
   * exactly the state at the cut whatever is written meanwhile, and a million
   * keys cost O(1) at the cut instead of a copy of each. The freeze is released
   * once the section is written; the save ends once the writes made meanwhile
   * are folded back (so the next cut finds nothing left to fold).
   */
  private writeSections(w: SectionSink): Promise<void> {
    const ks = this.server.keyspace;
    const frozen = ks.freeze();
    const sets: Array<{ db: number; key: string; cut: ReturnType<VectorSet['snapshotForFile']> }> = [];
    // Hashes and JSON documents by section kind: the objects themselves, not copies. They are
    // encoded before the freeze is released, and until then a write copies a value the
    // frozen table holds instead of changing it (Database.shared), so each is as of the cut.
    const byKind = new Map<number, Array<[number, string, SerializableValue]>>();
    // Features' state beside the keys (FT index definitions and graphs), as of the cut.
    const states: StateSection[] = [];
    try {
      for (const st of ks.states()) states.push(...st.save());
      for (const [db, key, value] of ks.objects()) {
        if (value instanceof VectorSet) sets.push({ db: db.index, key, cut: value.snapshotForFile() });
        else if (isSerializable(value)) {
          let list = byKind.get(value.sectionKind);
          if (!list) byKind.set(value.sectionKind, list = []);
          list.push([db.index, key, value]);
        }
      }
    } catch (e) {
      void frozen.release();
      throw e;
    }
    return (async () => {
      let thawed: Promise<void> | null = null;
      try {
        await w.addSection(SECTION.META, 'meta', encodeMeta({ format: SCHEMA_VERSION, databases: ks.dbs.length, sets: sets.length }));
        await w.addSection(SECTION.STRINGS, 'strings', encodeStringsChunked(frozen.stringCount, frozen.strings()));
        await w.addSection(SECTION.EXPIRES, 'expires', encodeExpiresChunked(frozen.expiresCount, frozen.expires()));
        for (const kind of [...byKind.keys()].sort((a, b) => a - b)) {
          const list = byKind.get(kind)!;
          const name = ks.codec(kind)?.sectionName ?? `kind:${kind}`;
          // Serialized one value at a time as the writer pulls chunks.
          await w.addSection(kind, name, encodeStringsChunked(list.length, (function* () {
            for (const [db, key, v] of list) yield [db, key, v.serialize()] as const;
          })()));
        }
        byKind.clear();
        thawed = frozen.release();
        // Taken at the cut, so written after the thaw (a graph may still be serializing).
        for (const st of states) await w.addSection(st.kind, st.name, await st.data);
        let i = 0;
        for (const { db, key, cut } of sets) {
          // A generator, not an array: the writer pulls one chunk of a few thousand
          // elements at a time between its awaited writes, so encoding a million
          // elements never holds the event loop for long.
          const header = encodeSetHeader(db, keyBytes(key));
          await cut.state.ids.ready(); // a large set's ids are copied in the background from the cut on
          await w.addSection(SECTION.SET, setSectionName(i), (function* () { yield header; yield* encodeSetState(cut.state); })());
          // Copied out of native memory a piece at a time (given back after the last piece).
          await w.addSection(SECTION.GRAPH, graphSectionName(i), (await cut.graph).pieces(GRAPH_PIECE, w.pieceBuffer?.bind(w)));
          i++;
        }
      } finally {
        // A save that failed part-way: the graphs it did not reach go back now, not at some later GC
        // (V8 does not know their size). Freeing twice is harmless.
        for (const { cut } of sets) cut.graph.then((g) => g.free(), () => undefined);
        await (thawed ?? frozen.release());
      }
    })();
  }

  // ---- automatic snapshots, shutdown, INFO ----

  startCron(): void {
    this.cron = safeInterval(this.server.log, 'automatic snapshots', 1000, () => this.autoSave());
  }

  /** redis.conf `save <seconds> <changes>` points, and the WAL rewrite when it has grown past its threshold. */
  private autoSave(): void {
    const store = this.store;
    if (!store || this.running) return;
    if (store.walLost) {
      this.reestablish();
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const changes = store.changesSinceSave;
    for (const [seconds, atLeast] of this.server.config.save) {
      if (changes >= atLeast && changes > 0 && now - store.lastSave >= seconds) {
        this.background('bgsave');
        return;
      }
    }
    const info = store.info();
    const pct = this.server.config['auto-aof-rewrite-percentage'];
    const min = this.server.config['auto-aof-rewrite-min-size'];
    const base = Math.max(info.aof_base_size, this.lastAutoRewriteBase);
    if (store.appendonly && pct > 0 && info.aof_current_size >= min && info.aof_current_size > base * (1 + pct / 100)) {
      this.lastAutoRewriteBase = info.aof_current_size;
      this.background('rewrite');
    }
  }

  async shutdown(mode: ShutdownMode): Promise<void> {
    if (this.cron) clearInterval(this.cron);
    const store = this.store;
    if (!store) return;
    if (this.running) await this.running.catch(() => {});
    const wantSave = mode === 'save' || (mode === 'default' && this.server.config.save.length > 0 && store.changesSinceSave > 0);
    if (wantSave) await this.snapshot('shutdown').catch(() => {});
    // Flush and fsync the WAL: nothing acknowledged is lost on a graceful stop, under any policy.
    for (const [, , v] of [...this.server.keyspace.objects()]) if (v instanceof VectorSet) await v.idle();
    await store.close();
  }

  setAppendfsync(): void { this.store?.setAppendfsync(this.server.config.appendfsync); }

  info(): Array<[string, string | number]> {
    const loading = this.server.loading;
    const fields: Array<[string, string | number]> = [
      ['loading', loading ? 1 : 0],
      ['async_loading', 0],
    ];
    if (loading) {
      const elapsed = (Date.now() - this.loadStarted) / 1000;
      const perc = this.loadTotal > 0 ? (100 * this.loadDone) / this.loadTotal : 0;
      fields.push(['loading_start_time', Math.floor(this.loadStarted / 1000)], ['loading_total_bytes', this.loadTotal],
        ['loading_loaded_bytes', this.loadDone], ['loading_loaded_perc', perc.toFixed(2)],
        ['loading_eta_seconds', perc > 0 ? Math.round((elapsed * (100 - perc)) / perc) : 1]);
    }
    const s = this.store;
    if (!s) return fields;
    const i = s.info();
    fields.push(
      ['rdb_changes_since_last_save', i.rdb_changes_since_last_save],
      ['rdb_bgsave_in_progress', i.rdb_bgsave_in_progress],
      ['rdb_last_save_time', i.rdb_last_save_time],
      ['rdb_last_bgsave_status', this.lastStatus === 'err' ? 'err' : i.rdb_last_bgsave_status],
      ['rdb_last_bgsave_time_sec', i.rdb_last_bgsave_time_sec],
      ['rdb_current_bgsave_time_sec', i.rdb_current_bgsave_time_sec],
      ['rdb_saves', i.rdb_saves],
      ['rdb_last_bgsave_max_stall_ms', Math.round(this.maxStallMs)],
      ['aof_enabled', i.aof_enabled],
      ['aof_rewrite_in_progress', i.aof_rewrite_in_progress],
      ['aof_last_bgrewrite_status', i.aof_last_bgrewrite_status],
      ['aof_last_write_status', i.aof_last_write_status],
      ['aof_current_size', i.aof_current_size],
      ['aof_base_size', i.aof_base_size],
      ['appendfsync', s.appendfsync],
    );
    return fields;
  }
}

/**
 * Rebuilds the dataset from snapshot sections, in the order they were
 * written: a recovery's snapshot file, or a full sync from a primary.
 */
class SectionLoader implements DatasetLoader {
  sets = 0;
  private readonly pending = new Map<string, { db: number; key: string; state: ReturnType<typeof decodeSetState> }>();
  /** Applied once every key is loaded: vector sets come after the EXPIRES section. */
  private readonly deadlines: Array<[number, string, number]> = [];

  constructor(private readonly server: ModuleHost) {}

  async section(kind: number, name: string, bytes: Buffer): Promise<void> {
    const ks = this.server.keyspace;
    if (kind === SECTION.META) {
      decodeMeta(bytes);
    } else if (kind === SECTION.EXPIRES) {
      for (const e of decodeExpires(bytes)) this.deadlines.push(e);
    } else if (kind === SECTION.STRINGS) {
      for (const [db, key, value] of decodeStrings(bytes)) ks.db(db).setString(key, value);
    } else if (ks.state(kind)) {
      // A feature's state outside the keys (FT index definitions), loaded before the WAL replays.
      await ks.state(kind)!.load(kind, name, bytes);
    } else if (ks.codec(kind)) {
      // Hashes, JSON documents: the feature owning the type rebuilds each value from its bytes.
      const codec = ks.codec(kind)!;
      for (const [db, key, body] of decodeStrings(bytes)) ks.db(db).set(key, codec.decode(body), true);
    } else if (kind === SECTION.SET) {
      const { db, key, body } = decodeSetHeader(bytes);
      this.pending.set(name, { db, key, state: decodeSetState(body) });
    } else if (kind === SECTION.GRAPH) {
      await this.graph(name, bytes);
    }
  }

  /** A GRAPH section's bytes where they lie in the snapshot file (see Persistence.loadSnapshot). */
  graphFromFile(name: string, file: { path: string; offset: number; length: number; crc: number }): Promise<void> {
    return this.graph(name, file);
  }

  private async graph(name: string, graph: Buffer | { path: string; offset: number; length: number; crc: number }): Promise<void> {
    const owner = this.pending.get(setOfGraph(name));
    if (!owner) throw new Error(`snapshot section ${name} has no set before it`);
    this.pending.delete(setOfGraph(name));
    this.server.keyspace.db(owner.db).set(owner.key, await VectorSet.restore(owner.state, graph));
    this.sets++;
  }

  async finish(): Promise<void> {
    if (this.pending.size > 0) throw new Error('snapshot holds a vector set without its graph');
    // Past deadlines too: while loading nothing expires, and the replayed WAL logs the DELs that followed.
    const ks = this.server.keyspace;
    for (const [db, key, at] of this.deadlines) ks.db(db).setDeadline(key, at);
    // Features complete their state from the loaded keys (FT indexes) before the WAL replays.
    for (const st of ks.states()) await st.loaded?.();
  }
}

/** What `--repair` kept and dropped, in words, for the log. */
function repairSummary(rec: Recovery): string {
  const wal = rec.wal;
  const kept = [
    rec.snapshot ? `snapshot ${rec.snapshot.path} (writes before #${rec.fromSeq})` : 'no snapshot',
    wal && rec.replayed > 0 ? `${rec.replayed} WAL records (#${rec.fromSeq}..#${wal.lastSeq})` : 'no WAL records',
  ];
  const dropped = rec.notes.length > 0 ? rec.notes.join('; ') : 'nothing';
  return `repair: kept ${kept.join(' and ')}; dropped: ${dropped}${rec.degraded ? '. Snapshotting the repaired dataset before serving' : '. Nothing needed repair'}`;
}

/** The client replayed commands run as: authenticated, RESP2, no socket. */
function replayClient(): ClientState {
  return {
    id: 0, name: 'replay', proto: 2, db: 0, authenticated: true, libName: '', libVer: '', addr: 'wal', laddr: 'wal',
    createdAt: Date.now(), lastInteraction: Date.now(), multi: null, multiDirty: false, closeAfterReply: false,
    lastCommand: '', noEvict: false, noTouch: false,
  };
}

/** Measures event-loop stalls with a 5 ms timer; returns a function that stops it. */
function watchStalls(report: (ms: number) => void): () => void {
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    report(now - last - 5);
    last = now;
  }, 5);
  return () => clearInterval(t);
}

/** INFO persistence fields exported to /metrics. */
const PERSISTENCE_METRICS: InfoSection['metrics'] = [
    ['loading', 'astronaut_loading', 'gauge', '1 while the dataset is being loaded.'],
    ['rdb_changes_since_last_save', 'astronaut_rdb_changes_since_last_save', 'gauge', 'Writes since the last snapshot.'],
    ['rdb_bgsave_in_progress', 'astronaut_rdb_bgsave_in_progress', 'gauge', '1 while a snapshot is being written.'],
    ['rdb_last_save_time', 'astronaut_rdb_last_save_timestamp_seconds', 'gauge', 'Unix time of the last successful snapshot.'],
    ['rdb_last_bgsave_time_sec', 'astronaut_rdb_last_bgsave_duration_seconds', 'gauge', 'Duration of the last snapshot.'],
    ['rdb_saves', 'astronaut_rdb_saves_total', 'counter', 'Snapshots taken since start.'],
    ['rdb_last_bgsave_max_stall_ms', 'astronaut_rdb_last_bgsave_max_stall_milliseconds', 'gauge', 'Longest event-loop stall during the last snapshot.'],
    ['aof_enabled', 'astronaut_aof_enabled', 'gauge', '1 when every write is logged to the WAL.'],
    ['aof_rewrite_in_progress', 'astronaut_aof_rewrite_in_progress', 'gauge', '1 while the WAL is being rewritten.'],
    ['aof_current_size', 'astronaut_aof_current_size_bytes', 'gauge', 'WAL size.'],
    ['aof_base_size', 'astronaut_aof_base_size_bytes', 'gauge', 'WAL size at the last rewrite.'],
    ['rdb_last_bgsave_status', 'astronaut_rdb_last_bgsave_ok', 'status', '1 if the last snapshot succeeded.'],
    ['aof_last_write_status', 'astronaut_aof_last_write_ok', 'status', '1 if the last WAL write succeeded.'],
    ['aof_last_bgrewrite_status', 'astronaut_aof_last_bgrewrite_ok', 'status', '1 if the last WAL rewrite succeeded.'],
];

export const persistenceModule: FeatureModule = {
  name: 'persistence',
  create(host) {
    // The addon's CRC32C uses the CPU's instruction (and runs big buffers off the
    // event loop): snapshots are checksummed at memory speed, not JS table speed.
    setCrc32cImplementation({ name: `native-${capabilities.crc32cHardware ? 'hardware' : 'software'}`, crc32c, crc32cAsync });
    const p = new Persistence(host);
    return {
      commands: persistenceCommands(p),
      infoSections: [{ name: 'persistence', inDefault: true, fields: () => p.info(), metrics: PERSISTENCE_METRICS }],
      onConfig: { appendfsync: () => p.setAppendfsync() },
      writeLog: p,
      dataset: p,
      loadsData: true,
      start: async () => { await p.open(); p.startCron(); },
      stop: (mode) => p.shutdown(mode),
    };
  },
};

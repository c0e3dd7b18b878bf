/**
 * The contract between the closed core and a feature. A feature module is a
 * name and a factory; the factory gets the server's facilities (ModuleHost)
 * and returns a Feature: a declaration of what it contributes. The app lists
 * the modules; the server folds their declarations together once, before it
 * listens. A feature never reaches into the core's fields: everything it adds
 * goes through this declaration.
 */
import type { Reply } from '../../protocol/reply.js';
import type { Config } from '../config.js';
import type { RespError } from '../errors.js';
import type { Fs } from '../store/fs.js';
import type { SectionSource } from '../store/snapshot-writer.js';
import type { CommandTable } from './command-table.js';
import type { LatencyTracker } from './latency.js';
import type { MetricsWriter } from './metrics.js';
import type { ClientDescription, ClientState, CommandSpec, InfoSection, ServerApi } from './types.js';

/** Where write commands go to be made durable (the persistence feature provides one). */
export interface WriteLog {
  /**
   * An error to refuse writes with (MISCONF while the disk fails), or null.
   * Asked before a write is applied, with the commands its record will hold
   * (all of them for a transaction): a write the log admits can be logged, so
   * nothing applied ever needs undoing. Without commands: writes in general.
   */
  refuseWrites(commands?: ReadonlyArray<readonly Buffer[]>): RespError | null;
  /**
   * Log commands that changed the dataset, each with its database index, as
   * one atomic record. Returns a promise that settles once the record is
   * durable under the fsync policy, or null when nothing needs awaiting.
   * `encoded`: the record's bytes when the caller built them already
   * (encodeCommands of the same entries).
   */
  append(entries: Array<[db: number, argv: Buffer[]]>, encoded?: Buffer): Promise<void> | null;
  /**
   * A record built a write at a time, for a batch that runs in slices: encoding
   * 100 000 writes at its end held the event loop for ~160 ms. `commands` are all
   * it may hold (an upper bound to size it). `finish()` gives `append`'s `encoded`.
   */
  recordWriter?(commands: ReadonlyArray<readonly Buffer[]>): RecordWriter;
}

/** See WriteLog.recordWriter. */
export interface RecordWriter {
  add(db: number, argv: readonly Buffer[]): void;
  finish(): Buffer;
}

/**
 * What replication plugs into the write path (at most one feature provides
 * it). It sees every record the write log takes, in log order, and may refuse
 * client writes (a read-only replica, too few replicas for min-replicas-to-write).
 */
export interface ReplicationHooks {
  /** Why client writes are refused right now (READONLY, NOREPLICAS), or null. Not asked for replayed records. */
  refuseWrites(): RespError | null;
  /** A record was appended to the write log (before its durability is awaited); `encoded` as in WriteLog.append. */
  logged(entries: ReadonlyArray<[db: number, argv: Buffer[]]>, encoded?: Buffer): void;
  /**
   * What a logically expired key's lookup does, when replication decides it
   * (a replica never deletes on its own: it waits for its primary's DEL), or null.
   */
  expiryMode(): 'delete' | 'hide' | 'keep' | null;
}

/** Where a dataset capture writes its sections: a snapshot file, or a replica's socket. */
export interface SectionSink {
  addSection(kind: number, name: string, data: SectionSource): Promise<void>;
  /**
   * Where a large section's pieces are copied (a graph, out of native memory). A file writer,
   * which awaits each write, leaves it out: one buffer is reused. A sink that still holds a chunk
   * when it pulls the next (a replica's socket queues it) hands out buffers it gets back once sent.
   */
  pieceBuffer?(bytes: number): Buffer | Promise<Buffer>;
}

/** Loads a dataset section by section, as a snapshot holds it; `finish()` once all are in. */
export interface DatasetLoader {
  section(kind: number, name: string, bytes: Buffer): Promise<void>;
  finish(): Promise<void>;
}

/**
 * The whole dataset as snapshot sections, both ways (the persistence feature
 * provides it): what a full sync ships to a replica and what the replica loads.
 */
export interface Dataset {
  /**
   * Capture the dataset once no other capture (a snapshot) holds the keyspace:
   * `atCut` runs synchronously right before the capture, so nothing written
   * after it is in the sections and nothing written before it is missing.
   * Resolves once every section is written to `sink`.
   */
  capture(sink: SectionSink, atCut: () => void): Promise<void>;
  /** A loader into the live keyspace (flush it first to replace the dataset). */
  loader(): DatasetLoader;
  /** Make the dataset as it is now durable on its own (a snapshot), so the log after it suffices. */
  persist(): Promise<void>;
  /**
   * Where the write log stands: the dataset is every record below this
   * number (the sequence number the next record gets). A record appended
   * moves it synchronously, so read beside other state it names the same instant.
   */
  position(): number;
  /**
   * Resolves once recovery has loaded the dataset (before writes are taken):
   * `position()` then, or null when recovery skipped or repaired data, when
   * nothing ties the dataset to a position.
   */
  recovered(): Promise<number | null>;
  /** Whether a snapshot or a full sync is streaming the dataset now (its buffers come and go meanwhile). */
  streaming(): boolean;
}

/** Told of every executed command with its duration (the slow log, latency events). */
export type CommandObserver = (client: ClientState, spec: CommandSpec, argv: Buffer[], usec: number) => void;

/** See `ServerApi.keyspaceEvent`. */
export type KeyspaceListener = (db: number, cls: string, event: string, key: Buffer | string) => void;

export type ShutdownMode = 'save' | 'nosave' | 'default';

/** What a feature declares. Every field is optional. */
export interface Feature {
  /**
   * Command specs: dispatch, arity, COMMAND DOCS and redis-cli hints all come
   * from these. A spec named `parent|sub` adds a subcommand to a container
   * registered before it (`client|tracking`).
   */
  commands?: readonly CommandSpec[];
  /**
   * INFO sections. One named like a core section Redis defines (persistence,
   * replication…) takes that section's place, or with `extend` adds fields to
   * it; others print after the core's.
   */
  infoSections?: readonly InfoSection[];
  /** Prometheus families this feature adds to /metrics. */
  metrics?(w: MetricsWriter): void;
  /** Reactions to CONFIG SET of the options this feature owns. */
  onConfig?: { readonly [K in keyof Config]?: () => void };
  /** The durable log of writes (at most one feature provides it). */
  writeLog?: WriteLog;
  /** Replication's taps on the write path (at most one feature provides them). */
  replication?: ReplicationHooks;
  /** The dataset as snapshot sections (at most one feature provides it). */
  dataset?: Dataset;
  observe?: CommandObserver;
  /** Told of every keyspace event (`ServerApi.keyspaceEvent`): pub/sub notifications, WATCH, tracking. */
  keyspaceEvent?: KeyspaceListener;
  /** A client closed or sent RESET: drop what the feature keeps for it. */
  releaseClient?(client: ClientState): void;
  /** What the feature adds to a client's CLIENT LIST line (null: nothing). */
  describeClient?(client: ClientState): ClientDescription | null;
  /** Connections this feature holds open besides RESP clients (HTTP): maxclients counts them too. */
  connections?(): number;
  /** The dataset is not complete until start() resolves: the server answers -LOADING meanwhile. */
  loadsData?: boolean;
  /**
   * After the server listens, in module order (data loads here). A step may hold
   * loading (ModuleHost.holdLoading) beyond its return, for work that waits on a
   * later step: the server's start resolves once such holds are released too.
   */
  start?(): Promise<void>;
  /**
   * At shutdown, in module order (as start: the HTTP front stops before
   * persistence flushes the WAL), before clients are closed.
   */
  stop?(mode: ShutdownMode): Promise<void>;
}

/** What the app was started with, beyond the configuration. */
export interface StartOptions {
  /** The file system for persistence (tests: a fault-injecting SimulatedFs). */
  fs?: Fs;
  configFile?: string;
  /** `--repair`: start despite damaged or missing data files, loading what is intact (what is dropped is logged). */
  repair?: boolean;
}

/** The server as a feature sees it: the handlers' ServerApi plus the pipeline's entry points. */
export interface ModuleHost extends ServerApi {
  readonly table: CommandTable;
  readonly latency: LatencyTracker;
  readonly options: StartOptions;
  /** Run a command line as a client would (HTTP requests go through here). */
  dispatch(client: ClientState, argv: Buffer[]): Reply | Promise<Reply>;
  /**
   * Run commands as one transaction (one WAL record; commands on its keys
   * wait for all of it) in slices that leave the event loop free: a refusal
   * up front (none ran), or one reply per command. For large batches (HTTP).
   */
  runBatch(client: ClientState, queued: Buffer[][]): Promise<Reply>;
  /** Re-apply a logged write (recovery): no auth, loading or disk checks, not logged again. */
  replay(client: ClientState, argv: Buffer[]): Reply | Promise<Reply>;
  /**
   * Why writes are refused right now (MISCONF, READONLY), or null. With
   * `commands`: whether the log can take a record holding all of them.
   */
  refuseWrites(commands?: ReadonlyArray<readonly Buffer[]>): RespError | null;
  /**
   * Run a resolved command now, for a command that runs others (a script's
   * redis.call): none of dispatch's checks (the caller makes its own), and
   * its writes go into `collect`, which the caller logs as its own record.
   */
  execute(client: ClientState, spec: CommandSpec, argv: Buffer[], collect: Array<[db: number, argv: Buffer[]]>): Reply | Promise<Reply>;
  /**
   * Log commands already applied (a replica applying its primary's records
   * through `replay`), as a write's record: to the WAL, and to replication.
   */
  appendToLog(entries: Array<[db: number, argv: Buffer[]]>): Promise<void> | null;
  /** The installed Dataset, or null (no persistence feature). */
  dataset(): Dataset | null;
  /** Answer -LOADING to data commands until the returned function is called. */
  holdLoading(): () => void;
  /** Every open connection, RESP clients and the features' (HTTP), as maxclients counts them. */
  openConnections(): number;
  /** The whole /metrics scrape; `extra` adds the caller's own families. */
  renderMetrics(extra?: (w: MetricsWriter) => void): string;
}

export interface FeatureModule {
  /** Named in start-up and failure logs. */
  readonly name: string;
  create(host: ModuleHost): Feature | Promise<Feature>;
}

/**
 * The TCP server: listens on the configured addresses, admits or refuses
 * clients (maxclients, protected mode), owns the connections, and folds the
 * features' declarations into one pipeline. It knows nothing of any
 * particular command or feature: they plug in through `install()`.
 */
import net from 'node:net';
import type { Config } from '../config.js';
import { formatValue } from '../config.js';
import type { Logger } from '../log.js';
import { pinoLevel } from '../log.js';
import { Keyspace, keyBytes, type ExpiryMode, type KeyspaceObserver } from '../engine/keyspace.js';
import { Watches } from './watch.js';
import { ExpireCycle } from './expiry.js';
import { CommandTable } from './command-table.js';
import type { ClientDescription, ClientState, ClientType, ClientView, CommandSpec, InfoSection, Stats } from './types.js';
import { redactArgv } from './redact.js';
import { Connection, type ConnectionHost, type OutputLimit } from './connection.js';
import { Dispatcher, type DispatchHooks } from './dispatcher.js';
import { LatencyTracker } from './latency.js';
import { DEFAULT_LIMITS } from '../../protocol/index.js';
import { formatMonitorLine } from './monitor.js';
import { SimpleString, type Reply } from '../../protocol/reply.js';
import { VERSION } from '../version.js';
import { listenOnEvery, protectedModeMessage, protectedModeRefuses, refuseConnection } from './access.js';
import { clientsTheLimitAllows, openFilesLimit } from './fd-limit.js';
import { coreInfoSections } from './info.js';
import { safeInterval } from './guard.js';
import { renderMetrics, type MetricsWriter } from './metrics.js';
import type { RespError } from '../errors.js';
import type { Dataset, Feature, FeatureModule, KeyspaceListener, ModuleHost, ReplicationHooks, ShutdownMode, StartOptions, WriteLog } from './module.js';

const DEL = Buffer.from('DEL');
const PROTECTED_MODE_DENIAL = `-${protectedModeMessage('--requirepass or CONFIG SET requirepass from a loopback client')}\r\n`;

export class Server implements ModuleHost, ConnectionHost {
  readonly keyspace: Keyspace;
  readonly table = new CommandTable();
  readonly latency = new LatencyTracker();
  readonly dispatcher: Dispatcher;
  readonly stats: Stats = {
    connectionsReceived: 0, rejectedConnections: 0, commandsProcessed: 0,
    netInputBytes: 0, netOutputBytes: 0, errorReplies: 0, expiredKeys: 0,
    commands: new Map(), errors: new Map(),
  };
  /** WATCH's registry: the keyspace and the dispatcher report writes to it. */
  readonly watches = new Watches();
  private readonly expireCycle: ExpireCycle;
  readonly startedAt = Date.now();
  readonly version = VERSION;
  readonly executable = process.argv[1] ?? '';
  readonly configFile: string;

  private readonly hooks: DispatchHooks = { writeLog: null, monitor: null, observers: [], watches: this.watches };
  private readonly features: Array<{ name: string; feature: Feature }> = [];
  private sections: InfoSection[] = [];
  private loadingDepth = 0;
  /** Loading holds taken while start() runs its steps: start() resolves once they are released. */
  private startHolds: Array<Promise<void>> | null = null;
  private port = 0;
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Map<number, Connection>();
  private readonly monitors = new Set<Connection>();
  private nextClientId = 1;
  private lastCrossProtocolWarning = 0;
  private cron: NodeJS.Timeout | null = null;
  /** The most clients the descriptor limit allows (null: unknown), measured once at start. */
  private clientsAllowed: number | null = null;
  private stopping: Promise<void> | null = null;
  private keyspaceListeners: readonly KeyspaceListener[] = [];
  private clientReleasers: ReadonlyArray<(client: ClientState) => void> = [];
  private clientDescribers: ReadonlyArray<(client: ClientState) => ClientDescription | null> = [];
  /** The persistence feature's log (the WAL) and replication's taps, which `hooks.writeLog` combines. */
  private durableLog: WriteLog | null = null;
  private replication: ReplicationHooks | null = null;
  private datasetProvider: Dataset | null = null;

  constructor(readonly config: Config, readonly log: Logger, readonly options: StartOptions = {}, private readonly exitOnShutdown = false) {
    this.configFile = options.configFile ?? '';
    this.keyspace = new Keyspace(config.databases, this.keyspaceObserver());
    this.dispatcher = new Dispatcher(this.table, this, this.latency, this.hooks);
    // Not while loading (replay must find keys as they were), nor while the log refuses the DELs.
    this.expireCycle = new ExpireCycle(this.keyspace, log, () => this.expiryMode() !== 'delete', (tick) => this.dispatcher.propagating(tick));
    this.latency.enabled = config['latency-tracking'];
    this.sections = coreInfoSections(this);
  }

  /**
   * Create each module's feature and fold its declaration in: commands, INFO
   * sections, the write log, observers. Once, before listening.
   */
  async install(modules: readonly FeatureModule[]): Promise<void> {
    if (this.features.length > 0 || this.listeners.length > 0) throw new Error('features are installed once, before listening');
    for (const m of modules) {
      const feature = await m.create(this);
      this.features.push({ name: m.name, feature });
      if (feature.commands) this.table.register(feature.commands);
      for (const section of feature.infoSections ?? []) {
        const i = this.sections.findIndex((s) => s.name === section.name);
        if (i >= 0 && section.extend) this.sections[i] = extendSection(this.sections[i], section);
        else if (i >= 0) this.sections[i] = section; else this.sections.push(section);
      }
      if (feature.writeLog) {
        if (this.durableLog) throw new Error(`module ${m.name}: a write log is already installed`);
        this.durableLog = feature.writeLog;
      }
      if (feature.replication) {
        if (this.replication) throw new Error(`module ${m.name}: replication is already installed`);
        this.replication = feature.replication;
      }
      if (feature.dataset) {
        if (this.datasetProvider) throw new Error(`module ${m.name}: a dataset provider is already installed`);
        this.datasetProvider = feature.dataset;
      }
      if (feature.observe) this.hooks.observers = [...this.hooks.observers, feature.observe];
      if (feature.keyspaceEvent) this.keyspaceListeners = [...this.keyspaceListeners, feature.keyspaceEvent];
      if (feature.releaseClient) this.clientReleasers = [...this.clientReleasers, feature.releaseClient.bind(feature)];
      if (feature.describeClient) this.clientDescribers = [...this.clientDescribers, feature.describeClient.bind(feature)];
      if (feature.loadsData) this.loadingDepth++;
    }
    this.hooks.writeLog = combinedLog(this.durableLog, this.replication);
  }

  /**
   * What a logically expired key's lookup does. While loading: nothing (the
   * replayed log holds the DELs of the keys that expired before the crash, and
   * commands that ran while a key was still alive must find it). While the log
   * refuses writes: the key is hidden but kept, as a replica does, since its
   * DEL could not be logged.
   */
  private expiryMode(): ExpiryMode {
    if (this.loading) return 'keep';
    const replicated = this.replication?.expiryMode();
    if (replicated) return replicated;
    return this.durableLog?.refuseWrites() ? 'hide' : 'delete';
  }

  private keyspaceObserver(): KeyspaceObserver {
    return {
      expiryMode: () => this.expiryMode(),
      expired: (db, key) => {
        this.stats.expiredKeys++;
        // Logged as the DEL it is: replay, and a replica, delete on this word only.
        this.dispatcher.propagate(db, [DEL, keyBytes(key)]);
        this.watches.expired(db, key);
        this.keyspaceEvent(db, 'x', 'expired', key);
      },
      touched: (db, key) => { if (this.watches.active) this.watches.touched(db, key); },
      flushing: (db) => { if (this.watches.active) this.watches.flushing(db); },
      swapping: (a, b) => { if (this.watches.active) this.watches.swapping(a, b); },
      created: (db, key) => this.keyspaceEvent(db, 'n', 'new', key),
      missed: (db, key) => this.keyspaceEvent(db, 'm', 'keymiss', key),
    };
  }

  keyspaceEvent(db: number, cls: string, event: string, key: Buffer | string): void {
    for (const listener of this.keyspaceListeners) listener(db, cls, event, key);
  }

  flushAll(): number {
    const n = this.keyspace.flushAll();
    for (let db = 0; db < this.keyspace.dbs.length; db++) this.keyspaceEvent(db, '', 'flushdb', '');
    return n;
  }

  /** Listen on every bind address with one port (0 picks a free one). */
  async listen(): Promise<void> {
    this.fitMaxclients();
    const make = () => net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: this.config['tcp-keepalive'] * 1000 }, (s) => this.accept(s));
    const { servers, port } = await listenOnEvery(this.config.bind, this.config.port, make, this.log, 'RESP');
    this.listeners.push(...servers);
    this.port = port;
    this.cron = safeInterval(this.log, 'clientsCron', 1000, () => this.clientsCron());
    this.expireCycle.start();
  }

  /** Run the features' start steps in module order; -LOADING until the data-loading ones finish. */
  async start(): Promise<void> {
    const holds: Array<Promise<void>> = [];
    this.startHolds = holds;
    try {
      for (const { name, feature } of this.features) {
        if (!feature.start) continue;
        await feature.start();
        if (feature.loadsData) this.loadingDepth--;
        this.log.debug({ module: name }, 'module started');
      }
    } finally {
      this.startHolds = null;
    }
    // A step may hold loading past its return for work that waits on a later step
    // (replication takes back its offset once persistence has recovered): started
    // means serving, so wait for those holds too.
    await Promise.all(holds);
  }

  /**
   * Lower maxclients to what the descriptor limit allows, with Redis's
   * warning, rather than meet EMFILE later on accept, on the WAL, everywhere.
   */
  private fitMaxclients(): void {
    const limit = openFilesLimit();
    const allowed = clientsTheLimitAllows(limit);
    this.clientsAllowed = allowed;
    if (allowed === null || this.config.maxclients <= allowed) return;
    this.log.warn({ requested: this.config.maxclients, maxclients: allowed, openFilesLimit: limit },
      `You requested maxclients of ${this.config.maxclients}, more than the open files limit (${limit}) leaves room for. `
      + `maxclients has been reduced to ${allowed} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.`);
    this.config.maxclients = allowed;
  }

  /** Every open connection as maxclients counts them: RESP clients and the features' (HTTP). */
  openConnections(): number {
    let n = this.connections.size;
    for (const { feature } of this.features) n += feature.connections?.() ?? 0;
    return n;
  }

  private accept(socket: net.Socket): void {
    this.stats.connectionsReceived++;
    if (this.openConnections() >= this.config.maxclients) {
      this.stats.rejectedConnections++;
      refuseConnection(socket, '-ERR max number of clients reached\r\n', this.log);
      return;
    }
    if (protectedModeRefuses(this.config, socket.remoteAddress)) {
      this.stats.rejectedConnections++;
      refuseConnection(socket, PROTECTED_MODE_DENIAL, this.log);
      return;
    }
    socket.setNoDelay(true);
    if (this.config['tcp-keepalive'] > 0) socket.setKeepAlive(true, this.config['tcp-keepalive'] * 1000);
    const conn = new Connection(socket, this.nextClientId++, this, this.parserLimits());
    this.connections.set(conn.id, conn);
  }

  parserLimits() {
    return {
      ...DEFAULT_LIMITS,
      maxBulkLen: this.config['proto-max-bulk-len'],
      queryBufferLimit: this.config['client-query-buffer-limit'],
    };
  }

  // ---- ModuleHost ----

  get loading(): boolean { return this.loadingDepth > 0; }
  get tcpPort(): number { return this.port; }
  get infoSections(): readonly InfoSection[] { return this.sections; }

  /**
   * Answer -LOADING to data commands until the returned function is called
   * (tests use it to hold a server in the loading state).
   */
  holdLoading(): () => void {
    this.loadingDepth++;
    let released = false;
    let settle: (() => void) | null = null;
    this.startHolds?.push(new Promise<void>((resolve) => { settle = resolve; }));
    return () => {
      if (released) return;
      released = true;
      this.loadingDepth--;
      (settle as (() => void) | null)?.();
    };
  }

  dispatch(client: ClientState, argv: Buffer[]): Reply | Promise<Reply> { return this.dispatcher.dispatch(client, argv); }
  replay(client: ClientState, argv: Buffer[]): Reply | Promise<Reply> { return this.dispatcher.replay(client, argv); }
  runBatch(client: ClientState, queued: Buffer[][]): Promise<Reply> { return this.dispatcher.runBatch(client, queued); }
  refuseWrites(commands?: ReadonlyArray<readonly Buffer[]>): RespError | null { return this.dispatcher.refuseWrites(commands); }
  execute(client: ClientState, spec: CommandSpec, argv: Buffer[], collect: Array<[db: number, argv: Buffer[]]>): Reply | Promise<Reply> {
    return this.dispatcher.execute(client, spec, argv, collect);
  }
  appendToLog(entries: Array<[db: number, argv: Buffer[]]>): Promise<void> | null { return this.hooks.writeLog?.append(entries) ?? null; }
  dataset(): Dataset | null { return this.datasetProvider; }

  renderMetrics(extra?: (w: MetricsWriter) => void): string {
    return renderMetrics(this, (w) => {
      for (const { feature } of this.features) feature.metrics?.(w);
      extra?.(w);
    });
  }

  // ---- ConnectionHost ----

  outputLimit(type: ClientType): OutputLimit {
    if (type === 'pubsub') return this.config['client-output-buffer-limit-pubsub'];
    // Redis's `client-output-buffer-limit replica 256mb 64mb 60`: a replica that cannot keep up is dropped, and resyncs.
    if (type === 'replica') return REPLICA_OUTPUT_LIMIT;
    return { hard: this.config['client-output-buffer-limit'], soft: 0, softSeconds: 0 };
  }
  passwordRequired(): boolean { return this.config.requirepass !== ''; }
  closed(client: Connection): void {
    this.connections.delete(client.id);
    this.releaseClient(client);
    this.watches.unwatch(client);
    this.monitors.delete(client);
    if (this.monitors.size === 0) this.hooks.monitor = null;
  }
  crossProtocolWarning(client: Connection): void {
    const now = Date.now();
    if (now - this.lastCrossProtocolWarning < 60_000) return;
    this.lastCrossProtocolWarning = now;
    this.log.warn({ client: client.addr }, 'Possible SECURITY ATTACK detected: a client sent an HTTP request to the RESP port. Connection aborted.');
  }

  // ---- ServerApi ----

  *clients(): Iterable<ClientView> { yield* this.connections.values(); }

  releaseClient(client: ClientState): void {
    for (const release of this.clientReleasers) release(client);
  }

  describeClient(client: ClientState): ClientDescription {
    let flags = '';
    let fields: Record<string, string | number> | undefined;
    for (const describe of this.clientDescribers) {
      const d = describe(client);
      if (!d) continue;
      if (d.flags) flags += d.flags;
      if (d.fields) fields = { ...fields, ...d.fields };
    }
    return { flags, fields };
  }

  runTransaction(client: ClientState, queued: Buffer[][]): Reply | Promise<Reply> {
    return this.dispatcher.runTransaction(client, queued);
  }

  watch(client: ClientState, keys: readonly Buffer[]): void {
    const db = this.keyspace.db(client.db);
    for (const k of keys) this.watches.watch(client, db, k.toString('latin1'));
  }

  unwatch(client: ClientState): void { this.watches.unwatch(client); }

  watchBroken(client: ClientState): boolean { return this.watches.broken(client, this.keyspace.dbs); }

  resetStats(): void {
    const s = this.stats;
    s.connectionsReceived = s.rejectedConnections = s.commandsProcessed = 0;
    s.netInputBytes = s.netOutputBytes = s.errorReplies = s.expiredKeys = 0;
    s.commands.clear();
    s.errors.clear();
    this.latency.reset();
  }

  addMonitor(clientId: number): void {
    const conn = this.connections.get(clientId);
    if (!conn) return;
    conn.monitor = true;
    this.monitors.add(conn);
    this.hooks.monitor = (client, spec, argv) => this.feedMonitors(client, spec, argv);
  }

  private feedMonitors(client: ClientState, spec: CommandSpec, argv: Buffer[]): void {
    const line = new SimpleString(formatMonitorLine(client, redactArgv(spec, argv)));
    for (const m of this.monitors) if (m.id !== client.id) m.sendOutOfBand(line);
  }

  configSet(name: keyof Config, value: string): void {
    void value;
    switch (name) {
      case 'proto-max-bulk-len':
      case 'client-query-buffer-limit':
        for (const c of this.connections.values()) c.setLimits({ maxBulkLen: this.config['proto-max-bulk-len'], queryBufferLimit: this.config['client-query-buffer-limit'] });
        break;
      case 'loglevel': this.log.level = pinoLevel(this.config.loglevel); break;
      case 'maxclients':
        if (this.clientsAllowed !== null && this.config.maxclients > this.clientsAllowed) {
          this.log.warn({ requested: this.config.maxclients, maxclients: this.clientsAllowed }, 'maxclients is more than the open files limit leaves room for: reduced');
          this.config.maxclients = this.clientsAllowed;
        }
        break;
      case 'latency-tracking': this.latency.enabled = this.config['latency-tracking']; break;
      default: break;
    }
    for (const { feature } of this.features) feature.onConfig?.[name]?.();
    this.log.info({ option: name, value: name === 'requirepass' ? '(hidden)' : formatValue(name, this.config[name]) }, 'configuration changed');
  }

  /** Once a second: close idle clients when `timeout` is set (Redis's clientsCron). */
  private clientsCron(): void {
    const timeout = this.config.timeout;
    if (timeout <= 0) return;
    const now = Date.now();
    for (const c of this.connections.values()) {
      if (c.monitor) continue;
      if (now - c.lastInteraction > timeout * 1000) {
        this.log.debug({ client: c.addr }, 'closing idle client');
        c.kill();
      }
    }
  }

  /** Stop accepting, run the features' stop steps (persistence flushes), close every client. Idempotent. */
  shutdown(mode: ShutdownMode): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info({ mode }, 'shutting down');
      for (const l of this.listeners) l.close();
      if (this.cron) clearInterval(this.cron);
      this.expireCycle.stop();
      for (const { name, feature } of this.features) {
        if (!feature.stop) continue;
        try { await feature.stop(mode); } catch (e) { this.log.error({ err: e, module: name }, 'shutdown step failed'); }
      }
      for (const c of this.connections.values()) c.kill();
      for (const [, , v] of this.keyspace.objects()) void v.dispose();
      this.log.info('ready to exit, bye bye');
      if (this.exitOnShutdown) { this.log.flush?.(); process.exit(0); }
    })();
    return this.stopping;
  }

  get clientCount(): number { return this.connections.size; }
  get addresses(): string[] {
    return this.listeners.map((l) => { const a = l.address(); return a && typeof a === 'object' ? `${a.address}:${a.port}` : String(a); });
  }
}

const REPLICA_OUTPUT_LIMIT: OutputLimit = { hard: 256 * 1024 * 1024, soft: 64 * 1024 * 1024, softSeconds: 60 };

/**
 * The write log the dispatcher sees: the durable log (MISCONF first: a write
 * the disk cannot take is refused whatever replication says) and replication,
 * told of each record as it is appended, so the replicas' order is the WAL's.
 */
function combinedLog(durable: WriteLog | null, replication: ReplicationHooks | null): WriteLog | null {
  if (!replication) return durable;
  return {
    refuseWrites: (commands) => durable?.refuseWrites(commands) ?? replication.refuseWrites(),
    recordWriter: durable?.recordWriter?.bind(durable),
    append: (entries, encoded) => {
      replication.logged(entries, encoded);
      return durable ? durable.append(entries, encoded) : null;
    },
  };
}

/** A core section with a feature's fields (and metrics) after its own. */
function extendSection(base: InfoSection, more: InfoSection): InfoSection {
  return {
    ...base,
    fields: () => [...base.fields(), ...more.fields()],
    metrics: base.metrics || more.metrics ? [...(base.metrics ?? []), ...(more.metrics ?? [])] : undefined,
  };
}

/**
 * The TCP server: listens on the configured addresses, admits or refuses
 * clients (maxclients, protected mode), owns the connections, and offers
 * handlers the server-wide facilities (ServerApi). It knows nothing of any
 * particular command.
 */
import net from 'node:net';
import type { Config } from '../config.js';
import { formatValue } from '../config.js';
import type { Logger } from '../log.js';
import { pinoLevel } from '../log.js';
import { Keyspace } from '../engine/keyspace.js';
import { CommandTable } from './command-table.js';
import type { ClientState, ClientView, InfoSection, PersistenceApi, ServerApi, Stats } from './types.js';
import { Connection, type ConnectionHost } from './connection.js';
import { Dispatcher } from './dispatcher.js';
import { LatencyTracker } from './latency.js';
import { DEFAULT_LIMITS } from '../../protocol/index.js';
import { formatMonitorLine } from './monitor.js';
import { SimpleString, type Reply } from '../../protocol/reply.js';
import { VERSION } from '../version.js';
import type { Fs } from '../store/fs.js';


const PROTECTED_MODE_DENIAL = '-DENIED Astronaut is running in protected mode because protected mode is enabled and no password is set. '
  + 'In this mode connections are only accepted from the loopback interface. To accept remote clients, either set a password '
  + '(--requirepass or CONFIG SET requirepass from a loopback client), or disable protected mode (--protected-mode no).\r\n';

export interface ShutdownHook { (mode: 'save' | 'nosave' | 'default'): Promise<void> }

export class Server implements ServerApi, ConnectionHost {
  readonly keyspace: Keyspace;
  readonly table = new CommandTable();
  readonly latency = new LatencyTracker();
  readonly dispatcher: Dispatcher;
  readonly stats: Stats = {
    connectionsReceived: 0, rejectedConnections: 0, commandsProcessed: 0,
    netInputBytes: 0, netOutputBytes: 0, errorReplies: 0,
    commands: new Map(), errors: new Map(),
  };
  readonly startedAt = Date.now();
  readonly version = VERSION;
  persistence: PersistenceApi | null = null;
  /** INFO persistence fields, when the persistence module is attached. */
  persistenceInfo: (() => Array<[string, string | number]>) | null = null;
  loading = false;
  tcpPort = 0;
  configFile = '';
  readonly executable = process.argv[1] ?? '';

  private readonly listeners: net.Server[] = [];
  private readonly connections = new Map<number, Connection>();
  private readonly monitors = new Set<Connection>();
  private nextClientId = 1;
  private lastCrossProtocolWarning = 0;
  private cron: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  /** Run on SHUTDOWN/SIGTERM before the process exits (persistence flushes here). */
  shutdownHooks: ShutdownHook[] = [];
  /** The file system persistence goes through (tests pass a fault-injecting one). */
  persistenceFs: Fs | null = null;
  /** Exit the process once shut down (the CLI; tests keep their process). */
  exitOnShutdown = false;
  /** Applies CONFIG SET side effects owned by other modules. */
  configHooks: Array<(name: keyof Config) => void> = [];

  constructor(readonly config: Config, readonly log: Logger) {
    this.keyspace = new Keyspace(config.databases);
    this.dispatcher = new Dispatcher(this.table, this, this.latency);
    this.latency.enabled = config['latency-tracking'];
  }

  /** Listen on every bind address (an address prefixed with '-' may be unavailable). */
  async listen(): Promise<void> {
    let port = this.config.port;
    for (const raw of this.config.bind) {
      const optional = raw.startsWith('-');
      const host = optional ? raw.slice(1) : raw;
      const srv = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: this.config['tcp-keepalive'] * 1000 }, (s) => this.accept(s));
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          // Always pass the host: listen(port) alone would bind every interface (hardening.md).
          srv.listen(port, host, () => { srv.off('error', reject); resolve(); });
        });
      } catch (e) {
        if (optional) { this.log.debug({ host, err: (e as Error).message }, 'optional bind address unavailable'); continue; }
        throw e;
      }
      const addr = srv.address();
      if (addr && typeof addr === 'object') port = addr.port;
      srv.on('error', (e) => this.log.error({ err: e }, 'listener error'));
      this.listeners.push(srv);
    }
    if (this.listeners.length === 0) throw new Error('could not listen on any bind address');
    this.tcpPort = port;
    this.cron = setInterval(() => this.clientsCron(), 1000);
    this.cron.unref();
  }

  private accept(socket: net.Socket): void {
    this.stats.connectionsReceived++;
    if (this.connections.size >= this.config.maxclients) {
      this.stats.rejectedConnections++;
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    if (this.config['protected-mode'] && !this.config.requirepass && !isLoopback(socket.remoteAddress)) {
      this.stats.rejectedConnections++;
      socket.end(PROTECTED_MODE_DENIAL);
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

  // ConnectionHost
  outputLimit(): number { return this.config['client-output-buffer-limit']; }
  passwordRequired(): boolean { return this.config.requirepass !== ''; }
  closed(client: Connection): void {
    this.connections.delete(client.id);
    this.monitors.delete(client);
    if (this.monitors.size === 0) this.dispatcher.monitor = null;
  }
  crossProtocolWarning(client: Connection): void {
    const now = Date.now();
    if (now - this.lastCrossProtocolWarning < 60_000) return;
    this.lastCrossProtocolWarning = now;
    this.log.warn({ client: client.addr }, 'Possible SECURITY ATTACK detected: a client sent an HTTP request to the RESP port. Connection aborted.');
  }

  // ServerApi
  *clients(): Iterable<ClientView> { yield* this.connections.values(); }

  readonly infoSections: InfoSection[] = [];

  runTransaction(client: ClientState, queued: Buffer[][]): Reply | Promise<Reply> {
    return this.dispatcher.runTransaction(client, queued);
  }

  resetStats(): void {
    const s = this.stats;
    s.connectionsReceived = s.rejectedConnections = s.commandsProcessed = 0;
    s.netInputBytes = s.netOutputBytes = s.errorReplies = 0;
    s.commands.clear();
    s.errors.clear();
    this.latency.reset();
  }

  addMonitor(clientId: number): void {
    const conn = this.connections.get(clientId);
    if (!conn) return;
    conn.monitor = true;
    this.monitors.add(conn);
    this.dispatcher.monitor = (client, argv) => this.feedMonitors(client, argv);
  }

  private feedMonitors(client: ClientState, argv: Buffer[]): void {
    const line = new SimpleString(formatMonitorLine(client, argv));
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
      case 'latency-tracking': this.latency.enabled = this.config['latency-tracking']; break;
      default: break;
    }
    for (const hook of this.configHooks) hook(name);
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

  /** Stop accepting, run the shutdown hooks (persistence flushes), close every client. Idempotent. */
  shutdown(mode: 'save' | 'nosave' | 'default'): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info({ mode }, 'shutting down');
      for (const l of this.listeners) l.close();
      if (this.cron) clearInterval(this.cron);
      for (const hook of this.shutdownHooks) {
        try { await hook(mode); } catch (e) { this.log.error({ err: e }, 'shutdown step failed'); }
      }
      for (const c of this.connections.values()) c.kill();
      for (const [, , v] of this.keyspace.all()) v.dispose();
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

function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

/**
 * What a command is (its declarative spec) and what a handler sees (a context).
 * Handlers take (ctx, argv) and return a Reply, or a promise of one for work
 * that runs off the event loop; they never see a socket.
 */
import type { Reply } from '../../protocol/reply.js';
import type { Database, Keyspace } from '../engine/keyspace.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

/** Redis's command flags, as COMMAND INFO reports them. */
export type CommandFlag =
  | 'write' | 'readonly' | 'denyoom' | 'admin' | 'pubsub' | 'noscript' | 'blocking'
  | 'loading' | 'stale' | 'skip_monitor' | 'skip_slowlog' | 'fast' | 'no_auth'
  | 'may_replicate' | 'no_mandatory_keys' | 'no_multi' | 'allow_busy' | 'movablekeys';

/** One argument, as COMMAND DOCS describes it (redis-cli builds its hints from these). */
export interface ArgSpec {
  name: string;
  type: 'key' | 'string' | 'integer' | 'double' | 'pattern' | 'unix-time' | 'pure-token' | 'oneof' | 'block';
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  multipleToken?: boolean;
  displayText?: string;
  arguments?: ArgSpec[];
  since?: string;
}

export type Handler = (ctx: Ctx, argv: Buffer[]) => Reply | Promise<Reply>;

export interface CommandSpec {
  /** Lower case, e.g. `vec.add`; for a subcommand the full `config|get`. */
  name: string;
  /** Redis arity: exact count including the name when ≥ 0, minimum count when negative. */
  arity: number;
  flags: readonly CommandFlag[];
  /** Key positions for COMMAND INFO/GETKEYS (0 when the command takes no key). lastKey -1 means "to the end". */
  firstKey: number;
  lastKey: number;
  step: number;
  group: string;
  since: string;
  summary: string;
  complexity?: string;
  aclCategories?: readonly string[];
  arguments?: ArgSpec[];
  /** Subcommands (CONFIG GET, CLIENT ID…): dispatched on argv[1]. */
  subcommands?: CommandSpec[];
  /** The key arguments, when positions cannot say where they are (EVAL's numkeys; flag `movablekeys`). */
  keys?(argv: Buffer[]): Buffer[];
  /**
   * The reply may complete later (engine work on worker threads): scripts
   * refuse the command before it runs, since a script cannot wait.
   */
  completesLater?: boolean;
  /** Absent on containers whose subcommands carry the handlers. */
  handler?: Handler;
}

/** Per-connection state a handler may read and change. */
export interface ClientState {
  readonly id: number;
  name: string;
  proto: 2 | 3;
  db: number;
  authenticated: boolean;
  libName: string;
  libVer: string;
  readonly addr: string;
  readonly laddr: string;
  readonly createdAt: number;
  lastInteraction: number;
  /** Commands queued by MULTI, or null outside a transaction. */
  multi: Buffer[][] | null;
  /** Set when a command was refused while queueing: EXEC then aborts. */
  multiDirty: boolean;
  /** Close the connection once this reply is written (QUIT). */
  closeAfterReply: boolean;
  lastCommand: string;
  noEvict: boolean;
  noTouch: boolean;
  /**
   * A mode a feature put the client in (subscriber mode), or null (absent) for
   * the usual request/reply client. The dispatcher asks it first about every
   * command; a plain client pays one property test.
   */
  mode?: ClientMode | null;
  /**
   * Send a message that no request of this client asked for (a RESP3 push, a
   * pub/sub message): it goes out after the replies of the commands the client
   * already ran, never inside one. False when the client is gone. Absent for
   * clients without a connection of their own (HTTP, replay). `sent` runs once
   * the connection no longer reads the message's bytes (they were copied, or
   * written to the socket): a caller that reuses them waits for it.
   */
  deliver?(message: Reply, sent?: () => void): boolean;
}

/** Redis's client types: they pick the output-buffer limit and filter CLIENT LIST/KILL TYPE. */
export type ClientType = 'normal' | 'pubsub' | 'replica';

/** See `ClientState.mode`. */
export interface ClientMode {
  readonly type: ClientType;
  /**
   * Look at a resolved command before it runs (or is queued by MULTI): a
   * reply answers it instead (a refusal, or the mode's own answer, as PING
   * gives in RESP2 subscriber mode); undefined lets it run as usual.
   */
  answer(client: ClientState, spec: CommandSpec, argv: Buffer[]): Reply | undefined;
}

/** What a feature adds to a client's CLIENT LIST / CLIENT INFO line. */
export interface ClientDescription {
  /** Flag letters, appended to the core's (`P` subscribed, `t` tracking…). */
  flags?: string;
  /** Values of fields the line already has (`sub`, `psub`, `ssub`, `redir`, `watch`…). */
  fields?: Readonly<Record<string, string | number>>;
}

/** A client as CLIENT LIST and CLIENT KILL see it. */
export interface ClientView extends ClientState {
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly monitor: boolean;
  readonly fd: number;
  kill(): void;
}

/** Server-wide facilities a handler may use. */
export interface ServerApi {
  readonly config: Config;
  readonly keyspace: Keyspace;
  readonly stats: Stats;
  readonly log: Logger;
  readonly startedAt: number;
  readonly version: string;
  readonly loading: boolean;
  readonly tcpPort: number;
  readonly configFile: string;
  readonly executable: string;
  clients(): Iterable<ClientView>;
  /** Start streaming every command to this client (MONITOR). */
  addMonitor(clientId: number): void;
  /** Apply a validated CONFIG SET to the running server. */
  configSet(name: keyof Config, value: string): void;
  shutdown(mode: 'save' | 'nosave' | 'default'): Promise<void>;
  /** INFO sections, in the order INFO prints them (the core's and the features'). */
  readonly infoSections: readonly InfoSection[];
  /** Reset the counters CONFIG RESETSTAT clears. */
  resetStats(): void;
  /** Run the commands a MULTI queued, atomically (EXEC). */
  runTransaction(client: ClientState, queued: Buffer[][]): Reply | Promise<Reply>;
  /** WATCH these keys of the client's database for its next EXEC. */
  watch(client: ClientState, keys: readonly Buffer[]): void;
  /** Forget the client's watched keys (EXEC, DISCARD, UNWATCH, RESET). */
  unwatch(client: ClientState): void;
  /** Has a key the client watches changed or expired since its WATCH? Then its EXEC aborts. */
  watchBroken(client: ClientState): boolean;
  /**
   * A key changed (Redis's keyspace notifications): `cls` is the event's class
   * letter (`g` generic, `$` string, `h` hash, `x` expired, `e` evicted, `v`
   * vector set…), `event` its name (`set`, `del`, `expire`, `vadd`…). Fanned out
   * to every feature's `keyspaceEvent` listener; free when none listens.
   */
  keyspaceEvent(db: number, cls: string, event: string, key: Buffer | string): void;
  /**
   * Every database emptied as FLUSHALL empties it: the keys, and each database's `flushdb`
   * event, on which the features drop what goes with the data (FT indexes). Returns the keys removed.
   */
  flushAll(): number;
  /** RESET: the features drop what they keep for this client (subscriptions, tracking), as when it closes. */
  releaseClient(client: ClientState): void;
  /** The features' additions to the client's CLIENT LIST line. */
  describeClient(client: ClientState): ClientDescription;
}

/** One INFO section: its fields are computed when asked for. */
export interface InfoSection {
  name: string;
  /** Printed by a bare INFO (and `default`); otherwise only by name, `all` or `everything`. */
  inDefault: boolean;
  /** Printed by `all` (commandstats, latencystats are; module sections may not be). */
  inAll?: boolean;
  /**
   * A feature's section named like an existing one adds its fields (and
   * metrics) after that section's instead of replacing it (pubsub_channels
   * in `stats`).
   */
  extend?: boolean;
  fields(): Array<[string, string | number]>;
  /** Fields exported one to one to /metrics: [field, metric name, kind, help]; `status` maps ok to 1. */
  metrics?: ReadonlyArray<readonly [field: string, metric: string, kind: 'counter' | 'gauge' | 'status', help: string]>;
}

/** Counters behind INFO stats and INFO commandstats. */
export interface CommandStat { calls: number; usec: number; rejected: number; failed: number; }
export interface Stats {
  connectionsReceived: number;
  rejectedConnections: number;
  commandsProcessed: number;
  netInputBytes: number;
  netOutputBytes: number;
  errorReplies: number;
  /** Keys reclaimed because their deadline passed (INFO expired_keys). */
  expiredKeys: number;
  commands: Map<string, CommandStat>;
  errors: Map<string, number>;
}

export interface Ctx {
  readonly client: ClientState;
  readonly server: ServerApi;
  /** The client's selected database. */
  readonly db: Database;
  /**
   * What to write to the WAL for this command, when it differs from argv (or
   * null to log nothing: a write that changed nothing). Left undefined, a
   * successful write command is logged as received.
   */
  propagate?: Buffer[][] | null;
  /**
   * WATCH: the keys this write changed when that is not every key its spec
   * names (COPY reads its source). Left undefined, all of them count as touched.
   */
  touchedKeys?: readonly string[];
  /**
   * Set while recovery re-applies a logged write: checks that only guard new
   * input (payload nesting) are skipped, so data an older version accepted
   * is not dropped on restart.
   */
  readonly replaying?: boolean;
  /**
   * Set by a command not flagged `write` that wrote through other commands
   * (EVAL's redis.call): those writes, each with its database, in the order
   * they ran. Logged as this command's record (or into the enclosing EXEC's)
   * whatever it replies: a script that fails after writing keeps its writes.
   */
  nestedWrites?: Array<[db: number, argv: Buffer[]]>;
}

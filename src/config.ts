/**
 * Server configuration, named as in redis.conf so operators reuse what they
 * know. One table describes every option: its type, default, whether CONFIG SET
 * may change it at run time, and how to render it for CONFIG GET. The CLI,
 * config files, `ASTRONAUT_*` environment variables and CONFIG SET all go
 * through `parseValue`, so an option means the same thing wherever it is set.
 */
import { ArgError } from './errors.js';

export type AppendFsync = 'always' | 'everysec' | 'no';
export type LogLevel = 'debug' | 'verbose' | 'notice' | 'warning' | 'nothing';

export interface Config {
  port: number;
  bind: string[];
  dir: string;
  requirepass: string;
  'protected-mode': boolean;
  maxclients: number;
  timeout: number;
  'tcp-keepalive': number;
  'proto-max-bulk-len': number;
  'client-query-buffer-limit': number;
  /** Hard limit on bytes queued for one client's replies: past it the client is closed. */
  'client-output-buffer-limit': number;
  /** Redis's `client-output-buffer-limit pubsub <hard> <soft> <seconds>`: for clients subscribed to anything. */
  'client-output-buffer-limit-pubsub': BufferLimit;
  /** Keyspace notification classes, in Redis's canonical letters (`""` off). */
  'notify-keyspace-events': string;
  databases: number;
  appendonly: boolean;
  appendfsync: AppendFsync;
  /** Automatic snapshot points: [seconds, changes] pairs. */
  save: Array<[number, number]>;
  'auto-aof-rewrite-percentage': number;
  'auto-aof-rewrite-min-size': number;
  loglevel: LogLevel;
  logfile: string;
  'slowlog-log-slower-than': number;
  'slowlog-max-len': number;
  'latency-tracking': boolean;
  /** DEBUG: refused (no), allowed (yes), or allowed from loopback clients only (local), as in Redis. */
  'enable-debug-command': 'yes' | 'no' | 'local';
  /** Milliseconds at or past which a command is recorded as a LATENCY event (0: off). */
  'latency-monitor-threshold': number;
  /** Milliseconds a Lua script may run before it is aborted (Redis answers BUSY meanwhile; see docs/scripting.md). */
  'busy-reply-threshold': number;
  /** Redis's older name for busy-reply-threshold: setting either sets both. */
  'lua-time-limit': number;
  'http-port': number;
  'metrics-port': number;
  /** Largest HTTP request body accepted (413 past it). */
  'http-max-body-bytes': number;
  /** Seconds an HTTP client has to send a whole request, headers and body (0: no limit). */
  'http-request-timeout': number;
  /** Largest payload (JSON attribute) per element, bytes. */
  'vec-max-payload-bytes': number;
  /** Deleted elements as a share of a set past which the set's index is rebuilt. */
  'vec-compact-threshold': number;
  /** Sets of at most this many elements are searched exactly (brute force), not through the graph. */
  'vec-exact-search-below': number;
  'vec-planner-recall': number;
  'vec-planner-scan-max': number;
  /** `<host> <port>` of the primary this server replicates (empty: it is a primary). */
  replicaof: string[];
  /** The password a replica AUTHs with on its primary. */
  masterauth: string;
  /** The user a replica AUTHs as (empty: the password alone). */
  masteruser: string;
  'replica-read-only': boolean;
  /** Bytes of the replication stream kept for partial resyncs. */
  'repl-backlog-size': number;
  'repl-ping-replica-period': number;
  /** Seconds without traffic after which a replication link is considered dead. */
  'repl-timeout': number;
  'min-replicas-to-write': number;
  'min-replicas-max-lag': number;
  'replica-priority': number;
  'replica-announce-ip': string;
  'replica-announce-port': number;
  'replica-announced': boolean;
}

/** An output-buffer limit: closed past `hard` bytes, or past `soft` for `softSeconds` in a row (0: none). */
export interface BufferLimit { hard: number; soft: number; softSeconds: number }

type Kind = 'int' | 'bytes' | 'bool' | 'string' | 'enum' | 'list' | 'save' | 'float' | 'limit' | 'events';

interface OptionSpec {
  kind: Kind;
  default: string;
  /** May CONFIG SET change it while the server runs? */
  mutable: boolean;
  values?: readonly string[];
  min?: number;
  max?: number;
  describe: string;
  /** Hidden from CONFIG GET (secrets are still returned by Redis; we follow it). */
}

/**
 * `vec-exact-search-below`: sets of at most this many elements are always scanned exactly.
 * An element count, not bytes: a scan's cost and the walk's both grow with the dimension, so
 * where they cross is a number of elements. bench/planner.ts, single queries through
 * VectorSet.search, 128-d, k 10, EF 64 (bench/results/planner.json; 2 cores, load 7–14):
 * where the scan stops being faster than the graph, interpolated, two runs:
 *
 *   workload   F32       F16       BF16      I8        B1
 *   mixture    299, 298  332, 236  238, 303  344, 336  214, 258
 *   far        572, 523  375, 321  187, 270  401, 562  593, 427
 *
 * 256 sits at the low end: past it the walk is faster on every workload. At 1000 elements
 * the graph is 1.2–3.3× faster; 20 000: 5–9×; 100 000: 6–22×.
 *
 * Those sets held a graph. A set of at most FLAT_MAX (256) elements is now kept flat
 * (src/engine/native-index.ts), and its own search is a scan of every element: exact, so the
 * threshold sends it there rather than to a scan of a slot list, which cost twice as much
 * (13 against 27 µs a query at 256 × 128-d). The threshold still decides for a small set that
 * holds a graph (one that grew and shrank); at 384 elements the walk was 0.89–1.13× the scan
 * in the latest sweep, so 256 stays.
 *
 * Speed is not the whole answer: on `far` (queries unlike the data) the walk's recall@10 at
 * EF 64 falls below 0.95 from ~5 000 elements (0.68 at 20 000), on `mixture` it stays ≥ 0.958.
 * Past the crossover the planner therefore samples each set's own queries both ways
 * (src/engine/graph-trust.ts) and scans sets of up to `vec-planner-scan-max` elements while
 * the walk's sampled recall is under `vec-planner-recall`.
 */
export const EXACT_BELOW_DEFAULT = 256;
/** See EXACT_BELOW_DEFAULT: the walk must find this share of the true k on sampled queries. */
export const PLANNER_RECALL_DEFAULT = 0.95;
/**
 * The largest set scanned when the walk misses: 32 768 × 128 F32 is a 16 MiB scan, ~5× a
 * walk at 20 k and ~10× at 100 k (bench/planner.ts), past which a scan per query costs more
 * than most callers would choose; they can ask for EXACT, or raise EF.
 */
export const PLANNER_SCAN_MAX_DEFAULT = 32768;


export const OPTIONS: Readonly<Record<keyof Config, OptionSpec>> = {
  port: { kind: 'int', default: '6379', mutable: false, min: 0, max: 65535, describe: 'TCP port (0 picks a free one)' },
  bind: { kind: 'list', default: '127.0.0.1 -::1', mutable: false, describe: 'addresses to listen on ("-" prefix: skip if unavailable)' },
  dir: { kind: 'string', default: './data', mutable: false, describe: 'data directory (WAL and snapshots)' },
  requirepass: { kind: 'string', default: '', mutable: true, describe: 'password clients must AUTH with' },
  'protected-mode': { kind: 'bool', default: 'yes', mutable: true, describe: 'refuse non-loopback clients while no password is set' },
  maxclients: { kind: 'int', default: '10000', mutable: true, min: 1, max: 1_000_000, describe: 'maximum simultaneous clients' },
  timeout: { kind: 'int', default: '0', mutable: true, min: 0, max: 2_147_483_647, describe: 'close clients idle this many seconds (0: never)' },
  'tcp-keepalive': { kind: 'int', default: '300', mutable: true, min: 0, max: 2_147_483_647, describe: 'TCP keepalive interval, seconds' },
  'proto-max-bulk-len': { kind: 'bytes', default: '512mb', mutable: true, min: 1024 * 1024, max: 2 ** 32, describe: 'largest bulk string accepted' },
  'client-query-buffer-limit': { kind: 'bytes', default: '1gb', mutable: true, min: 1024 * 1024, max: 2 ** 32, describe: 'largest unfinished request buffered per client' },
  'client-output-buffer-limit': { kind: 'bytes', default: '256mb', mutable: true, min: 0, max: 2 ** 40, describe: 'replies queued for a client that does not read, past which it is closed' },
  'client-output-buffer-limit-pubsub': { kind: 'limit', default: '32mb 8mb 60', mutable: true, describe: 'for subscribed clients: <hard> <soft> <seconds>, closed past hard, or past soft for that long (Redis\'s pubsub class)' },
  'notify-keyspace-events': { kind: 'events', default: '', mutable: true, describe: 'keyspace notifications to publish: K, E and classes g$lshzxetmdn (v: vector sets; A: all but m and n)' },
  databases: { kind: 'int', default: '16', mutable: false, min: 1, max: 1_000_000, describe: 'number of databases (SELECT 0..n-1)' },
  appendonly: { kind: 'bool', default: 'yes', mutable: false, describe: 'log every write to the WAL' },
  appendfsync: { kind: 'enum', default: 'everysec', mutable: true, values: ['always', 'everysec', 'no'], describe: 'when the WAL is fsynced' },
  save: { kind: 'save', default: '3600 1 300 100 60 10000', mutable: true, describe: 'snapshot after <seconds> if at least <changes> writes ("" disables)' },
  'auto-aof-rewrite-percentage': { kind: 'int', default: '100', mutable: true, min: 0, max: 1_000_000, describe: 'rewrite (snapshot + fresh WAL) when the WAL grew by this percentage' },
  'auto-aof-rewrite-min-size': { kind: 'bytes', default: '64mb', mutable: true, min: 0, max: 2 ** 50, describe: 'smallest WAL size that triggers an automatic rewrite' },
  loglevel: { kind: 'enum', default: 'notice', mutable: true, values: ['debug', 'verbose', 'notice', 'warning', 'nothing'], describe: 'log verbosity' },
  logfile: { kind: 'string', default: '', mutable: false, describe: 'log file ("" logs to stdout)' },
  'slowlog-log-slower-than': { kind: 'int', default: '10000', mutable: true, min: -1, max: 2 ** 40, describe: 'microseconds past which a command is logged in SLOWLOG (-1 off)' },
  'slowlog-max-len': { kind: 'int', default: '128', mutable: true, min: 0, max: 2 ** 31, describe: 'entries kept in SLOWLOG' },
  'latency-tracking': { kind: 'bool', default: 'yes', mutable: true, describe: 'per-command latency percentiles in INFO latencystats' },
  'enable-debug-command': { kind: 'enum', default: 'no', mutable: false, values: ['yes', 'no', 'local'], describe: 'allow the DEBUG command (local: from loopback clients only)' },
  'latency-monitor-threshold': { kind: 'int', default: '0', mutable: true, min: 0, max: 2 ** 40, describe: 'milliseconds past which a command, or a stall of the event loop, is a LATENCY event (0: off)' },
  'busy-reply-threshold': { kind: 'int', default: '5000', mutable: true, min: 0, max: 2 ** 40, describe: 'milliseconds after which a running Lua script is aborted with an error (0: never)' },
  'lua-time-limit': { kind: 'int', default: '5000', mutable: true, min: 0, max: 2 ** 40, describe: 'the older name of busy-reply-threshold' },
  'http-port': { kind: 'int', default: '0', mutable: false, min: 0, max: 65535, describe: 'HTTP JSON API port (0: off)' },
  'metrics-port': { kind: 'int', default: '0', mutable: false, min: 0, max: 65535, describe: 'Prometheus /metrics on its own port (0: off)' },
  'http-max-body-bytes': { kind: 'bytes', default: '16mb', mutable: true, min: 1024, max: 2 ** 31, describe: 'largest HTTP request body accepted' },
  'http-request-timeout': { kind: 'int', default: '30', mutable: true, min: 0, max: 86_400, describe: 'seconds an HTTP client has to send a whole request, headers and body, before it is closed (0: no limit)' },
  'vec-max-payload-bytes': { kind: 'bytes', default: '64kb', mutable: true, min: 2, max: 512 * 1024 * 1024, describe: 'largest payload per element' },
  'vec-compact-threshold': { kind: 'float', default: '0.25', mutable: true, min: 0.01, max: 1, describe: 'share of deleted elements that triggers an index rebuild' },
  'vec-exact-search-below': { kind: 'int', default: String(EXACT_BELOW_DEFAULT), mutable: true, min: 0, max: 2 ** 32, describe: 'always search sets of at most this many elements exactly, not through the graph (0: only when EF covers the whole set)' },
  'vec-planner-recall': { kind: 'float', default: String(PLANNER_RECALL_DEFAULT), mutable: true, min: 0, max: 1, describe: 'recall@k the graph must reach on sampled queries of a set, else the set is scanned (0: never sample, always walk)' },
  'vec-planner-scan-max': { kind: 'int', default: String(PLANNER_SCAN_MAX_DEFAULT), mutable: true, min: 0, max: 2 ** 32, describe: 'the largest set scanned exactly when the graph misses the recall target' },
  replicaof: { kind: 'list', default: '', mutable: false, describe: 'replicate the primary at <host> <port> (REPLICAOF at run time; "" for none)' },
  masterauth: { kind: 'string', default: '', mutable: true, describe: 'password a replica authenticates with on its primary' },
  masteruser: { kind: 'string', default: '', mutable: true, describe: 'user a replica authenticates as on its primary ("" sends the password alone)' },
  'replica-read-only': { kind: 'bool', default: 'yes', mutable: true, describe: 'a replica refuses writes from clients (-READONLY)' },
  'repl-backlog-size': { kind: 'bytes', default: '1mb', mutable: true, min: 16 * 1024, max: 2 ** 40, describe: 'bytes of the replication stream kept so a replica that reconnects can resume (partial resync)' },
  'repl-ping-replica-period': { kind: 'int', default: '10', mutable: true, min: 1, max: 3600, describe: 'seconds between the pings a primary sends its replicas' },
  'repl-timeout': { kind: 'int', default: '60', mutable: true, min: 1, max: 86_400, describe: 'seconds of silence after which a replication link is dropped' },
  'min-replicas-to-write': { kind: 'int', default: '0', mutable: true, min: 0, max: 1_000_000, describe: 'refuse writes (-NOREPLICAS) unless at least this many replicas acknowledged within min-replicas-max-lag (0: off)' },
  'min-replicas-max-lag': { kind: 'int', default: '10', mutable: true, min: 0, max: 86_400, describe: 'seconds since its last acknowledgement within which a replica counts as good' },
  'replica-priority': { kind: 'int', default: '100', mutable: true, min: 0, max: 2 ** 31, describe: 'Sentinel promotes the replica with the lowest priority first (0: never)' },
  'replica-announce-ip': { kind: 'string', default: '', mutable: true, describe: 'address a replica announces to its primary (NAT, containers)' },
  'replica-announce-port': { kind: 'int', default: '0', mutable: true, min: 0, max: 65535, describe: 'port a replica announces to its primary (0: its own)' },
  'replica-announced': { kind: 'bool', default: 'yes', mutable: true, describe: 'Sentinel lists this replica (replica_announced)' },
};

export const OPTION_NAMES = Object.keys(OPTIONS) as Array<keyof Config>;

/** `1gb`, `512mb`, `64k`… as redis.conf reads them (k=1000, kb=1024). */
export function parseBytes(text: string): number {
  const m = /^(\d+)(k|kb|m|mb|g|gb)?$/i.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  switch ((m[2] ?? '').toLowerCase()) {
    case 'k': return n * 1000;
    case 'kb': return n * 1024;
    case 'm': return n * 1000 ** 2;
    case 'mb': return n * 1024 ** 2;
    case 'g': return n * 1000 ** 3;
    case 'gb': return n * 1024 ** 3;
    default: return n;
  }
}

function parseSave(text: string): Array<[number, number]> {
  const parts = text.trim().split(/\s+/).filter(Boolean);
  if (parts.length % 2 !== 0) throw new ArgError('Invalid save parameters');
  const out: Array<[number, number]> = [];
  for (let i = 0; i < parts.length; i += 2) {
    const s = Number(parts[i]), c = Number(parts[i + 1]);
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(c) || s < 1 || c < 0) throw new ArgError('Invalid save parameters');
    out.push([s, c]);
  }
  return out;
}

/** An option's text that is invalid for a reason worth telling (CONFIG SET names it). */
export class InvalidConfigValue extends ArgError {
  constructor(readonly reason: string) { super(reason); }
}

/**
 * `notify-keyspace-events`: Redis's letters (notify.c keyspaceEventsStringToFlags),
 * plus `v` for vector sets, our extension, included in `A`.
 */
export const KEYSPACE_EVENT_CLASSES = 'g$lshzxetdv';
const EVENT_LETTERS = 'Ag$lshzxeKEtmdnv';

/**
 * The canonical text Redis gives the same flags (keyspaceEventsFlagsToString):
 * `A` for every class, else the class letters in a fixed order, then `K`, `E`,
 * `m`. Redis drops `n` next to `A`; we keep it (it would be lost by CONFIG REWRITE).
 */
export function canonicalEvents(text: string): string {
  const seen = new Set<string>();
  for (const c of text) {
    if (!EVENT_LETTERS.includes(c)) throw new InvalidConfigValue(`Invalid event class character. Use '${EVENT_LETTERS}'.`);
    if (c === 'A') for (const k of KEYSPACE_EVENT_CLASSES) seen.add(k); else seen.add(c);
  }
  let out = '';
  if ([...KEYSPACE_EVENT_CLASSES].every((k) => seen.has(k))) out = 'A';
  else for (const k of KEYSPACE_EVENT_CLASSES) if (seen.has(k)) out += k;
  if (seen.has('n')) out += 'n';
  if (seen.has('K')) out += 'K';
  if (seen.has('E')) out += 'E';
  if (seen.has('m')) out += 'm';
  return out;
}

function parseLimit(text: string): BufferLimit | null {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) return null;
  const [hard, soft] = [parseBytes(parts[0]), parseBytes(parts[1])];
  const softSeconds = /^\d+$/.test(parts[2]) ? Number(parts[2]) : NaN;
  if (![hard, soft, softSeconds].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  return { hard, soft, softSeconds };
}

/** Turn the text of one option into its typed value; ArgError on anything invalid. */
export function parseValue<K extends keyof Config>(name: K, text: string): Config[K] {
  const spec = OPTIONS[name];
  const bad = (): never => { throw new ArgError(`Invalid argument '${text}' for CONFIG SET '${name}'`); };
  let v: unknown;
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(text.trim())) bad();
      v = Number(text);
      break;
    }
    case 'bytes': v = parseBytes(text); if (Number.isNaN(v)) bad(); break;
    case 'float': v = Number(text); if (text.trim() === '' || !Number.isFinite(v)) bad(); break;
    case 'bool': {
      const t = text.toLowerCase();
      if (t === 'yes' || t === 'true') v = true;
      else if (t === 'no' || t === 'false') v = false;
      else bad();
      break;
    }
    case 'enum': if (!spec.values!.includes(text.toLowerCase())) bad(); v = text.toLowerCase(); break;
    case 'list': v = text.trim().split(/\s+/).filter(Boolean); break;
    case 'save': v = parseSave(text); break;
    case 'limit': v = parseLimit(text) ?? bad(); break;
    case 'events': v = canonicalEvents(text); break;
    default: v = text;
  }
  if (typeof v === 'number' && ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max))) bad();
  return v as Config[K];
}

/** CONFIG GET's text for a value. */
export function formatValue<K extends keyof Config>(name: K, value: Config[K]): string {
  const spec = OPTIONS[name];
  switch (spec.kind) {
    case 'bool': return value ? 'yes' : 'no';
    case 'list': return (value as string[]).join(' ');
    case 'save': return (value as Array<[number, number]>).map(([s, c]) => `${s} ${c}`).join(' ');
    case 'limit': { const l = value as BufferLimit; return `${l.hard} ${l.soft} ${l.softSeconds}`; }
    default: return String(value);
  }
}

export function defaultConfig(): Config {
  const c: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) c[name] = parseValue(name, OPTIONS[name].default);
  return c as unknown as Config;
}

export function isOption(name: string): name is keyof Config {
  return Object.prototype.hasOwnProperty.call(OPTIONS, name);
}

/**
 * Split one redis.conf line into words, honouring "double" and 'single' quotes.
 * Returns null for blank lines and comments.
 */
function splitConfigLine(line: string): string[] | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(trimmed)) !== null) {
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]);
  }
  return words;
}

/**
 * Read a redis.conf-style file: `name value…` per line. Repeated `save` lines
 * accumulate as in Redis. Unknown names are an error that names the line.
 */
export function parseConfigText(text: string, source = 'config'): Partial<Record<keyof Config, string>> {
  const out: Partial<Record<keyof Config, string>> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const words = splitConfigLine(lines[i]);
    if (!words || words.length === 0) continue;
    const name = words[0].toLowerCase();
    if (!isOption(name)) throw new Error(`${source}:${i + 1}: unknown option '${words[0]}'`);
    const value = words.slice(1).join(' ');
    if (name === 'save' && out.save !== undefined && value !== '') out.save = `${out.save} ${value}`;
    else out[name] = value;
  }
  return out;
}

/** Apply textual settings over a config, validating each; errors name the option. */
export function applySettings(config: Config, settings: Partial<Record<keyof Config, string>>, source: string): Config {
  for (const name of Object.keys(settings) as Array<keyof Config>) {
    try {
      (config as unknown as Record<string, unknown>)[name] = parseValue(name, settings[name]!);
    } catch (e) {
      throw new Error(`${source}: invalid value '${settings[name]}' for '${name}'`);
    }
  }
  return config;
}

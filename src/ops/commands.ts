/**
 * The operator's toolbox: SLOWLOG, LATENCY, MEMORY, DEBUG. Reply shapes and error texts are Redis's, so redis-cli,
 * dashboards and runbooks written for Redis work unchanged.
 *
 * The state these commands read (the slow log, latency events, histograms)
 * lives in the server; it is handed in through the small structural types
 * below, so this file does not import the server.
 */
import v8 from 'node:v8';
import { createHash } from 'node:crypto';
import { Double, OK, ReplyMap, SimpleString, Verbatim, type Reply } from '../../protocol/reply.js';
import { ArgError, NOT_AN_INTEGER, NOT_A_FLOAT, SYNTAX } from '../errors.js';
import { isSerializable, keyBytes, keyOf, StringValue, type Database, type StoredValue } from '../engine/keyspace.js';
import { VectorSet } from '../engine/vector-set.js';
import { isKeyword, parseFiniteDouble, parseInteger } from '../core/numbers.js';
import type { CommandSpec, Ctx, InfoSection } from '../core/types.js';
import { isLoopback } from '../core/access.js';
import { helpReply, subcommandBuilder, unknownSubcommand, wrongArity } from '../core/command-table.js';

/** What SLOWLOG reads. */
export interface SlowLogSource {
  readonly entries: ReadonlyArray<{ id: number; time: number; duration: number; argv: Buffer[]; addr: string; name: string }>;
  reset(): void;
}

/** What LATENCY LATEST|HISTORY|RESET read. */
export interface LatencyEventSource {
  readonly events: ReadonlyMap<string, { latestTime: number; latest: number; max: number; history: ReadonlyArray<readonly [number, number]> }>;
  reset(names: string[]): number;
}

/** What LATENCY HISTOGRAM reads: per-command histograms with cumulative counts at bounds (µs). */
export interface HistogramSource {
  readonly byCommand: ReadonlyMap<string, { readonly total: number; cumulative(boundsUsec: readonly number[]): number[] }>;
}

export interface OpsState {
  slowlog: SlowLogSource;
  events: LatencyEventSource;
  histograms: HistogramSource;
  /** used_memory when the server had started (MEMORY STATS startup.allocated). */
  startupBytes: number;
  /** MEMORY PURGE: give the young generation and malloc's free pages back now. */
  purge: () => void;
  /** DEBUG RELOAD: the dataset through a snapshot's sections and back into an emptied keyspace. */
  reload: () => Promise<void>;
}

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'server', since: '2.2.12' } as const;
const ADMIN = ['admin', 'noscript', 'loading', 'stale'] as const;

// ---- SLOWLOG ----

function slowlogCommand(state: OpsState): CommandSpec {
  const sub = subcommandBuilder('slowlog', { ...base, flags: ADMIN });
  return {
    ...base, name: 'slowlog', arity: -2, flags: [], summary: 'A container for slow log commands.',
    subcommands: [
      sub('get', -2, 'Returns the slow log\'s entries.', (_ctx, argv) => {
        if (argv.length > 3) throw wrongArity('slowlog|get');
        let count = 10;
        if (argv.length === 3) {
          let n: number;
          try { n = parseInteger(argv[2]); } catch { n = NaN; }
          if (!(n >= -1)) throw new ArgError('count should be greater than or equal to -1');
          count = n === -1 ? state.slowlog.entries.length : n;
        }
        return state.slowlog.entries.slice(0, count).map((e) => [e.id, e.time, e.duration, e.argv, e.addr, e.name]);
      }, { arguments: [{ name: 'count', type: 'integer', optional: true }] }),
      sub('len', 2, 'Returns the number of entries in the slow log.', () => state.slowlog.entries.length),
      sub('reset', 2, 'Clears all entries from the slow log.', () => { state.slowlog.reset(); return OK; }),
      sub('help', 2, 'Show helpful text about the different subcommands', () => helpReply('slowlog', [
        'GET [<count>]',
        '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
        '    Entries are made of:',
        '    id, timestamp, time in microseconds, arguments array, client IP and port,',
        '    client name',
        'LEN',
        '    Return the length of the slowlog.',
        'RESET',
        '    Reset the slowlog.',
        'HELP',
        '    Print this help.',
      ]), { flags: ['loading', 'stale'] }),
    ],
  };
}

// ---- LATENCY ----

/** Power-of-two bounds (µs) up to the first one that holds every sample, like Redis's histogram buckets. */
function histogramReply(h: { total: number; cumulative(b: readonly number[]): number[] }): Reply {
  const bounds: number[] = [];
  for (let b = 1; b <= 2 ** 40; b *= 2) bounds.push(b);
  const counts = h.cumulative(bounds);
  const buckets: Array<[Reply, Reply]> = [];
  let previous = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] > previous) { buckets.push([bounds[i], counts[i]]); previous = counts[i]; }
    if (previous >= h.total) break;
  }
  return new ReplyMap([['calls', h.total], ['histogram_usec', new ReplyMap(buckets)]]);
}

function latencyDoctor(ctx: Ctx, state: OpsState): string {
  const threshold = ctx.server.config['latency-monitor-threshold'];
  const out: string[] = [];
  if (threshold === 0) {
    out.push('The latency monitor is disabled: LATENCY events are recorded only when latency-monitor-threshold is above 0.',
      'Enable it with CONFIG SET latency-monitor-threshold <milliseconds>.');
  } else if (state.events.events.size === 0) {
    out.push(`No latency spike was observed: no command took ${threshold} milliseconds or more, nor did the event loop stall that long, since the last reset.`);
  } else {
    out.push(`Latency spikes observed (threshold ${threshold} ms):`);
    let i = 1;
    for (const [name, e] of state.events.events) {
      const samples = e.history.length;
      const avg = samples ? Math.round(e.history.reduce((s, [, ms]) => s + ms, 0) / samples) : 0;
      out.push(`${i++}. ${name}: ${samples} latency spikes (average ${avg}ms, max ${e.max}ms, latest ${e.latest}ms at ${new Date(e.latestTime * 1000).toISOString()}).`);
    }
    out.push('', 'SLOWLOG GET lists the commands that took longest; INFO latencystats and LATENCY HISTOGRAM give per-command percentiles.',
      'Vector searches scale with EF and COUNT; large VEC.ADD batches and snapshots of big sets are the usual sources of spikes.',
      'An event-loop spike with no command spike is work outside commands (snapshots, full syncs, expiry, garbage collection) or the process waiting for a CPU.');
  }
  const slowerThan = ctx.server.config['slowlog-log-slower-than'];
  if (slowerThan < 0) out.push('The slow log is disabled (slowlog-log-slower-than is negative).');
  return out.join('\n') + '\n';
}

function latencyCommand(state: OpsState): CommandSpec {
  const sub = subcommandBuilder('latency', { ...base, flags: ADMIN, since: '2.8.13' });
  return {
    ...base, name: 'latency', arity: -2, flags: [], since: '2.8.13', summary: 'A container for latency diagnostics commands.',
    subcommands: [
      sub('latest', 2, 'Returns the latest latency samples for all events.', () =>
        [...state.events.events].map(([name, e]) => [name, e.latestTime, e.latest, e.max])),
      sub('history', 3, 'Returns timestamp-latency samples for an event.', (_ctx, argv) => {
        const e = state.events.events.get(argv[2].toString());
        return e ? e.history.map(([t, ms]) => [t, ms]) : [];
      }, { arguments: [{ name: 'event', type: 'string' }] }),
      sub('reset', -2, 'Resets the latency data for one or more events.', (_ctx, argv) =>
        state.events.reset(argv.slice(2).map((a) => a.toString())), { arguments: [{ name: 'event', type: 'string', optional: true, multiple: true }] }),
      sub('doctor', 2, 'Returns a human-readable latency analysis report.', (ctx) => new Verbatim('txt', latencyDoctor(ctx, state))),
      sub('histogram', -2, 'Returns the cumulative distribution of latencies of a subset or all commands.', (_ctx, argv) => {
        const wanted = argv.slice(2).map((a) => a.toString().toLowerCase());
        const out: Array<[Reply, Reply]> = [];
        for (const [name, h] of state.histograms.byCommand) {
          if (h.total === 0) continue;
          if (wanted.length > 0 && !wanted.some((w) => name === w || name.startsWith(w + '|'))) continue;
          out.push([name, histogramReply(h)]);
        }
        return new ReplyMap(out);
      }, { since: '7.0.0', arguments: [{ name: 'command', type: 'string', optional: true, multiple: true }] }),
      sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('latency', [
        'DOCTOR',
        '    Return a human readable latency analysis report.',
        'HISTORY <event>',
        '    Return time-latency samples for the <event> class.',
        'LATEST',
        '    Return the latest latency samples for all events.',
        'RESET [<event> ...]',
        '    Reset latency data of one or more <event> classes.',
        '    (default: reset all data for all event classes)',
        'HISTOGRAM [COMMAND ...]',
        '    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.',
        '    If no commands are specified then all histograms are replied.',
        'HELP',
        '    Print this help.',
      ]), { flags: ['loading', 'stale'] }),
    ],
  };
}

// ---- MEMORY ----

/** One INFO section's fields by name, so MEMORY and INFO report the same numbers. */
export function infoFields(sections: readonly InfoSection[], name: string): Map<string, string | number> {
  const s = sections.find((x) => x.name === name);
  return new Map(s ? s.fields() : []);
}

function memoryStats(ctx: Ctx, state: OpsState): Reply {
  const mem = infoFields(ctx.server.infoSections, 'memory');
  const num = (k: string) => Number(mem.get(k) ?? 0);
  const used = num('used_memory'), peak = num('used_memory_peak'), rss = num('used_memory_rss'), dataset = num('used_memory_dataset');
  const keys = ctx.server.keyspace.totalKeys();
  let vectors = 0;
  for (const [, , v] of ctx.server.keyspace.objects()) if (v instanceof VectorSet) vectors += v.usedBytes();
  let clients = 0;
  for (const c of ctx.server.clients()) clients += c.inputBytes + c.outputBytes;
  const overhead = Math.max(0, used - dataset);
  const entries: Array<[Reply, Reply]> = [
    ['peak.allocated', peak],
    ['total.allocated', used],
    ['startup.allocated', state.startupBytes],
    ['clients.normal', clients],
    ['overhead.total', overhead],
    ['keys.count', keys],
    ['keys.bytes-per-key', keys ? Math.floor(dataset / keys) : 0],
    ['dataset.bytes', dataset],
    ['dataset.percentage', new Double(used ? (100 * dataset) / used : 0)],
    ['peak.percentage', new Double(peak ? (100 * used) / peak : 0)],
    ['vectors.bytes', vectors],
    ['js.heap.used', num('used_memory_js_heap')],
    ['rss', rss],
    ['fragmentation', new Double(used ? rss / used : 0)],
    ['fragmentation.bytes', rss - used],
  ];
  for (const d of ctx.server.keyspace.dbs) {
    if (d.size > 0) entries.push([`db.${d.index}`, new ReplyMap([['overhead.hashtable.main', d.size * 64], ['overhead.hashtable.expires', 0]])]);
  }
  return new ReplyMap(entries);
}

function memoryDoctor(ctx: Ctx): string {
  const mem = infoFields(ctx.server.infoSections, 'memory');
  const used = Number(mem.get('used_memory') ?? 0), rss = Number(mem.get('used_memory_rss') ?? 0), peak = Number(mem.get('used_memory_peak') ?? 0);
  const total = Number(mem.get('total_system_memory') ?? 0);
  if (used < 5 * 1024 * 1024) return 'This instance holds very little data: there is nothing to diagnose yet.\n';
  const issues: string[] = [];
  if (peak > used * 1.5) issues.push(`Peak memory: this instance once used ${peak} bytes, more than 1.5 times the ${used} it uses now. A deleted or rebuilt vector set frees its index; the JS heap returns memory to the operating system later, or not at all.`);
  // A Node process starts with tens of MB of RSS the heap figures do not show: only flag a large gap.
  if (rss > used * 1.5 && rss - used > 256 * 1024 * 1024) issues.push(`RSS overhead: the process RSS is ${(rss / used).toFixed(2)} times the memory in use. Freed index memory may not have gone back to the operating system yet.`);
  if (total > 0 && rss > total * 0.8) issues.push(`This process uses ${Math.round((100 * rss) / total)}% of the machine's memory: a larger set will not fit. QUANT F16, BF16 or I8 make new sets 2 to 4 times smaller.`);
  if (issues.length === 0) return 'No memory issue found.\n';
  return `Memory issues found:\n\n${issues.map((s) => ` * ${s}`).join('\n\n')}\n`;
}

function memoryCommand(state: OpsState): CommandSpec {
  const sub = subcommandBuilder('memory', { ...base, flags: ['readonly'], since: '4.0.0' });
  return {
    ...base, name: 'memory', arity: -2, flags: [], since: '4.0.0', summary: 'A container for memory diagnostics commands.',
    subcommands: [
      sub('usage', -3, 'Estimates the memory usage of a key.', (ctx, argv) => {
        for (let i = 3; i < argv.length; i++) {
          // SAMPLES is accepted for compatibility: our sizes are computed, not sampled.
          if (isKeyword(argv[i], 'SAMPLES') && i + 1 < argv.length) {
            let n: number;
            try { n = parseInteger(argv[++i]); } catch { throw new ArgError(NOT_AN_INTEGER); }
            if (n < 0) throw new ArgError(SYNTAX);
          } else throw new ArgError(SYNTAX);
        }
        const v = ctx.db.peek(keyOf(argv[2]));
        return v ? v.usedBytes() + argv[2].length : null;
      }, { firstKey: 2, lastKey: 2, step: 1, arguments: [{ name: 'key', type: 'key' }, { name: 'count', type: 'integer', token: 'SAMPLES', optional: true }] }),
      sub('stats', 2, 'Returns details about memory usage.', (ctx) => memoryStats(ctx, state)),
      sub('doctor', 2, 'Outputs a memory problems report.', (ctx) => new Verbatim('txt', memoryDoctor(ctx))),
      sub('purge', 2, 'Asks the allocator to release memory.', () => { state.purge(); return OK; }),
      sub('malloc-stats', 2, 'Returns the allocator statistics.', () => new Verbatim('txt', 'Stats not supported for the current allocator\n')),
      sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('memory', [
        'DOCTOR',
        '    Return memory problems reports.',
        'MALLOC-STATS',
        '    Return internal statistics report from the memory allocator.',
        'PURGE',
        '    Attempt to purge dirty pages for reclamation by the allocator.',
        'STATS',
        '    Return information about the memory usage of the server.',
        'USAGE <key> [SAMPLES <count>]',
        '    Return memory in bytes used by <key> and its value. Nested values are',
        '    sampled up to <count> times (default: 5, 0 means sample all).',
        'HELP',
        '    Print this help.',
      ]), { flags: ['loading', 'stale'] }),
    ],
  };
}

// ---- DEBUG ----

const DEBUG_REFUSED = 'DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, '
  + 'otherwise you need to set this option in the configuration file, and then restart the server.';

const EMPTY_DIGEST = '0'.repeat(40);

/**
 * A key's content as bytes to hash: its type, its value (a vector set's
 * parameters, then per element in id order its id, stored vector, scale and
 * attributes) and its deadline. Equal on a primary and its replicas: it never
 * reads what a replica may lay out differently (graph links, slot numbers).
 */
async function valueDigest(db: Database, key: string, v: StoredValue): Promise<Buffer> {
  const h = createHash('sha1');
  const u32 = (n: number) => { const b = Buffer.allocUnsafe(4); b.writeUInt32LE(n >>> 0); h.update(b); };
  const bytes = (b: Buffer | string) => { const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b; u32(buf.length); h.update(buf); };
  bytes(v.type);
  if (v instanceof StringValue) bytes(v.value);
  else if (isSerializable(v)) bytes(v.serialize());
  else if (v instanceof VectorSet) {
    bytes(JSON.stringify(v.params));
    const ids = v.range(null, null, v.card);
    u32(ids.length);
    for (const id of ids) {
      const name = id.toString('latin1');
      bytes(id);
      const stored = await v.getStored(name);
      if (stored) { h.update(Buffer.from(stored.vector.buffer, stored.vector.byteOffset, stored.vector.byteLength)); bytes(String(stored.scale)); }
      bytes(v.payloadOf(name) ?? '');
    }
  }
  const at = db.deadline(key);
  bytes(at == null ? '' : String(at));
  return h.digest();
}

/** DEBUG DIGEST: every key's digest, mixed with its database and name, combined so key order does not matter. */
async function datasetDigest(ctx: Ctx): Promise<string> {
  const acc = Buffer.alloc(20);
  let any = false;
  for (const db of ctx.server.keyspace.dbs) {
    for (const [key, value] of [...db.pairs()]) {
      any = true;
      const d = createHash('sha1').update(String(db.index)).update(keyBytes(key)).update(await valueDigest(db, key, value)).digest();
      for (let i = 0; i < 20; i++) acc[i] ^= d[i];
    }
  }
  return any ? acc.toString('hex') : EMPTY_DIGEST;
}

function debugCommand(state: OpsState, ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const mode = ctx.server.config['enable-debug-command'];
  if (mode === 'no' || (mode === 'local' && !isLoopback(ctx.client.addr))) throw new ArgError(DEBUG_REFUSED);
  const sub = argv[1].toString().toLowerCase();
  const want = (n: number) => { if (argv.length !== n) throw wrongArity(`debug|${sub}`); };
  switch (sub) {
    case 'help':
      return helpReply('debug', [
        'DIGEST',
        '    Output a hex signature representing the current DB content.',
        'DIGEST-VALUE <key> [<key> ...]',
        '    Output a hex signature of the values of all the specified keys.',
        'JMAP',
        '    Return the heap statistics of the JavaScript engine (V8), like a JVM\'s jmap -heap.',
        'LOG <message>',
        '    Write <message> to the server log.',
        'OBJECT <key>',
        '    Show low level info about the <key> and associated value.',
        'RELOAD',
        '    Save the dataset as a snapshot\'s sections, empty the keyspace and load it back (no file; the WAL is untouched).',
        'SLEEP <seconds>',
        '    Stop the server for <seconds>. Decimals allowed.',
        'HELP',
        '    Print this help.',
      ]);
    case 'sleep': {
      want(3);
      const seconds = parseFiniteDouble(argv[2]);
      if (!(seconds >= 0)) throw new ArgError(NOT_A_FLOAT);
      // Redis's DEBUG SLEEP stops the whole server; so does this (the event loop waits).
      if (seconds > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
      return OK;
    }
    case 'log':
      want(3);
      ctx.server.log.warn(`DEBUG LOG: ${argv[2].toString()}`);
      return OK;
    case 'object': {
      want(3);
      const v = ctx.db.peek(keyOf(argv[2]));
      if (!v) throw new ArgError('no such key');
      const encoding = v instanceof VectorSet ? `hnsw-${v.params.quant.toLowerCase()}` : 'raw';
      const idle = Math.floor((Date.now() - ctx.server.startedAt) / 1000);
      return new SimpleString(`Value at:0x0 refcount:1 encoding:${encoding} serializedlength:${v.usedBytes()} lru:0 lru_seconds_idle:${idle} type:${v.type}`);
    }
    case 'digest':
      want(2);
      return datasetDigest(ctx).then((d) => new SimpleString(d));
    case 'reload':
      // Redis's options (MERGE, NOFLUSH, NOSAVE) act on its RDB file; there is none to act on here.
      if (argv.length > 2) throw new ArgError(SYNTAX);
      return state.reload().then(() => OK);
    case 'digest-value': {
      const db = ctx.db;
      return Promise.all(argv.slice(2).map(async (k) => {
        const key = keyOf(k);
        const v = db.get(key);
        return v ? (await valueDigest(db, key, v)).toString('hex') : EMPTY_DIGEST;
      }));
    }
    case 'jmap': {
      want(2);
      const h = v8.getHeapStatistics();
      let text = 'Heap\n';
      for (const [k, val] of Object.entries(h)) text += `${k}:${val}\n`;
      text += '\nSpaces\n';
      for (const s of v8.getHeapSpaceStatistics()) text += `${s.space_name}:size=${s.space_size},used=${s.space_used_size},available=${s.space_available_size}\n`;
      return new Verbatim('txt', text);
    }
    default:
      throw unknownSubcommand('debug', argv[1]);
  }
}

/** The ops command families, bound to the server state they read. */
export function opsCommands(state: OpsState): CommandSpec[] {
  return [
    slowlogCommand(state),
    latencyCommand(state),
    memoryCommand(state),
    {
      ...base, name: 'debug', arity: -2, flags: ['admin', 'noscript', 'loading', 'stale'], since: '1.0.0',
      summary: 'A container for debugging commands (enable-debug-command).',
      arguments: [{ name: 'subcommand', type: 'string' }, { name: 'arg', type: 'string', optional: true, multiple: true }],
      handler: (ctx, argv) => debugCommand(state, ctx, argv),
    },
  ];
}

/**
 * Prometheus text exposition (format 0.0.4) of what INFO reports: the numbers
 * are read from the INFO sections themselves (so /metrics and INFO never
 * disagree), plus per-command latency histograms from the server's latency
 * tracker and per-set vector gauges. Names follow Prometheus conventions:
 * `astronaut_` prefix, base units (seconds, bytes), `_total` on counters.
 */
import type { Server } from './server.js';
import type { InfoSection } from './types.js';
import { VectorSet } from '../engine/vector-set.js';

type Kind = 'counter' | 'gauge' | 'histogram';
type Labels = Record<string, string>;

/** Histogram bucket bounds, seconds: 10 µs to 10 s. */
export const LATENCY_BUCKETS_SECONDS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
const LATENCY_BUCKETS_USEC = LATENCY_BUCKETS_SECONDS.map((s) => s * 1e6);

/** Per-set series are capped so a keyspace of many small sets cannot swamp the scrape. */
const PER_SET_LIMIT = 1000;

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Accumulates metric families; each family's HELP and TYPE are written once, before its samples. */
export class MetricsWriter {
  private readonly families = new Map<string, { kind: Kind; help: string; lines: string[] }>();

  family(name: string, kind: Kind, help: string): void {
    if (!this.families.has(name)) this.families.set(name, { kind, help, lines: [] });
  }

  sample(family: string, value: number, labels: Labels = {}, suffix = ''): void {
    const f = this.families.get(family);
    if (!f) throw new Error(`metric family ${family} not declared`);
    const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    f.lines.push(`${family}${suffix}${l ? `{${l}}` : ''} ${formatNumber(value)}`);
  }

  /** Declare and write one unlabelled sample. */
  one(name: string, kind: Kind, help: string, value: number): void {
    this.family(name, kind, help);
    this.sample(name, value);
  }

  text(): string {
    let out = '';
    for (const [name, f] of this.families) {
      if (f.lines.length === 0) continue;
      out += `# HELP ${name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${f.kind}\n${f.lines.join('\n')}\n`;
    }
    return out;
  }
}

function sectionFields(sections: readonly InfoSection[], name: string): Map<string, string | number> {
  const s = sections.find((x) => x.name === name);
  return new Map(s ? s.fields() : []);
}

/**
 * INFO fields exported one to one: [section, field, metric name, kind, help].
 * Fields absent from INFO (a module not attached) are skipped.
 */
const INFO_METRICS: ReadonlyArray<readonly [string, string, string, Kind, string]> = [
  ['server', 'uptime_in_seconds', 'astronaut_uptime_seconds', 'gauge', 'Seconds since the server started.'],
  ['clients', 'connected_clients', 'astronaut_connected_clients', 'gauge', 'RESP client connections open.'],
  ['clients', 'blocked_clients', 'astronaut_blocked_clients', 'gauge', 'Clients blocked in a blocking command.'],
  ['clients', 'maxclients', 'astronaut_max_clients', 'gauge', 'The maxclients setting.'],
  ['clients', 'client_recent_max_input_buffer', 'astronaut_client_recent_max_input_buffer_bytes', 'gauge', 'Largest client query buffer.'],
  ['clients', 'client_recent_max_output_buffer', 'astronaut_client_recent_max_output_buffer_bytes', 'gauge', 'Largest client output buffer.'],
  ['memory', 'used_memory', 'astronaut_memory_used_bytes', 'gauge', 'Memory in use: JS heap, native buffers and datasets (INFO used_memory).'],
  ['memory', 'used_memory_rss', 'astronaut_memory_used_rss_bytes', 'gauge', 'Resident set size of the process.'],
  ['memory', 'used_memory_peak', 'astronaut_memory_used_peak_bytes', 'gauge', 'Highest used_memory seen.'],
  ['memory', 'used_memory_dataset', 'astronaut_memory_used_dataset_bytes', 'gauge', 'Memory held by the keys\' values.'],
  ['memory', 'used_memory_vector_sets', 'astronaut_memory_used_vector_sets_bytes', 'gauge', 'Memory held by vector sets (indexes, ids, payloads).'],
  ['memory', 'used_memory_js_heap', 'astronaut_memory_js_heap_used_bytes', 'gauge', 'V8 heap in use.'],
  ['memory', 'total_system_memory', 'astronaut_memory_total_system_bytes', 'gauge', 'Memory of the machine.'],
  ['memory', 'maxmemory', 'astronaut_memory_max_bytes', 'gauge', 'The maxmemory setting (0: no limit).'],
  ['persistence', 'loading', 'astronaut_loading', 'gauge', '1 while the dataset is being loaded.'],
  ['persistence', 'rdb_changes_since_last_save', 'astronaut_rdb_changes_since_last_save', 'gauge', 'Writes since the last snapshot.'],
  ['persistence', 'rdb_bgsave_in_progress', 'astronaut_rdb_bgsave_in_progress', 'gauge', '1 while a snapshot is being written.'],
  ['persistence', 'rdb_last_save_time', 'astronaut_rdb_last_save_timestamp_seconds', 'gauge', 'Unix time of the last successful snapshot.'],
  ['persistence', 'rdb_last_bgsave_time_sec', 'astronaut_rdb_last_bgsave_duration_seconds', 'gauge', 'Duration of the last snapshot.'],
  ['persistence', 'rdb_saves', 'astronaut_rdb_saves_total', 'counter', 'Snapshots taken since start.'],
  ['persistence', 'rdb_last_bgsave_max_stall_ms', 'astronaut_rdb_last_bgsave_max_stall_milliseconds', 'gauge', 'Longest event-loop stall during the last snapshot.'],
  ['persistence', 'aof_enabled', 'astronaut_aof_enabled', 'gauge', '1 when every write is logged to the WAL.'],
  ['persistence', 'aof_rewrite_in_progress', 'astronaut_aof_rewrite_in_progress', 'gauge', '1 while the WAL is being rewritten.'],
  ['persistence', 'aof_current_size', 'astronaut_aof_current_size_bytes', 'gauge', 'WAL size.'],
  ['persistence', 'aof_base_size', 'astronaut_aof_base_size_bytes', 'gauge', 'WAL size at the last rewrite.'],
  ['stats', 'total_connections_received', 'astronaut_connections_received_total', 'counter', 'Connections accepted or refused since start.'],
  ['stats', 'rejected_connections', 'astronaut_rejected_connections_total', 'counter', 'Connections refused (maxclients, protected mode).'],
  ['stats', 'total_commands_processed', 'astronaut_commands_processed_total', 'counter', 'Commands processed (RESP and HTTP).'],
  ['stats', 'instantaneous_ops_per_sec', 'astronaut_instantaneous_ops_per_second', 'gauge', 'Commands per second over the last second.'],
  ['stats', 'total_net_input_bytes', 'astronaut_net_input_bytes_total', 'counter', 'Bytes read from RESP clients.'],
  ['stats', 'total_net_output_bytes', 'astronaut_net_output_bytes_total', 'counter', 'Bytes written to RESP clients.'],
  ['stats', 'expired_keys', 'astronaut_expired_keys_total', 'counter', 'Keys expired.'],
  ['stats', 'evicted_keys', 'astronaut_evicted_keys_total', 'counter', 'Keys evicted.'],
  ['stats', 'keyspace_hits', 'astronaut_keyspace_hits_total', 'counter', 'Key lookups that found the key.'],
  ['stats', 'keyspace_misses', 'astronaut_keyspace_misses_total', 'counter', 'Key lookups that did not.'],
  ['stats', 'total_error_replies', 'astronaut_error_replies_total', 'counter', 'Error replies sent.'],
  ['cpu', 'used_cpu_sys', 'astronaut_cpu_sys_seconds_total', 'counter', 'System CPU time.'],
  ['cpu', 'used_cpu_user', 'astronaut_cpu_user_seconds_total', 'counter', 'User CPU time.'],
  ['vectors', 'vector_sets', 'astronaut_vector_sets', 'gauge', 'Vector sets.'],
  ['vectors', 'vector_elements', 'astronaut_vector_elements', 'gauge', 'Elements in all vector sets.'],
  ['vectors', 'vector_deleted_elements', 'astronaut_vector_deleted_elements', 'gauge', 'Deleted elements awaiting compaction.'],
  ['vectors', 'vector_memory_bytes', 'astronaut_vector_memory_bytes', 'gauge', 'Memory of all vector sets.'],
  ['vectors', 'vector_searches', 'astronaut_vector_searches_total', 'counter', 'Searches run on vector sets.'],
];

/** INFO status words as 1 (ok) or 0. */
const STATUS_METRICS: ReadonlyArray<readonly [string, string, string, string]> = [
  ['persistence', 'rdb_last_bgsave_status', 'astronaut_rdb_last_bgsave_ok', '1 if the last snapshot succeeded.'],
  ['persistence', 'aof_last_write_status', 'astronaut_aof_last_write_ok', '1 if the last WAL write succeeded.'],
  ['persistence', 'aof_last_bgrewrite_status', 'astronaut_aof_last_bgrewrite_ok', '1 if the last WAL rewrite succeeded.'],
];

/** The whole scrape. `extra` lets the HTTP module add its own request counters. */
export function renderMetrics(server: Server, extra?: (w: MetricsWriter) => void): string {
  const w = new MetricsWriter();
  const cache = new Map<string, Map<string, string | number>>();
  const section = (name: string) => {
    let m = cache.get(name);
    if (!m) { m = sectionFields(server.infoSections, name); cache.set(name, m); }
    return m;
  };

  const info = section('server');
  w.family('astronaut_build_info', 'gauge', 'Versions, as labels; the value is 1.');
  w.sample('astronaut_build_info', 1, { version: String(info.get('astronaut_version') ?? ''), redis_version: String(info.get('redis_version') ?? ''), node_version: process.versions.node });
  w.one('astronaut_start_time_seconds', 'gauge', 'Unix time the server started.', Math.floor(server.startedAt / 1000));

  for (const [sec, field, name, kind, help] of INFO_METRICS) {
    const v = section(sec).get(field);
    if (v === undefined || v === '' || !Number.isFinite(Number(v))) continue;
    w.one(name, kind, help, Number(v));
  }
  for (const [sec, field, name, help] of STATUS_METRICS) {
    const v = section(sec).get(field);
    if (v !== undefined) w.one(name, 'gauge', help, v === 'ok' ? 1 : 0);
  }

  // Vector memory by quantization, and per set.
  w.family('astronaut_vector_memory_by_quant_bytes', 'gauge', 'Memory of vector sets by quantization.');
  for (const [field, v] of section('vectors')) {
    const m = /^vector_memory_bytes_(.+)$/.exec(field);
    if (m) w.sample('astronaut_vector_memory_by_quant_bytes', Number(v), { quant: m[1] });
  }
  w.family('astronaut_vector_set_elements', 'gauge', 'Elements per vector set.');
  w.family('astronaut_vector_set_memory_bytes', 'gauge', 'Memory per vector set.');
  w.family('astronaut_vector_set_searches_total', 'counter', 'Searches per vector set.');
  let sets = 0;
  for (const [db, key, v] of server.keyspace.all()) {
    if (!(v instanceof VectorSet)) continue;
    if (sets++ >= PER_SET_LIMIT) break;
    const labels = { db: String(db.index), key: Buffer.from(key, 'latin1').toString('utf8') };
    w.sample('astronaut_vector_set_elements', v.card, labels);
    w.sample('astronaut_vector_set_memory_bytes', v.memoryUsage(), { ...labels, quant: v.params.quant.toLowerCase() });
    w.sample('astronaut_vector_set_searches_total', v.searches, labels);
  }

  w.family('astronaut_db_keys', 'gauge', 'Keys per database.');
  for (const d of server.keyspace.dbs) if (d.size > 0) w.sample('astronaut_db_keys', d.size, { db: String(d.index) });

  w.family('astronaut_errors_total', 'counter', 'Error replies by error code (INFO errorstats).');
  for (const [code, n] of server.stats.errors) w.sample('astronaut_errors_total', n, { code });

  // INFO commandstats.
  w.family('astronaut_commands_total', 'counter', 'Calls per command (INFO commandstats calls).');
  w.family('astronaut_commands_duration_seconds_total', 'counter', 'Time spent per command (INFO commandstats usec).');
  w.family('astronaut_commands_rejected_calls_total', 'counter', 'Calls refused before running (arity, loading, MISCONF).');
  w.family('astronaut_commands_failed_calls_total', 'counter', 'Calls that ran and failed.');
  for (const [cmd, st] of server.stats.commands) {
    w.sample('astronaut_commands_total', st.calls, { cmd });
    w.sample('astronaut_commands_duration_seconds_total', Math.round(st.usec) / 1e6, { cmd });
    w.sample('astronaut_commands_rejected_calls_total', st.rejected, { cmd });
    w.sample('astronaut_commands_failed_calls_total', st.failed, { cmd });
  }

  // Per-command latency (INFO latencystats' source) as Prometheus histograms.
  const hist = 'astronaut_command_duration_seconds';
  w.family(hist, 'histogram', 'Command latency, from dispatch to reply ready (includes engine work off the event loop).');
  for (const [cmd, h] of server.latency.byCommand) {
    const counts = h.cumulative(LATENCY_BUCKETS_USEC);
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => w.sample(hist, counts[i], { cmd, le: String(le) }, '_bucket'));
    w.sample(hist, h.total, { cmd, le: '+Inf' }, '_bucket');
    w.sample(hist, Math.round(h.sum) / 1e6, { cmd }, '_sum');
    w.sample(hist, h.total, { cmd }, '_count');
  }

  extra?.(w);
  return w.text();
}

/**
 * The INFO sections the core owns, in Redis's order and with Redis's field
 * names so that monitoring tools written for Redis read them unchanged. A
 * feature may replace one (persistence) or add its own after them.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { randomBytes } from 'node:crypto';
import type { InfoSection } from './types.js';
import type { Server } from './server.js';
import { REDIS_COMPAT_VERSION, VERSION } from '../version.js';

let peakUsed = 0;
let lastRss = 0;

/**
 * process.memoryUsage() opens a /proc file for the RSS, so it throws
 * EMFILE when the process is out of descriptors, just when INFO is wanted
 * most. Then: V8's own figures (no descriptor needed) and the last RSS read.
 */
function memoryUsage(): { rss: number; heapUsed: number; external: number } {
  try {
    const m = process.memoryUsage();
    lastRss = m.rss;
    return m;
  } catch {
    const h = v8.getHeapStatistics();
    return { rss: lastRss, heapUsed: h.used_heap_size, external: h.external_memory };
  }
}
/** Random per process, as Redis's run_id: tools use it to notice a restart. */
const RUN_ID = randomBytes(20).toString('hex');

export function coreInfoSections(server: Server): InfoSection[] {
  const uptime = () => Math.floor((Date.now() - server.startedAt) / 1000);
  let lastOps = { at: Date.now(), count: 0, rate: 0 };
  const opsPerSec = () => {
    const now = Date.now();
    if (now - lastOps.at >= 1000) {
      lastOps = { at: now, count: server.stats.commandsProcessed, rate: Math.round(((server.stats.commandsProcessed - lastOps.count) * 1000) / (now - lastOps.at)) };
    }
    return lastOps.rate;
  };
  return [
    {
      name: 'server', inDefault: true,
      metrics: [
        ['uptime_in_seconds', 'astronaut_uptime_seconds', 'gauge', 'Seconds since the server started.'],
      ],
      fields: () => [
        ['redis_version', REDIS_COMPAT_VERSION],
        ['astronaut_version', VERSION],
        ['redis_mode', 'standalone'],
        ['os', `${os.type()} ${os.release()} ${os.arch()}`],
        ['arch_bits', process.arch.endsWith('64') ? 64 : 32],
        ['node_version', process.versions.node],
        ['process_id', process.pid],
        ['run_id', RUN_ID],
        ['tcp_port', server.tcpPort],
        ['server_time_usec', Date.now() * 1000],
        ['uptime_in_seconds', uptime()],
        ['uptime_in_days', Math.floor(uptime() / 86400)],
        ['executable', server.executable],
        ['config_file', server.configFile],
      ],
    },
    {
      name: 'clients', inDefault: true,
      metrics: [
        ['connected_clients', 'astronaut_connected_clients', 'gauge', 'RESP client connections open.'],
        ['blocked_clients', 'astronaut_blocked_clients', 'gauge', 'Clients blocked in a blocking command.'],
        ['maxclients', 'astronaut_max_clients', 'gauge', 'The maxclients setting.'],
        ['client_recent_max_input_buffer', 'astronaut_client_recent_max_input_buffer_bytes', 'gauge', 'Largest client query buffer.'],
        ['client_recent_max_output_buffer', 'astronaut_client_recent_max_output_buffer_bytes', 'gauge', 'Largest client output buffer.'],
      ],
      fields: () => {
        let maxIn = 0, maxOut = 0;
        for (const c of server.clients()) { maxIn = Math.max(maxIn, c.inputBytes); maxOut = Math.max(maxOut, c.outputBytes); }
        return [
          ['connected_clients', server.clientCount],
          ['maxclients', server.config.maxclients],
          ['client_recent_max_input_buffer', maxIn],
          ['client_recent_max_output_buffer', maxOut],
          ['blocked_clients', 0],
        ];
      },
    },
    {
      name: 'memory', inDefault: true,
      metrics: [
        ['used_memory', 'astronaut_memory_used_bytes', 'gauge', 'Memory in use: JS heap, native buffers and vector indexes, each byte counted once (INFO used_memory).'],
        ['used_memory_rss', 'astronaut_memory_used_rss_bytes', 'gauge', 'Resident set size of the process.'],
        ['used_memory_peak', 'astronaut_memory_used_peak_bytes', 'gauge', 'Highest used_memory seen.'],
        ['used_memory_dataset', 'astronaut_memory_used_dataset_bytes', 'gauge', 'Memory held by the keys and their values (estimated; part of used_memory).'],
        ['used_memory_vector_sets', 'astronaut_memory_used_vector_sets_bytes', 'gauge', 'Memory held by vector sets (indexes, ids, payloads).'],
        ['used_memory_js_heap', 'astronaut_memory_js_heap_used_bytes', 'gauge', 'V8 heap in use.'],
        ['total_system_memory', 'astronaut_memory_total_system_bytes', 'gauge', 'Memory of the machine.'],
        ['maxmemory', 'astronaut_memory_max_bytes', 'gauge', 'The maxmemory setting (0: no limit).'],
      ],
      fields: () => {
        const m = memoryUsage();
        // O(1) in the number of string keys (sampled every second): the databases keep their
        // estimate as keys change, and only the few non-string values are walked.
        let data = 0, vectors = 0, native = 0;
        for (const d of server.keyspace.dbs) data += d.datasetBytes();
        for (const [, , v] of server.keyspace.objects()) {
          const b = v.usedBytes();
          data += b;
          if (v.type === 'vectorset') vectors += b;
          // The JS side of a set (ids, payloads) is in heapUsed already; its usearch index is not.
          native += v.indexUsedBytes?.() ?? 0;
        }
        const used = m.heapUsed + m.external + native;
        peakUsed = Math.max(peakUsed, used);
        return [
          ['used_memory', used],
          ['used_memory_human', human(used)],
          ['used_memory_rss', m.rss],
          ['used_memory_rss_human', human(m.rss)],
          ['used_memory_peak', peakUsed],
          ['used_memory_peak_human', human(peakUsed)],
          ['used_memory_dataset', data],
          ['used_memory_vector_sets', vectors],
          ['used_memory_js_heap', m.heapUsed],
          ['total_system_memory', os.totalmem()],
          ['maxmemory', 0],
          ['maxmemory_policy', 'noeviction'],
          ['mem_allocator', 'libc'],
        ];
      },
    },
    {
      name: 'persistence', inDefault: true,
      metrics: [['loading', 'astronaut_loading', 'gauge', '1 while the dataset is being loaded.']],
      fields: () => {
        return [['loading', server.loading ? 1 : 0], ['aof_enabled', 0]];
      },
    },
    {
      name: 'stats', inDefault: true,
      metrics: [
        ['total_connections_received', 'astronaut_connections_received_total', 'counter', 'Connections accepted or refused since start.'],
        ['rejected_connections', 'astronaut_rejected_connections_total', 'counter', 'Connections refused (maxclients, protected mode).'],
        ['total_commands_processed', 'astronaut_commands_processed_total', 'counter', 'Commands processed (RESP and HTTP).'],
        ['instantaneous_ops_per_sec', 'astronaut_instantaneous_ops_per_second', 'gauge', 'Commands per second over the last second.'],
        ['total_net_input_bytes', 'astronaut_net_input_bytes_total', 'counter', 'Bytes read from RESP clients.'],
        ['total_net_output_bytes', 'astronaut_net_output_bytes_total', 'counter', 'Bytes written to RESP clients.'],
        ['expired_keys', 'astronaut_expired_keys_total', 'counter', 'Keys expired.'],
        ['evicted_keys', 'astronaut_evicted_keys_total', 'counter', 'Keys evicted.'],
        ['keyspace_hits', 'astronaut_keyspace_hits_total', 'counter', 'Key lookups that found the key.'],
        ['keyspace_misses', 'astronaut_keyspace_misses_total', 'counter', 'Key lookups that did not.'],
        ['total_error_replies', 'astronaut_error_replies_total', 'counter', 'Error replies sent.'],
      ],
      fields: () => {
        let hits = 0, misses = 0;
        for (const d of server.keyspace.dbs) { hits += d.hits; misses += d.misses; }
        const s = server.stats;
        return [
          ['total_connections_received', s.connectionsReceived],
          ['total_commands_processed', s.commandsProcessed],
          ['instantaneous_ops_per_sec', opsPerSec()],
          ['total_net_input_bytes', s.netInputBytes],
          ['total_net_output_bytes', s.netOutputBytes],
          ['rejected_connections', s.rejectedConnections],
          ['expired_keys', s.expiredKeys],
          ['evicted_keys', 0],
          ['keyspace_hits', hits],
          ['keyspace_misses', misses],
          ['total_error_replies', s.errorReplies],
        ];
      },
    },
    {
      name: 'replication', inDefault: true,
      fields: () => [['role', 'master'], ['connected_slaves', 0], ['master_repl_offset', 0]],
    },
    {
      name: 'cpu', inDefault: true,
      metrics: [
        ['used_cpu_sys', 'astronaut_cpu_sys_seconds_total', 'counter', 'System CPU time.'],
        ['used_cpu_user', 'astronaut_cpu_user_seconds_total', 'counter', 'User CPU time.'],
      ],
      fields: () => {
        const u = process.cpuUsage();
        return [['used_cpu_sys', (u.system / 1e6).toFixed(6)], ['used_cpu_user', (u.user / 1e6).toFixed(6)]];
      },
    },
    {
      name: 'commandstats', inDefault: false,
      fields: () => [...server.stats.commands].map(([name, st]) => [
        `cmdstat_${name}`,
        `calls=${st.calls},usec=${Math.round(st.usec)},usec_per_call=${st.calls ? (st.usec / st.calls).toFixed(2) : '0.00'},rejected_calls=${st.rejected},failed_calls=${st.failed}`,
      ]),
    },
    {
      name: 'errorstats', inDefault: true,
      fields: () => [...server.stats.errors].map(([code, n]) => [`errorstat_${code}`, `count=${n}`]),
    },
    {
      name: 'latencystats', inDefault: false,
      fields: () => [...server.latency.byCommand].map(([name, h]) => [
        `latency_percentiles_usec_${name}`,
        `p50=${h.percentile(0.5).toFixed(3)},p99=${h.percentile(0.99).toFixed(3)},p99.9=${h.percentile(0.999).toFixed(3)}`,
      ]),
    },
    {
      name: 'keyspace', inDefault: true,
      // avg_ttl stays 0: Redis estimates it from the active cycle's samples, and tools only display it.
      fields: () => server.keyspace.dbs.filter((d) => d.size > 0).map((d) => [`db${d.index}`, `keys=${d.size},expires=${d.expiresCount},avg_ttl=0`]),
    },
  ];
}

/** Redis's bytesToHuman (`1.50M`), for the `*_human` fields of every INFO section. */
export function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v}B` : `${v.toFixed(2)}${units[i]}`;
}

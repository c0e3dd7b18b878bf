/**
 * The INFO sections the server itself owns, with Redis's field names so that
 * monitoring tools written for Redis read them unchanged. Modules (persistence,
 * vectors) append their own sections.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { InfoSection } from './types.js';
import type { Server } from './server.js';
import { REDIS_COMPAT_VERSION, VERSION } from '../version.js';

let peakUsed = 0;
/** Random per process, as Redis's run_id: tools use it to notice a restart. */
const RUN_ID = randomBytes(20).toString('hex');

export function serverInfoSections(server: Server): InfoSection[] {
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
      fields: () => {
        const m = process.memoryUsage();
        let data = 0, vectors = 0;
        for (const [, , v] of server.keyspace.all()) {
          const b = v.memoryUsage();
          data += b;
          if (v.type === 'vectorset') vectors += b;
        }
        const used = m.heapUsed + m.external + data;
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
      fields: () => {
        return server.persistenceInfo ? server.persistenceInfo() : [['loading', server.loading ? 1 : 0], ['aof_enabled', 0]];
      },
    },
    {
      name: 'stats', inDefault: true,
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
          ['expired_keys', 0],
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
      fields: () => server.keyspace.dbs.filter((d) => d.size > 0).map((d) => [`db${d.index}`, `keys=${d.size},expires=0,avg_ttl=0`]),
    },
  ];
}

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v}B` : `${v.toFixed(2)}${units[i]}`;
}

/**
 * Vector sets in the server: the VEC.* and Redis 8 V* command families, INFO's
 * `vectors` totals and per-set `vectorsets` lines, their /metrics, and the
 * engine settings CONFIG SET may change.
 */
import type { FeatureModule, ModuleHost } from '../core/module.js';
import type { MetricsWriter } from '../core/metrics.js';
import type { InfoSection } from '../core/types.js';
import { VectorSet } from '../engine/vector-set.js';
import { GraphTrust } from '../engine/graph-trust.js';
import { vecCommands } from './vec-commands.js';
import { vsetCommands } from './vset-commands.js';

/** Per-set series are capped so a keyspace of many small sets cannot swamp the scrape. */
const PER_SET_LIMIT = 1000;

const VECTOR_METRICS: InfoSection['metrics'] = [
    ['vector_sets', 'astronaut_vector_sets', 'gauge', 'Vector sets.'],
    ['vector_elements', 'astronaut_vector_elements', 'gauge', 'Elements in all vector sets.'],
    ['vector_deleted_elements', 'astronaut_vector_deleted_elements', 'gauge', 'Deleted elements awaiting compaction.'],
    ['vector_memory_bytes', 'astronaut_vector_memory_bytes', 'gauge', 'Memory of all vector sets.'],
    ['vector_searches', 'astronaut_vector_searches_total', 'counter', 'Searches run on vector sets.'],
];

function vectorTotals(host: ModuleHost): Array<[string, string | number]> {
  let sets = 0, elements = 0, bytes = 0, deleted = 0, searches = 0;
  const byQuant = new Map<string, number>();
  for (const [, , v] of host.keyspace.objects()) {
    if (!(v instanceof VectorSet)) continue;
    sets++;
    elements += v.card;
    deleted += v.deleted;
    searches += v.searches;
    const b = v.usedBytes();
    bytes += b;
    byQuant.set(v.params.quant, (byQuant.get(v.params.quant) ?? 0) + b);
  }
  const fields: Array<[string, string | number]> = [
    ['vector_sets', sets], ['vector_elements', elements], ['vector_deleted_elements', deleted],
    ['vector_memory_bytes', bytes], ['vector_searches', searches],
  ];
  for (const [q, b] of byQuant) fields.push([`vector_memory_bytes_${q.toLowerCase()}`, b]);
  return fields;
}

/** Key bytes as INFO can show them: printable ASCII except the separators, the rest as \xNN. */
export function infoEscape(key: string): string {
  let s = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    s += c > 0x20 && c < 0x7f && c !== 0x2c && c !== 0x3d && c !== 0x3a && c !== 0x5c ? key[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** One line per set, like keyspace's db lines. */
function perSetLines(host: ModuleHost): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  for (const [db, key, v] of host.keyspace.objects()) {
    if (!(v instanceof VectorSet)) continue;
    const p = v.params;
    out.push([`vset${i++}`, `db=${db.index},key=${infoEscape(key)},elements=${v.card},dim=${p.dim},metric=${p.metric.toLowerCase()},quant=${p.quant.toLowerCase()},`
      + `memory_bytes=${v.usedBytes()},index_bytes=${v.indexUsedBytes()},deleted=${v.deleted},searches=${v.searches}`]);
  }
  return out;
}

function vectorMetrics(host: ModuleHost, w: MetricsWriter): void {
    w.family('astronaut_vector_memory_by_quant_bytes', 'gauge', 'Memory of vector sets by quantization.');
    for (const [field, v] of vectorTotals(host)) {
      const m = /^vector_memory_bytes_(.+)$/.exec(field);
      if (m) w.sample('astronaut_vector_memory_by_quant_bytes', Number(v), { quant: m[1] });
    }
    w.family('astronaut_vector_set_elements', 'gauge', 'Elements per vector set.');
    w.family('astronaut_vector_set_memory_bytes', 'gauge', 'Memory per vector set.');
    w.family('astronaut_vector_set_searches_total', 'counter', 'Searches per vector set.');
    let sets = 0;
    for (const [db, key, v] of host.keyspace.objects()) {
      if (!(v instanceof VectorSet)) continue;
      if (sets++ >= PER_SET_LIMIT) break;
      const labels = { db: String(db.index), key: Buffer.from(key, 'latin1').toString('utf8') };
      w.sample('astronaut_vector_set_elements', v.card, labels);
      w.sample('astronaut_vector_set_memory_bytes', v.usedBytes(), { ...labels, quant: v.params.quant.toLowerCase() });
      w.sample('astronaut_vector_set_searches_total', v.searches, labels);
    }
}

export const vectorsModule: FeatureModule = {
  name: 'vectors',
  create(host) {
    const applyEngineSettings = () => {
      VectorSet.exactBelow = host.config['vec-exact-search-below'];
      VectorSet.scanMax = host.config['vec-planner-scan-max'];
      GraphTrust.target = host.config['vec-planner-recall'];
      VectorSet.compactThreshold = host.config['vec-compact-threshold'];
    };
    applyEngineSettings();
    return {
      commands: [...vecCommands, ...vsetCommands],
      infoSections: [
        { name: 'vectors', inDefault: true, fields: () => vectorTotals(host), metrics: VECTOR_METRICS },
        // Only on request (INFO vectorsets or everything): it grows with the number of sets.
        { name: 'vectorsets', inDefault: false, inAll: false, fields: () => perSetLines(host) },
      ],
      metrics: (w) => vectorMetrics(host, w),
      onConfig: { 'vec-exact-search-below': applyEngineSettings, 'vec-planner-recall': applyEngineSettings, 'vec-planner-scan-max': applyEngineSettings, 'vec-compact-threshold': applyEngineSettings },
    };
  },
};

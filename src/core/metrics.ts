/**
 * Prometheus text exposition (format 0.0.4) of what INFO reports: the numbers
 * are read from the INFO sections themselves (so /metrics and INFO never
 * disagree), plus per-command latency histograms from the server's latency
 * tracker and per-set vector gauges. Names follow Prometheus conventions:
 * `astronaut_` prefix, base units (seconds, bytes), `_total` on counters.
 */
import type { Server } from './server.js';
import type { InfoSection } from './types.js';

export type Kind = 'counter' | 'gauge' | 'histogram';
type Labels = Record<string, string>;

/** Histogram bucket bounds, seconds: 10 µs to 10 s. */
export const LATENCY_BUCKETS_SECONDS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
const LATENCY_BUCKETS_USEC = LATENCY_BUCKETS_SECONDS.map((s) => s * 1e6);


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

/** The whole scrape: the core's families, then `extra` (the features' own). */
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

  // Each section declares which of its INFO fields are metrics, so /metrics and INFO never disagree.
  for (const sec of server.infoSections) {
    if (!sec.metrics) continue;
    const fields = section(sec.name);
    for (const [field, name, kind, help] of sec.metrics) {
      const v = fields.get(field);
      if (kind === 'status') { if (v !== undefined) w.one(name, 'gauge', help, v === 'ok' ? 1 : 0); continue; }
      if (v === undefined || v === '' || !Number.isFinite(Number(v))) continue;
      w.one(name, kind, help, Number(v));
    }
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

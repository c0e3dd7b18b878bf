/**
 * /metrics scraped as Prometheus would: the text format checked line by line
 * (HELP/TYPE before samples, valid names and labels, cumulative histograms
 * ending at +Inf = _count), the numbers equal to INFO's, and --metrics-port
 * serving /metrics alone.
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { freePort, startInProcess } from '../helpers/server.js';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { types: Map<string, string>; samples: Sample[] }

/** A strict reader of the text exposition format 0.0.4; throws on any malformed line. */
export function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const name = line.slice(7).split(' ')[0];
      if (helps.has(name)) throw new Error(`HELP twice for ${name}`);
      helps.add(name);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`bad type: ${line}`);
      if (types.has(name)) throw new Error(`TYPE twice for ${name}`);
      types.set(name, type);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        if (!l) throw new Error(`malformed labels: ${line}`);
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = re.lastIndex;
      }
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad value: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]) && !(types.get(family) === 'histogram')) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

const find = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
  s.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

const infoField = (info: string, field: string) => {
  const m = new RegExp(`^${field.replace(/[.|]/g, '\\$&')}:(.*)$`, 'm').exec(info);
  return m ? m[1].trim() : undefined;
};

test('the scrape is valid exposition text and agrees with INFO', async (t) => {
  const port = await freePort();
  const srv = await startInProcess({ 'http-port': port });
  const r = new Redis({ port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await r.connect();
  try {
    for (let i = 0; i < 20; i++) await r.call('VEC.ADD', 'm', `e${i}`, 'VALUES', '3', '1', String(i / 20), '0', 'PAYLOAD', `{"i": ${i}}`);
    await r.call('VEC.ADD', 'q', 'a', 'VALUES', '2', '1', '0', 'QUANT', 'F16');
    for (let i = 0; i < 5; i++) await r.call('VEC.SEARCH', 'm', 'VALUES', '3', '1', '0', '0', 'COUNT', '3');
    await r.call('VEC.SEARCH', 'm', 'VALUES', '2', '1', '0').catch(() => {});
    await r.get('missing');
    await fetch(`http://127.0.0.1:${port}/v1/sets`);

    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const scrape = parseExposition(await res.text());
    const info = await r.info('everything');

    t.is(find(scrape, 'astronaut_commands_total', { cmd: 'vec.add' }), 21);
    t.is(String(find(scrape, 'astronaut_commands_total', { cmd: 'vec.search' })), /cmdstat_vec\.search:calls=(\d+)/.exec(info)![1]);
    t.is(find(scrape, 'astronaut_commands_failed_calls_total', { cmd: 'vec.search' }), 1);
    t.is(find(scrape, 'astronaut_errors_total', { code: 'ERR' }), 1);
    t.is(find(scrape, 'astronaut_vector_elements'), Number(infoField(info, 'vector_elements')));
    t.is(find(scrape, 'astronaut_vector_sets'), 2);
    t.is(find(scrape, 'astronaut_vector_set_elements', { key: 'm', db: '0' }), 20);
    t.is(find(scrape, 'astronaut_vector_memory_by_quant_bytes', { quant: 'f16' }), Number(infoField(info, 'vector_memory_bytes_f16')));
    t.is(find(scrape, 'astronaut_keyspace_misses_total'), Number(infoField(info, 'keyspace_misses')));
    t.is(find(scrape, 'astronaut_connections_received_total'), Number(infoField(info, 'total_connections_received')));
    t.is(find(scrape, 'astronaut_db_keys', { db: '0' }), 2);
    t.is(find(scrape, 'astronaut_max_clients'), 10000);
    t.is(find(scrape, 'astronaut_loading'), 0);
    t.is(find(scrape, 'astronaut_http_requests_total', { route: '/v1/sets', method: 'GET', status: '200' }), 1);
    t.is(scrape.types.get('astronaut_commands_processed_total'), 'counter');
    t.is(scrape.types.get('astronaut_memory_used_bytes'), 'gauge');
    t.true(find(scrape, 'astronaut_memory_used_bytes')! > 0);
    const build = scrape.samples.find((s) => s.name === 'astronaut_build_info')!;
    t.is(build.labels.redis_version, infoField(info, 'redis_version') ?? '');

    // Latency histograms: cumulative, ending at +Inf = _count = calls.
    t.is(scrape.types.get('astronaut_command_duration_seconds'), 'histogram');
    for (const cmd of ['vec.add', 'vec.search']) {
      const buckets = scrape.samples.filter((s) => s.name === 'astronaut_command_duration_seconds_bucket' && s.labels.cmd === cmd);
      t.true(buckets.length > 5);
      for (let i = 1; i < buckets.length; i++) {
        t.true(Number(buckets[i].labels.le) > Number(buckets[i - 1].labels.le) || buckets[i].labels.le === '+Inf');
        t.true(buckets[i].value >= buckets[i - 1].value, 'cumulative');
      }
      const last = buckets[buckets.length - 1];
      t.is(last.labels.le, '+Inf');
      t.is(last.value, find(scrape, 'astronaut_command_duration_seconds_count', { cmd }) ?? -1);
      t.true(find(scrape, 'astronaut_command_duration_seconds_sum', { cmd })! > 0);
    }
    t.is(find(scrape, 'astronaut_command_duration_seconds_count', { cmd: 'vec.add' }), 21);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('label values are escaped (keys with quotes, backslashes and newlines)', async (t) => {
  const port = await freePort();
  const srv = await startInProcess({ 'http-port': port });
  const r = new Redis({ port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await r.connect();
  try {
    const key = 'a"b\\c\nd';
    await r.call('VEC.ADD', key, 'x', 'VALUES', '2', '1', '0');
    const scrape = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    t.is(find(scrape, 'astronaut_vector_set_elements', { key }), 1);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('--metrics-port serves /metrics alone, with or without the API port', async (t) => {
  const metricsPort = await freePort();
  const srv = await startInProcess({ 'metrics-port': metricsPort });
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    t.is(res.status, 200);
    const scrape = parseExposition(await res.text());
    t.true(scrape.samples.length > 20);
    t.is((await fetch(`http://127.0.0.1:${metricsPort}/v1/sets`)).status, 404);
    t.is((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 404);
  } finally { await srv.stop(); }

  const [api, metrics] = [await freePort(), await freePort()];
  const both = await startInProcess({ 'http-port': api, 'metrics-port': metrics, requirepass: 'pw' });
  try {
    t.is((await fetch(`http://127.0.0.1:${metrics}/metrics`)).status, 401, 'requirepass applies to the metrics port too');
    t.is((await fetch(`http://127.0.0.1:${metrics}/metrics`, { headers: { authorization: 'Bearer pw' } })).status, 200);
    t.is((await fetch(`http://127.0.0.1:${api}/metrics`, { headers: { authorization: 'Bearer pw' } })).status, 200);
  } finally { await both.stop(); }
});

/**
 * The operator's toolbox over RESP, as redis-cli and Redis dashboards use it:
 * SLOWLOG (thresholds, length, Redis's entry shape, argument cutting and
 * redaction), LATENCY (events, history, histograms, doctor), MEMORY, DEBUG
 * behind enable-debug-command, CONFIG REWRITE, and INFO carrying the fields
 * ops tools read.
 */
import test from 'ava';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import net from 'node:net';
import { Redis } from 'ioredis';
import { removeTempDirs, startInProcess, tempDir, type InProcess } from '../helpers/server.js';
import { encodeCommand } from '../helpers/raw.js';
import { OPTION_NAMES, applySettings, defaultConfig, formatValue, parseConfigText, type Config } from '../../src/config.js';

test.after.always(removeTempDirs);

const connect = async (srv: InProcess, opts: Record<string, unknown> = {}) => {
  const r = new Redis({ port: srv.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...opts });
  r.on('error', () => {});
  await r.connect();
  return r;
};

async function withServer(overrides: Partial<Config>, fn: (srv: InProcess, r: Redis) => Promise<void>, opts: Record<string, unknown> = {}, configFile?: string): Promise<void> {
  const srv = await startInProcess(overrides, { configFile });
  const r = await connect(srv, opts);
  try { await fn(srv, r); } finally { r.disconnect(); await srv.stop(); }
}

type Entry = [number, number, number, string[], string, string];

test('SLOWLOG: Redis\'s entry shape, newest first, GET count, LEN, RESET, max-len, thresholds', (t) => withServer({ 'slowlog-log-slower-than': 0 }, async (_srv, r) => {
  await r.call('CLIENT', 'SETNAME', 'ops-test');
  const before = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 12; i++) await r.call('ECHO', `m${i}`);
  const ten = await r.call('SLOWLOG', 'GET') as Entry[];
  t.is(ten.length, 10, 'GET defaults to 10');
  const [id, time, duration, argv, addr, name] = ten[0];
  t.deepEqual(argv, ['ECHO', 'm11']);
  t.true(time >= before && time <= Math.floor(Date.now() / 1000));
  t.true(Number.isInteger(duration) && duration >= 0);
  t.regex(addr, /^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);
  t.is(name, 'ops-test');
  t.is(ten[1][0], id - 1, 'ids count up, newest first');
  t.is((await r.call('SLOWLOG', 'GET', '1') as Entry[]).length, 1);
  const all = await r.call('SLOWLOG', 'GET', '-1') as Entry[];
  t.true(all.length >= 13);
  await t.throwsAsync(r.call('SLOWLOG', 'GET', '-2'), { message: 'ERR count should be greater than or equal to -1' });
  await t.throwsAsync(r.call('SLOWLOG', 'GET', 'x'), { message: 'ERR count should be greater than or equal to -1' });
  t.true(await r.call('SLOWLOG', 'LEN') as number >= 14);

  t.is(await r.call('SLOWLOG', 'RESET'), 'OK');
  t.is(await r.call('SLOWLOG', 'LEN'), 1, 'only SLOWLOG RESET itself, logged after it ran');
  await r.call('CONFIG', 'SET', 'slowlog-max-len', '3');
  for (let i = 0; i < 5; i++) await r.call('PING');
  t.is(await r.call('SLOWLOG', 'LEN'), 3);
  await r.call('CONFIG', 'SET', 'slowlog-max-len', '128');

  await r.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1');
  await r.call('SLOWLOG', 'RESET');
  await r.call('PING');
  t.is(await r.call('SLOWLOG', 'LEN'), 0, '-1 disables');
  await r.call('CONFIG', 'SET', 'slowlog-log-slower-than', '1000000');
  await r.call('PING');
  t.is(await r.call('SLOWLOG', 'LEN'), 0, 'fast commands stay out');

  const help = await r.call('SLOWLOG', 'HELP') as string[];
  t.regex(help[0], /^SLOWLOG <subcommand>/);
  t.true(help.some((l) => l.startsWith('GET [<count>]')));
  await t.throwsAsync(r.call('SLOWLOG', 'NOPE'), { message: /^ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.$/ });
}));

test('SLOWLOG cuts arguments as Redis does and redacts secrets; EXEC is skipped, its commands are not', (t) => withServer({ 'slowlog-log-slower-than': 0 }, async (_srv, r) => {
  const many = Array.from({ length: 40 }, (_, i) => `a${i}`);
  await r.call('ECHO', 'x').catch(() => {});
  await r.call('DEL', ...many);
  await r.call('ECHO', 'y'.repeat(200));
  await r.call('AUTH', 'nopass').catch(() => {});
  await r.call('CONFIG', 'SET', 'requirepass', 'hunter2', 'maxclients', '100');
  await r.call('AUTH', 'hunter2');
  await r.call('HELLO', '2', 'AUTH', 'default', 'hunter2');
  await r.multi().call('PING').call('ECHO', 'in-tx').exec();
  const entries = (await r.call('SLOWLOG', 'GET', '-1') as Entry[]).map((e) => e[3]);
  const del = entries.find((a) => a[0] === 'DEL')!;
  t.is(del.length, 32);
  t.is(del[30], 'a29');
  t.is(del[31], '... (10 more arguments)');
  const echo = entries.find((a) => a[0] === 'ECHO' && a[1].startsWith('yyy'))!;
  t.is(echo[1], 'y'.repeat(128) + '... (72 more bytes)');
  for (const a of entries.filter((x) => x[0] === 'AUTH')) t.deepEqual(a.slice(1), a.slice(1).map(() => '(redacted)'));
  t.deepEqual(entries.find((a) => a[0] === 'CONFIG'), ['CONFIG', 'SET', 'requirepass', '(redacted)', 'maxclients', '100']);
  t.deepEqual(entries.find((a) => a[0] === 'HELLO'), ['HELLO', '2', 'AUTH', '(redacted)', '(redacted)'], 'username too, as Redis');
  t.false(JSON.stringify(entries).includes('hunter2'));
  t.false(entries.some((a) => a[0] === 'EXEC'), 'EXEC has skip_slowlog');
  t.true(entries.some((a) => a[0] === 'ECHO' && a[1] === 'in-tx'));
}, { password: undefined }));

test('LATENCY: events past latency-monitor-threshold, history, reset, doctor; HISTOGRAM from the per-command histograms', (t) => withServer({ 'enable-debug-command': 'yes' }, async (_srv, r) => {
  await r.call('DEBUG', 'SLEEP', '0.02');
  t.deepEqual(await r.call('LATENCY', 'LATEST'), [], 'monitor off at threshold 0, as in Redis');
  t.regex(await r.call('LATENCY', 'DOCTOR') as string, /latency monitor is disabled/);

  await r.call('CONFIG', 'SET', 'latency-monitor-threshold', '5');
  await r.call('DEBUG', 'SLEEP', '0.02');
  await r.call('PING');
  const latest = await r.call('LATENCY', 'LATEST') as Array<[string, number, number, number]>;
  // The sleep is a command spike and, the event loop being held meanwhile, an event-loop one too.
  t.deepEqual(latest.map((e) => e[0]).sort(), ['command', 'event-loop']);
  const [event, when, last, max] = latest.find((e) => e[0] === 'command')!;
  t.is(event, 'command');
  t.true(Math.abs(when - Date.now() / 1000) < 5);
  t.true(last >= 20 && max >= last);
  // The loop's 1 ms timer came at least the sleep minus its own period late.
  t.true(latest.find((e) => e[0] === 'event-loop')![3] >= 19);
  const history = await r.call('LATENCY', 'HISTORY', 'command') as Array<[number, number]>;
  t.is(history.length, 1);
  t.is(history[0][1], last);
  t.deepEqual(await r.call('LATENCY', 'HISTORY', 'nothing'), []);
  const doctor = await r.call('LATENCY', 'DOCTOR') as string;
  t.regex(doctor, /command: 1 latency spikes/);
  t.regex(doctor, /event-loop: \d+ latency spikes/);
  t.is(await r.call('LATENCY', 'RESET', 'command', 'nothing'), 1);
  t.deepEqual((await r.call('LATENCY', 'LATEST') as Array<[string]>).map((e) => e[0]), ['event-loop']);
  // Back to 0: the loop is no longer watched, and RESET forgets what it saw.
  await r.call('CONFIG', 'SET', 'latency-monitor-threshold', '0');
  t.is(await r.call('LATENCY', 'RESET'), 1);
  await r.call('DEBUG', 'SLEEP', '0.02');
  t.deepEqual(await r.call('LATENCY', 'LATEST'), []);

  for (let i = 0; i < 10; i++) await r.call('ECHO', 'h');
  await r.call('CONFIG', 'GET', 'maxclients');
  const all = await r.call('LATENCY', 'HISTOGRAM') as Array<string | unknown[]>;
  const names = all.filter((_, i) => i % 2 === 0);
  t.true(names.includes('echo') && names.includes('debug') && names.includes('config|get'));
  const one = await r.call('LATENCY', 'HISTOGRAM', 'echo') as [string, [string, number, string, Array<number>]];
  t.is(one[0], 'echo');
  const [callsLabel, calls, histLabel, buckets] = one[1];
  t.is(callsLabel, 'calls');
  t.is(calls, 10);
  t.is(histLabel, 'histogram_usec');
  t.is(buckets[buckets.length - 1], 10, 'cumulative, ending at the call count');
  for (let i = 2; i < buckets.length; i += 2) {
    t.true(buckets[i] > buckets[i - 2], 'bounds grow');
    t.true(Math.log2(buckets[i]) % 1 === 0, 'power-of-two bounds');
  }
  const container = (await r.call('LATENCY', 'HISTOGRAM', 'config') as string[]).filter((_, i) => i % 2 === 0);
  t.deepEqual(container.sort(), ['config|get', 'config|set'], 'a container names its subcommands');
  t.regex((await r.call('LATENCY', 'HELP') as string[])[0], /^LATENCY <subcommand>/);
}));

test('MEMORY USAGE, STATS, DOCTOR, HELP', (t) => withServer({}, async (_srv, r) => {
  await r.call('VEC.ADD', 'mem', 'a', 'VALUES', '4', '1', '2', '3', '4');
  const usage = await r.call('MEMORY', 'USAGE', 'mem') as number;
  t.true(usage > 16);
  t.is(await r.call('MEMORY', 'USAGE', 'mem', 'SAMPLES', '0'), usage);
  t.is(await r.call('MEMORY', 'USAGE', 'nope'), null);
  await t.throwsAsync(r.call('MEMORY', 'USAGE', 'mem', 'SAMPLES', 'x'), { message: /^ERR value is not an integer/ });
  await t.throwsAsync(r.call('MEMORY', 'USAGE', 'mem', 'BOGUS'), { message: 'ERR syntax error' });
  await r.set('s', 'x'.repeat(1000));
  t.true((await r.call('MEMORY', 'USAGE', 's') as number) >= 1000);
  const stats = await r.call('MEMORY', 'STATS') as Array<string | number>;
  const m = new Map<string, unknown>();
  for (let i = 0; i < stats.length; i += 2) m.set(String(stats[i]), stats[i + 1]);
  for (const k of ['peak.allocated', 'total.allocated', 'startup.allocated', 'keys.count', 'dataset.bytes', 'vectors.bytes', 'fragmentation', 'db.0']) t.true(m.has(k), k);
  t.is(m.get('keys.count'), 2);
  t.true(typeof await r.call('MEMORY', 'DOCTOR') === 'string');
  t.regex((await r.call('MEMORY', 'HELP') as string[])[0], /^MEMORY <subcommand>/);
}));

const REFUSED = 'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, '
  + 'otherwise you need to set this option in the configuration file, and then restart the server.';

test('DEBUG is refused with Redis\'s text unless enable-debug-command allows it', async (t) => {
  await withServer({}, async (_srv, r) => {
    await t.throwsAsync(r.call('DEBUG', 'SLEEP', '0'), { message: REFUSED });
    await t.throwsAsync(r.call('DEBUG', 'HELP'), { message: REFUSED });
    await t.throwsAsync(r.call('CONFIG', 'SET', 'enable-debug-command', 'yes'), { message: /immutable/ });
  });
  await withServer({ 'enable-debug-command': 'yes' }, async (_srv, r) => {
    t.regex((await r.call('DEBUG', 'HELP') as string[])[0], /^DEBUG <subcommand>/);
    const t0 = performance.now();
    t.is(await r.call('DEBUG', 'SLEEP', '0.05'), 'OK');
    t.true(performance.now() - t0 >= 45);
    t.is(await r.call('DEBUG', 'LOG', 'hello from the test'), 'OK');
    await r.call('VEC.ADD', 'dbg', 'a', 'VALUES', '2', '1', '0', 'QUANT', 'I8');
    t.regex(await r.call('DEBUG', 'OBJECT', 'dbg') as string, /^Value at:0x0 refcount:1 encoding:hnsw-i8 serializedlength:\d+ lru:0 lru_seconds_idle:\d+ type:vectorset$/);
    await t.throwsAsync(r.call('DEBUG', 'OBJECT', 'none'), { message: 'ERR no such key' });
    t.regex(await r.call('DEBUG', 'JMAP') as string, /used_heap_size:\d+/);
    await t.throwsAsync(r.call('DEBUG', 'SEGFAULT'), { message: "ERR unknown subcommand 'SEGFAULT'. Try DEBUG HELP." });
    await t.throwsAsync(r.call('DEBUG', 'SLEEP', 'x'), { message: 'ERR value is not a valid float' });
  });
  await withServer({ 'enable-debug-command': 'local' }, async (_srv, r) => {
    t.is(await r.call('DEBUG', 'SLEEP', '0'), 'OK', 'a loopback client may');
  });
});

test('SLOWLOG, LATENCY, MEMORY and DEBUG: HELP headers and arity errors in Redis\'s words', (t) => withServer({ 'enable-debug-command': 'yes' }, async (_srv, r) => {
  for (const name of ['SLOWLOG', 'LATENCY', 'MEMORY', 'DEBUG']) {
    const help = await r.call(name, 'HELP') as string[];
    t.is(help[0], `${name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`, name);
    t.deepEqual(help.slice(-2), ['HELP', '    Print this help.'], name);
  }
  await t.throwsAsync(r.call('SLOWLOG', 'GET', '1', '2'), { message: "ERR wrong number of arguments for 'slowlog|get' command" });
  await t.throwsAsync(r.call('LATENCY', 'HISTORY'), { message: "ERR wrong number of arguments for 'latency|history' command" });
  await t.throwsAsync(r.call('DEBUG', 'LOG'), { message: "ERR wrong number of arguments for 'debug|log' command" });
  await t.throwsAsync(r.call('MEMORY', 'USAGE', 'k', 'SAMPLES', 'x'), { message: 'ERR value is not an integer or out of range' });
}));

const external = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

test('enable-debug-command local refuses a non-loopback client', async (t) => {
  if (!external) { t.pass('no non-loopback IPv4 interface on this machine'); return; }
  await withServer({ 'enable-debug-command': 'local', bind: ['0.0.0.0'], requirepass: 'pw' }, async (srv) => {
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect({ port: srv.port, host: external });
      let out = '';
      s.on('connect', () => s.write(Buffer.concat([encodeCommand(['AUTH', 'pw']), encodeCommand(['DEBUG', 'SLEEP', '0'])])));
      s.on('data', (d) => { out += d; if (out.split('\r\n').length > 2) s.end(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    t.is(reply, `+OK\r\n-${REFUSED}\r\n`);
  }, { password: 'pw' });
});

test('CONFIG REWRITE without a config file is an error', (t) => withServer({}, async (_srv, r) => {
  await t.throwsAsync(r.call('CONFIG', 'REWRITE'), { message: 'ERR The server is running without a config file' });
  t.true((await r.call('CONFIG', 'HELP') as string[]).includes('REWRITE'));
}));

test('CONFIG REWRITE writes the running config back: comments and order kept, repeats dropped, changes appended, mode kept; it reads back the same', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'astronaut.conf');
  writeFileSync(file, '# Astronaut\n\n# the port\nport 6379\nmaxclients 50\nsave 900 1\nsave 300 10\n   # indented comment\nMAXCLIENTS 60\n');
  chmodSync(file, 0o640);
  await withServer({}, async (srv, r) => {
  await r.call('CONFIG', 'SET', 'maxclients', '77', 'save', '', 'slowlog-max-len', '5', 'requirepass', 'p a"s\\s');
  t.is(await r.call('CONFIG', 'REWRITE'), 'OK');
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  t.is(lines[0], '# Astronaut');
  t.is(lines[2], '# the port');
  t.is(lines[3], `port ${srv.server.config.port}`);
  t.is(lines[4], 'maxclients 77');
  t.is(lines[5], 'save ""');
  t.is(lines[6], '   # indented comment');
  t.is(text.match(/^maxclients/gim)!.length, 1, 'the repeated line is gone');
  t.true(text.includes('# Generated by CONFIG REWRITE\n'));
  t.true(text.includes('slowlog-max-len 5\n'));
  t.true(text.includes('requirepass "p a\\"s\\\\s"\n'));
  t.false(/^timeout /m.test(text), 'options at their default stay out');
  t.is(statSync(file).mode & 0o777, 0o640);

  // The file means the running configuration.
  const back = applySettings(defaultConfig(), parseConfigText(text, file), file);
  for (const name of OPTION_NAMES) t.is(formatValue(name, back[name]), formatValue(name, srv.server.config[name]), name);
  // A second rewrite changes nothing.
  await r.call('AUTH', 'p a"s\\s');
  await r.call('CONFIG', 'REWRITE');
  t.is(readFileSync(file, 'utf8'), text);
  }, {}, file);
});

test('INFO has the fields ops tools read', (t) => withServer({ 'http-port': 0 }, async (_srv, r) => {
  await r.call('VEC.ADD', 'iv', 'a', 'VALUES', '2', '1', '0');
  await r.call('VEC.ADD', 'iv2', 'a', 'VALUES', '2', '1', '0', 'QUANT', 'F16');
  await r.call('VEC.SEARCH', 'iv', 'VALUES', '2', '1', '0');
  await r.get('nothing');
  const info = await r.info('everything');
  const want = [
    'redis_version', 'astronaut_version', 'uptime_in_seconds', 'process_id', 'run_id', 'tcp_port', 'executable', 'config_file',
    'connected_clients', 'blocked_clients', 'client_recent_max_input_buffer', 'client_recent_max_output_buffer', 'maxclients',
    'used_memory', 'used_memory_rss', 'used_memory_peak', 'used_memory_dataset', 'used_memory_vector_sets',
    'loading', 'aof_enabled',
    'total_commands_processed', 'instantaneous_ops_per_sec', 'total_connections_received', 'rejected_connections',
    'keyspace_hits', 'keyspace_misses', 'expired_keys', 'evicted_keys',
    'vector_sets', 'vector_elements', 'vector_memory_bytes', 'vector_memory_bytes_f32', 'vector_memory_bytes_f16', 'vector_searches',
  ];
  for (const f of want) t.regex(info, new RegExp(`^${f}:`, 'm'), f);
  t.regex(info, /^cmdstat_vec\.add:calls=2,usec=\d+,usec_per_call=[\d.]+,rejected_calls=0,failed_calls=0$/m);
  t.regex(info, /^latency_percentiles_usec_vec\.add:p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+$/m);
  t.regex(info, /^db0:keys=2,/m);
  t.regex(info, /^vset\d:db=0,key=iv,elements=1,dim=2,metric=cosine,quant=f32,memory_bytes=\d+,/m);
  t.regex(info, /^process_id:\d+$/m);
  t.regex(info, /^run_id:[0-9a-f]{40}$/m);
  const peak = Number(/^used_memory_peak:(\d+)/m.exec(info)![1]);
  const used = Number(/^used_memory:(\d+)/m.exec(info)![1]);
  t.true(peak >= used);
  t.false((await r.info()).includes('# Vectorsets'), 'per-set lines only on request');
  t.regex(await r.info('vectorsets'), /# Vectorsets\r\nvset0:/);
}));

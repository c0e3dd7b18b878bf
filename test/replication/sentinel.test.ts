/**
 * Failover driven by real Redis Sentinel (Debian's redis-sentinel, which
 * .ci/run installs): a primary, two replicas and three sentinels (quorum 2,
 * down-after-milliseconds 3000) on loopback. A writer pipelines VADD, VEC.ADD
 * and HSET and calls WAIT 1 500 after each batch; the primary is killed with
 * SIGKILL; Sentinel must announce +switch-master, every batch WAIT
 * acknowledged must be on the new primary, and the old primary, restarted,
 * must rejoin as a replica of it and catch up. An ioredis client configured
 * with the sentinels (not an address) writes before and after: it must find
 * the primary through Sentinel and follow the switch on its own.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, removeTempDirs, spawnServer, tempDir, type Child } from '../helpers/server.js';

test.after.always(removeTempDirs);

const HAVE_SENTINEL = spawnSync('redis-sentinel', ['--version']).status === 0;

const clients: Redis[] = [];
test.after.always(() => { for (const c of clients) c.disconnect(); });

/** Reconnects: Sentinel's reconfiguration ends with CLIENT KILL TYPE normal. */
function connect(port: number): Redis {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

async function until<T>(what: string, check: () => Promise<T | false | null | undefined>, ms = 60000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try { const v = await check(); if (v) return v; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function field(r: Redis, section: string, name: string): Promise<string | undefined> {
  const m = new RegExp(`^${name}:(.*)$`, 'm').exec(await r.info(section));
  return m ? m[1].trim() : undefined;
}

async function server(t: ExecutionContext, args: string[], opts: Parameters<typeof spawnServer>[1] = {}): Promise<Child> {
  const c = await spawnServer(args, opts);
  t.teardown(async () => { await c.kill('SIGKILL'); });
  return c;
}

async function sentinel(t: ExecutionContext, primaryPort: number): Promise<{ port: number; log: () => string }> {
  const dir = tempDir('astronaut-sentinel-');
  const port = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'loglevel verbose', 'logfile ""',
    `sentinel monitor mymaster 127.0.0.1 ${primaryPort} 2`,
    'sentinel down-after-milliseconds mymaster 3000',
    'sentinel failover-timeout mymaster 10000',
    'sentinel parallel-syncs mymaster 1', '',
  ].join('\n'));
  const child: ChildProcess = spawnChild('redis-sentinel', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  t.teardown(() => { child.kill('SIGKILL'); });
  await until('sentinel up', async () => {
    const s = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    s.on('error', () => {});
    try { await s.connect(); return (await s.ping()) === 'PONG'; } finally { s.disconnect(); }
  });
  return { port, log: () => out };
}

const f32 = (v: number[]) => Buffer.from(new Float32Array(v).buffer);

(HAVE_SENTINEL ? test : test.skip)('Sentinel fails over to a replica holding every WAIT-acknowledged write; the old primary rejoins', async (t) => {
  t.timeout(180_000);
  const primaryDir = tempDir();
  const primaryPort = await freePort();
  let p = await server(t, ['--appendonly', 'yes', '--enable-debug-command', 'yes'], { dir: primaryDir, port: primaryPort });
  const r1 = await server(t, ['--appendonly', 'yes', '--enable-debug-command', 'yes', '--replicaof', `127.0.0.1 ${primaryPort}`]);
  const r2 = await server(t, ['--appendonly', 'yes', '--enable-debug-command', 'yes', '--replicaof', `127.0.0.1 ${primaryPort}`]);
  const sentinels = [await sentinel(t, primaryPort), await sentinel(t, primaryPort), await sentinel(t, primaryPort)];
  const s0 = connect(sentinels[0].port);
  // Sentinel finds the replicas in the primary's INFO and the other sentinels through hello messages on pub/sub.
  await until('sentinels see 2 replicas and each other', async () => {
    const m = await s0.call('SENTINEL', 'MASTER', 'mymaster') as string[];
    const at = (k: string) => m[m.indexOf(k) + 1];
    return at('num-slaves') === '2' && at('num-other-sentinels') === '2';
  });

  const switched = new Promise<string>((resolve) => {
    const sub = connect(sentinels[1].port);
    void sub.subscribe('+switch-master');
    sub.on('message', (_ch, msg: string) => resolve(msg));
  });

  // What an application does: ask the sentinels for mymaster, never name a node.
  const app = new Redis({
    sentinels: sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: 'mymaster',
    sentinelRetryStrategy: () => 200, retryStrategy: () => 200,
  });
  app.on('error', () => {});
  clients.push(app);
  t.is(await app.set('app', 'before'), 'OK');
  t.is(await app.call('VADD', 'app-vs', 'VALUES', '2', '1', '0', 'e1'), 1);

  const primary = connect(primaryPort);
  const acknowledged: number[] = [];
  let batch = 0;
  const writer = (async () => {
    for (;;) {
      const b = batch++;
      const pipe = primary.pipeline();
      for (let i = 0; i < 20; i++) {
        const id = `b${b}-${i}`;
        pipe.call('VADD', 'vs', 'FP32', f32([b, i, b * i, 1]), id, 'NOQUANT');
        pipe.call('VEC.ADD', 'docs', id, 'FP32', f32([i, b, 1]), 'PAYLOAD', JSON.stringify({ b, i }));
        pipe.hset(`h${b}`, `f${i}`, `${b}:${i}`);
      }
      pipe.call('WAIT', 1, 500);
      let res: Array<[Error | null, unknown]> | null;
      try { res = await pipe.exec(); } catch { return; }
      if (!res || res.some(([e]) => e)) return;
      if ((res[res.length - 1][1] as number) >= 1) acknowledged.push(b);
    }
  })();

  await until('some acknowledged batches', async () => acknowledged.length >= 10);
  const killedAt = Date.now();
  await p.kill('SIGKILL');
  await writer;
  const msg = await Promise.race([switched, new Promise<string>((_, rej) => setTimeout(() => rej(new Error('no +switch-master within 60 s')), 60_000))]);
  const seconds = (Date.now() - killedAt) / 1000;
  t.log(`+switch-master ${seconds.toFixed(1)} s after SIGKILL (down-after-milliseconds 3000); ${acknowledged.length} batches acknowledged`);
  const [, , , newHost, newPort] = msg.split(' ');
  t.is(newHost, '127.0.0.1');
  t.true([String(r1.port), String(r2.port)].includes(newPort));
  const np = connect(Number(newPort));
  await until('promoted', async () => (await field(np, 'replication', 'role')) === 'master');

  // The application's client found the new primary through Sentinel by itself.
  await until('the sentinel-configured client writes to the new primary', async () => (await app.set('app', 'after')) === 'OK', 60_000);
  t.is(await np.get('app'), 'after');
  t.is(await app.call('VADD', 'app-vs', 'VALUES', '2', '0', '1', 'e2'), 1);
  t.deepEqual(await np.call('VEMB', 'app-vs', 'e2'), ['0', '1']);

  for (const b of acknowledged) {
    t.is(await np.hlen(`h${b}`), 20, `batch ${b} hash`);
    for (const i of [0, 19]) {
      const id = `b${b}-${i}`;
      t.deepEqual(await np.call('VEMB', 'vs', id), [b, i, b * i, 1].map(String), `batch ${b} VEMB ${id}`);
      const got = await np.callBuffer('VEC.GET', 'docs', id) as Buffer[];
      t.truthy(got, `batch ${b} VEC.GET ${id}`);
    }
  }

  // The old primary comes back on its address: Sentinel turns it into a replica of the new one, and it catches up.
  p = await server(t, ['--appendonly', 'yes', '--enable-debug-command', 'yes'], { dir: primaryDir, port: primaryPort });
  const old = connect(primaryPort);
  await until('old primary rejoins as a replica', async () => (await field(old, 'replication', 'role')) === 'slave'
    && (await field(old, 'replication', 'master_port')) === newPort && (await field(old, 'replication', 'master_link_status')) === 'up');
  await np.set('after', 'failover');
  await until('every node caught up', async () => {
    const offsets = new Set<string | undefined>();
    const nodes = [np, connect(r1.port === Number(newPort) ? r2.port : r1.port), old];
    for (const n of nodes) offsets.add(await field(n, 'replication', 'master_repl_offset'));
    if (offsets.size !== 1) return false;
    for (const n of nodes) if ((await n.get('after')) !== 'failover') return false;
    return true;
  });
  const sizes = await Promise.all([np, old].map((n) => n.dbsize()));
  t.is(sizes[0], sizes[1]);
  t.is(await old.call('VCARD', 'vs'), await np.call('VCARD', 'vs'));
  const other = connect(r1.port === Number(newPort) ? r2.port : r1.port);
  const digests = await Promise.all([np, other, old].map((n) => n.call('DEBUG', 'DIGEST')));
  t.is(digests[1], digests[0]);
  t.is(digests[2], digests[0]);

  // Reads scaled out: a Sentinel-configured client asking for a replica gets one, and it answers searches.
  const reader = new Redis({
    sentinels: sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: 'mymaster', role: 'slave',
    sentinelRetryStrategy: () => 200, retryStrategy: () => 200,
  });
  reader.on('error', () => {});
  clients.push(reader);
  t.is(((await reader.call('ROLE')) as unknown[])[0], 'slave');
  t.deepEqual(await reader.call('VSIM', 'app-vs', 'VALUES', '2', '0', '1', 'COUNT', '1'), ['e2']);
  const b0 = acknowledged[0];
  t.deepEqual(await reader.call('VEC.SEARCH', 'docs', 'FP32', f32([0, b0, 1]), 'COUNT', '1', 'EXACT'), [`b${b0}-0`]);
  await t.throwsAsync(reader.set('x', 'y'), { message: /^READONLY/ });
});

/**
 * Binary safety: ids and keys of 10 KB and 1 MB with
 * NUL, CR/LF and invalid UTF-8 are "round-tripped byte-exact through WAL,
 * snapshot and restart". A child server with the WAL on (appendfsync always,
 * so a SIGKILL loses nothing acknowledged): write, crash, restart (WAL replay);
 * SAVE, write more, stop, restart (snapshot + WAL tail). After each restart
 * every key, id, vector bit and payload is what was written.
 */
import test from 'ava';
import { removeTempDirs, spawnServer, tempDir, type Child } from '../helpers/server.js';
import { RawClient } from '../helpers/raw-client.js';
import { show, type RespValue } from '../helpers/resp-check.js';

test.after.always(removeTempDirs);

function hostileBytes(n: number, salt: number): Buffer {
  const motif = Buffer.from([0x00, 0x0d, 0x0a, 0x41 + salt, 0x0d, 0x0a, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0x24, 0x2a, 0x5c, 0x78]);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = motif[(i + salt) % motif.length] ^ (i % 251 === 0 ? 0x01 : 0);
  return out;
}

const f32 = (...xs: number[]) => Buffer.from(new Float32Array(xs).buffer);

interface Item { key: Buffer; id: Buffer; vector: Buffer; payload: string }

const items: Item[] = [];
for (const [i, size] of [10 * 1024, 1024 * 1024].entries()) {
  items.push({ key: Buffer.concat([Buffer.from('rs:'), hostileBytes(size, i)]), id: hostileBytes(size, i + 7), vector: f32(1 + i, 1e-45, -0, 3.4028235e38), payload: `{"i":${i},"s":"\\u0000\\r\\n"}` });
}

async function ready(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  for (let i = 0; i < 400; i++) {
    if (show(await c.call(['PING'])) === '+PONG') return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server never finished loading');
}

function bulkIs(v: RespValue | undefined, b: Buffer): boolean { return v?.type === 'bulk' && v.value.equals(b); }

/** Every item is there, byte for byte. */
async function verify(t: import('ava').ExecutionContext, c: RawClient, stage: string, extra: Item[] = []): Promise<void> {
  const keys = await c.call(['KEYS', '*']);
  for (const it of [...items, ...extra]) {
    t.true(keys?.type === 'array' && keys.value.some((k) => bulkIs(k, it.key)), `${stage}: KEYS has the ${it.key.length}-byte key`);
    const found = await c.call(['VEC.SEARCH', it.key, 'FP32', it.vector, 'COUNT', '1', 'WITHPAYLOADS']);
    t.true(found?.type === 'array' && bulkIs(found.value[0], it.id), `${stage}: VEC.SEARCH returns the ${it.id.length}-byte id`);
    t.true(found?.type === 'array' && found.value[1]?.type === 'bulk' && found.value[1].value.toString() === it.payload, `${stage}: payload intact`);
    const got = await c.call(['VEC.GET', it.key, it.id]);
    const vec = got?.type === 'array' ? got.value[1] : undefined;
    const bits = vec?.type === 'array' ? Buffer.from(new Float32Array(vec.value.map((x) => (x.type === 'bulk' ? Number(x.value.toString()) : NaN))).buffer) : Buffer.alloc(0);
    t.true(bits.equals(it.vector), `${stage}: vector bit-exact (${bits.toString('hex')} vs ${it.vector.toString('hex')})`);
  }
}

test('binary ids and keys of 10 KB and 1 MB survive WAL replay, snapshot and restart byte-exact', async (t) => {
  t.timeout(180_000);
  const dir = tempDir('astronaut-binrestart-');
  const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  let srv: Child = await spawnServer(args, { dir });
  try {
    let c = await ready(srv.port);
    const probe = await c.call(['LASTSAVE']);
    if (probe?.type === 'error') { t.log(`no persistence commands (${show(probe)}): skipped`); t.pass(); return; }
    for (const it of items) t.is(show(await c.call(['VEC.ADD', it.key, it.id, 'FP32', it.vector, 'PAYLOAD', it.payload])), ':1');
    await verify(t, c, 'before restart');
    // 1. Crash: only the WAL brings it back.
    c.close();
    await srv.kill('SIGKILL');
    srv = await spawnServer(args, { dir, port: srv.port });
    c = await ready(srv.port);
    await verify(t, c, 'after SIGKILL and WAL replay');
    // 2. Snapshot, then a write after it, then a clean stop.
    t.regex(show(await c.call(['SAVE'])), /^\+OK/);
    const later: Item = { key: Buffer.concat([Buffer.from('rs:later:'), hostileBytes(10 * 1024, 3)]), id: hostileBytes(4096, 4), vector: f32(0, 1, 0, 1e-38), payload: '{"later":true}' };
    t.is(show(await c.call(['VEC.ADD', later.key, later.id, 'FP32', later.vector, 'PAYLOAD', later.payload])), ':1');
    c.close();
    await srv.kill('SIGTERM');
    srv = await spawnServer(args, { dir, port: srv.port });
    c = await ready(srv.port);
    await verify(t, c, 'after SAVE, SIGTERM and restart', [later]);
    c.close();
  } finally {
    await srv.kill('SIGKILL');
  }
});

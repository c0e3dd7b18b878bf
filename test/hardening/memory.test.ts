/**
 * Memory stays bounded whatever clients do. Each case runs
 * against a child server and reads its VmRSS (/proc/<pid>/status), so the
 * test's own sockets and buffers are not counted. Bounds are generous, and
 * no assertion is about time: what matters is that memory follows what
 * actually arrived, never what was declared or what a client failed to read.
 */
import test from 'ava';
import net from 'node:net';
import { spawnServer, type Child } from '../helpers/server.js';
import { encodeCommand } from '../helpers/raw.js';
import { RawClient } from '../helpers/raw-client.js';
import { ReplyReader, show, type RespValue } from '../helpers/resp-check.js';
import { vmRssBytes } from '../helpers/fuzz-engine.js';

const MB = 1024 * 1024;

async function withServer(args: string[], fn: (srv: Child, control: RawClient) => Promise<void>): Promise<void> {
  const srv = await spawnServer(['--appendonly', 'no', ...args]);
  let control: RawClient | undefined;
  try {
    control = await RawClient.connect(srv.port);
    // Past recovery: PING answers +PONG, not -LOADING.
    for (let i = 0; i < 200 && show(await control.call(['PING'])) !== '+PONG'; i++) await new Promise((r) => setTimeout(r, 50));
    await fn(srv, control);
  } finally {
    control?.close();
    await srv.kill('SIGKILL');
  }
}

const rss = (srv: Child) => vmRssBytes(srv.child.pid!);
const text = (v: RespValue | undefined): string => (v?.type === 'bulk' || v?.type === 'verbatim' ? v.value.toString('latin1') : show(v));

/** Connect `n` raw sockets (in waves, so the accept backlog is never the limit). */
async function openSockets(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    const wave = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    })));
    for (const s of wave) s.on('error', () => {});
    out.push(...wave);
  }
  return out;
}

/** The `qbuf=` of every client line (CLIENT LIST), by port of the client's address. */
async function queryBuffers(control: RawClient): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const line of text(await control.call(['CLIENT', 'LIST'])).split('\n')) {
    const m = /addr=[^ ]*:(\d+) .*qbuf=(\d+)/.exec(line);
    if (m) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

async function pingOk(control: RawClient): Promise<boolean> {
  return show(await control.call(['PING'], 5000)) === '+PONG';
}

test('1 000 idle connections: bounded memory, and the server keeps serving', async (t) => {
  await withServer([], async (srv, control) => {
    const base = rss(srv);
    const sockets = await openSockets(srv.port, 1000);
    // Each says hello once, so every one is fully set up on the server's side.
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
      s.once('data', () => resolve());
      s.write(encodeCommand(['PING']));
    })));
    const info = await control.call(['INFO', 'clients']);
    t.regex(text(info), /connected_clients:100[1-9]/);
    const grown = rss(srv) - base;
    t.log(`RSS ${(base / MB).toFixed(0)} MB → +${(grown / MB).toFixed(1)} MB for 1000 idle connections`);
    t.true(grown < 128 * MB, `1000 idle connections cost ${(grown / MB).toFixed(1)} MB`);
    t.true(await pingOk(control));
    for (const s of sockets) s.destroy();
  });
});

test('slow senders: memory only for what arrived (a 500 MB bulk declared, dribbled a byte at a time)', async (t) => {
  await withServer([], async (srv, control) => {
    const base = rss(srv);
    const N = 200;
    const sockets = await openSockets(srv.port, N);
    const header = Buffer.from('*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$500000000\r\n');
    const inline = Buffer.from('SET slowinline ');
    const sent = new Map<number, number>();
    sockets.forEach((s, i) => { const h = i % 2 === 0 ? header : inline; s.write(h); sent.set(s.localPort!, h.length); });
    // 400 rounds, one byte per socket every 5 ms: each client has sent ~400 bytes more.
    for (let round = 0; round < 400; round++) {
      for (const s of sockets) { s.write(Buffer.from('x')); sent.set(s.localPort!, sent.get(s.localPort!)! + 1); }
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    t.true(await pingOk(control), 'other clients are served while the slow ones dribble');
    const qbufs = await queryBuffers(control);
    let checked = 0;
    for (const s of sockets) {
      const q = qbufs.get(s.localPort!);
      if (q === undefined) continue;
      checked++;
      t.true(q <= sent.get(s.localPort!)!, `qbuf ${q} ≤ ${sent.get(s.localPort!)} bytes sent`);
    }
    t.is(checked, N, 'every slow client is listed');
    const grown = rss(srv) - base;
    t.log(`RSS +${(grown / MB).toFixed(1)} MB for ${N} slow senders (declared ${N / 2} × 500 MB)`);
    t.true(grown < 128 * MB);
    for (const s of sockets) s.destroy();
  });
});

test('a partial command at the end of a large pipelined chunk pins only its own bytes, not the chunk', async (t) => {
  await withServer([], async (srv, control) => {
    // 60 KB of PINGs, then 22 bytes of an unfinished ECHO: before the fix in
    // Connection.onData + RequestParser.compact, each idle client kept its
    // whole 60 KB chunk alive through the slices of its partial command (+82 MB per 1000 clients).
    const chunk = Buffer.concat([Buffer.from('PING\r\n'.repeat(10_000)), Buffer.from('*2\r\n$4\r\nECHO\r\n$10\r\nab')]);
    const N = 1000;
    const base = rss(srv);
    const sockets = await openSockets(srv.port, N);
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
      let got = 0;
      s.on('data', (d: Buffer) => { got += d.length; if (got >= 70_000) resolve(); });
      s.write(chunk);
    })));
    await new Promise((r) => setTimeout(r, 500));
    const grown = rss(srv) - base;
    t.log(`RSS +${(grown / MB).toFixed(1)} MB for ${N} clients each holding 22 bytes of a partial command`);
    t.true(grown < 48 * MB, `+${(grown / MB).toFixed(1)} MB`);
    // The partial commands still complete correctly.
    sockets[0].removeAllListeners('data');
    const done = new Promise<string>((resolve) => sockets[0].once('data', (d: Buffer) => resolve(d.toString())));
    sockets[0].write('cdefghij\r\n');
    t.is(await done, '$10\r\nabcdefghij\r\n');
    t.true(await pingOk(control));
    for (const s of sockets) s.destroy();
  });
});

test('declared lengths of 2 GB never allocate (proto-max-bulk-len raised to 4gb), nor do huge multibulk counts', async (t) => {
  await withServer([], async (srv, control) => {
    t.is(show(await control.call(['CONFIG', 'SET', 'proto-max-bulk-len', '4gb'])), '+OK');
    const base = rss(srv);
    const sockets = await openSockets(srv.port, 40);
    sockets.forEach((s, i) => {
      if (i % 2 === 0) s.write(Buffer.concat([Buffer.from('*2\r\n$4\r\nECHO\r\n$2000000000\r\n'), Buffer.alloc(4096, 'z')]));
      else s.write(Buffer.from('*1000000\r\n$4\r\nECHO\r\n'));
    });
    await new Promise((r) => setTimeout(r, 500));
    t.true(await pingOk(control));
    const qbufs = await queryBuffers(control);
    for (const s of sockets) {
      const q = qbufs.get(s.localPort!);
      t.true(q !== undefined && q < 8192, `qbuf ${q} holds only what arrived`);
    }
    const grown = rss(srv) - base;
    t.log(`RSS +${(grown / MB).toFixed(1)} MB with 20 × 2 GB bulks and 20 × 1 M-argument commands declared`);
    t.true(grown < 64 * MB);
    // The default limit refuses 2 GB outright.
    t.is(show(await control.call(['CONFIG', 'SET', 'proto-max-bulk-len', '512mb'])), '+OK');
    const r = await RawClient.connect(srv.port);
    r.write(Buffer.from('*2\r\n$4\r\nECHO\r\n$2000000000\r\n'));
    t.regex(show((await r.read(1))[0]), /^-ERR Protocol error: invalid bulk length/);
    await r.read(1, 2000);
    t.true(r.closed, 'closed after the protocol error');
    for (const s of sockets) s.destroy();
  });
});

test('a client pipelining 100 k VEC.SEARCHes without reading: the server stops reading from it, memory stays bounded, others are served', async (t) => {
  await withServer([], async (srv, control) => {
    // 200 elements with 200-byte payloads: each search below replies ~50 × 250 B ≈ 12 KB,
    // so 100 k unread replies would be over 1 GB if the server kept reading.
    const payload = JSON.stringify({ pad: 'p'.repeat(180) });
    const adds: Array<Array<string>> = [];
    for (let i = 0; i < 200; i++) adds.push(['VEC.ADD', 'mem:set', `id${i}`, 'VALUES', '4', String(Math.sin(i) + 2), String(Math.cos(i)), String(i % 7), '1', 'PAYLOAD', payload]);
    const added = await control.pipeline(adds, 30_000);
    t.is(added.filter((r) => show(r) === ':1').length, 200);
    const base = rss(srv);

    const search = encodeCommand(['VEC.SEARCH', 'mem:set', 'VALUES', '4', '1', '0.5', '0.25', '1', 'COUNT', '50', 'WITHSCORES', 'WITHPAYLOADS']);
    const TOTAL = 100_000;
    const flood = net.connect(srv.port, '127.0.0.1');
    flood.on('error', () => {});
    await new Promise<void>((resolve) => flood.once('connect', () => resolve()));
    flood.pause(); // never read
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => search));
    let written = 0;
    for (let i = 0; i < TOTAL / 1000; i++) { flood.write(batch); written += batch.length; }
    // Give the server time to fill what it may; then look.
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, rss(srv));
    }
    const other = await RawClient.connect(srv.port);
    t.is(show(await other.call(['PING'], 5000)), '+PONG', 'another client is served');
    const served = await other.call(['VEC.SEARCH', 'mem:set', 'VALUES', '4', '1', '0', '0', '0', 'COUNT', '3'], 5000);
    t.true(served?.type === 'array' && served.value.length === 3, 'another client gets search results');
    const stats = await control.call(['INFO', 'stats']);
    const input = Number(/total_net_input_bytes:(\d+)/.exec(text(stats))?.[1] ?? NaN);
    t.log(`wrote ${(written / MB).toFixed(1)} MB of requests; server read ${(input / MB).toFixed(1)} MB in all; RSS ${(base / MB).toFixed(0)} MB → peak ${(peak / MB).toFixed(0)} MB`);
    t.true(input < written, 'the server stopped reading from the client that does not read');
    t.true(peak - base < 256 * MB, `RSS grew by ${((peak - base) / MB).toFixed(0)} MB`);

    // Now read: replies arrive well-formed and in order, and reading resumes the flow.
    const reader = new ReplyReader({ resp3: false });
    let replies = 0;
    await new Promise<void>((resolve) => {
      flood.on('data', (d: Buffer) => {
        reader.feed(d);
        for (let v = reader.next(); v !== null; v = reader.next()) {
          if (v.type !== 'array' || v.value.length !== 150) throw new Error(`unexpected reply ${show(v)}`);
          if (++replies >= 2000) { resolve(); return; }
        }
      });
      flood.resume();
    });
    t.true(replies >= 2000, 'the flooding client gets its replies once it reads');
    flood.destroy();
    other.close();
    t.true(await pingOk(control));
  });
});

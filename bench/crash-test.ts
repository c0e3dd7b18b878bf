/**
 * `npm run crash-test [-- --cycles N --policy always|everysec|no]`: SIGKILL the
 * server again and again while three connections pipeline writes (adds, and
 * deletes of acknowledged ids), restart it each time, and check that every
 * acknowledged write is there and every acknowledged delete stays deleted.
 * Prints the figures; exits non-zero if anything acknowledged was lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/astronaut.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const CYCLES = Number(arg('cycles', '200'));
const POLICIES = arg('policy', 'always,everysec,no').split(',');

const vec = (i: number) => Buffer.from(new Float32Array([1, (i % 97) / 97, (i % 13) / 13, 0.5]).buffer);

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

async function start(port: number, dir: string, policy: string): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  // Snapshots every few seconds, as a real deployment takes them: recovery is then a snapshot
  // plus a WAL tail, and a crash can land in the middle of a snapshot too.
  const child = spawn(process.execPath, [BIN, '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', policy, '--save', '5 1'], { stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  // Generous: a restart replays the WAL since the last snapshot through the graph.
  for (let i = 0; i < 6000; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => res(false));
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => { s.destroy(); res(d.toString().startsWith('+PONG')); });
    });
    if (ok) return { child, exited };
    if (child.exitCode !== null) throw new Error('server exited during start');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not start');
}

async function client(port: number): Promise<Redis> {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, protocol: 2 });
  r.on('error', () => {});
  await r.connect();
  return r;
}

async function missing(port: number, ids: string[], wantPresent: boolean): Promise<number> {
  const r = await client(port);
  let bad = 0;
  for (let s = 0; s < ids.length; s += 5000) {
    const p = r.pipeline();
    for (const id of ids.slice(s, s + 5000)) p.call('VEC.GET', 'd', id);
    for (const [err, v] of (await p.exec())!) if (err || (v !== null) !== wantPresent) bad++;
  }
  r.disconnect();
  return bad;
}

async function runPolicy(policy: string): Promise<{ cycles: number; acked: number; deletes: number; lost: number; resurrected: number; ms: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'astronaut-crash-'));
  const port = await freePort();
  const t0 = Date.now();
  let srv = await start(port, dir, policy);
  const acked = new Set<string>();
  const deleted = new Set<string>();
  const uncertain = new Set<string>();
  let seq = 0, lost = 0, resurrected = 0, cycle = 0;
  for (; cycle < CYCLES; cycle++) {
    const writers = await Promise.all([0, 1, 2].map(() => client(port)));
    let stop = false;
    const loops = writers.map(async (w) => {
      while (!stop) {
        const p = w.pipeline();
        const ids: string[] = [];
        for (let k = 0; k < 50; k++) { const id = `k${seq++}`; ids.push(id); p.call('VEC.ADD', 'd', id, 'FP32', vec(seq)); }
        let victim: string | undefined;
        for (const id of acked) { if (!deleted.has(id) && !uncertain.has(id)) { victim = id; break; } }
        if (victim && seq % 3 === 0) { uncertain.add(victim); p.call('VEC.DEL', 'd', victim); } else victim = undefined;
        await new Promise((res) => setImmediate(res));
        if (w.status !== 'ready') return;
        try {
          const res = (await p.exec())!;
          res.forEach(([err], i) => {
            if (err) return;
            if (i < ids.length) acked.add(ids[i]);
            else { deleted.add(victim!); uncertain.delete(victim!); }
          });
        } catch { return; }
      }
    });
    await new Promise((res) => setTimeout(res, 100 + Math.random() * 400));
    srv.child.kill('SIGKILL');
    stop = true;
    await Promise.allSettled(loops);
    for (const w of writers) w.disconnect();
    await srv.exited;
    srv = await start(port, dir, policy);
    // Checking every id every cycle would dominate: check the full set every 20 cycles and at the end.
    if (cycle % 20 === 19 || cycle === CYCLES - 1) {
      const live = [...acked].filter((id) => !deleted.has(id) && !uncertain.has(id));
      lost = await missing(port, live, true);
      resurrected = await missing(port, [...deleted], false);
      if (lost || resurrected) { cycle++; break; }
    }
    process.stdout.write(`\r${policy}: cycle ${cycle + 1}/${CYCLES}, ${acked.size} acknowledged writes`);
  }
  srv.child.kill('SIGKILL');
  await srv.exited;
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write('\n');
  return { cycles: cycle, acked: acked.size, deletes: deleted.size, lost, resurrected, ms: Date.now() - t0 };
}

let failed = false;
const header = '| appendfsync | SIGKILL cycles | acknowledged writes | acknowledged deletes | writes lost | deletes undone | time |\n| --- | --- | --- | --- | --- | --- | --- |';
const rows: string[] = [];
for (const policy of POLICIES) {
  const r = await runPolicy(policy);
  if (r.lost || r.resurrected) failed = true;
  rows.push(`| ${policy} | ${r.cycles} | ${r.acked} | ${r.deletes} | ${r.lost} | ${r.resurrected} | ${(r.ms / 1000).toFixed(0)} s |`);
  console.log(`${header}\n${rows.join('\n')}`);
}
process.exit(failed ? 1 : 0);

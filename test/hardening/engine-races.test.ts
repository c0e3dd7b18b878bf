/**
 * Found by the fuzzer (fuzz.test.ts): a set's statistics read on the event
 * loop while a multi-threaded insert batch runs. The server died with SIGSEGV
 * in `Index::MemoryUsage` (core dump: main thread in MemoryUsage, two libuv
 * threads in `index_dense_gt::add_`): usearch's `memory_usage()` walks every
 * node up to `size()`, and `add_` bumps the size before it stores the new
 * node's pointer.
 *
 * Since dbf087c the server reports memory through `memoryStats()` (allocator
 * totals, no node walk), which removed the crash from INFO / VEC.INFO. The
 * first test keeps that path honest. The second shows the engine API still
 * breaks its own rule ("concurrency rules: all enforced, never a crash",
 * native-index.ts): `NativeIndex.memoryUsage()` (now `reservedBytes()`) during `addBatch` killed the
 * process. It runs in a child so a crash fails the test, not the test runner.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { spawnServer, ROOT } from '../helpers/server.js';
import { encodeCommand } from '../helpers/raw.js';
import { RawClient } from '../helpers/raw-client.js';
import { show } from '../helpers/resp-check.js';

const SECONDS = Number(process.env.RACE_SECONDS ?? 8);

test('INFO, VEC.INFO and VINFO while pipelined adds are being inserted: the server survives', async (t) => {
  t.timeout((SECONDS + 60) * 1000);
  const srv = await spawnServer(['--appendonly', 'no']);
  let death: string | null = null;
  void srv.exited.then((r) => { death = JSON.stringify(r); });
  const t0 = Date.now();
  const running = () => death === null && Date.now() - t0 < SECONDS * 1000;
  try {
    const writers = await Promise.all([0, 1].map(() => RawClient.connect(srv.port)));
    const reader = await RawClient.connect(srv.port);
    let adds = 0;
    let infos = 0;
    const write = async (c: RawClient, w: number) => {
      for (let round = 0; running(); round++) {
        const n = 2000;
        const cmds: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          const v = [String(Math.random() - 0.5), String(Math.random()), String(-Math.random()), '1'];
          cmds.push(encodeCommand(w === 0 ? ['VEC.ADD', `race:${w}`, `id${round}-${i}`, 'VALUES', '4', ...v] : ['VADD', `race:${w}`, 'VALUES', '4', ...v, `id${round}-${i}`]));
        }
        c.write(Buffer.concat(cmds));
        if ((await c.read(n, 30_000)).length < n) return;
        adds += n;
        if (round % 10 === 9) await c.call(['DEL', `race:${w}`]);
      }
    };
    const inspect = async () => {
      const probes = [['INFO'], ['INFO', 'vectors'], ['INFO', 'memory'], ['VEC.INFO', 'race:0'], ['VINFO', 'race:1']];
      while (running()) {
        reader.write(Buffer.concat(probes.map(encodeCommand)));
        if ((await reader.read(probes.length, 30_000)).length < probes.length) return;
        infos += probes.length;
      }
    };
    await Promise.all([...writers.map((c, w) => write(c, w)), inspect()]);
    // A connection that ended early may mean the process is dying: give its exit a moment to be seen.
    await Promise.race([srv.exited, new Promise((r) => setTimeout(r, 1000))]);
    t.log(`${adds} adds, ${infos} statistics reads in ${((Date.now() - t0) / 1000).toFixed(1)} s; server ${death ?? 'alive'}`);
    t.is(death, null, `the server died: ${death}; ${srv.output().slice(-500)}`);
    if (death === null) t.is(show(await reader.call(['PING'])), '+PONG');
    for (const c of [...writers, reader]) c.close();
  } finally {
    await srv.kill('SIGKILL');
  }
});

/** Run `method` of a NativeIndex in a tight loop on the JS thread while addBatch inserts 60 k vectors, in a child node. */
function raceInChild(method: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const url = path.join(ROOT, 'dist/src/engine/native-index.js');
  const script = `
    const { NativeIndex } = await import(${JSON.stringify(url)});
    const dim = 4, N = 60000;
    for (let round = 0; round < 3; round++) {
      const idx = new NativeIndex({ dimensions: dim, metric: 'cos', scalar: 'f32', connectivity: 16, expansionAdd: 64, expansionSearch: 64 });
      idx.reserve(N);
      const slots = new Uint32Array(N).map((_, i) => i);
      const vecs = new Float32Array(N * dim).map(() => Math.random() - 0.5);
      const done = idx.addBatch(slots, vecs);
      const t0 = Date.now();
      while (Date.now() - t0 < 400) idx[${JSON.stringify(method)}]();
      await done;
    }
    console.log('survived');`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

// memoryStats is what the server calls; reservedBytes/usedBytes (once memoryUsage) read the same counters.
for (const method of ['memoryStats', 'reservedBytes', 'usedBytes']) {
  test.serial(`NativeIndex.${method}() on the JS thread while addBatch runs does not crash the process`, async (t) => {
    t.timeout(120_000);
    const r = await raceInChild(method);
    t.is(r.signal, null, `killed by ${r.signal}: ${r.out.slice(-300)}`);
    t.is(r.code, 0, r.out.slice(-300));
  });
}

/**
 * The Docker image without a Docker engine: what can be checked here is
 * checked for real.
 *   - docker/entrypoint.sh run as the image runs it: environment → options,
 *     its defaults, a config file winning over them, exec (node is the
 *     entrypoint's process, so it gets SIGTERM), graceful stop with the WAL kept.
 *   - docker/healthcheck.js against running servers: healthy and unhealthy exit codes.
 *   - a production install (npm ci --omit=dev, the addon build configured from
 *     production dependencies alone) starting the server from a clean directory.
 *     The full addon compile takes minutes: set ASTRONAUT_TEST_FULL_BUILD=1 for it.
 *   - .dockerignore read with Docker's rules against paths and the real tree.
 *   - the Dockerfile's structure (stages, USER, VOLUME, EXPOSE, HEALTHCHECK…)
 *     and compose.yaml's, as a lint.
 */
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, freePort, removeTempDirs, startInProcess, tempDir } from '../helpers/server.js';
import { encodeCommand, exchange } from '../helpers/raw.js';
import { DockerIgnore } from '../helpers/dockerignore.js';

test.after.always(removeTempDirs);

const run = promisify(execFile);
const DOCKER = path.join(ROOT, 'docker');
const ENTRYPOINT = path.join(DOCKER, 'entrypoint.sh');
const HEALTHCHECK = path.join(DOCKER, 'healthcheck.js');

/** Send commands (AUTH first when a password is given); the raw replies. */
async function resp(port: number, commands: Array<Array<string | Buffer>>, password?: string): Promise<string> {
  const all = password ? [['AUTH', password], ...commands] : commands;
  return (await exchange(port, Buffer.concat(all.map((c) => encodeCommand(c))))).text;
}

interface Proc { child: ChildProcess; output(): string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  // 'close', not 'exit': 'exit' can come before the last of stdout is read (an `echo` run by
  // the entrypoint once read as '' in npm test).
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, output: () => out, exited };
}

/** Wait until PING answers +PONG (after AUTH), or fail with the process output. */
async function ready(p: Proc, port: number, password?: string, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`exited before answering: ${p.output().slice(-1500)}`);
    const text = await resp(port, [['PING']], password).catch(() => '');
    if (text.endsWith('+PONG\r\n')) return;
    if (Date.now() > deadline) { p.child.kill('SIGKILL'); throw new Error(`no answer in time: ${p.output().slice(-1500)}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The entrypoint as the image runs it, with only these variables (plus PATH and HOME). */
function entrypoint(env: Record<string, string>, args: string[] = [], cwd = tempDir()): Proc {
  return startProc('/bin/sh', [ENTRYPOINT, ...args], { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd);
}

const healthcheck = (env: Record<string, string>) =>
  run(process.execPath, [HEALTHCHECK], { env: { PATH: process.env.PATH, ...env } }).then(
    (r) => ({ code: 0, out: r.stdout.trim() }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: String(e.stdout).trim() }),
  );

const configValue = async (port: number, name: string, password?: string) => {
  const text = await resp(port, [['CONFIG', 'GET', name]], password);
  const lines = text.split('\r\n');
  return lines[lines.length - 2];
};

test.serial('the entrypoint maps the environment to options, sets the container defaults, execs node, and stops gracefully', async (t) => {
  const dir = tempDir();
  const [port, httpPort] = [await freePort(), await freePort()];
  const secret = path.join(tempDir(), 'password');
  writeFileSync(secret, 'from-a-secret\n');
  const env = {
    ASTRONAUT_DIR: dir, ASTRONAUT_PORT: String(port), ASTRONAUT_HTTP_PORT: String(httpPort),
    ASTRONAUT_REQUIREPASS_FILE: secret, ASTRONAUT_MAXCLIENTS: '321', ASTRONAUT_SAVE: '',
  };
  const p = entrypoint(env);
  try {
    await ready(p, port, 'from-a-secret');
    t.is(await configValue(port, 'bind', 'from-a-secret'), '0.0.0.0', 'listens on every interface by default');
    t.is(await configValue(port, 'protected-mode', 'from-a-secret'), 'yes');
    t.is(await configValue(port, 'maxclients', 'from-a-secret'), '321');
    t.is(await configValue(port, 'dir', 'from-a-secret'), dir);
    t.is(await configValue(port, 'http-port', 'from-a-secret'), String(httpPort));
    t.regex(await resp(port, [['PING']]), /^-NOAUTH/, 'the password from the file, newline dropped, is required');
    const info = await resp(port, [['INFO', 'server']], 'from-a-secret');
    t.is(Number(/process_id:(\d+)/.exec(info)![1]), p.child.pid ?? -1, 'exec: node is the entrypoint\'s own process (PID 1 in the container)');

    // Logs are JSON lines (pino) with the levels' numbers and a message.
    const first = p.output().split('\n').find((l) => l.includes('ready to accept connections'))!;
    const line = JSON.parse(first) as { level: number; msg: string; pid: number };
    t.is(line.level, 30);
    t.is(line.pid, p.child.pid ?? -1);

    const h = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    t.is(h.status, 200);
    const ins = await fetch(`http://127.0.0.1:${httpPort}/v1/insert`, {
      method: 'POST', headers: { authorization: 'Bearer from-a-secret' }, body: JSON.stringify({ key: 'kept', id: 'a', vector: [1, 2, 3] }),
    });
    t.is(ins.status, 200);
    t.is((await healthcheck({ ASTRONAUT_PORT: String(port), ASTRONAUT_HTTP_PORT: String(httpPort) })).code, 0);
  } finally {
    p.child.kill('SIGTERM');
  }
  const exit = await p.exited;
  t.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM is a graceful shutdown');
  t.regex(p.output(), /ready to exit/);

  // No snapshot was taken (save ""): what was acknowledged came back from the WAL.
  const again = entrypoint(env);
  try {
    await ready(again, port, 'from-a-secret');
    t.regex(await resp(port, [['VEC.CARD', 'kept']], 'from-a-secret'), /:1\r\n$/);
  } finally {
    again.child.kill('SIGTERM');
    await again.exited;
  }
});

test.serial('a config file given to the entrypoint wins over its defaults; explicit variables win over the file', async (t) => {
  const dir = tempDir();
  const [port, filePort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'astronaut.conf');
  writeFileSync(conf, `# mounted config\nbind 127.0.0.1\nport ${filePort}\nhttp-port 0\ndir ${dir}\nmaxclients 55\n`);
  const p = entrypoint({ ASTRONAUT_PORT: String(port) }, [conf, '--timeout', '9']);
  try {
    await ready(p, port);
    t.is(await configValue(port, 'bind'), '127.0.0.1', 'the file\'s bind, not the default 0.0.0.0');
    t.is(await configValue(port, 'http-port'), '0', 'the file turned HTTP off');
    t.is(await configValue(port, 'dir'), dir);
    t.is(await configValue(port, 'maxclients'), '55');
    t.is(await configValue(port, 'timeout'), '9', 'arguments after the file are options');
    t.regex(await resp(port, [['INFO', 'server']]), new RegExp(`config_file:${conf.replace(/[.]/g, '\\.')}\\r\\n`));
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
});

test('a command that is not an option runs instead of the server', async (t) => {
  const p = entrypoint({}, ['echo', 'just', 'a', 'shell']);
  const exit = await p.exited;
  t.is(exit.code, 0);
  t.is(p.output().trim(), 'just a shell');
});

test.serial('the health check: healthy on /healthz 200 or PING +PONG; unhealthy while loading, on a wrong password, or with nothing listening', async (t) => {
  const httpPort = await freePort();
  const srv = await startInProcess({ 'http-port': httpPort, requirepass: 'pw' });
  try {
    const both = { ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: String(httpPort) };
    const ok = await healthcheck(both);
    t.is(ok.code, 0);
    t.regex(ok.out, /^healthy: GET \/healthz 200/);
    t.is((await healthcheck({ ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: '0', ASTRONAUT_REQUIREPASS: 'pw' })).code, 0, 'HTTP off: PING with AUTH');
    const secret = path.join(tempDir(), 'pw');
    writeFileSync(secret, 'pw\n');
    t.is((await healthcheck({ ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: '0', ASTRONAUT_REQUIREPASS_FILE: secret })).code, 0);
    const wrong = await healthcheck({ ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: '0', ASTRONAUT_REQUIREPASS: 'nope' });
    t.is(wrong.code, 1);
    t.regex(wrong.out, /^unhealthy: PING -NOAUTH/);
    const refused = await freePort();
    t.is((await healthcheck({ ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: String(refused), ASTRONAUT_REQUIREPASS: 'pw' })).code, 0, 'HTTP not listening: falls back to PING');

    const releaseLoading = srv.server.holdLoading();
    const loading = await healthcheck(both);
    t.is(loading.code, 1);
    t.regex(loading.out, /^unhealthy: GET \/healthz 503/);
    const loadingPing = await healthcheck({ ASTRONAUT_PORT: String(srv.port), ASTRONAUT_HTTP_PORT: '0', ASTRONAUT_REQUIREPASS: 'pw' });
    t.is(loadingPing.code, 1);
    t.regex(loadingPing.out, /-LOADING/);
    releaseLoading();
  } finally { await srv.stop(); }
  const none = await healthcheck({ ASTRONAUT_PORT: String(await freePort()), ASTRONAUT_HTTP_PORT: String(await freePort()) });
  t.is(none.code, 1);
  t.regex(none.out, /^unhealthy: .*ECONNREFUSED/);
});

test.serial('a production install (npm ci --omit=dev, the addon build from production dependencies) starts the server from a clean directory', async (t) => {
  const full = process.env.ASTRONAUT_TEST_FULL_BUILD === '1';
  t.timeout(full ? 30 * 60_000 : 5 * 60_000);
  const app = tempDir('astronaut-prod-');
  // What the image's stages take from the context, plus the compiled TypeScript (the build stage's output).
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(ROOT, f), path.join(app, f));
  cpSync(path.join(ROOT, 'bin'), path.join(app, 'bin'), { recursive: true });
  for (const d of ['dist/src', 'dist/protocol']) cpSync(path.join(ROOT, d), path.join(app, d), { recursive: true });
  mkdirSync(path.join(app, 'src/engine/native'), { recursive: true });
  for (const f of ['binding.gyp', 'usearch_addon.cpp']) copyFileSync(path.join(ROOT, 'src/engine/native', f), path.join(app, 'src/engine/native', f));

  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, maxBuffer: 16 << 20 });
  for (const dev of ['typescript', 'ava', 'ioredis', 'node-gyp', 'fast-check', 'redis-parser']) t.false(existsSync(path.join(app, 'node_modules', dev)), `${dev} is a dev dependency`);
  t.true(existsSync(path.join(app, 'node_modules/node-addon-api')), 'node-addon-api is a production dependency');
  t.true(existsSync(path.join(app, 'node_modules/usearch/include/usearch/index_dense.hpp')), 'the usearch headers are a production dependency');

  const addon = path.join(app, 'src/engine/native/build/Release/astronaut_usearch.node');
  if (full) {
    await run('npm', ['run', 'install'], { cwd: app, env: { ...process.env, JOBS: 'max' }, maxBuffer: 64 << 20 });
  } else {
    // node-gyp (npm's own, as `npm run install` uses it) resolves the addon's build files from the production install alone…
    const nodeGyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(nodeGyp)) {
      const nodedir = (await run('npm', ['config', 'get', 'nodedir'])).stdout.trim();
      await run(process.execPath, [nodeGyp, 'configure', '--directory', 'src/engine/native', ...(nodedir && nodedir !== 'undefined' ? [`--nodedir=${nodedir}`] : [])], { cwd: app, maxBuffer: 16 << 20 });
      t.true(existsSync(path.join(app, 'src/engine/native/build/Makefile')));
    } else {
      t.log(`npm's node-gyp not found at ${nodeGyp}: configure step skipped`);
    }
    // …and the compile itself (minutes) is reused from this checkout's build; ASTRONAUT_TEST_FULL_BUILD=1 runs it.
    mkdirSync(path.dirname(addon), { recursive: true });
    copyFileSync(path.join(ROOT, 'src/engine/native/build/Release/astronaut_usearch.node'), addon);
  }
  t.true(existsSync(addon));

  const port = await freePort();
  const p = startProc(process.execPath, [path.join(app, 'bin/astronaut.js'), '--port', String(port), '--dir', path.join(app, 'data')], { PATH: process.env.PATH }, app);
  try {
    await ready(p, port);
    const replies = await resp(port, [['VEC.ADD', 'prod', 'a', 'VALUES', '3', '1', '0', '0'], ['VEC.SEARCH', 'prod', 'VALUES', '3', '1', '0.1', '0']]);
    t.is(replies, ':1\r\n*1\r\n$1\r\na\r\n');
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
});

test('.dockerignore keeps node_modules, data, builds and test output out of the build context, and the sources in', (t) => {
  const ignore = DockerIgnore.read(path.join(ROOT, '.dockerignore'));
  const out = [
    'node_modules/pino/package.json', 'src/node_modules/x', 'src/engine/native/node_modules/node-addon-api/napi.h',
    'dist/src/cli.js', 'dist/test/http/http.test.js', 'data/MANIFEST', 'data/wal-00000000000000000001.log',
    'src/engine/native/build/Release/astronaut_usearch.node', 'src/engine/native/build/Makefile',
    'coverage/lcov.info', '.nyc_output/out.json', 'test-results/junit.xml', 'bench/results/latest.json', 'scratch/notes.txt',
    'npm-debug.log', 'src/x.tmp', '.git/HEAD', 'docker/astronaut.env', '.env', 'dump.snap',
  ];
  for (const p of out) t.true(ignore.excludes(p), `${p} must stay out`);
  const kept = [
    'package.json', 'package-lock.json', 'tsconfig.json', 'bin/astronaut.js', 'src/cli.ts', 'src/app.ts', 'protocol/parser.ts',
    'src/engine/native/binding.gyp', 'src/engine/native/usearch_addon.cpp', 'docker/Dockerfile', 'docker/entrypoint.sh', 'docker/healthcheck.js',
  ];
  for (const p of kept) t.false(ignore.excludes(p), `${p} must be in the context`);

  // The real tree: nothing from node_modules, dist, data or a native build would be sent.
  const files = ignore.contextFiles(ROOT);
  t.true(files.includes('package.json'));
  for (const f of files) {
    t.false(/(^|\/)node_modules\//.test(f) || f.startsWith('dist/') || f.startsWith('data/') || f.startsWith('src/engine/native/build/'), f);
  }
});

/** Dockerfile instructions with continuation lines joined, per stage. */
function dockerfile(): Array<{ from: string; name: string; lines: Array<[string, string]> }> {
  const text = readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
  const stages: Array<{ from: string; name: string; lines: Array<[string, string]> }> = [];
  const args = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].replace(/\$\{(\w+)\}/g, (_, v: string) => args.get(v) ?? '');
    if (op === 'ARG' && stages.length === 0) { const [k, v] = rest.split('='); args.set(k, v ?? ''); continue; }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: f[1], name: f[2] ?? '', lines: [] });
      continue;
    }
    stages[stages.length - 1].lines.push([op, rest]);
  }
  return stages;
}

test('the Dockerfile: a build stage, a production-install stage with the addon, a slim non-root runtime with /data, ports, health check and exec entrypoint', (t) => {
  const stages = dockerfile();
  t.true(stages.length >= 2, 'multi-stage');
  const names = stages.map((s) => s.name);
  const runtime = stages[stages.length - 1];
  t.regex(runtime.from, /^node:20[\w.-]*-slim$/, 'a slim Node 20 runtime');
  for (const s of stages.slice(0, -1)) t.regex(s.from, /^node:20/);
  const runs = (s: typeof runtime) => s.lines.filter(([op]) => op === 'RUN').map(([, r]) => r).join('\n');
  t.true(stages.some((s) => /\bnpx tsc\b|\bnpm run build\b/.test(runs(s))), 'TypeScript is compiled in a build stage');
  const prod = stages.find((s) => /npm ci --omit=dev/.test(runs(s)));
  t.truthy(prod, 'production dependencies only');
  t.regex(runs(prod!), /npm run install|node-gyp (re)?build/, 'the native addon is built against the production install');
  t.notRegex(runs(runtime), /npm (ci|install)|apt-get|node-gyp/, 'nothing is built or installed in the runtime stage');

  const op = (name: string) => runtime.lines.filter(([o]) => o === name).map(([, r]) => r);
  const user = op('USER');
  t.is(user.length, 1);
  t.notRegex(user[0], /^(root|0)(:|$)/, 'runs as a non-root user');
  t.true(op('VOLUME').some((v) => /\/data\b/.test(v)), 'a /data volume');
  const exposed = op('EXPOSE').join(' ').split(/\s+/);
  t.true(exposed.includes('6379') && exposed.includes('8080'));
  const health = op('HEALTHCHECK');
  t.is(health.length, 1);
  t.regex(health[0], /CMD \["node", "\/app\/docker\/healthcheck\.js"\]/, 'the health check needs only node');
  const entry = op('ENTRYPOINT');
  t.is(entry.length, 1);
  t.regex(entry[0], /^\[.*entrypoint\.sh"\]$/, 'exec form, so signals reach the entrypoint');
  t.regex(readFileSync(ENTRYPOINT, 'utf8'), /^exec node /m, 'the entrypoint execs node');

  // COPY --from names a stage; plain COPY sources exist in the context and are not ignored.
  const ignore = DockerIgnore.read(path.join(ROOT, '.dockerignore'));
  for (const s of stages) {
    for (const [o, rest] of s.lines) {
      if (o !== 'COPY') continue;
      const from = /--from=(\S+)/.exec(rest);
      if (from) { t.true(names.includes(from[1]), `COPY --from=${from[1]}`); continue; }
      const words = rest.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        t.true(existsSync(path.join(ROOT, src)), `${src} exists`);
        t.false(ignore.excludes(src), `${src} is in the build context`);
      }
    }
  }
});

test('compose.yaml: the app beside Astronaut, a data volume, the password from an env file, health-gated start', (t) => {
  const compose = readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8');
  t.notRegex(compose, /\t/, 'YAML takes no tabs');
  t.regex(compose, /^services:\n {2}astronaut:\n/m);
  t.regex(compose, /^ {2}app:\n/m);
  t.regex(compose, /dockerfile: docker\/Dockerfile/);
  t.regex(compose, /- astronaut-data:\/data/);
  t.regex(compose, /^volumes:\n {2}astronaut-data:/m);
  t.is(compose.match(/env_file: \.\/astronaut\.env/g)?.length, 2, 'both services read the password from the env file');
  t.regex(compose, /condition: service_healthy/);
  t.regex(compose, /redis:\/\/astronaut:6379/);
  t.regex(readFileSync(path.join(DOCKER, 'astronaut.env.example'), 'utf8'), /^ASTRONAUT_REQUIREPASS=/m);
  for (const mounted of compose.matchAll(/- \.\/([\w.-]+):/g)) t.true(existsSync(path.join(DOCKER, mounted[1])), mounted[1]);
});

test('the docker scripts parse', async (t) => {
  await run('/bin/sh', ['-n', ENTRYPOINT]);
  await run(process.execPath, ['--check', HEALTHCHECK]);
  await run(process.execPath, ['--check', path.join(DOCKER, 'example-app.mjs')]);
  chmodSync(ENTRYPOINT, 0o755);
  t.pass();
});

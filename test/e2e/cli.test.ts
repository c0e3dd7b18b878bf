/**
 * The `astronaut` command as an operator uses it: options like redis-server's,
 * a config file, ASTRONAUT_* variables, --help/--version, refusals of unknown
 * options, graceful shutdown on SIGTERM and SHUTDOWN, and redis-cli talking to it
 * (including the argument hints it builds from COMMAND DOCS).
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, removeTempDirs, spawnServer, startInProcess, tempDir } from '../helpers/server.js';

test.after.always(removeTempDirs);

const run = promisify(execFile);
const hasCli = (() => { try { execFileSync('redis-cli', ['--version']); return true; } catch { return false; } })();
const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();

test('--version and --help', async (t) => {
  const v = await run(process.execPath, [BIN, '--version']);
  t.regex(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const h = await run(process.execPath, [BIN, '--help']);
  for (const opt of ['--port', '--bind', '--dir', '--requirepass', '--appendonly', '--appendfsync', '--maxclients', '--save']) t.true(h.stdout.includes(opt), opt);
});

// Tests pick ports that were free a moment ago; another test's server can take one first.
// Every spawn-based test relies on never mistaking that server for its own (a CI failure once).
test('a spawned server is ready only when its own process answers on the port', async (t) => {
  const other = await startInProcess();
  try {
    const err = await t.throwsAsync(spawnServer([], { port: other.port }));
    t.regex(err!.message, /EADDRINUSE/);
  } finally { await other.stop(); }
});

test('unknown options and bad values are refused at start', async (t) => {
  const e1 = await t.throwsAsync(run(process.execPath, [BIN, '--no-such-option', '1', '--port', '0']));
  t.regex(String(e1?.message), /Unknown argument|no-such-option/);
  const e2 = await t.throwsAsync(run(process.execPath, [BIN, '--port', 'abc']));
  t.regex(String(e2?.message), /invalid value 'abc' for 'port'/);
  const e3 = await t.throwsAsync(run(process.execPath, [BIN, '--appendfsync', 'sometimes', '--port', '0']));
  t.regex(String(e3?.message), /appendfsync/);
});

test('a config file, environment variables and the command line, in that order of precedence', async (t) => {
  const dir = tempDir();
  const conf = path.join(dir, 'astronaut.conf');
  writeFileSync(conf, '# comment\nmaxclients 123\ntimeout 7\nslowlog-max-len 9\nsave 900 1\nsave 300 10\n');
  const srv = await spawnServer([conf, '--timeout', '8', '--appendonly', 'no'], { env: { ASTRONAUT_SLOWLOG_MAX_LEN: '10' } });
  try {
    if (!hasCli) { t.pass('redis-cli missing'); return; }
    t.is(cli(srv.port, 'CONFIG', 'GET', 'maxclients'), 'maxclients\n123');
    t.is(cli(srv.port, 'CONFIG', 'GET', 'timeout'), 'timeout\n8');
    t.is(cli(srv.port, 'CONFIG', 'GET', 'slowlog-max-len'), 'slowlog-max-len\n10');
    t.is(cli(srv.port, 'CONFIG', 'GET', 'save'), 'save\n900 1 300 10');
    t.regex(cli(srv.port, 'INFO', 'server'), new RegExp(`config_file:${conf.replace(/[/.]/g, '\\$&')}`));
  } finally { await srv.kill(); }
});

test('startup line and graceful shutdown on SIGTERM', async (t) => {
  const srv = await spawnServer(['--appendonly', 'no']);
  t.regex(srv.output(), /Astronaut ready to accept connections/);
  t.regex(srv.output(), /"version":"\d+\.\d+\.\d+"/);
  const r = await srv.kill('SIGTERM');
  t.is(r.code, 0);
  t.regex(srv.output(), /shutting down/);
});

test('SHUTDOWN NOSAVE stops the process', async (t) => {
  if (!hasCli) { t.pass('redis-cli missing'); return; }
  const srv = await spawnServer(['--appendonly', 'no']);
  try { cli(srv.port, 'SHUTDOWN', 'NOSAVE'); } catch { /* the connection closes without a reply, as with Redis */ }
  const r = await srv.exited;
  t.is(r.code, 0);
});

test('redis-cli: PING, inline quoting, RESP3 with -3, and COMMAND DOCS hints for VEC.ADD', async (t) => {
  if (!hasCli) { t.pass('redis-cli missing'); return; }
  const srv = await spawnServer(['--appendonly', 'no']);
  try {
    t.is(cli(srv.port, 'PING'), 'PONG');
    t.is(cli(srv.port, 'ECHO', 'a b'), 'a b');
    t.regex(cli(srv.port, '-3', 'HELLO', '3'), /proto\s*\n?\s*3|proto.*3/);
    t.is(cli(srv.port, 'VEC.ADD', 'cli', 'a', 'VALUES', '3', '1', '0', '0'), '1');
    t.is(cli(srv.port, 'VEC.SEARCH', 'cli', 'VALUES', '3', '1', '0.1', '0', 'COUNT', '1'), 'a');
    // Interactive redis-cli shows hints built from COMMAND DOCS: drive it in tmux.
    let tmux = true;
    try { execFileSync('tmux', ['-V']); } catch { tmux = false; }
    if (!tmux) { t.pass('tmux missing: hints not checked'); return; }
    const session = `astro${process.pid}${Date.now() % 10000}`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '200', '-y', '20', `redis-cli -p ${srv.port}`]);
    try {
      let screen = '';
      for (let i = 0; i < 50 && !screen.includes('>'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      }
      execFileSync('tmux', ['send-keys', '-t', session, 'VEC.ADD ']);
      for (let i = 0; i < 50 && !/VEC\.ADD key/.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      }
      t.regex(screen, /VEC\.ADD key id/, 'redis-cli shows the argument hint');
    } finally { execFileSync('tmux', ['kill-session', '-t', session]); }
  } finally { await srv.kill(); }
});

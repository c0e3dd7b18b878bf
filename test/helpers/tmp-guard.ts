/**
 * `npm test` runs ava through this: `node dist/test/helpers/tmp-guard.js [ava options]`.
 * Ava runs with TMPDIR set to a directory made for this run alone, so whatever
 * is in it afterwards was left by this run's tests (os.tmpdir() is shared with
 * other runs and other programs). Anything left fails the run, named, even when
 * every test passed; the run's directory is removed either way.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Not server.js's ROOT: importing that helper would load the whole server here.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const AVA = path.join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');

function run(runDir: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AVA, ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TMPDIR: runDir } });
    // A terminal's Ctrl-C reaches ava directly; a SIGTERM sent to this process alone is passed on.
    // Either way this process stays to clean up once ava has stopped.
    process.on('SIGINT', () => {});
    process.on('SIGTERM', () => child.kill('SIGTERM'));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** What is left in `dir`, a few names deep, so the test that left it can be found. */
function describe(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).map((e) => {
    if (!e.isDirectory()) return e.name;
    const inside = readdirSync(path.join(dir, e.name)).slice(0, 8);
    return `${e.name}/ (${inside.length ? inside.join(', ') : 'empty'})`;
  });
}

async function main(): Promise<number> {
  const runDir = mkdtempSync(path.join(tmpdir(), 'astronaut-run-'));
  try {
    const code = await run(runDir, process.argv.slice(2));
    const left = describe(runDir);
    if (left.length === 0) return code;
    console.error(`\n✘ the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temporary directory (${runDir}); each test must remove what it creates:`);
    for (const l of left) console.error(`  ${l}`);
    return code || 1;
  } finally {
    rmSync(runDir, { recursive: true, force: true, maxRetries: 5 });
  }
}

process.exitCode = await main();

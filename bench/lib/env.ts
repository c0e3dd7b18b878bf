/** Where a run happened: Node, CPU, commit, server and library versions (printed and stored with every result). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './server.js';

export interface RunEnv {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  commit: string;
  redisServer: string;
  redisBenchmark: string;
  usearchStock: string;
  addon: string;
  loadAverage: string;
}

function run(cmd: string, args: string[]): string {
  try { return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return 'unknown'; }
}

export async function runEnv(): Promise<RunEnv> {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
    const flags = /flags\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(' ') ?? [];
    const simd = ['avx512f', 'avx2', 'neon'].filter((f) => flags.includes(f));
    if (simd.length) cpu += ` (${simd.join(', ')})`;
  } catch { /* not Linux: os.cpus() it is */ }
  const head = run('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']);
  let usearchStock = 'unknown';
  try { usearchStock = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'usearch', 'package.json'), 'utf8')).version; } catch { /* reported as unknown */ }
  let addon = 'unknown';
  try {
    const { capabilities } = await import('../../src/engine/native-index.js');
    addon = `usearch ${capabilities.usearch}, simd ${capabilities.simd}`;
  } catch (e) { addon = `not loadable: ${(e as Error).message.split('\n')[0]}`; }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    commit: head + (dirty && dirty !== 'unknown' ? ' (+ uncommitted changes)' : ''),
    redisServer: run('redis-server', ['--version']).replace(/^Redis server /, ''),
    redisBenchmark: run('redis-benchmark', ['--version']),
    usearchStock,
    addon,
    loadAverage: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

/**
 * `astronaut check <dir> [--fix]`: verify the manifest, every snapshot and the
 * WAL, and say what was found, like redis-check-aof. Read-only except that
 * `fix` truncates a torn tail (the one repair that loses nothing acknowledged
 * under the spec's rules); `fix` takes the directory's lock, so it refuses
 * while a server uses the directory. When a server would refuse to start, the
 * report says what the server's `--repair` would keep and drop.
 */
import * as nodePath from 'node:path';
import type { Fs } from './fs.js';
import { RealFs } from './fs.js';
import { CorruptionError, describeError, isNotFound } from './errors.js';
import type { Logger } from './logger.js';
import type { Manifest } from './manifest.js';
import { readManifest } from './manifest.js';
import { SnapshotReader } from './snapshot-reader.js';
import { parseSnapshotFileName } from './snapshot-format.js';
import type { WalProblem, WalScanReport } from './wal-reader.js';
import { listSegments, scanWal } from './wal-reader.js';
import type { WalSegmentRef } from './wal-writer.js';
import { DirLock, lockHolder } from './lock.js';

export interface CheckOptions {
  /** Truncate a torn tail of the last WAL segment. */
  fix?: boolean;
  fs?: Fs;
  logger?: Logger;
}

export interface SnapshotCheck {
  file: string;
  role: 'current' | 'previous' | 'unreferenced';
  status: 'ok' | 'damaged' | 'missing';
  seq?: number;
  size?: number;
  sections?: number;
  detail?: string;
}

export interface CheckReport {
  dir: string;
  /** True when a server would start without `--repair` (a torn tail is fine). */
  ok: boolean;
  manifest: { status: 'ok' | 'missing' | 'damaged'; generation?: number; appendonly?: boolean; detail?: string };
  snapshots: SnapshotCheck[];
  wal: WalScanReport | null;
  /** Human-readable findings, one per line. */
  problems: string[];
  /** What `fix` changed. */
  fixed: string[];
  /** The pid of a running server holding the directory (the files may change under the check), or null. */
  heldBy: number | null;
}

export async function checkDir(dir: string, opts: CheckOptions = {}): Promise<CheckReport> {
  // Changing files under a running server would race its writer: --fix needs the directory to itself.
  const lock = opts.fix ? await DirLock.acquire(dir) : null;
  try {
    return await check(dir, opts, lock ? null : (await lockHolder(dir))?.pid ?? null);
  } finally {
    await lock?.release();
  }
}

async function check(dir: string, opts: CheckOptions, heldBy: number | null): Promise<CheckReport> {
  const fs = opts.fs ?? new RealFs();
  const report: CheckReport = { dir, ok: true, manifest: { status: 'missing' }, snapshots: [], wal: null, problems: [], fixed: [], heldBy };
  const names = await fs.readdir(dir);

  let manifest: Manifest | null = null;
  try {
    manifest = await readManifest(fs, dir);
    report.manifest = manifest ? { status: 'ok', generation: manifest.generation, appendonly: manifest.appendonly } : { status: 'missing' };
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    report.manifest = { status: 'damaged', detail: describeError(err) };
    report.problems.push(`MANIFEST: ${describeError(err)}`);
    report.ok = false;
  }
  if (!manifest && report.manifest.status === 'missing' && names.some((n) => parseSnapshotFileName(n) !== null || /^wal-\d{20}\.log$/.test(n))) {
    report.problems.push('MANIFEST is missing but data files are present');
    report.ok = false;
  }

  // Snapshots: those the manifest names first, then any other snap-*.snap.
  const roles = new Map<string, SnapshotCheck['role']>();
  if (manifest?.snapshot) roles.set(manifest.snapshot.file, 'current');
  if (manifest?.previous) roles.set(manifest.previous.file, 'previous');
  for (const n of names) if (parseSnapshotFileName(n) !== null && !roles.has(n)) roles.set(n, 'unreferenced');
  let usable: number | null = null;
  for (const [file, role] of roles) {
    const ref = role === 'current' ? manifest?.snapshot : role === 'previous' ? manifest?.previous : null;
    const c: SnapshotCheck = { file, role, status: 'ok' };
    try {
      const r = await SnapshotReader.open(fs, nodePath.join(dir, file), ref ? { expect: { size: ref.size, crc: ref.crc } } : {});
      c.seq = r.seq;
      c.size = r.size;
      c.sections = r.sections.length;
      await r.close();
      if (ref && ref.seq !== r.seq) {
        c.status = 'damaged';
        c.detail = `covers up to ${r.seq}, manifest says ${ref.seq}`;
      }
    } catch (err) {
      if (!(err instanceof CorruptionError) && !isNotFound(err)) throw err;
      c.status = isNotFound(err) ? 'missing' : 'damaged';
      c.detail = describeError(err);
    }
    if (c.status !== 'ok') report.problems.push(`snapshot ${file} (${role}): ${c.status}${c.detail ? `: ${c.detail}` : ''}`);
    else if (role !== 'unreferenced' && usable === null) usable = ref!.seq;
    report.snapshots.push(c);
  }
  const hadSnapshot = !!manifest?.snapshot || !!manifest?.previous;
  if (hadSnapshot && usable === null) {
    report.ok = false;
    report.problems.push('no snapshot named by the manifest verifies');
  } else if (manifest?.snapshot && usable !== manifest.snapshot.seq) {
    report.problems.push('the current snapshot is unusable; a server would fall back to the previous one');
  }

  // WAL: from the earliest snapshot the manifest keeps (or the beginning), over the segments listed plus newer ones.
  const onDisk = await listSegments(fs, dir);
  if (!manifest || manifest.appendonly || onDisk.length > 0) {
    const listed: WalSegmentRef[] = manifest?.appendonly ? manifest.wal : manifest ? [] : onDisk;
    const maxListed = listed.length ? Math.max(...listed.map((s) => s.firstSeq)) : 0;
    const chain = [...listed, ...onDisk.filter((s) => !listed.some((l) => l.file === s.file) && s.firstSeq > maxListed)];
    if (chain.length > 0) {
      // Everything kept is verified; the records from the current snapshot's cut (or 1) on must all be there.
      const scan = await scanWal(fs, dir, chain, {
        fromSeq: Math.min(chain[0]!.firstSeq, manifest?.snapshot?.seq ?? 1),
        collect: true,
        tornTail: opts.fix ? 'truncate' : 'report',
        ...(opts.logger ? { logger: opts.logger } : {}),
      });
      report.wal = scan;
      for (const p of scan.problems) {
        report.problems.push(describeProblem(p));
        if (p.fixed) report.fixed.push(describeProblem(p));
        if (p.kind !== 'torn-tail' && p.kind !== 'torn-header') report.ok = false;
      }
    }
  }
  return report;
}

function describeProblem(p: WalProblem): string {
  return `${p.file}: ${p.kind}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.detail}${p.fixed ? ' — truncated' : ''}`;
}

/** The report as text for the CLI. */
export function formatCheckReport(r: CheckReport): string {
  const out: string[] = [];
  out.push(`Checking ${r.dir}`);
  if (r.heldBy !== null) out.push(`note: a server (pid ${r.heldBy}) is using this directory; files may change while they are read`);
  out.push(`MANIFEST: ${r.manifest.status}${r.manifest.generation !== undefined ? ` (generation ${r.manifest.generation}, appendonly ${r.manifest.appendonly ? 'yes' : 'no'})` : ''}`);
  for (const s of r.snapshots) {
    out.push(`snapshot ${s.file} [${s.role}]: ${s.status}${s.seq !== undefined ? `, cut at seq ${s.seq}, ${s.size} bytes, ${s.sections} sections` : ''}${s.detail ? ` — ${s.detail}` : ''}`);
  }
  if (r.wal) {
    for (const s of r.wal.segments) {
      const tail = s.validEnd + s.reserved !== s.size && s.status !== 'missing' ? `, valid up to ${s.validEnd}` : s.reserved > 0 ? ` (${s.reserved} of them preallocated, not yet written)` : '';
      out.push(`wal ${s.file}: ${s.status}, ${s.records} records${s.records ? ` (${s.firstSeq}..${s.lastSeq})` : ''}, ${s.size} bytes${tail}`);
    }
    out.push(`WAL: ${r.wal.records} records up to seq ${r.wal.lastSeq}`);
  } else {
    out.push('WAL: none');
  }
  for (const p of r.problems) out.push(`problem: ${p}`);
  for (const f of r.fixed) out.push(`fixed: ${f}`);
  if (r.ok) {
    out.push('OK: a server would start from this directory');
  } else {
    out.push(`NOT OK: a server would refuse to start. \`astronaut --dir ${r.dir} --repair\` (with your other options) starts it anyway:`);
    out.push(`  it would keep: ${repairKeeps(r)}`);
    out.push('  it would drop: what each problem above names (damaged snapshots are renamed *.broken, not deleted), then snapshot the result');
  }
  return out.join('\n') + '\n';
}

/** What a repair start loads: the newest snapshot that verifies, then every WAL record that verifies after it. */
function repairKeeps(r: CheckReport): string {
  const snap = r.snapshots.find((s) => s.status === 'ok' && s.role !== 'unreferenced') ?? r.snapshots.filter((s) => s.status === 'ok').sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0))[0];
  const from = snap?.seq ?? 1;
  const records = r.wal ? r.wal.segments.reduce((n, s) => n + (s.lastSeq >= from ? Math.min(s.records, s.lastSeq - Math.max(from, s.firstSeq) + 1) : 0), 0) : 0;
  const parts = [snap ? `snapshot ${snap.file} (writes before #${snap.seq})` : 'no snapshot'];
  parts.push(records > 0 ? `${records} valid WAL records from #${from} on (up to #${r.wal!.lastSeq})` : 'no WAL records');
  return parts.join(' and ');
}

/**
 * The manifest: which snapshot is current (and the previous one, for
 * fallback), and which WAL segments follow it. Replacing it — temp file,
 * fsync, rename, fsync of the directory — is the commit point of a snapshot
 * (spec "Segments and a manifest").
 *
 * File `MANIFEST`, three lines of text:
 *
 *   ASTRONAUT-MANIFEST 1
 *   {"generation":7,"appendonly":true,"snapshot":{…},"previous":{…},"wal":[…]}
 *   crc32c 1a2b3c4d
 *
 * The checksum covers the first two lines including their newlines.
 */
import * as nodePath from 'node:path';
import type { Fs } from './fs.js';
import { readWholeFile, replaceFile } from './fs.js';
import { crc32c } from './crc32c.js';
import { CorruptionError, isNotFound } from './errors.js';
import type { WalSegmentRef } from './wal-writer.js';

export const MANIFEST_FILE = 'MANIFEST';
const MAGIC_LINE = 'ASTRONAUT-MANIFEST 1\n';

/** A snapshot as the manifest records it. */
export interface SnapshotRef {
  /** File name within the directory. */
  file: string;
  /** The cut: first WAL sequence number not contained. */
  seq: number;
  size: number;
  /** Root checksum (the snapshot trailer's CRC). */
  crc: number;
  createdMs: number;
}

export interface Manifest {
  /** Increases with every manifest written. */
  generation: number;
  /** Whether the WAL was on when this was written (segments are only trusted if so). */
  appendonly: boolean;
  snapshot: SnapshotRef | null;
  /** The snapshot before `snapshot`, kept with the WAL after it for fallback. */
  previous: SnapshotRef | null;
  /** Segments that hold records from `previous.seq` (or 1) onward, oldest first. */
  wal: WalSegmentRef[];
}

export function encodeManifest(m: Manifest): Buffer {
  const body = MAGIC_LINE + JSON.stringify(m) + '\n';
  const crc = crc32c(Buffer.from(body, 'utf8'));
  return Buffer.from(body + `crc32c ${crc.toString(16).padStart(8, '0')}\n`, 'utf8');
}

export function decodeManifest(buf: Buffer, where = MANIFEST_FILE): Manifest {
  const bad = (detail: string): CorruptionError =>
    new CorruptionError('bad-manifest', `manifest ${where} is damaged: ${detail}. Start once with \`--repair\` (same --dir and options) to rebuild it from the files present; \`astronaut check <dir>\` shows what they hold.`, where);
  const text = buf.toString('utf8');
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '' || lines[0] + '\n' !== MAGIC_LINE) throw bad('not a manifest (bad layout)');
  const m = /^crc32c ([0-9a-f]{8})$/.exec(lines[2]!);
  if (!m) throw bad('checksum line missing');
  const bodyLen = Buffer.byteLength(lines[0]! + '\n' + lines[1]! + '\n', 'utf8');
  if (crc32c(buf.subarray(0, bodyLen)) !== parseInt(m[1]!, 16)) throw bad('checksum mismatch');
  let v: unknown;
  try {
    v = JSON.parse(lines[1]!);
  } catch {
    throw bad('body is not JSON');
  }
  const problem = validate(v);
  if (problem) throw bad(problem);
  return v as Manifest;
}

function isSafeNat(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function validRef(r: unknown): boolean {
  if (r === null) return true;
  if (typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  return typeof o['file'] === 'string' && !o['file'].includes('/') && isSafeNat(o['seq']) && isSafeNat(o['size']) && isSafeNat(o['crc']) && isSafeNat(o['createdMs']);
}

function validate(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'body is not an object';
  const o = v as Record<string, unknown>;
  if (!isSafeNat(o['generation'])) return 'bad generation';
  if (typeof o['appendonly'] !== 'boolean') return 'bad appendonly';
  if (!validRef(o['snapshot']) || !validRef(o['previous'])) return 'bad snapshot entry';
  if (!Array.isArray(o['wal'])) return 'bad wal list';
  for (const s of o['wal'] as unknown[]) {
    if (typeof s !== 'object' || s === null) return 'bad wal entry';
    const e = s as Record<string, unknown>;
    if (typeof e['file'] !== 'string' || e['file'].includes('/') || !isSafeNat(e['firstSeq'])) return 'bad wal entry';
  }
  return null;
}

/** The manifest in `dir`, or null when there is none. Throws `CorruptionError` when it is damaged. */
export async function readManifest(fs: Fs, dir: string): Promise<Manifest | null> {
  let buf: Buffer;
  try {
    buf = await readWholeFile(fs, nodePath.join(dir, MANIFEST_FILE));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  return decodeManifest(buf, nodePath.join(dir, MANIFEST_FILE));
}

/** Names of the steps of a manifest commit, for failpoints. */
export type ManifestStep = 'manifest:tmp-written' | 'manifest:renamed';

/**
 * Atomically replace the manifest: write `MANIFEST.tmp`, fsync it, rename over
 * `MANIFEST`, fsync the directory. Once this resolves the new manifest
 * survives power loss; if it throws, either the old or the new one is in place.
 */
export async function writeManifest(fs: Fs, dir: string, m: Manifest, failpoint?: (step: ManifestStep) => Promise<void>): Promise<void> {
  await replaceFile(fs, dir, MANIFEST_FILE, encodeManifest(m), failpoint && ((point) => failpoint(`manifest:${point}`)));
}

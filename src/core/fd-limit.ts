/**
 * File descriptors: every client costs one, and running out makes accept(),
 * open() and even process.memoryUsage() fail with EMFILE. Redis raises
 * RLIMIT_NOFILE at start or, when it cannot, lowers maxclients to fit and
 * says so (adjustOpenFilesLimit). Node has no getrlimit/setrlimit (it raises
 * the soft limit to the hard one itself at start), so the limit is read from
 * /proc/self/limits; where that file does not exist the check is skipped.
 */
import { readFileSync, readdirSync } from 'node:fs';

/**
 * Descriptors kept for what is not a client, beyond those open at start:
 * WAL and snapshot files, the config file during CONFIG REWRITE, /proc reads,
 * a shutdown's work. Redis keeps 32 (CONFIG_MIN_RESERVED_FDS).
 */
export const RESERVED_FDS = 32;

/** The soft RLIMIT_NOFILE of this process (Infinity when unlimited), or null where it cannot be read. */
export function openFilesLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try { text = readFileSync('/proc/self/limits', 'utf8'); } catch { return null; }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m) return null;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Descriptors open now, or null where that cannot be counted. */
export function openFileCount(): number | null {
  try {
    // readdir holds one descriptor of its own on the directory while it reads.
    return Math.max(0, readdirSync('/proc/self/fd').length - 1);
  } catch {
    return null;
  }
}

/**
 * The most clients (RESP and HTTP together) the descriptor limit leaves room
 * for: the limit, less what is open already, less RESERVED_FDS; at least 1.
 * null when the limit is unknown or unlimited.
 */
export function clientsTheLimitAllows(limit: number | null = openFilesLimit(), inUse: number | null = openFileCount()): number | null {
  if (limit === null || limit === Infinity) return null;
  return Math.max(1, limit - (inUse ?? 0) - RESERVED_FDS);
}

/**
 * Errors raised by persistence. They are startup/storage conditions, not
 * command replies: the server decides how to present them (refuse to start,
 * `-MISCONF` via `MisconfError` from src/errors.ts, or stop the process).
 */

/** What kind of damage a `CorruptionError` reports. */
export type CorruptionKind =
  | 'bad-record'       // a WAL record failed its checksum/framing, not at the tail of the last segment
  | 'seq-gap'          // sequence numbers are not contiguous
  | 'missing-segment'  // a WAL segment the manifest lists (or the chain needs) is absent
  | 'bad-segment-header'
  | 'bad-snapshot'     // a snapshot failed verification
  | 'bad-manifest'     // the manifest failed its checksum or parse
  | 'no-manifest'      // data files present but no manifest
  | 'no-usable-snapshot';

/**
 * On-disk data is damaged in a way recovery will not paper over without the
 * operator's explicit `--repair`. The message names the file and offset and
 * says what to do next.
 */
export class CorruptionError extends Error {
  readonly kind: CorruptionKind;
  readonly file: string | undefined;
  readonly offset: number | undefined;
  constructor(kind: CorruptionKind, message: string, file?: string, offset?: number) {
    super(message);
    this.name = 'CorruptionError';
    this.kind = kind;
    this.file = file;
    this.offset = offset;
  }
}

/**
 * A WAL write or fsync failed. `fatal` is set when durability of already
 * issued writes can no longer be known (a failed fsync under
 * `appendfsync always`): the spec's rule is to stop the process without
 * acknowledging. Non-fatal errors mean "refuse writes until `probe()` succeeds".
 */
export class WalWriteError extends Error {
  readonly fatal: boolean;
  readonly code: string | undefined;
  override readonly cause: unknown;
  constructor(message: string, cause: unknown, fatal: boolean) {
    super(message);
    this.name = 'WalWriteError';
    this.fatal = fatal;
    this.cause = cause;
    this.code = errnoCode(cause);
  }
}

/** Why the store refuses writes right now (the server answers `-MISCONF`). */
export type UnwritableReason =
  | 'write-failed' // a WAL write or fsync failed; retried each interval
  | 'disk-full'    // no space to keep the WAL's preallocated reserve
  | 'reserving'    // this record is larger than the space reserved so far; more is being reserved
  | 'wal-deleted'  // the segment being written was deleted; a snapshot re-establishes durability
  | 'closing';     // the store is shutting down (or not open yet): nothing more can be logged

/**
 * The store cannot take a write now. Returned before anything is applied (so
 * nothing needs undoing), or the rejection of a commit that could not be made
 * durable. The server maps it to its own refusal; the store knows no protocol.
 */
export class StoreUnwritableError extends Error {
  readonly reason: UnwritableReason;
  override readonly cause: unknown;
  constructor(reason: UnwritableReason, message: string, cause?: unknown) {
    super(message);
    this.name = 'StoreUnwritableError';
    this.reason = reason;
    this.cause = cause;
  }
}

/** Another process (or another store in this one) holds the data directory. */
export class DirLockedError extends Error {
  readonly dir: string;
  readonly pid: number;
  constructor(dir: string, pid: number, message: string) {
    super(message);
    this.name = 'DirLockedError';
    this.dir = dir;
    this.pid = pid;
  }
}

/** A snapshot is already being written (`-ERR Background save already in progress`). */
export class SnapshotInProgressError extends Error {
  constructor() {
    super('Background save already in progress');
    this.name = 'SnapshotInProgressError';
  }
}

/** The errno code (`ENOSPC`, `EIO`, …) of a thrown value, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return errnoCode(err) === 'ENOENT';
}

/** Short text for logs and INFO: `ENOSPC: no space left on device`. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

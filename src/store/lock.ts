/**
 * One server per data directory. Two processes writing one directory each
 * believe they own the manifest and the WAL: the second one's snapshot drops
 * what the first acknowledged. So the store takes `<dir>/LOCK` before it reads
 * anything, for the life of the process, and `astronaut check --fix` takes it
 * for as long as it changes files.
 *
 * Node has no flock/fcntl lock without native code, so the lock is a file
 * created with O_EXCL whose content is the holder's pid, its start time (so a
 * reused pid is not mistaken for the holder) and the directory's inode (so a
 * lock copied along with the files by a backup does not lock the copy). A lock
 * whose process is gone (SIGKILL, power loss) is stale and taken over.
 *
 * The file is never deleted once created, only rewritten in place at a fixed
 * size: a server must be able to start (and serve reads) on a disk with no
 * free block left, which creating a file with content would need. A graceful
 * stop marks it free. Taking over a free or stale lock is serialized by
 * `LOCK.takeover`, an empty file created with O_EXCL (an inode, no block).
 *
 * The lock goes around the `Fs` seam on purpose: it is about processes, not
 * durability, and a simulated power loss must not be able to hand it out twice.
 */
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { DirLockedError, errnoCode } from './errors.js';

export const LOCK_FILE = 'LOCK';
const TAKEOVER_FILE = 'LOCK.takeover';
/** Every content is padded to this size, so rewriting it never needs a new block. */
const LOCK_SIZE = 64;
const FREE = 'free';
/** A lock file without a readable holder this recent is being written by its creator. */
const CREATING_MS = 2000;
/** A takeover marker this old was left by a process that died taking over. */
const TAKEOVER_STALE_MS = 10_000;

/** Who holds a lock, as recorded in it. */
export interface LockHolder {
  pid: number;
  /** Process start time in clock ticks since boot (Linux), or null where unknown. */
  startTime: number | null;
  /** Inode of the directory the lock was taken in, or null where unknown. */
  dirIno: number | null;
}

type Recorded = LockHolder | 'free' | 'unreadable' | null;

/** Locks held by stores of this process, by directory: the pid alone cannot tell two of them apart. */
const heldHere = new Map<string, DirLock>();

let ownStartTime: number | null | undefined;

async function processStartTime(pid: number): Promise<number | null> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'latin1');
    // Field 22 (starttime); the command name (field 2) may hold spaces, so count from its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isSafeInteger(v) ? v : null;
  } catch {
    return null;
  }
}

async function dirInode(dir: string): Promise<number | null> {
  try {
    return Number((await fsp.stat(dir, { bigint: true })).ino);
  } catch {
    return null;
  }
}

/** `pid:starttime:dir-inode`, padded. */
function encode(h: LockHolder | 'free'): Buffer {
  const text = h === 'free' ? FREE : `${h.pid}:${h.startTime ?? ''}:${h.dirIno ?? ''}`;
  return Buffer.from(text.padEnd(LOCK_SIZE - 1, ' ') + '\n', 'latin1');
}

function decode(text: string): Recorded {
  const t = text.trim();
  if (t === FREE) return 'free';
  const m = /^(\d+)(?::(\d*))?(?::(\d*))?$/.exec(t);
  if (!m) return 'unreadable';
  const num = (v: string | undefined): number | null => (v ? Number(v) : null);
  return { pid: Number(m[1]), startTime: num(m[2]), dirIno: num(m[3]) };
}

async function readRecorded(path: string): Promise<{ holder: Recorded; mtimeMs: number }> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(path, 'latin1'), fsp.stat(path)]);
    return { holder: decode(text), mtimeMs: st.mtimeMs };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { holder: null, mtimeMs: 0 };
    throw err;
  }
}

function same(a: Recorded, b: Recorded): boolean {
  if (a === null || b === null || typeof a === 'string' || typeof b === 'string') return a === b;
  return a.pid === b.pid && a.startTime === b.startTime && a.dirIno === b.dirIno;
}

/** Is the process recorded in a lock still running, in this directory? */
async function isRunning(h: LockHolder, dirIno: number | null): Promise<boolean> {
  if (h.dirIno !== null && dirIno !== null && h.dirIno !== dirIno) return false; // copied here with the files
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    if (errnoCode(err) !== 'EPERM') return false;
  }
  if (h.startTime !== null) {
    const now = await processStartTime(h.pid);
    if (now !== null && now !== h.startTime) return false; // the pid was reused by another process
  }
  return true;
}

/** Rewrite the lock's content where it stands: the block it owns is reused. */
async function rewrite(path: string, content: Buffer): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    await fh.write(content, 0, content.length, 0);
    await fh.truncate(content.length);
  } finally {
    await fh.close();
  }
}

function lockedMessage(dir: string, h: LockHolder, here: boolean): string {
  if (here) return `data directory ${dir} is already open in this process (pid ${h.pid})`;
  return (
    `data directory ${dir} is in use by another Astronaut server (pid ${h.pid}); a directory serves one server at a time. ` +
    `Stop that server or use another --dir. (The lock is ${nodePath.join(dir, LOCK_FILE)}; a lock left by a process that is gone is taken over automatically.)`
  );
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly path: string,
    private readonly me: LockHolder,
    /** The holder of a stale lock this one replaced (for the log), or null. */
    readonly replaced: LockHolder | null,
  ) {}

  /**
   * Take the lock on `dir` (which must exist) or throw `DirLockedError`
   * naming the holder. A free or stale lock (its process is gone) is taken over.
   */
  static async acquire(dir: string): Promise<DirLock> {
    const abs = nodePath.resolve(dir);
    const path = nodePath.join(abs, LOCK_FILE);
    const here = heldHere.get(abs);
    if (here) throw new DirLockedError(abs, process.pid, lockedMessage(abs, here.me, true));
    if (ownStartTime === undefined) ownStartTime = await processStartTime(process.pid);
    const ino = await dirInode(abs);
    const me: LockHolder = { pid: process.pid, startTime: ownStartTime, dirIno: ino };
    const take = (replaced: LockHolder | null): DirLock => {
      const lock = new DirLock(abs, path, me, replaced);
      heldHere.set(abs, lock);
      return lock;
    };
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await createNew(path, encode(me))) return take(null);
      const { holder, mtimeMs } = await readRecorded(path);
      if (holder === null) continue; // removed meanwhile (by hand): create it
      if (holder === 'unreadable' && Date.now() - mtimeMs < CREATING_MS) {
        await pause(50); // its creator is writing it
        continue;
      }
      // Our own pid without a live store here: a store of this process that was killed (tests), or the
      // previous run of a container whose server is pid 1 again.
      if (typeof holder !== 'string' && holder.pid !== process.pid && (await isRunning(holder, ino))) {
        throw new DirLockedError(abs, holder.pid, lockedMessage(abs, holder, false));
      }
      const outcome = await takeOver(abs, path, holder, encode(me));
      if (outcome === 'taken') return take(typeof holder === 'string' ? null : holder);
      if (outcome !== 'retry') throw new DirLockedError(abs, outcome.pid, lockedMessage(abs, outcome, false));
      await pause(50);
    }
    throw new Error(`could not take the lock ${path}: it kept changing (several processes starting on ${abs} at once?)`);
  }

  /**
   * Recreate the lock if its file was deleted (the directory was emptied
   * under the server). Best effort: nothing to report if it cannot be.
   */
  async ensure(): Promise<void> {
    if (this.released) return;
    await createNew(this.path, encode(this.me)).catch(() => false);
  }

  /** Mark the lock free (graceful stop), if it is still ours. The file stays for the next start. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (heldHere.get(this.dir) === this) heldHere.delete(this.dir);
    const { holder } = await readRecorded(this.path).catch(() => ({ holder: null }));
    if (same(holder, this.me)) await rewrite(this.path, encode('free')).catch(() => undefined);
  }

  /** Tests: a simulated crash. The lock stays on disk, as after a SIGKILL; this process may take it again. */
  abandon(): void {
    this.released = true;
    if (heldHere.get(this.dir) === this) heldHere.delete(this.dir);
  }
}

/** Create the lock file holding `content`; false if it exists. */
async function createNew(path: string, content: Buffer): Promise<boolean> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'wx');
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  let written = false;
  try {
    await fh.write(content, 0, content.length, 0);
    written = true;
  } finally {
    await fh.close().catch(() => undefined);
    if (!written) await fsp.unlink(path).catch(() => undefined);
  }
  return true;
}

/**
 * Replace a free or stale lock, one taker at a time: 'taken', 'retry', or
 * the live holder that got there first.
 */
async function takeOver(dir: string, path: string, seen: Recorded, mine: Buffer): Promise<'taken' | 'retry' | LockHolder> {
  const marker = nodePath.join(dir, TAKEOVER_FILE);
  try {
    await (await fsp.open(marker, 'wx')).close();
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    const st = await fsp.stat(marker).catch(() => null);
    if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await fsp.unlink(marker).catch(() => undefined);
    return 'retry';
  }
  try {
    const now = await readRecorded(path);
    if (now.holder === null || !same(now.holder, seen)) {
      // Changed since it was judged: taken or freed by someone else.
      return now.holder !== null && typeof now.holder !== 'string' && now.holder.pid !== process.pid && (await isRunning(now.holder, await dirInode(dir)))
        ? now.holder
        : 'retry';
    }
    await rewrite(path, mine);
    return 'taken';
  } finally {
    await fsp.unlink(marker).catch(() => undefined);
  }
}

/** The live holder of `dir`'s lock other than this process, or null (for `astronaut check` to warn). */
export async function lockHolder(dir: string): Promise<LockHolder | null> {
  const abs = nodePath.resolve(dir);
  const { holder } = await readRecorded(nodePath.join(abs, LOCK_FILE)).catch(() => ({ holder: null as Recorded }));
  if (holder === null || typeof holder === 'string') return null;
  if (holder.pid === process.pid) return heldHere.has(abs) ? holder : null;
  return (await isRunning(holder, await dirInode(abs))) ? holder : null;
}

/**
 * The one file-system interface all persistence I/O goes through (spec
 * "Facts that shape the design": power loss can only be tested if every write,
 * fsync, rename and directory fsync passes through a seam a test can replace).
 *
 * `RealFs` maps it onto node:fs/promises; `SimulatedFs` (simulated-fs.ts)
 * remembers what was made durable and can lose power.
 *
 * Writes are positional: the WAL and snapshot writers track their own offsets,
 * so after a failed write they can truncate back and rewrite at a known place.
 */
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';

/**
 * Open modes: `r` read only; `r+` read/write an existing file; `wx` create a
 * new file (fails if it exists), read/write; `w` create or truncate, read/write.
 */
export type OpenMode = 'r' | 'r+' | 'wx' | 'w';

export interface FsStat {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  mtimeMs: number;
}

/** An open file. All offsets are absolute positions. */
export interface FsFile {
  readonly path: string;
  /** One write(2): may write fewer bytes than asked (a short write). Use `writeAll`. */
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** One read(2): returns the bytes read, 0 at end of file. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fsync(2): data and metadata. */
  sync(): Promise<void>;
  /** fdatasync(2): data and the metadata needed to read it back (the size). */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Current size (fstat). */
  size(): Promise<number>;
  /**
   * Link count (fstat st_nlink): 0 once every name of the file was deleted,
   * when writes to it can no longer reach anyone. Optional: a file system that
   * cannot tell leaves it out.
   */
  links?(): Promise<number>;
  close(): Promise<void>;
}

export interface Fs {
  open(path: string, mode: OpenMode): Promise<FsFile>;
  /** Throws ENOENT when absent. */
  stat(path: string): Promise<FsStat>;
  readdir(path: string): Promise<string[]>;
  /** rename(2): atomic replace of `to`. Durable only after `syncDir` of the directory. */
  rename(from: string, to: string): Promise<void>;
  /** Durable only after `syncDir` of the directory. */
  unlink(path: string): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  /** mkdir -p. */
  mkdir(path: string): Promise<void>;
  /** fsync of a directory: makes creations, renames and unlinks in it durable. */
  syncDir(path: string): Promise<void>;
}

/**
 * Write all of `buf` at `position`, looping over short writes (spec: "short
 * writes happen on a nearly full disk: loop"). A write that makes no progress
 * is an error, not an infinite loop. On failure the error carries
 * `bytesWritten` so the caller knows how much landed before it.
 */
export async function writeAll(file: FsFile, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = await file.write(buf, done, buf.length - done, position + done);
    } catch (err) {
      throw withBytesWritten(err, done);
    }
    if (n <= 0) {
      throw withBytesWritten(
        Object.assign(new Error(`write made no progress on ${file.path}`), { code: 'EIO' }),
        done,
      );
    }
    done += n;
  }
}

function withBytesWritten(err: unknown, bytes: number): unknown {
  if (typeof err === 'object' && err !== null) {
    try {
      (err as { bytesWritten?: number }).bytesWritten = bytes;
    } catch {
      // A frozen error object cannot take the annotation; the error itself still propagates.
    }
  }
  return err;
}

/** Read exactly `length` bytes at `position`; fewer only at end of file. Returns the count read. */
export async function readFully(file: FsFile, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await file.read(buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** The whole content of a (small) file. */
export async function readWholeFile(fs: Fs, path: string): Promise<Buffer> {
  const file = await fs.open(path, 'r');
  try {
    const size = await file.size();
    const buf = Buffer.alloc(size);
    const n = await readFully(file, buf, 0, size, 0);
    return n === size ? buf : buf.subarray(0, n);
  } finally {
    await file.close();
  }
}

/**
 * Replace `dir/name` durably: write `name.tmp`, fsync it, rename it over `name`, fsync the
 * directory. Once this resolves the new content survives power loss; if it throws, the file
 * holds the old content or the new, never a mix. `step` hears of the two points in between
 * (failpoints).
 */
export async function replaceFile(fs: Fs, dir: string, name: string, bytes: Uint8Array,
  step?: (point: 'tmp-written' | 'renamed') => Promise<void>): Promise<void> {
  const target = nodePath.join(dir, name);
  const tmp = `${target}.tmp`;
  const file = await fs.open(tmp, 'w');
  try {
    await writeAll(file, bytes, 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await step?.('tmp-written');
  await fs.rename(tmp, target);
  await step?.('renamed');
  await fs.syncDir(dir);
}

/** `stat` that answers null instead of throwing ENOENT. */
export async function statOrNull(fs: Fs, path: string): Promise<FsStat | null> {
  try {
    return await fs.stat(path);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null;
    throw err;
  }
}

const NODE_FLAGS: Record<OpenMode, string> = { r: 'r', 'r+': 'r+', wx: 'wx+', w: 'w+' };

class RealFile implements FsFile {
  constructor(readonly path: string, private readonly fh: fsp.FileHandle) {}
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesWritten } = await this.fh.write(buf, offset, length, position);
    return bytesWritten;
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buf, offset, length, position);
    return bytesRead;
  }
  sync(): Promise<void> {
    return this.fh.sync();
  }
  datasync(): Promise<void> {
    return this.fh.datasync();
  }
  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }
  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }
  async links(): Promise<number> {
    return (await this.fh.stat()).nlink;
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

/** The production file system: node:fs/promises, nothing added. */
export class RealFs implements Fs {
  async open(path: string, mode: OpenMode): Promise<FsFile> {
    return new RealFile(path, await fsp.open(path, NODE_FLAGS[mode]));
  }
  async stat(path: string): Promise<FsStat> {
    const s = await fsp.stat(path);
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
  }
  readdir(path: string): Promise<string[]> {
    return fsp.readdir(path);
  }
  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }
  truncate(path: string, length: number): Promise<void> {
    return fsp.truncate(path, length);
  }
  async mkdir(path: string): Promise<void> {
    await fsp.mkdir(path, { recursive: true });
  }
  async syncDir(path: string): Promise<void> {
    const fh = await fsp.open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

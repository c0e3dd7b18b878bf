/**
 * A file system for tests that remembers what was made durable and can "lose
 * power" (spec "Facts that shape the design": SIGKILL tests cannot tell fsync
 * from no fsync). It wraps a real directory: every operation really happens
 * there, so files can be inspected with ordinary tools, and alongside it the
 * simulator keeps, per file, the content as of the last successful fsync, and
 * per directory, the entries as of the last directory fsync.
 *
 * The model is SQLite's crash-test one:
 * - file data counts only after fsync/fdatasync of that file;
 * - creating, renaming or unlinking a name counts only after an fsync of the
 *   directory holding it (a file created and fsynced but whose directory was
 *   not fsynced vanishes at power loss);
 * - a failed fsync drops the dirty data ("fsyncgate"): those bytes stay
 *   readable, but no later fsync persists them until they are written again.
 *
 * `powerLoss()` rewinds the real directory to the durable state; `crash()`
 * only kills open handles (a process crash: the page cache survives).
 * Directories themselves are taken as durable once created (a simplification:
 * persistence creates at most its data directory).
 *
 * Fault injection: `inject()` makes the nth matching call fail with an errno
 * or (writes) be short; `setCapacity()` is a disk that fills up, writes past the
 * limit are short then fail with ENOSPC until space is freed.
 */
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Fs, FsFile, FsStat, OpenMode } from './fs.js';

export type FsOp =
  | 'open' | 'write' | 'read' | 'sync' | 'truncate' | 'close'
  | 'stat' | 'readdir' | 'rename' | 'unlink' | 'mkdir' | 'syncDir';

/** A fault to inject. Matching calls are counted from the moment it is added. */
export interface FaultSpec {
  op: FsOp;
  /** Fail the nth matching call (1 = the next one). Default 1. */
  nth?: number;
  /** How many matching calls fail from then on. Default 1; `Infinity` until removed. */
  count?: number;
  /** errno code of the failure. Default `EIO`. */
  code?: string;
  /** Only calls on paths containing this string / matching this pattern. */
  path?: string | RegExp;
  /** Writes only: write at most this many bytes and return normally (a short write). */
  shortWrite?: number;
}

/** Options for `powerLoss`. */
export interface PowerLossOptions {
  /**
   * For each durable file whose page cache held more bytes than were fsynced,
   * how many of those extra bytes happened to reach the disk (a torn write).
   * Default: none.
   */
  keepUnsynced?: (path: string, durableSize: number, currentSize: number) => number;
}

type Range = [number, number];

interface SimFile {
  id: number;
  cur: Buffer;
  curLen: number;
  dur: Buffer;
  durLen: number;
  /** Byte ranges written since the last successful fsync. */
  dirty: Range[];
  /** Ranges whose dirty data was dropped by a failed fsync. */
  poison: Range[];
  openCount: number;
}

const ALL_OPS: FsOp[] = ['open', 'write', 'read', 'sync', 'truncate', 'close', 'stat', 'readdir', 'rename', 'unlink', 'mkdir', 'syncDir'];

interface ActiveFault {
  spec: FaultSpec;
  skip: number;
  remaining: number;
}

function errnoError(code: string, op: string, path: string): Error {
  const messages: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EIO: 'i/o error',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
  };
  return Object.assign(new Error(`${code}: ${messages[code] ?? 'simulated failure'} (simulated), ${op} '${path}'`), {
    code,
    syscall: op,
    path,
  });
}

function addRange(list: Range[], a: number, b: number): Range[] {
  if (b <= a) return list;
  const out: Range[] = [];
  let s = a;
  let e = b;
  for (const [x, y] of list) {
    if (y < s || x > e) out.push([x, y]);
    else {
      s = Math.min(s, x);
      e = Math.max(e, y);
    }
  }
  out.push([s, e]);
  out.sort((p, q) => p[0] - q[0]);
  return out;
}

function subtractRange(list: Range[], a: number, b: number): Range[] {
  const out: Range[] = [];
  for (const [x, y] of list) {
    if (y <= a || x >= b) out.push([x, y]);
    else {
      if (x < a) out.push([x, a]);
      if (y > b) out.push([b, y]);
    }
  }
  return out;
}

function clipRanges(list: Range[], len: number): Range[] {
  const out: Range[] = [];
  for (const [x, y] of list) if (x < len) out.push([x, Math.min(y, len)]);
  return out;
}

function grow(buf: Buffer, need: number): Buffer {
  if (buf.length >= need) return buf;
  const next = Buffer.alloc(Math.max(need, buf.length * 2, 4096));
  buf.copy(next);
  return next;
}

class SimHandle implements FsFile {
  dead = false;
  constructor(
    private readonly sim: SimulatedFs,
    readonly path: string,
    readonly file: SimFile,
    readonly real: fsp.FileHandle,
    readonly readOnly: boolean,
    readonly epoch: number,
  ) {}
  private run<T>(op: FsOp, fn: () => Promise<T>): Promise<T> {
    if (this.dead) return Promise.reject(errnoError('EBADF', op, this.path));
    return this.sim.run(this.epoch, op, this.path, fn);
  }
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run('write', async () => {
      if (this.readOnly) throw errnoError('EBADF', 'write', this.path);
      return this.sim.doWrite(this, buf, offset, length, position);
    });
  }
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run('read', async () => {
      this.sim.checkFault('read', this.path);
      const { bytesRead } = await this.real.read(buf, offset, length, position);
      return bytesRead;
    });
  }
  sync(): Promise<void> {
    return this.run('sync', () => this.sim.doSync(this));
  }
  datasync(): Promise<void> {
    return this.run('sync', () => this.sim.doSync(this));
  }
  truncate(length: number): Promise<void> {
    return this.run('truncate', async () => {
      this.sim.checkFault('truncate', this.path);
      await this.real.truncate(length);
      this.sim.applyTruncate(this.file, length);
    });
  }
  size(): Promise<number> {
    return this.run('stat', async () => (await this.real.stat()).size);
  }
  links(): Promise<number> {
    return this.run('stat', async () => {
      this.sim.checkFault('stat', this.path);
      return (await this.real.stat()).nlink;
    });
  }
  close(): Promise<void> {
    if (this.dead) return Promise.resolve();
    return this.run('close', async () => {
      this.dead = true;
      this.sim.forget(this);
      this.sim.checkFault('close', this.path);
      await this.real.close();
    });
  }
}

/** An Fs bound to one simulated process: once the machine crashes or loses power, every call fails. */
class SimSession implements Fs {
  constructor(private readonly sim: SimulatedFs, private readonly epoch: number) {}
  open(path: string, mode: OpenMode): Promise<FsFile> { return this.sim.openIn(this.epoch, path, mode); }
  stat(path: string): Promise<FsStat> { return this.sim.statIn(this.epoch, path); }
  readdir(path: string): Promise<string[]> { return this.sim.readdirIn(this.epoch, path); }
  rename(from: string, to: string): Promise<void> { return this.sim.renameIn(this.epoch, from, to); }
  unlink(path: string): Promise<void> { return this.sim.unlinkIn(this.epoch, path); }
  truncate(path: string, length: number): Promise<void> { return this.sim.truncateIn(this.epoch, path, length); }
  mkdir(path: string): Promise<void> { return this.sim.mkdirIn(this.epoch, path); }
  syncDir(path: string): Promise<void> { return this.sim.syncDirIn(this.epoch, path); }
}

export class SimulatedFs implements Fs {
  readonly root: string;
  /** Calls per operation since creation (tests assert e.g. one write per batch). */
  readonly counts: Record<FsOp, number>;
  /** Called before every operation with its path: a test can inject a crash at an exact point. */
  onOp: ((op: FsOp, path: string) => void) | null = null;
  /** Awaited by a directory fsync once it has taken its view of the entries: a test can make one slow. */
  dirSyncDelay: ((path: string) => Promise<void> | void) | null = null;

  private nextId = 1;
  private files = new Map<number, SimFile>();
  /** Current namespace: absolute path → file. */
  private live = new Map<string, number>();
  /** Durable namespace per directory: dir → (name → file id). */
  private durableDirs = new Map<string, Map<string, number>>();
  /**
   * Per directory, the order in which the view now durable was taken. Directory fsyncs may
   * overlap, and one that started earlier can finish later: its older view must not replace
   * a newer one already durable (a real fsync cannot undo another's). Found by CI: the older
   * view named a MANIFEST version whose model the newer sync had already dropped, and a power
   * loss then left no MANIFEST at all.
   */
  private durableViewOrder = new Map<string, number>();
  private viewsTaken = 0;
  private dirs = new Set<string>();
  private handles = new Set<SimHandle>();
  private faults: ActiveFault[] = [];
  private capacity: number | null = null;
  /** Bumped by crash/powerLoss: sessions and handles of an older epoch are dead. */
  private epoch = 0;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];

  private constructor(root: string) {
    this.root = nodePath.resolve(root);
    this.counts = Object.fromEntries(ALL_OPS.map((op) => [op, 0])) as Record<FsOp, number>;
  }

  /** Wrap `root` (created if missing); whatever it holds now counts as durable. */
  static async create(root: string): Promise<SimulatedFs> {
    const sim = new SimulatedFs(root);
    await fsp.mkdir(sim.root, { recursive: true });
    await sim.adoptDisk();
    return sim;
  }

  /**
   * Forget the model and take the directory as it is on disk now as durable,
   * e.g. after a test damaged a file with node:fs. No handle may be open.
   */
  async adoptDisk(): Promise<void> {
    if (this.handles.size > 0) throw new Error('SimulatedFs.adoptDisk with open handles');
    this.files.clear();
    this.live.clear();
    this.durableDirs.clear();
    this.dirs.clear();
    const walk = async (dir: string): Promise<void> => {
      this.dirs.add(dir);
      const entries = new Map<string, number>();
      this.durableDirs.set(dir, entries);
      this.durableViewOrder.set(dir, ++this.viewsTaken);
      for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
        const p = nodePath.join(dir, ent.name);
        if (ent.isDirectory()) await walk(p);
        else if (ent.isFile()) {
          const content = await fsp.readFile(p);
          const f = this.newFile(content);
          this.live.set(p, f.id);
          entries.set(ent.name, f.id);
        }
      }
    };
    await walk(this.root);
  }

  // ---- fault injection -------------------------------------------------

  /** Add a fault; returns a function that removes it. */
  inject(spec: FaultSpec): () => void {
    const active: ActiveFault = { spec, skip: (spec.nth ?? 1) - 1, remaining: spec.count ?? 1 };
    this.faults.push(active);
    return () => {
      this.faults = this.faults.filter((f) => f !== active);
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Limit the bytes all live files may occupy (null: unlimited). Freeing space (unlink, truncate) lets writes proceed again. */
  setCapacity(bytes: number | null): void {
    this.capacity = bytes;
  }

  /** Bytes occupied by live (linked or open) files. */
  usedBytes(): number {
    let used = 0;
    const ids = new Set<number>(this.live.values());
    for (const h of this.handles) ids.add(h.file.id);
    for (const id of ids) used += this.files.get(id)?.curLen ?? 0;
    return used;
  }

  /** @internal Called by handles and operations: throws the injected failure, or returns a short-write limit. */
  checkFault(op: FsOp, path: string): number | null {
    this.counts[op]++;
    this.onOp?.(op, path);
    // Every rule counts every matching call; the first one due fires.
    let due: ActiveFault | null = null;
    for (const f of this.faults) {
      const s = f.spec;
      if (s.op !== op) continue;
      if (s.path !== undefined && !(typeof s.path === 'string' ? path.includes(s.path) : s.path.test(path))) continue;
      if (f.skip > 0) f.skip--;
      else due ??= f;
    }
    if (due) {
      due.remaining--;
      if (due.remaining <= 0) this.faults = this.faults.filter((x) => x !== due);
      if (op === 'write' && due.spec.shortWrite !== undefined) return due.spec.shortWrite;
      throw errnoError(due.spec.code ?? 'EIO', op, path);
    }
    return null;
  }

  // ---- crash simulation --------------------------------------------------

  /**
   * An Fs for one simulated process (give it to the store under test). After
   * the next `crash()` or `powerLoss()` every call through it fails, so a
   * "dead" store cannot touch the files of the next one.
   */
  session(): Fs {
    return new SimSession(this, this.epoch);
  }

  /**
   * A process crash: sessions and open handles die (later calls fail), calls
   * in flight finish first; the disk keeps everything, synced or not.
   */
  async crash(): Promise<void> {
    this.epoch++;
    await this.settle();
    await this.killHandles();
  }

  /** @internal Run one operation of `epoch`, counted as in flight. */
  async run<T>(epoch: number, op: FsOp, path: string, fn: () => Promise<T>): Promise<T> {
    if (epoch !== this.epoch) throw errnoError('EIO', op, path + ' (simulated process is dead)');
    this.inflight++;
    try {
      return await fn();
    } finally {
      if (--this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async settle(): Promise<void> {
    while (this.inflight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /**
   * Power loss: handles die and the real directory is rewound to the durable
   * state — file contents as of their last fsync, directory entries as of the
   * last directory fsync.
   */
  async powerLoss(opts: PowerLossOptions = {}): Promise<void> {
    // Calls already in flight complete (they happened before the cut); no new ones start.
    this.epoch++;
    await this.settle();
    await this.killHandles();
    const contents = new Map<number, Buffer>();
    for (const [dir, entries] of this.durableDirs) {
      for (const [name, id] of entries) {
        const f = this.files.get(id);
        if (!f || contents.has(id)) continue;
        let content = Buffer.from(f.dur.subarray(0, f.durLen));
        if (opts.keepUnsynced && f.curLen > f.durLen) {
          const extra = Math.max(0, Math.min(f.curLen - f.durLen, opts.keepUnsynced(nodePath.join(dir, name), f.durLen, f.curLen)));
          if (extra > 0) content = Buffer.concat([content, f.cur.subarray(f.durLen, f.durLen + extra)]);
        }
        contents.set(id, content);
      }
    }
    // Remove every file on disk, then lay down the durable namespace.
    for (const dir of this.dirs) {
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const p = nodePath.join(dir, name);
        const st = await fsp.lstat(p);
        if (!st.isDirectory()) await fsp.unlink(p);
      }
    }
    const files = new Map<number, SimFile>();
    this.live.clear();
    for (const [dir, entries] of this.durableDirs) {
      for (const [name, id] of entries) {
        const content = contents.get(id);
        if (!content) continue;
        const p = nodePath.join(dir, name);
        await fsp.writeFile(p, content);
        let f = files.get(id);
        if (!f) {
          f = { id, cur: Buffer.from(content), curLen: content.length, dur: Buffer.from(content), durLen: content.length, dirty: [], poison: [], openCount: 0 };
          files.set(id, f);
        }
        this.live.set(p, id);
      }
    }
    this.files = files;
    // Entries whose file had no content to restore are gone.
    for (const entries of this.durableDirs.values()) {
      for (const [name, id] of entries) if (!files.has(id)) entries.delete(name);
    }
  }

  private async killHandles(): Promise<void> {
    const hs = [...this.handles];
    this.handles.clear();
    for (const h of hs) {
      h.dead = true;
      h.file.openCount--;
      await h.real.close().catch(() => undefined); // the simulated process is gone; its fds just close
    }
  }

  // ---- Fs ------------------------------------------------------------------

  private resolve(p: string): string {
    const abs = nodePath.resolve(p);
    if (abs !== this.root && !abs.startsWith(this.root + nodePath.sep)) {
      throw new Error(`SimulatedFs: path outside its root: ${abs}`);
    }
    return abs;
  }

  private newFile(content?: Buffer): SimFile {
    const c = content ?? Buffer.alloc(0);
    const f: SimFile = {
      id: this.nextId++,
      cur: Buffer.from(c),
      curLen: c.length,
      dur: Buffer.from(c),
      durLen: c.length,
      dirty: [],
      poison: [],
      openCount: 0,
    };
    this.files.set(f.id, f);
    return f;
  }

  /** A file on disk the model does not know (made outside the Fs): adopt it as durable content under a durable name. */
  private async adoptUnknown(abs: string): Promise<SimFile> {
    const content = await fsp.readFile(abs);
    const f = this.newFile(content);
    this.live.set(abs, f.id);
    const dir = nodePath.dirname(abs);
    let entries = this.durableDirs.get(dir);
    if (!entries) {
      entries = new Map();
      this.durableDirs.set(dir, entries);
    }
    entries.set(nodePath.basename(abs), f.id);
    return f;
  }

  open(path: string, mode: OpenMode): Promise<FsFile> {
    return this.openIn(this.epoch, path, mode);
  }

  /** @internal */
  openIn(epoch: number, path: string, mode: OpenMode): Promise<FsFile> {
    return this.run(epoch, 'open', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('open', abs);
      const flags = { r: 'r', 'r+': 'r+', wx: 'wx+', w: 'w+' }[mode];
      const real = await fsp.open(abs, flags);
      let file: SimFile;
      const known = this.live.get(abs);
      if (mode === 'wx' || known === undefined) {
        file = known === undefined && mode !== 'wx' && mode !== 'w' ? await this.adoptUnknown(abs) : this.newFile();
        this.live.set(abs, file.id);
      } else {
        file = this.files.get(known)!;
        if (mode === 'w') this.applyTruncate(file, 0);
      }
      file.openCount++;
      const h = new SimHandle(this, abs, file, real, mode === 'r', epoch);
      this.handles.add(h);
      return h;
    });
  }

  /** @internal */
  forget(h: SimHandle): void {
    if (this.handles.delete(h)) h.file.openCount--;
  }

  /** @internal */
  async doWrite(h: SimHandle, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const short = this.checkFault('write', h.path);
    let n = short === null ? length : Math.min(length, short);
    const f = h.file;
    if (this.capacity !== null) {
      const growth = Math.max(0, position + n - f.curLen);
      const room = this.capacity - this.usedBytes();
      if (growth > room) {
        const fits = Math.max(0, f.curLen - position) + Math.max(0, room);
        n = Math.max(0, Math.min(n, fits));
        if (n === 0) throw errnoError('ENOSPC', 'write', h.path);
      }
    }
    if (n === 0) return 0;
    const { bytesWritten } = await h.real.write(buf, offset, n, position);
    const end = position + bytesWritten;
    if (end > f.curLen) {
      f.cur = grow(f.cur, end);
      f.cur.fill(0, f.curLen, position > f.curLen ? position : f.curLen);
      f.dirty = addRange(f.dirty, f.curLen, position);
      f.curLen = end;
    }
    f.cur.set(buf.subarray(offset, offset + bytesWritten), position);
    f.dirty = addRange(f.dirty, position, end);
    f.poison = subtractRange(f.poison, position, end);
    return bytesWritten;
  }

  /** @internal */
  async doSync(h: SimHandle): Promise<void> {
    const f = h.file;
    // What this fsync covers is decided when it starts: a write that lands
    // while it is in flight may or may not be included, so it is not.
    const covered = f.dirty.map(([a, b]): [number, Buffer] => [a, Buffer.from(f.cur.subarray(a, Math.min(b, f.curLen)))]);
    const lenAtStart = f.curLen;
    f.dirty = [];
    try {
      this.checkFault('sync', h.path);
      await h.real.datasync();
    } catch (err) {
      // fsyncgate: the kernel reports the error once and marks the pages clean;
      // the data stays readable but is never written back unless rewritten.
      for (const [a, bytes] of covered) f.poison = addRange(f.poison, a, a + bytes.length);
      throw err;
    }
    if (lenAtStart > f.durLen) {
      f.dur = grow(f.dur, lenAtStart);
      f.dur.fill(0, f.durLen, lenAtStart);
    }
    f.durLen = lenAtStart;
    for (const [a, bytes] of covered) {
      let pieces: Range[] = [[a, Math.min(a + bytes.length, lenAtStart)]];
      for (const [pa, pb] of f.poison) pieces = subtractRange(pieces, pa, pb);
      for (const [x, y] of pieces) if (y > x) bytes.copy(f.dur, x, x - a, y - a);
    }
  }

  /** @internal */
  applyTruncate(f: SimFile, length: number): void {
    if (length < f.curLen) {
      f.cur.fill(0, length, f.curLen);
      f.dirty = clipRanges(f.dirty, length);
      f.poison = clipRanges(f.poison, length);
    } else if (length > f.curLen) {
      f.cur = grow(f.cur, length);
      f.cur.fill(0, f.curLen, length);
      f.dirty = addRange(f.dirty, f.curLen, length);
    }
    f.curLen = length;
  }

  stat(path: string): Promise<FsStat> {
    return this.statIn(this.epoch, path);
  }

  /** @internal */
  statIn(epoch: number, path: string): Promise<FsStat> {
    return this.run(epoch, 'stat', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('stat', abs);
      const s = await fsp.stat(abs);
      return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
    });
  }

  readdir(path: string): Promise<string[]> {
    return this.readdirIn(this.epoch, path);
  }

  /** @internal */
  readdirIn(epoch: number, path: string): Promise<string[]> {
    return this.run(epoch, 'readdir', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('readdir', abs);
      return fsp.readdir(abs);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.renameIn(this.epoch, from, to);
  }

  /** @internal */
  renameIn(epoch: number, from: string, to: string): Promise<void> {
    return this.run(epoch, 'rename', from, async () => {
      const a = this.resolve(from);
      const b = this.resolve(to);
      this.checkFault('rename', a);
      await fsp.rename(a, b);
      let id = this.live.get(a);
      if (id === undefined) {
        // Unknown source made outside the Fs: adopt under its new name.
        const content = await fsp.readFile(b);
        id = this.newFile(content).id;
      }
      this.live.delete(a);
      this.live.set(b, id);
    });
  }

  unlink(path: string): Promise<void> {
    return this.unlinkIn(this.epoch, path);
  }

  /** @internal */
  unlinkIn(epoch: number, path: string): Promise<void> {
    return this.run(epoch, 'unlink', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('unlink', abs);
      await fsp.unlink(abs);
      this.live.delete(abs);
    });
  }

  truncate(path: string, length: number): Promise<void> {
    return this.truncateIn(this.epoch, path, length);
  }

  /** @internal */
  truncateIn(epoch: number, path: string, length: number): Promise<void> {
    return this.run(epoch, 'truncate', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('truncate', abs);
      await fsp.truncate(abs, length);
      const id = this.live.get(abs);
      const f = id === undefined ? await this.adoptUnknown(abs) : this.files.get(id)!;
      this.applyTruncate(f, length);
    });
  }

  mkdir(path: string): Promise<void> {
    return this.mkdirIn(this.epoch, path);
  }

  /** @internal */
  mkdirIn(epoch: number, path: string): Promise<void> {
    return this.run(epoch, 'mkdir', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('mkdir', abs);
      await fsp.mkdir(abs, { recursive: true });
      for (let d = abs; d.startsWith(this.root); d = nodePath.dirname(d)) {
        this.dirs.add(d);
        if (!this.durableDirs.has(d)) this.durableDirs.set(d, new Map());
        if (d === this.root) break;
      }
    });
  }

  syncDir(path: string): Promise<void> {
    return this.syncDirIn(this.epoch, path);
  }

  /** @internal */
  syncDirIn(epoch: number, path: string): Promise<void> {
    return this.run(epoch, 'syncDir', path, async () => {
      const abs = this.resolve(path);
      this.checkFault('syncDir', abs);
      // Like a file fsync, it covers the entries as they were when it started.
      const entries = new Map<string, number>();
      for (const [p, id] of this.live) if (nodePath.dirname(p) === abs) entries.set(nodePath.basename(p), id);
      const order = ++this.viewsTaken;
      await this.dirSyncDelay?.(abs);
      const fh = await fsp.open(abs, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (order > (this.durableViewOrder.get(abs) ?? 0)) {
        this.durableDirs.set(abs, entries);
        this.durableViewOrder.set(abs, order);
      }
      this.dirs.add(abs);
      this.gc();
    });
  }

  /** Drop model state of files nobody can reach any more. */
  private gc(): void {
    const reachable = new Set<number>(this.live.values());
    for (const entries of this.durableDirs.values()) for (const id of entries.values()) reachable.add(id);
    for (const h of this.handles) reachable.add(h.file.id);
    for (const id of this.files.keys()) if (!reachable.has(id)) this.files.delete(id);
  }
}

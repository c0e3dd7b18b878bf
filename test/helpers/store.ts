/** Shared helpers for persistence tests: temp dirs, a capturing logger, record payloads. */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import type { Logger } from '../../src/store/logger.js';

export async function tempDir(prefix = 'astro-persist-'): Promise<string> {
  return fsp.mkdtemp(nodePath.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

/** A logger that keeps every line, for assertions ("the torn tail was logged"). */
export function captureLogger(): Logger & { lines: LogLine[]; messages(level?: LogLine['level']): string[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj, msg }),
    messages: (level) => lines.filter((l) => !level || l.level === level).map((l) => l.msg ?? ''),
  };
}

/** A ~`size`-byte payload that encodes its index, so replays can be checked exactly. */
export function payload(i: number, size = 64): Buffer {
  const head = Buffer.from(`rec-${i}:`, 'latin1');
  const b = Buffer.alloc(Math.max(size, head.length));
  head.copy(b);
  for (let k = head.length; k < b.length; k++) b[k] = (i * 31 + k) & 0xff;
  return b;
}

export function payloadIndex(p: Buffer): number {
  const s = p.toString('latin1', 0, 24);
  const m = /^rec-(\d+):/.exec(s);
  if (!m) throw new Error(`not a test payload: ${JSON.stringify(s)}`);
  return Number(m[1]);
}

/** Resolve on the next turn of the event loop (after pending I/O callbacks). */
export function nextTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

import type { Fs, FsFile, OpenMode } from '../../src/store/fs.js';

/**
 * Wraps an Fs so a test can hold writes or fsyncs in flight: while `hold()`
 * is in effect every write waits until `release()`; likewise
 * `holdSyncs()`/`releaseSyncs()` for fsync and fdatasync.
 */
export class GatedFs implements Fs {
  private gate: Promise<void> | null = null;
  private open_: (() => void) | null = null;
  /** Writes that reached the gate while it was closed. */
  waiting = 0;
  private arrived: (() => void) | null = null;
  constructor(private readonly inner: Fs) {}
  hold(): void {
    this.gate = new Promise((r) => (this.open_ = r));
  }
  release(): void {
    this.open_?.();
    this.gate = null;
    this.open_ = null;
  }
  /** Resolves once a write is waiting at the gate. */
  whenWaiting(): Promise<void> {
    if (this.waiting > 0) return Promise.resolve();
    return new Promise((r) => (this.arrived = r));
  }
  private syncGate: Promise<void> | null = null;
  private openSync: (() => void) | null = null;
  /** Hold every fsync/fdatasync until `releaseSyncs()`. */
  holdSyncs(): void {
    this.syncGate = new Promise((r) => (this.openSync = r));
  }
  releaseSyncs(): void {
    this.openSync?.();
    this.syncGate = null;
    this.openSync = null;
  }
  private async passSync(): Promise<void> {
    if (this.syncGate) await this.syncGate;
  }
  private async pass(): Promise<void> {
    if (!this.gate) return;
    this.waiting++;
    this.arrived?.();
    this.arrived = null;
    await this.gate;
    this.waiting--;
  }
  async open(path: string, mode: OpenMode): Promise<FsFile> {
    const f = await this.inner.open(path, mode);
    const self = this;
    return {
      path: f.path,
      async write(buf, offset, length, position) {
        await self.pass();
        return f.write(buf, offset, length, position);
      },
      read: (b, o, l, p) => f.read(b, o, l, p),
      async sync() {
        await self.passSync();
        return f.sync();
      },
      async datasync() {
        await self.passSync();
        return f.datasync();
      },
      truncate: (n) => f.truncate(n),
      size: () => f.size(),
      close: () => f.close(),
    };
  }
  stat(p: string) { return this.inner.stat(p); }
  readdir(p: string) { return this.inner.readdir(p); }
  rename(a: string, b: string) { return this.inner.rename(a, b); }
  unlink(p: string) { return this.inner.unlink(p); }
  truncate(p: string, n: number) { return this.inner.truncate(p, n); }
  mkdir(p: string) { return this.inner.mkdir(p); }
  syncDir(p: string) { return this.inner.syncDir(p); }
}

/** A promise with its resolver, for awaiting callbacks. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The persistence façade the server uses: recovery on open, then WAL appends,
 * group commits and snapshots, and the INFO persistence fields.
 *
 *   const store = await openStore(dir, { appendonly: true, appendfsync: 'everysec', logger });
 *   const { snapshot, replay } = store.recovery;       // load snapshot sections, then
 *   for await (const { seq, payload } of replay) …      // apply each record
 *   await store.startWriting();
 *   if (!store.refusal(payload.length)) {                // asked before the change is applied
 *     const seq = store.append(payload); await store.commit();   // per event-loop turn
 *   }
 *   await store.snapshot(async (w) => { … await w.addSection(kind, name, bytes) … });
 *
 * Directory layout: `MANIFEST`, `snap-<n>.snap` (current and
 * previous), `wal-<firstSeq>.log` segments; `*.tmp` are unfinished and
 * removed; `*.broken` are set aside for the operator; `*.ignored` are WAL
 * segments found while `appendonly` was off.
 *
 * Recovery (spec "Recovery"): the manifest's current snapshot, verified whole;
 * if it fails, it is renamed `*.broken` and the previous snapshot is used with
 * a longer replay; then the WAL from the snapshot's cut, a torn tail in the
 * last segment truncated (logged); any other damage refuses to start unless
 * `repair` is set (the server's `--repair`).
 *
 * The directory is locked (`LOCK`, see lock.ts) from open to close: a second
 * store or server on it is refused before it reads anything.
 */
import * as nodePath from 'node:path';
import type { Fs } from './fs.js';
import { RealFs } from './fs.js';
import { CorruptionError, SnapshotInProgressError, StoreUnwritableError, describeError, isNotFound } from './errors.js';
import { DirLock } from './lock.js';
import type { Logger } from './logger.js';
import { SILENT_LOGGER } from './logger.js';
import type { Manifest, ManifestStep, SnapshotRef } from './manifest.js';
import { MANIFEST_FILE, readManifest, writeManifest } from './manifest.js';
import { SnapshotReader } from './snapshot-reader.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { parseSnapshotFileName, snapshotFileName } from './snapshot-format.js';
import type { Appendfsync, WalSegmentRef } from './wal-writer.js';
import { WalWriter } from './wal-writer.js';
import type { WalRecord, WalScanReport } from './wal-reader.js';
import { emptyScanReport, listSegments, scanWal, walRecords } from './wal-reader.js';
import { FRAME_HEADER_SIZE, SEGMENT_HEADER_SIZE, parseSegmentFileName } from './wal-format.js';

/** The steps of `Store.snapshot`, in order, where a test can make the process "crash". */
export const FAILPOINTS = [
  'snapshot:rotated', //           WAL cut taken: new segment durable
  'snapshot:sections-written', //  sections written to snap-N.snap.tmp (index/trailer not yet)
  'snapshot:synced', //            tmp file complete and fsynced
  'snapshot:renamed', //           tmp renamed to snap-N.snap (directory not fsynced)
  'manifest:tmp-written', //       MANIFEST.tmp written and fsynced
  'manifest:renamed', //           MANIFEST replaced (directory not fsynced)
  'snapshot:committed', //         manifest durable: the snapshot is committed
  'snapshot:cleanup', //           after the first old file was deleted
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export interface StoreOptions {
  /** Keep a WAL (redis.conf `appendonly`). Default true. Without it, recovery is the snapshot alone. */
  appendonly?: boolean;
  /** redis.conf `appendfsync`. Default `everysec`. */
  appendfsync?: Appendfsync;
  logger?: Logger;
  /** Default: the real file system. */
  fs?: Fs;
  /** Start despite WAL damage, gaps, missing segments or a bad manifest, skipping what is lost (logged). */
  repair?: boolean;
  /** WAL segment size limit. Default 64 MiB. */
  segmentSize?: number;
  /** `everysec` interval and unhealthy retry interval. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /** Snapshot write/verify chunk size. Default 1 MiB. */
  chunkSize?: number;
  /** Tests: called at each step of a snapshot; throw to simulate a crash there. */
  failpoint?: (name: Failpoint) => void | Promise<void>;
  /** Observability: called after each successful WAL fsync with the last sequence number it covers. */
  onFsync?: (syncedSeq: number) => void;
  /** Disk space the WAL keeps preallocated ahead of its writes (see wal-writer.ts). Default 4 MiB; 0 turns it off. */
  walReserve?: number;
  /**
   * The WAL segment being written was deleted: writes are refused until a
   * snapshot started after this call is committed. Take one (and retry while
   * `walLost` stays true).
   */
  onWalLost?: () => void;
  /**
   * Snapshot sections whose data checksum the caller checks while loading them
   * (see SnapshotReader): recovery then reads them once, not twice. A loader
   * that finds one damaged reopens the store with the file in `distrust`.
   */
  deferSnapshotCrc?: (section: { kind: number; name: string; length: number }) => boolean;
  /** Snapshot files (names in the directory) found damaged while loading: recovery treats them as failing verification. */
  distrust?: readonly string[];
}

/** What recovery found; `snapshot` and `replay` are to be loaded before `startWriting()`. */
export interface Recovery {
  /** The verified snapshot to load first (closed by `startWriting`), or null. */
  snapshot: SnapshotReader | null;
  /** WAL records after the snapshot, in order. Consume fully before `startWriting`. */
  replay: AsyncIterable<WalRecord>;
  /** First sequence number replay returns (the snapshot's cut, or 1). */
  fromSeq: number;
  /** Records and payload bytes replay will return (from the verification pass), for progress. */
  records: number;
  bytes: number;
  /** Records replayed so far. */
  replayed: number;
  /** What recovery had to do or skip, for the log and the operator. */
  notes: string[];
  /** Data may have been lost or skipped (fallback or repair): take a snapshot once loaded. */
  degraded: boolean;
  /** The WAL verification report (null with appendonly off). */
  wal: WalScanReport | null;
}

export interface SnapshotInfo {
  file: string;
  seq: number;
  size: number;
  crc: number;
  sections: number;
  createdMs: number;
  durationMs: number;
}

/** INFO persistence fields, under their Redis names where one exists. */
export interface PersistenceInfo {
  rdb_changes_since_last_save: number;
  rdb_bgsave_in_progress: 0 | 1;
  rdb_last_save_time: number;
  rdb_last_bgsave_status: 'ok' | 'err';
  rdb_last_bgsave_time_sec: number;
  rdb_current_bgsave_time_sec: number;
  rdb_saves: number;
  aof_enabled: 0 | 1;
  aof_rewrite_in_progress: 0 | 1;
  aof_last_bgrewrite_status: 'ok' | 'err';
  aof_last_write_status: 'ok' | 'err';
  aof_current_size: number;
  aof_base_size: number;
}

type Settled<T> = { ok: true; value: T } | { ok: false; err: unknown };
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
}

/** Open `dir` (created if missing) and run recovery. */
export async function openStore(dir: string, opts: StoreOptions = {}): Promise<Store> {
  const store = new Store(nodePath.resolve(dir), opts);
  try {
    await store.recover();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/** What to do about damage recovery will not skip on its own. */
const REPAIR_HINT = (dir: string): string =>
  `Run \`astronaut check ${dir}\` to see what is damaged and what a repair would drop, then start once with \`--repair\` (same --dir and options) to load what is intact, drop the rest (logged) and snapshot it.`;

export class Store {
  readonly dir: string;
  readonly appendonly: boolean;
  private readonly fs: Fs;
  private readonly log: Logger;
  private readonly opts: StoreOptions;
  private policy: Appendfsync;

  private state: 'new' | 'recovering' | 'writing' | 'closing' | 'closed' = 'new';
  private killed = false;
  /** Snapshot files get numbers never used before in this directory, so a new one never replaces a file a manifest may name. */
  private nextSnapNumber = 1;
  private recoveryValue: Recovery | null = null;
  private replayDone = false;
  private manifest: Manifest = { generation: 0, appendonly: true, snapshot: null, previous: null, wal: [] };
  private manifestDirty = false;
  private current: SnapshotRef | null = null;
  private previous: SnapshotRef | null = null;
  /** WAL segments on disk that the manifest lists (or will), oldest first. */
  private segments: WalSegmentRef[] = [];
  private resumeSegment: (WalSegmentRef & { size: number; allocated: number }) | null = null;
  private nextSeqAtOpen = 1;
  private writer: WalWriter | null = null;
  private seqNoWal = 1;
  private manifestLock: Promise<void> = Promise.resolve();
  private lock: DirLock | null = null;
  /**
   * The next snapshot's manifest keeps no history (no previous snapshot, no WAL
   * before its cut): what came before is damaged (repair) or gone (WAL deleted).
   */
  private dropHistory = false;

  private totalChanges = 0;
  private savedChanges = 0;
  private lastSaveSec = Math.floor(Date.now() / 1000);
  private lastBgsaveOk = true;
  private lastBgsaveSec = -1;
  private saveStartMs: number | null = null;
  private saving: Promise<unknown> | null = null;
  private saves = 0;
  private baseSize = 0;
  private walBytesBase = 0;
  private writerBytesAtCut = 0;

  /** @internal use `openStore`. */
  constructor(dir: string, opts: StoreOptions) {
    this.dir = dir;
    this.opts = opts;
    this.fs = opts.fs ?? new RealFs();
    this.log = opts.logger ?? SILENT_LOGGER;
    this.appendonly = opts.appendonly ?? true;
    this.policy = opts.appendfsync ?? 'everysec';
  }

  // ---- recovery ---------------------------------------------------------------

  get recovery(): Recovery {
    if (!this.recoveryValue) throw new Error('store not opened');
    return this.recoveryValue;
  }

  /** @internal called by `openStore`. */
  async recover(): Promise<void> {
    if (this.state !== 'new') throw new Error('recover() runs once');
    this.state = 'recovering';
    const fs = this.fs;
    await fs.mkdir(this.dir);
    this.lock = await DirLock.acquire(this.dir);
    if (this.lock.replaced) this.log.warn({ pid: this.lock.replaced.pid }, 'took over the data directory lock left by a process that is no longer running');
    const notes: string[] = [];
    let degraded = false;

    let manifest: Manifest | null;
    try {
      manifest = await readManifest(fs, this.dir);
    } catch (err) {
      if (!(err instanceof CorruptionError) || !this.opts.repair) throw err;
      this.log.error({ err }, 'manifest is damaged; repair: rebuilding it from the files present');
      await this.setAside(MANIFEST_FILE);
      manifest = null;
    }
    const names = await fs.readdir(this.dir);
    if (!manifest) {
      const data = names.filter((n) => parseSnapshotFileName(n) !== null || parseSegmentFileName(n) !== null);
      if (data.length > 0) {
        if (!this.opts.repair) {
          throw new CorruptionError(
            'no-manifest',
            `${this.dir} holds ${data.length} snapshot/WAL files but no MANIFEST; refusing to guess. ${REPAIR_HINT(this.dir)}`,
            nodePath.join(this.dir, MANIFEST_FILE),
          );
        }
        manifest = await this.rebuildManifest(names);
        notes.push('manifest rebuilt from the directory');
        degraded = true;
      }
      this.manifestDirty = true;
    }
    const m: Manifest = manifest ?? { generation: 0, appendonly: this.appendonly, snapshot: null, previous: null, wal: [] };
    this.manifest = m;
    for (const n of names) {
      const k = parseSnapshotFileName(n.replace(/\.(tmp|broken)$/, ''));
      if (k !== null) this.nextSnapNumber = Math.max(this.nextSnapNumber, k + 1);
    }
    for (const r of [m.snapshot, m.previous]) {
      const k = r ? parseSnapshotFileName(r.file) : null;
      if (k !== null) this.nextSnapNumber = Math.max(this.nextSnapNumber, k + 1);
    }

    // The newest snapshot that verifies.
    let reader: SnapshotReader | null = null;
    let chosen: SnapshotRef | null = null;
    const candidates = [m.snapshot, m.previous].filter((c): c is SnapshotRef => c !== null);
    for (const c of candidates) {
      try {
        if (this.opts.distrust?.includes(c.file)) throw new CorruptionError('bad-snapshot', `snapshot ${c.file} failed its data checksum while loading`, c.file);
        const r = await SnapshotReader.open(fs, nodePath.join(this.dir, c.file), { expect: { size: c.size, crc: c.crc }, chunkSize: this.opts.chunkSize, deferCrc: this.opts.deferSnapshotCrc });
        if (r.seq !== c.seq) {
          await r.close();
          throw new CorruptionError('bad-snapshot', `snapshot ${c.file} covers up to ${r.seq}, the manifest says ${c.seq}`, c.file);
        }
        reader = r;
        chosen = c;
        break;
      } catch (err) {
        if (!(err instanceof CorruptionError) && !isNotFound(err)) throw err;
        const missing = isNotFound(err);
        this.log.error({ err, file: c.file }, missing ? 'snapshot named by the manifest is missing; falling back' : 'snapshot failed verification; setting it aside and falling back');
        if (!missing) await this.setAside(c.file);
        notes.push(`snapshot ${c.file} ${missing ? 'missing' : `damaged (${describeError(err)}), renamed to ${c.file}.broken`}`);
        degraded = true;
        this.manifestDirty = true;
      }
    }
    if (candidates.length > 0 && chosen === null) {
      const walFrom1 = m.appendonly && this.appendonly && (m.wal[0]?.firstSeq ?? (await listSegments(fs, this.dir))[0]?.firstSeq) === 1;
      if (!walFrom1 && !this.opts.repair) {
        throw new CorruptionError(
          'no-usable-snapshot',
          `no snapshot in ${this.dir} verifies (${candidates.map((c) => c.file).join(', ')}) and the WAL does not reach back to the beginning. ${REPAIR_HINT(this.dir)}`,
        );
      }
      this.log.error({ dir: this.dir }, walFrom1 ? 'no snapshot verifies: replaying the whole WAL' : 'no snapshot verifies; repair: starting from what the WAL holds');
    }
    this.current = chosen;
    this.previous = chosen && chosen === m.snapshot ? m.previous : null;
    if (chosen) this.baseSize = chosen.size;

    try {
      await this.planReplay(m, chosen, reader, notes, degraded);
      // Repaired state is made durable by the next snapshot alone: its manifest must not point back at the damage.
      if (this.opts.repair && this.recoveryValue?.degraded) this.dropHistory = true;
    } catch (err) {
      await reader?.close();
      throw err;
    }
  }

  private async planReplay(m: Manifest, chosen: SnapshotRef | null, reader: SnapshotReader | null, notes: string[], degradedIn: boolean): Promise<void> {
    const fs = this.fs;
    let degraded = degradedIn;
    const fromSeq = chosen?.seq ?? 1;
    let scan: WalScanReport | null = null;
    const names = await fs.readdir(this.dir);
    if (this.appendonly) {
      this.segments = this.walChain(m, names, fromSeq);
      scan = await scanWal(fs, this.dir, this.segments, { fromSeq, repair: this.opts.repair, tornTail: 'truncate', logger: this.log });
      for (const p of scan.problems) {
        notes.push(`${p.kind} in ${p.file}${p.offset !== undefined ? ` at ${p.offset}` : ''}: ${p.detail}${p.fixed ? ' (fixed)' : ''}`);
        if (p.kind !== 'torn-tail' && p.kind !== 'torn-header') degraded = true;
      }
      const missing = new Set(scan.segments.filter((s) => s.status === 'missing').map((s) => s.file));
      this.segments = this.segments.filter((s) => !missing.has(s.file));
      const last = scan.segments.at(-1);
      const nextSeq = Math.max(fromSeq, scan.lastSeq + 1);
      // Continue the last segment when the log ends there (the usual case); else start a new one at nextSeq.
      if (last && last.status !== 'missing' && last.validEnd >= SEGMENT_HEADER_SIZE && last.lastSeq + 1 === nextSeq) {
        this.resumeSegment = { file: last.file, firstSeq: last.firstSeq, size: last.validEnd, allocated: last.validEnd + last.reserved };
      }
      this.walBytesBase = scan.segments.filter((s) => s.firstSeq >= fromSeq).reduce((a, s) => a + s.validEnd, 0);
      this.nextSeqAtOpen = nextSeq;
      if (this.segments.some((s) => !m.wal.some((w) => w.file === s.file)) || !m.appendonly) this.manifestDirty = true;
    } else {
      const stray = names.filter((n) => parseSegmentFileName(n) !== null);
      if (stray.length > 0) {
        this.log.warn({ segments: stray.length }, 'appendonly is off: ignoring the WAL segments present (renamed to *.ignored); their writes are not loaded');
        notes.push(`${stray.length} WAL segments ignored (appendonly off)`);
      }
      if (m.appendonly) this.manifestDirty = true;
      this.nextSeqAtOpen = fromSeq;
    }

    const rec: Recovery = {
      snapshot: reader,
      replay: this.replayIterable(fromSeq, scan),
      fromSeq,
      records: scan?.records ?? 0,
      bytes: scan?.bytes ?? 0,
      replayed: 0,
      notes,
      degraded,
      wal: scan,
    };
    if (!scan || scan.records === 0) this.replayDone = true;
    this.recoveryValue = rec;
    this.log.info(
      { dir: this.dir, snapshot: chosen?.file ?? null, snapshotSeq: chosen?.seq ?? null, walRecords: rec.records, nextSeq: this.nextSeqAtOpen, degraded },
      'persistence: recovery plan ready',
    );
  }

  /** The segments to read: those the manifest lists, plus newer ones it had not recorded yet (created just before a crash). */
  private walChain(m: Manifest, names: string[], fromSeq: number): WalSegmentRef[] {
    const listed = m.appendonly ? m.wal : [];
    const listedFiles = new Set(listed.map((s) => s.file));
    const maxListed = listed.length > 0 ? Math.max(...listed.map((s) => s.firstSeq)) : fromSeq - 1;
    const extra: WalSegmentRef[] = [];
    if (m.appendonly) {
      for (const n of names) {
        const firstSeq = parseSegmentFileName(n);
        if (firstSeq !== null && !listedFiles.has(n) && firstSeq > maxListed) extra.push({ file: n, firstSeq });
      }
    }
    if (extra.length > 0) this.log.warn({ segments: extra.map((e) => e.file) }, 'WAL segments newer than the manifest found; including them');
    return [...listed, ...extra].sort((a, b) => a.firstSeq - b.firstSeq);
  }

  private async *replayIterable(fromSeq: number, scan: WalScanReport | null): AsyncGenerator<WalRecord> {
    if (!scan || scan.records === 0) return;
    const again = emptyScanReport(fromSeq);
    let lastLog = Date.now();
    const rec = (): Recovery => this.recoveryValue!;
    // The second pass sees the file as the first one left it (torn tail already cut); it logs nothing new.
    for await (const r of walRecords(this.fs, this.dir, this.segments, { fromSeq, repair: this.opts.repair, tornTail: 'report', logger: SILENT_LOGGER, chunkSize: 1 << 20 }, again)) {
      rec().replayed++;
      if ((rec().replayed & 1023) === 0 && Date.now() - lastLog >= 1000) {
        lastLog = Date.now();
        this.log.info({ replayed: rec().replayed, total: scan.records }, 'loading: replaying the WAL');
      }
      yield r;
    }
    if (again.records !== scan.records || again.lastSeq !== scan.lastSeq) {
      throw new CorruptionError('bad-record', `the WAL in ${this.dir} changed between verification and replay`);
    }
    this.replayDone = true;
  }

  private async rebuildManifest(names: string[]): Promise<Manifest> {
    const snaps = names
      .map((n) => ({ n, gen: parseSnapshotFileName(n) }))
      .filter((x): x is { n: string; gen: number } => x.gen !== null)
      .sort((a, b) => b.gen - a.gen);
    let snapshot: SnapshotRef | null = null;
    for (const s of snaps) {
      try {
        const r = await SnapshotReader.open(this.fs, nodePath.join(this.dir, s.n), { chunkSize: this.opts.chunkSize });
        snapshot = { file: s.n, seq: r.seq, size: r.size, crc: r.crc, createdMs: r.createdMs };
        await r.close();
        break;
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        this.log.error({ err, file: s.n }, 'repair: snapshot does not verify, skipping it');
      }
    }
    const wal = await listSegments(this.fs, this.dir);
    const generation = Math.max(0, ...snaps.map((s) => s.gen));
    this.log.warn({ snapshot: snapshot?.file ?? null, segments: wal.length }, 'repair: rebuilt the manifest from the directory');
    return { generation, appendonly: wal.length > 0, snapshot, previous: null, wal };
  }

  /** Rename a damaged file to `<name>.broken` so the operator can look at it; never deletes. */
  private async setAside(name: string): Promise<void> {
    const from = nodePath.join(this.dir, name);
    try {
      await this.fs.rename(from, from + '.broken');
      await this.fs.syncDir(this.dir);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * End recovery and start accepting writes: closes the recovery snapshot,
   * opens the WAL (continuing its last segment), records the state in the
   * manifest if recovery changed anything, removes leftovers.
   */
  async startWriting(): Promise<void> {
    if (this.state !== 'recovering') throw new Error(`startWriting() in state ${this.state}`);
    if (!this.replayDone) throw new Error('startWriting() before recovery.replay was consumed to the end');
    await this.recoveryValue!.snapshot?.close();
    if (this.appendonly) {
      const dirtyBefore = this.manifestDirty;
      const resume = this.resumeSegment;
      this.writer = await WalWriter.create({
        fs: this.fs,
        dir: this.dir,
        appendfsync: this.policy,
        nextSeq: this.nextSeqAtOpen,
        ...(resume ? { resume } : {}),
        segmentSize: this.opts.segmentSize,
        fsyncIntervalMs: this.opts.fsyncIntervalMs,
        logger: this.log,
        onSegmentCreated: (seg) => this.onSegmentCreated(seg),
        onLost: () => this.onWalLost(),
        ...(this.opts.walReserve !== undefined ? { reserve: this.opts.walReserve } : {}),
        ...(this.opts.onFsync ? { onFsync: this.opts.onFsync } : {}),
      });
      // A new segment already rewrote the manifest through onSegmentCreated.
      if (dirtyBefore && resume) await this.commitManifest(() => this.manifestBody(this.current, this.previous));
    } else {
      for (const n of await this.fs.readdir(this.dir)) {
        if (parseSegmentFileName(n) !== null) await this.fs.rename(nodePath.join(this.dir, n), nodePath.join(this.dir, n + '.ignored'));
      }
      this.seqNoWal = this.nextSeqAtOpen;
      if (this.manifestDirty) await this.commitManifest(() => this.manifestBody(this.current, this.previous));
      else await this.fs.syncDir(this.dir);
    }
    this.manifestDirty = false;
    this.state = 'writing';
    await this.removeLeftovers();
  }

  // ---- writing ----------------------------------------------------------------

  /**
   * Log one record (a write command, or a whole MULTI/EXEC); returns its
   * sequence number. Synchronous and cheap; `commit()` makes it durable.
   * `changes` is what it adds to `rdb_changes_since_last_save` (default 1).
   */
  append(payload: Uint8Array, changes = 1): number {
    if (this.state !== 'writing') throw new Error(`append() in state ${this.state}`);
    this.totalChanges += changes;
    if (this.writer) return this.writer.append(payload);
    return this.seqNoWal++;
  }

  /**
   * Resolves when everything appended so far is durable per `appendfsync`
   * (immediately with appendonly off). Calls from one event-loop turn share
   * one WAL write. A rejection (`WalWriteError`) means "not acknowledged":
   * the records stay queued and are written once the disk recovers, so reply
   * with an error, refuse writes (`writable`), and stop the process if
   * `fatal` is set.
   */
  commit(): Promise<void> {
    if (this.writer) return this.writer.commit();
    return Promise.resolve();
  }

  /**
   * Why a record of `payloadBytes` must not be appended now, or null. Ask
   * before applying the change the record describes: an admitted record fits
   * in WAL space already reserved, so its commit does not fail for want of
   * disk space, and a refused one was never applied. 0 asks about writes in
   * general.
   */
  refusal(payloadBytes = 0): StoreUnwritableError | null {
    // append() would throw after the change was applied: refuse before instead.
    if (this.state !== 'writing') return new StoreUnwritableError('closing', `the store is ${this.state}`);
    if (!this.writer) return null; // appendonly off: a write is logged by the next snapshot
    return this.writer.refusal(payloadBytes > 0 ? FRAME_HEADER_SIZE + payloadBytes : 0);
  }

  /** False while writes must be refused. */
  get writable(): boolean {
    return this.refusal() === null;
  }

  /** The WAL segment being written was deleted and no snapshot has replaced it yet (see `onWalLost`). */
  get walLost(): boolean {
    return this.writer?.lost ?? false;
  }

  /** The WAL error behind `-MISCONF`, kept after recovery for the record. */
  get lastWriteError(): Error | null {
    return this.writer?.lastError ?? null;
  }

  /** Set when an fsync failed under `appendfsync always`: stop the process. */
  get fatalError(): Error | null {
    return this.writer?.fatal ?? null;
  }

  /** Retry after a write/fsync failure; true once a write and fsync succeeded. The WAL also retries on its own each interval. */
  probe(): Promise<boolean> {
    return this.writer ? this.writer.probe() : Promise.resolve(true);
  }

  get appendfsync(): Appendfsync {
    return this.policy;
  }

  setAppendfsync(policy: Appendfsync): void {
    this.policy = policy;
    this.writer?.setAppendfsync(policy);
  }

  /** The sequence number the next append gets. */
  get nextSeq(): number {
    return this.writer ? this.writer.nextSeq : this.state === 'writing' ? this.seqNoWal : this.nextSeqAtOpen;
  }

  /** Unix time (s) of the last successful snapshot, or of startup (as Redis does). */
  get lastSave(): number {
    return this.lastSaveSec;
  }

  get changesSinceSave(): number {
    return this.totalChanges - this.savedChanges;
  }

  get snapshotInProgress(): boolean {
    return this.saving !== null;
  }

  // ---- snapshots --------------------------------------------------------------

  /**
   * Take a snapshot (SAVE, BGSAVE, BGREWRITEAOF), in the spec's order: cut the
   * WAL (new segment), write the snapshot at that cut, fsync, commit the
   * manifest, then delete what the new state no longer needs (keeping the
   * previous snapshot and the WAL after it).
   *
   * `writeSections` is called synchronously, inside this call, at the cut:
   * whatever it reads before its first `await` reflects exactly the records
   * with seq < `w.seq` (everything appended before `snapshot()` was called).
   * Mutations after that must not leak into the sections (serialize or fork
   * the state up front, or order the save before later mutations).
   */
  async snapshot(writeSections: (w: SnapshotWriter) => Promise<void>): Promise<SnapshotInfo> {
    if (this.state !== 'writing') throw new Error(`snapshot() in state ${this.state}`);
    if (this.saving) throw new SnapshotInProgressError();
    const startMs = Date.now();
    const cut = this.nextSeq;
    // Taken at the cut: a snapshot started after the WAL was lost is the one that makes its records durable again.
    const reestablish = this.walLost;
    const noHistory = this.dropHistory || reestablish;
    const cutDone = settle(this.writer ? this.writer.rotate() : Promise.resolve(cut));
    const changesAtCut = this.totalChanges;
    const writerBytesAtCut = this.writer?.bytesWritten ?? 0;
    const file = snapshotFileName(this.nextSnapNumber++);
    const finalPath = nodePath.join(this.dir, file);
    const w = new SnapshotWriter(this.fs, finalPath + '.tmp', { seq: cut, createdMs: startMs, chunkSize: this.opts.chunkSize });
    let userDone: Promise<Settled<void>>;
    try {
      userDone = settle(Promise.resolve(writeSections(w)));
    } catch (err) {
      userDone = Promise.resolve({ ok: false, err });
    }
    const job = this.runSnapshot({ cut, cutDone, userDone, w, file, finalPath, startMs, changesAtCut, writerBytesAtCut, reestablish, noHistory });
    this.saving = job;
    this.saveStartMs = startMs;
    try {
      return await job;
    } finally {
      this.saving = null;
      this.saveStartMs = null;
    }
  }

  private async runSnapshot(j: {
    cut: number;
    cutDone: Promise<Settled<number>>;
    userDone: Promise<Settled<void>>;
    w: SnapshotWriter;
    file: string;
    finalPath: string;
    startMs: number;
    changesAtCut: number;
    writerBytesAtCut: number;
    reestablish: boolean;
    noHistory: boolean;
  }): Promise<SnapshotInfo> {
    const fp = async (name: Failpoint): Promise<void> => {
      await this.opts.failpoint?.(name);
    };
    let committed = false;
    try {
      const c = await j.cutDone;
      if (!c.ok) throw c.err;
      if (c.value !== j.cut) throw new Error(`internal: WAL cut ${c.value} differs from ${j.cut}`);
      await fp('snapshot:rotated');
      const u = await j.userDone;
      if (!u.ok) throw u.err;
      await fp('snapshot:sections-written');
      const info = await j.w.finish();
      await fp('snapshot:synced');
      await this.fs.rename(j.finalPath + '.tmp', j.finalPath);
      await fp('snapshot:renamed');
      await this.fs.syncDir(this.dir);
      const ref: SnapshotRef = { file: j.file, seq: j.cut, size: info.size, crc: info.crc, createdMs: info.createdMs };
      const keepFrom = j.noHistory ? j.cut : this.current?.seq ?? 1;
      const previous = j.noHistory ? null : this.current;
      if (j.reestablish) await this.lock?.ensure(); // the directory may have been emptied along with the WAL
      await this.commitManifest(() => this.manifestBody(ref, previous, keepFrom), (step) => fp(step));
      committed = true;
      if (j.noHistory) this.dropHistory = false;
      this.previous = previous;
      this.current = ref;
      this.segments = this.keptSegments(keepFrom);
      if (j.reestablish) this.writer?.reestablished(j.cut);
      this.lastSaveSec = Math.floor(Date.now() / 1000);
      this.savedChanges = j.changesAtCut;
      this.lastBgsaveOk = true;
      this.lastBgsaveSec = Math.round((Date.now() - j.startMs) / 1000);
      this.saves++;
      this.baseSize = info.size;
      this.walBytesBase = 0;
      this.writerBytesAtCut = j.writerBytesAtCut;
      await fp('snapshot:committed');
      await this.removeLeftovers(() => fp('snapshot:cleanup'));
      const durationMs = Date.now() - j.startMs;
      this.log.info({ file: j.file, seq: j.cut, size: info.size, sections: info.sections, durationMs }, 'snapshot saved');
      return { file: j.file, seq: j.cut, size: info.size, crc: info.crc, sections: info.sections, createdMs: info.createdMs, durationMs };
    } catch (err) {
      if (!committed) {
        this.lastBgsaveOk = false;
        this.log.error({ err, file: j.file }, 'snapshot failed');
        // The callback may still be writing: let it finish (its writes now fail) before removing the file.
        await j.userDone;
        try {
          await j.w.abort();
        } catch (abortErr) {
          this.log.warn({ err: abortErr, file: j.file }, 'could not remove the unfinished snapshot file');
        }
      }
      throw err;
    }
  }

  private manifestBody(snapshot: SnapshotRef | null, previous: SnapshotRef | null, keepFrom = previous?.seq ?? 1): Omit<Manifest, 'generation'> {
    return { appendonly: this.appendonly, snapshot, previous, wal: this.appendonly ? this.keptSegments(keepFrom) : [] };
  }

  /** Segments holding records ≥ keepFrom: the last one starting at or before it and all after. */
  private keptSegments(keepFrom: number): WalSegmentRef[] {
    const segs = [...this.segments].sort((a, b) => a.firstSeq - b.firstSeq);
    let first = 0;
    for (let i = 0; i < segs.length; i++) if (segs[i]!.firstSeq <= keepFrom) first = i;
    return segs.slice(first);
  }

  /** Write a new manifest; serialized, the body computed when its turn comes. */
  private commitManifest(body: () => Omit<Manifest, 'generation'>, failpoint?: (step: ManifestStep) => Promise<void>): Promise<void> {
    const run = async (): Promise<void> => {
      const m: Manifest = { generation: this.manifest.generation + 1, ...body() };
      await writeManifest(this.fs, this.dir, m, failpoint);
      this.manifest = m;
    };
    const p = this.manifestLock.then(run);
    this.manifestLock = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private onWalLost(): void {
    if (this.killed || this.state !== 'writing') return;
    try {
      this.opts.onWalLost?.();
    } catch (err) {
      this.log.error({ err }, 'onWalLost handler failed');
    }
  }

  private async onSegmentCreated(seg: WalSegmentRef): Promise<void> {
    if (!this.segments.some((s) => s.file === seg.file)) this.segments.push(seg);
    if (this.killed) return;
    await this.commitManifest(() => this.manifestBody(this.current, this.previous));
  }

  /**
   * Delete what the manifest no longer needs: snapshots other than current
   * and previous, WAL segments before those it lists, unfinished `*.tmp`.
   * Never `*.broken` or `*.ignored`.
   */
  private async removeLeftovers(afterFirst?: () => Promise<void>): Promise<void> {
    const keepSnaps = new Set([this.manifest.snapshot?.file, this.manifest.previous?.file]);
    const keepSegs = new Set(this.manifest.wal.map((s) => s.file));
    const minKept = this.manifest.wal.length > 0 ? Math.min(...this.manifest.wal.map((s) => s.firstSeq)) : this.writer?.currentSegment.firstSeq ?? Infinity;
    let deleted = 0;
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (err) {
      this.log.warn({ err }, 'cleanup: cannot list the data directory');
      return;
    }
    for (const n of names) {
      const seg = parseSegmentFileName(n);
      const isOldSnap = parseSnapshotFileName(n) !== null && !keepSnaps.has(n);
      const isOldSeg = this.appendonly && seg !== null && !keepSegs.has(n) && seg < minKept;
      const isTmp = n.endsWith('.tmp') && (parseSnapshotFileName(n.slice(0, -4)) !== null || n === MANIFEST_FILE + '.tmp');
      if (!isOldSnap && !isOldSeg && !isTmp) continue;
      try {
        await this.fs.unlink(nodePath.join(this.dir, n));
      } catch (err) {
        if (!isNotFound(err)) {
          this.log.warn({ err, file: n }, 'cleanup: could not delete an old file');
          continue;
        }
      }
      if (++deleted === 1) await afterFirst?.();
    }
    if (deleted > 0) {
      try {
        await this.fs.syncDir(this.dir);
      } catch (err) {
        this.log.warn({ err }, 'cleanup: directory fsync failed');
      }
    }
  }

  // ---- INFO and shutdown ------------------------------------------------------------

  info(): PersistenceInfo {
    const now = Date.now();
    const walBytes = this.walBytesBase + ((this.writer?.bytesWritten ?? 0) - this.writerBytesAtCut);
    const status = this.lastBgsaveOk ? 'ok' : 'err';
    return {
      rdb_changes_since_last_save: this.changesSinceSave,
      rdb_bgsave_in_progress: this.saving ? 1 : 0,
      rdb_last_save_time: this.lastSaveSec,
      rdb_last_bgsave_status: status,
      rdb_last_bgsave_time_sec: this.lastBgsaveSec,
      rdb_current_bgsave_time_sec: this.saveStartMs !== null ? Math.round((now - this.saveStartMs) / 1000) : -1,
      rdb_saves: this.saves,
      aof_enabled: this.appendonly ? 1 : 0,
      aof_rewrite_in_progress: this.saving && this.appendonly ? 1 : 0,
      aof_last_bgrewrite_status: status,
      aof_last_write_status: this.writable ? 'ok' : 'err',
      aof_current_size: this.appendonly ? this.baseSize + walBytes : 0,
      aof_base_size: this.appendonly ? this.baseSize : 0,
    };
  }

  /**
   * Graceful stop: waits for a snapshot in progress, writes and fsyncs
   * everything appended, closes. Throws if the final flush failed.
   */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    const was = this.state;
    this.state = 'closing'; // appends and new snapshots are refused from here
    try {
      if (this.saving) await settle(this.saving);
      if (was !== 'writing') {
        await this.recoveryValue?.snapshot?.close();
        return;
      }
      if (this.writer) await this.writer.close();
      await this.manifestLock;
    } finally {
      this.state = 'closed';
      await this.lock?.release();
    }
  }

  /** Tests: simulate a crash. Stops timers and drops buffered records without any further I/O. */
  async kill(): Promise<void> {
    this.state = 'closed';
    this.killed = true;
    this.lock?.abandon(); // left on disk, as a crashed process leaves it
    if (this.writer) await this.writer.kill();
    await this.recoveryValue?.snapshot?.close().catch(() => undefined); // its fd may already be dead (SimulatedFs.crash)
  }
}

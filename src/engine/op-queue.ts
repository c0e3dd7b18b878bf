/**
 * Orders the engine operations of one vector set and runs them on or off the
 * event loop, so that:
 * - every operation takes effect in the order its command ran (a search
 *   queued after an add sees it; one queued before a remove still sees that
 *   element), which is what a Redis client expects;
 * - cheap searches arriving in the same event-loop turn (many clients) run
 *   as one batch on every core at once, the event loop's thread included
 *   (`NativeIndex.searchTeam`), a bounded amount per turn; anything whose
 *   cost grows with the set (wide beams, big COUNT, long scans, filtered
 *   walks) goes to the libuv pool so no client stalls the others;
 * - adds arriving together are inserted as one multi-threaded batch;
 * - operations that usearch cannot run concurrently with others (remove,
 *   reserve, serialize) wait until nothing is in flight;
 * - a rebuild (compaction) builds a fresh index in the background while this
 *   queue keeps serving from the current one, then replays the writes it
 *   missed and swaps it in between two operations (see `rebuild`).
 */
import { FLAT_MAX, threads, type NativeIndex, type SearchResult } from './native-index.js';
import { RespError } from '../errors.js';

export interface SearchJob {
  query: Float32Array;
  k: number;
  ef: number;
  exact: boolean;
  /** Allowed slots as a bitmap (filtered graph search), or null. */
  filter: Uint8Array | null;
  /** Exact scan of just these slots (selective filters), or null. */
  subset: Uint32Array | null;
}

/**
 * A lone graph search runs on the JS thread when its beam (max(k, EF)) times the bytes of a
 * stored vector is at most this: EF 256 on 128-d f32. Measured on 200 k × 128-d cosine, a walk
 * costs ~1 ms at EF 256 and grows linearly with the beam and the vector size (EF 1e6 held the
 * loop for ~1 s when every lone search ran inline); wider or heavier walks go to a worker.
 */
export const INLINE_WALK_BYTES = 256 * 128 * 4;
/**
 * Sets of at most this many elements run every operation inline and hold no worker contexts:
 * their index is flat (NativeIndexOptions.workers), every search an exact scan of at most this
 * many vectors (the planner's crossover), and growing past it inserts them into a fresh graph.
 */
export const SMALL_SET = FLAT_MAX;
/**
 * Wall time a turn's team batch may take; the walks queued past it wait for the next turn, so
 * sockets are read (and PINGs answered) in between. A time, not a count of beam bytes: a walk's
 * cost grows with the set (EF 64 on 128-d f32 inside the server: ~100 µs at 20 k elements,
 * ~300 µs at 100 k), and the byte budget chosen at 20 k made 100 k turns of ~2.4 ms (a side
 * PING's p99 6.2 ms while 50 clients searched). Each queue times its own team batches
 * (`timeTeam`). Measured at 100 k × 128, 50 clients, five alternating rounds (QPS, side PING
 * p99): 0.8 ms 4.76 k, 3.3 ms; 1.2 ms 4.55 k, 3.5 ms; 1.6 ms 4.81 k, 4.1 ms; ~2.4 ms (the old
 * budget) 5.13 k, 6.4 ms in four rounds. Throughput did not tell them apart; the PING did.
 */
const TEAM_TURN_NS = 1_000_000;
/** 8 walks of EF 64 on 128-d f32 per core: the turn the byte rule gave before turns were timed. */
const FIRST_TURN_BYTES = 2 * INLINE_WALK_BYTES;
/** Exact scans of at most this many slots run inline (a worker round trip costs more). */
export const INLINE_SCAN_MAX = 2048;

/** Raised by a set's queue once the set has left the keyspace (DEL, FLUSHALL, overwrite). */
export class SetDeletedError extends RespError {
  constructor() { super('ERR', 'the vector set was deleted while the command ran'); }
}

type Op =
  | { type: 'search'; job: SearchJob; resolve: (r: SearchResult) => void; reject: (e: unknown) => void }
  | { type: 'read'; fn: () => unknown; resolve: (r: unknown) => void; reject: (e: unknown) => void }
  | { type: 'readAsync'; fn: (index: NativeIndex) => Promise<unknown>; resolve: (r: unknown) => void; reject: (e: unknown) => void }
  | { type: 'add'; slot: number; vector: Float32Array | null; applied: () => void; resolve: () => void; reject: (e: unknown) => void }
  | { type: 'remove'; slot: number; inGraph: boolean; applied: () => void }
  | { type: 'exclusive'; fn: () => unknown; resolve: (r: unknown) => void; reject: (e: unknown) => void };

type SearchOp = Extract<Op, { type: 'search' }>;

type Running = 'none' | 'read' | 'add' | 'exclusive';

/** A mutation applied to the serving index while a rebuild runs: vector null for a removal. */
interface LogEntry { slot: number; vector: Float32Array | null }

/** Hooks for tests: awaited at the named point of a rebuild. */
export interface RebuildHooks {
  /** Every vector present at the start is in the fresh index; missed writes not yet replayed. */
  built?: () => Promise<void> | void;
}

/**
 * Slots read per step of a rebuild's copy, as f32 bytes. The read and the packing run on the
 * event loop: steps of 32 MB (65 536 rows at 128-d) held it 10-25 ms each (bench/stalls.ts,
 * compaction, PING max 26.6 ms); 2 MB is 4 096 such rows, one insert job's worth.
 */
const COPY_BYTES = 2 * 1024 * 1024;
/** Vectors per insert job of a rebuild: short jobs keep the libuv pool shared with searches and I/O. */
const BUILD_BATCH = 4096;
/** Catch-up rounds replay missed writes off the queue until at most this many remain for the swap. */
const SWAP_REMAINDER = 256;
const CATCH_UP_ROUNDS = 8;
/**
 * Operations applied synchronously per event-loop turn (removals, reads, inline searches)
 * before the rest wait for the next: a DEL of 30 k elements queued 30 k removals that one
 * turn applied back to back (~150 ms).
 */
const PUMP_BUDGET = 1024;

/** An idle queue's operation list: most sets are idle nearly always, and an Array costs 32 bytes. */
const NO_OPS: Op[] = Object.freeze([]) as unknown as Op[];

export class OpQueue {
  private ops: Op[] = NO_OPS;
  private head = 0;
  private running: Running = 'none';
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> | null = null;
  private closed = false;
  private serving: NativeIndex;
  /** Mutations applied since the running rebuild took its starting point; null when none runs. */
  private log: LogEntry[] | null = null;
  /** The running rebuild's fresh index, and its completion. */
  private fresh: NativeIndex | null = null;
  private rebuilding: Promise<boolean> | null = null;
  /** What this set's cheap walks cost, core-ns per beam byte, from its team batches (0: none yet). */
  private walkCoreNsPerByte = 0;

  constructor(index: NativeIndex) { this.serving = index; }

  /** The index searches and reads use: the current one, swapped only between operations. */
  get index(): NativeIndex { return this.serving; }

  /** The index a running rebuild is filling, or null. */
  get building(): NativeIndex | null { return this.fresh; }

  /** Whether a rebuild is in progress (searches keep being answered from the current index). */
  get rebuildRunning(): boolean { return this.rebuilding !== null; }

  private get empty(): boolean { return this.head === this.ops.length; }

  private checkOpen(): void { if (this.closed) throw new SetDeletedError(); }

  private push(op: Op): void {
    if (this.ops === NO_OPS) this.ops = [];
    this.ops.push(op);
  }

  /** Queue an insertion (vector null: a zero vector kept out of the graph). */
  add(slot: number, vector: Float32Array | null, applied: () => void): Promise<void> {
    this.checkOpen();
    return new Promise<void>((resolve, reject) => {
      this.push({ type: 'add', slot, vector, applied, resolve, reject });
      this.schedule();
    });
  }

  /** Queue a removal; runs at once when nothing is pending. */
  remove(slot: number, zero: boolean, applied: () => void): void {
    this.checkOpen();
    this.push({ type: 'remove', slot, inGraph: !zero, applied });
    if (this.running === 'none' && this.ops.length - this.head === 1) this.pump(); else this.schedule();
  }

  search(job: SearchJob): Promise<SearchResult> {
    this.checkOpen();
    return new Promise<SearchResult>((resolve, reject) => {
      this.push({ type: 'search', job, resolve, reject });
      this.schedule();
    });
  }

  /** A read of the index (get, links): synchronous when nothing is queued ahead of it. */
  read<T>(fn: () => T): T | Promise<T> {
    this.checkOpen();
    if (this.empty && (this.running === 'none' || this.running === 'read')) return fn();
    return new Promise<T>((resolve, reject) => {
      this.push({ type: 'read', fn, resolve: resolve as (r: unknown) => void, reject });
      this.schedule();
    });
  }

  /** An asynchronous read of the index in queue order: searches may run beside it, mutations wait for it. */
  readAsync<T>(fn: (index: NativeIndex) => Promise<T>): Promise<T> {
    this.checkOpen();
    return new Promise<T>((resolve, reject) => {
      this.push({ type: 'readAsync', fn, resolve: resolve as (r: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Run `fn` alone, after everything queued before it. */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    this.checkOpen();
    return new Promise<T>((resolve, reject) => {
      this.push({ type: 'exclusive', fn, resolve: resolve as (r: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Inside an exclusive operation only: serve from `index` from now on, freeing the current one. */
  adopt(index: NativeIndex): void {
    const old = this.serving;
    this.serving = index;
    old.free();
  }

  idle(): Promise<void> {
    if (this.empty && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  /**
   * No operation may be queued from now on (they throw SetDeletedError). Operations already
   * queued still run (a snapshot cut taken before DEL keeps its graph), a running rebuild is
   * cancelled, and then the native index is freed. Resolves once it is; never rejects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fresh?.free(); // cancels the rebuild's insert jobs; the rebuild then cleans up
    await this.rebuilding?.catch(() => {});
    await this.idle();
    this.serving.free();
  }

  /**
   * Replace the serving index by `fresh` holding the same elements, built off the event loop
   * while this queue keeps serving searches and writes from the current index:
   * 1. at a point P in queue order, start logging every mutation applied to the index;
   * 2. copy the vectors of slots [0, slotLimit()) in steps (each a short queue-ordered read on
   *    a worker) and insert the ones present into `fresh` on workers, off the queue;
   * 3. replay the logged writes onto `fresh` (an add of a slot it already holds, copied after
   *    that add ran, replaces it), first off the queue, then the last few inside an exclusive
   *    operation that also swaps the indexes and frees the old one.
   * Replaying every mutation after P in order makes `fresh` hold exactly what the serving index
   * holds, whichever state of a slot the copy happened to see. Resolves true once swapped,
   * false if the queue was closed meanwhile; rejects (and keeps the old index) on failure.
   * `expected`: elements to reserve room for.
   */
  rebuild(fresh: NativeIndex, slotLimit: () => number, expected: number, hooks: RebuildHooks = {}): Promise<boolean> {
    this.checkOpen();
    if (this.rebuilding) throw new Error('a rebuild is already running');
    this.fresh = fresh;
    const run = this.runRebuild(fresh, slotLimit, expected, hooks).then(
      () => true,
      (e: unknown) => {
        this.log = null;
        fresh.free();
        if (this.closed) return false;
        throw e;
      },
    ).finally(() => { this.fresh = null; this.rebuilding = null; });
    this.rebuilding = run;
    return run;
  }

  private async runRebuild(fresh: NativeIndex, slotLimit: () => number, expected: number, hooks: RebuildHooks): Promise<void> {
    const background = Math.max(1, threads - 1); // leave a core to the event loop and searches
    const end = await this.exclusive(() => { this.log = []; return slotLimit(); });
    fresh.reserve(Math.max(64, expected));
    const step = Math.max(1024, Math.floor(COPY_BYTES / (4 * fresh.options.dimensions)));
    for (let start = 0; start < end; start += step) {
      const slots = new Uint32Array(Math.min(step, end - start));
      for (let i = 0; i < slots.length; i++) slots[i] = start + i;
      const { vectors, found } = await this.readAsync((index) => index.getBatch(slots));
      // Pack the present rows to the front (absent: never used, removed, or zero vectors),
      // a run of present rows per copy.
      const dim = fresh.options.dimensions;
      let m = 0;
      for (let i = 0; i < slots.length;) {
        if (!found[i]) { i++; continue; }
        let j = i + 1;
        while (j < slots.length && found[j]) j++;
        if (m !== i) { slots.copyWithin(m, i, j); vectors.copyWithin(m * dim, i * dim, j * dim); }
        m += j - i;
        i = j;
      }
      await insertInto(fresh, slots.subarray(0, m), vectors.subarray(0, m * dim), background);
    }
    await hooks.built?.();
    for (let round = 0; round < CATCH_UP_ROUNDS && this.log!.length > SWAP_REMAINDER; round++) {
      const entries = this.log!;
      this.log = [];
      await replay(fresh, entries, background);
    }
    await this.exclusive(async () => {
      const entries = this.log!;
      this.log = null;
      await replay(fresh, entries, threads);
      const old = this.serving;
      this.serving = fresh;
      this.fresh = null;
      old.free(); // nothing runs on it: this operation is exclusive
    });
  }

  /**
   * Defer to the end of this event-loop turn: every socket that had data has
   * been read by then, so concurrent clients' searches form one batch.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; this.pump(); });
  }

  private pump(): void {
    const index = this.serving;
    let budget = PUMP_BUDGET;
    while (!this.empty) {
      if (--budget < 0) { this.schedule(); return; }
      const op = this.ops[this.head];
      if (op.type === 'search' || op.type === 'read' || op.type === 'readAsync') {
        if (this.running === 'add' || this.running === 'exclusive') return;
        if (op.type === 'read') {
          this.head++;
          try { op.resolve(op.fn()); } catch (e) { op.reject(e); }
          continue;
        }
        if (op.type === 'readAsync') {
          this.head++;
          this.running = 'read';
          this.inFlight++;
          Promise.resolve(index).then(op.fn).then(op.resolve, op.reject).finally(() => this.done());
          continue;
        }
        if (this.runSearches(index)) { this.schedule(); return; }
        continue;
      }
      if (this.inFlight > 0) return;
      if (op.type === 'remove') {
        this.head++;
        try {
          if (op.inGraph) {
            index.remove(op.slot);
            this.log?.push({ slot: op.slot, vector: null });
          }
        } finally { op.applied(); }
        continue;
      }
      if (op.type === 'add') { this.runAdds(index); continue; }
      // exclusive
      this.head++;
      this.running = 'exclusive';
      this.inFlight++;
      Promise.resolve().then(op.fn).then(op.resolve, op.reject).finally(() => this.done());
      // The operation may swap the index: nothing more runs until it settles.
      return;
    }
    this.compactOps();
    if (this.inFlight === 0) this.wakeIdle();
  }

  /**
   * Take the consecutive searches at the head and run them. Cheap plain walks (no filter, not
   * exact, a beam of at most INLINE_WALK_BYTES) run now as one team batch (`searchTeam`: this
   * thread and the helper threads share the queries), about TEAM_TURN_NS of them per turn by
   * this set's measured walk cost; the rest stay queued for the next turn, so sockets are read in between. Whether
   * a search is cheap depends on its beam and scan length, never on the set's size alone, so
   * wide walks, filtered walks and long scans go to the libuv pool and nothing proportional to
   * the set holds the event loop. Returns whether searches were left for a later turn.
   */
  private runSearches(index: NativeIndex): boolean {
    const perVector = vectorBytes(index);
    const turnBytes = this.walkCoreNsPerByte > 0 ? TEAM_TURN_NS * threads / this.walkCoreNsPerByte : FIRST_TURN_BYTES * threads;
    let team: Map<string, SearchOp[]> | null = null;
    let teamBytes = 0;
    let teamWalks = 0;
    let left = false;
    const batched = new Map<string, SearchOp[]>();
    while (!this.empty && this.ops[this.head].type === 'search') {
      const op = this.ops[this.head] as SearchOp;
      const j = op.job;
      if (j.subset) {
        this.head++;
        if (j.subset.length <= INLINE_SCAN_MAX) {
          try { op.resolve(index.searchSubset(j.query, j.subset, j.k)); } catch (e) { op.reject(e); }
        } else {
          let scan: Promise<SearchResult>;
          try { scan = index.searchSubsetAsync(j.query, j.subset, j.k); } catch (e) { op.reject(e); continue; }
          this.track(scan.then(op.resolve, op.reject));
        }
        continue;
      }
      // An index without worker contexts holds at most SMALL_SET elements: everything is cheap.
      if (!index.hasWorkers) {
        this.head++;
        try { op.resolve(index.search(j.query, j.k, j.ef, { filter: j.filter ?? undefined, exact: j.exact })); } catch (e) { op.reject(e); }
        continue;
      }
      const walk = cheapWalk(j, perVector);
      if (walk > 0) {
        // A team whose walks do not divide among its threads idles all but one of them for the
        // last walk: past the budget, walks are still taken until every thread has as many.
        if (teamWalks % threads === 0 && teamBytes > 0 && teamBytes + walk > turnBytes) { left = true; break; }
        this.head++;
        teamBytes += walk;
        teamWalks++;
        team ??= new Map();
        const key = `${j.k}/${j.ef}`;
        const list = team.get(key);
        if (list) list.push(op); else team.set(key, [op]);
        continue;
      }
      this.head++;
      if (j.filter) { this.launchSearch(index, [op]); continue; }
      const key = `${j.k}/${j.ef}/${j.exact ? 1 : 0}`;
      const list = batched.get(key);
      if (list) list.push(op); else batched.set(key, [op]);
    }
    for (const list of batched.values()) this.launchSearch(index, list);
    if (team) {
      const started = performance.now();
      for (const list of team.values()) runTeam(index, list);
      this.timeTeam(teamBytes, (performance.now() - started) * 1e6, Math.min(threads, teamWalks));
    }
    return left;
  }

  /**
   * Fold one team batch's wall time into this set's walk cost (core-ns per beam byte: `cores`
   * threads shared the walks). A moving average, so a set that grows, or a busy patch of the
   * machine, moves the turn's size within a few turns.
   */
  private timeTeam(bytes: number, wallNs: number, cores: number): void {
    const sample = (wallNs * cores) / bytes;
    this.walkCoreNsPerByte = this.walkCoreNsPerByte > 0 ? this.walkCoreNsPerByte + (sample - this.walkCoreNsPerByte) * 0.25 : sample;
  }

  /** Count an asynchronous read as in flight until it settles (mutations wait for it). */
  private track(p: Promise<unknown>): void {
    this.running = 'read';
    this.inFlight++;
    p.finally(() => this.done());
  }

  private launchSearch(index: NativeIndex, list: SearchOp[]): void {
    const j0 = list[0].job;
    const queries = packQueries(list);
    let job: Promise<SearchResult[]>;
    try {
      job = index.searchBatch(queries, list.length, j0.k, j0.ef, { filter: j0.filter ?? undefined, exact: j0.exact });
    } catch (e) {
      for (const op of list) op.reject(e);
      return;
    }
    this.track(job.then(
      (results) => list.forEach((op, i) => op.resolve(results[i])),
      (e: unknown) => list.forEach((op) => op.reject(e)),
    ));
  }

  /** Insert every consecutive add at the head: inline when alone, multi-threaded when many. */
  private runAdds(index: NativeIndex): void {
    const group: Array<Extract<Op, { type: 'add' }>> = [];
    while (!this.empty && this.ops[this.head].type === 'add') group.push(this.ops[this.head++] as Extract<Op, { type: 'add' }>);
    const inGraph = group.filter((op) => op.vector !== null);
    if (this.log) for (const op of inGraph) this.log.push({ slot: op.slot, vector: op.vector });
    const finish = (err: unknown) => {
      for (const op of group) {
        op.applied();
        if (err) op.reject(err); else op.resolve();
      }
    };
    const need = index.size() + inGraph.length;
    const room = Math.max(need, Math.ceil(index.capacity() * 1.5), 64);
    if (index.flat && need > SMALL_SET) {
      // Outgrowing the flat store: its vectors go into a graph on a worker, then this group.
      let job: Promise<void>;
      try { job = index.promote(room); } catch (e) { finish(e); return; }
      this.running = 'add';
      this.inFlight++;
      job.then(() => this.insertAdds(index, inGraph, finish), (e: unknown) => finish(e)).finally(() => this.done());
      return;
    }
    try {
      // Worker contexts (~35 KB of RSS each) only once the set outgrows work done inline.
      const workers = need > SMALL_SET;
      // A flat index stays flat up to SMALL_SET (a reserve past it would promote it right here).
      if (need > index.capacity() || (workers && !index.hasWorkers)) index.reserve(index.flat ? Math.min(room, SMALL_SET) : room, { workers });
    } catch (e) {
      finish(e);
      return;
    }
    this.insertAdds(index, inGraph, finish);
  }

  /** The inserts of runAdds once there is room: inline when one or the index is small, else one batch job. */
  private insertAdds(index: NativeIndex, inGraph: Array<Extract<Op, { type: 'add' }>>, finish: (err: unknown) => void): void {
    if (inGraph.length <= 1 || !index.hasWorkers) {
      let err: unknown = null;
      try { for (const op of inGraph) index.add(op.slot, op.vector!); } catch (e) { err = e; }
      finish(err);
      return;
    }
    const dim = inGraph[0].vector!.length;
    const slots = new Uint32Array(inGraph.length);
    const vectors = new Float32Array(inGraph.length * dim);
    inGraph.forEach((op, i) => { slots[i] = op.slot; vectors.set(op.vector!, i * dim); });
    let job: Promise<void>;
    try { job = index.addBatch(slots, vectors); } catch (e) { finish(e); return; }
    this.running = 'add';
    this.inFlight++;
    job.then(() => finish(null), (e: unknown) => finish(e)).finally(() => this.done());
  }

  private done(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.running = 'none';
    this.pump();
  }

  private compactOps(): void {
    if (this.head > 1024 && this.head * 2 > this.ops.length) { this.ops.splice(0, this.head); this.head = 0; }
    else if (this.empty) { this.ops = NO_OPS; this.head = 0; }
  }

  private wakeIdle(): void {
    if (!this.idleWaiters) return;
    const w = this.idleWaiters;
    this.idleWaiters = null;
    for (const f of w) f();
  }
}

/** The searches' queries, row after row, as one array for a batch call. */
function packQueries(list: SearchOp[]): Float32Array {
  const dim = list[0].job.query.length;
  const queries = new Float32Array(list.length * dim);
  for (let i = 0; i < list.length; i++) queries.set(list[i].job.query, i * dim);
  return queries;
}

/** One team batch (all the same k and EF): answered before this returns. */
function runTeam(index: NativeIndex, list: SearchOp[]): void {
  const { k, ef } = list[0].job;
  let results: SearchResult[];
  try {
    results = list.length === 1 ? [index.search(list[0].job.query, k, ef)] : index.searchTeam(packQueries(list), list.length, k, ef);
  } catch (e) {
    for (const op of list) op.reject(e);
    return;
  }
  for (let i = 0; i < list.length; i++) list[i].resolve(results[i]);
}

/** A cheap plain walk's beam bytes (what a turn's budget counts), or 0 if the search is not one. */
function cheapWalk(j: SearchJob, perVector: number): number {
  if (j.subset || j.filter || j.exact) return 0;
  const walk = Math.max(j.k, j.ef) * perVector;
  return walk <= INLINE_WALK_BYTES ? walk : 0;
}

/** Bytes of one stored vector (what a distance computation reads). */
function vectorBytes(index: NativeIndex): number {
  const { dimensions, scalar } = index.options;
  return scalar === 'f32' ? dimensions * 4 : scalar === 'i8' ? dimensions : scalar === 'b1' ? Math.ceil(dimensions / 8) : dimensions * 2;
}

/** Insert into an index no one else uses, in short jobs, growing its capacity as needed. */
async function insertInto(index: NativeIndex, slots: Uint32Array, vectors: Float32Array, workers: number): Promise<void> {
  const dim = index.options.dimensions;
  for (let at = 0; at < slots.length; at += BUILD_BATCH) {
    const part = slots.subarray(at, Math.min(slots.length, at + BUILD_BATCH));
    const need = index.size() + part.length;
    if (need > index.capacity()) index.reserve(Math.max(need, Math.ceil(index.capacity() * 1.5)));
    await index.addBatch(part, vectors.subarray(at * dim, (at + part.length) * dim), { threads: workers });
  }
}

/** Apply logged mutations, in order, to a rebuild's fresh index. */
async function replay(index: NativeIndex, entries: LogEntry[], workers: number): Promise<void> {
  const dim = index.options.dimensions;
  for (let i = 0; i < entries.length;) {
    const e = entries[i];
    if (e.vector === null) { index.remove(e.slot); i++; continue; }
    // Consecutive adds never repeat a slot (re-adding one needs a removal in between).
    let j = i;
    while (j < entries.length && entries[j].vector !== null) j++;
    const slots = new Uint32Array(j - i);
    const vectors = new Float32Array((j - i) * dim);
    for (let a = i; a < j; a++) {
      const { slot, vector } = entries[a];
      // The copy may have seen this add already: replace what it copied.
      if (index.contains(slot)) index.remove(slot);
      slots[a - i] = slot;
      vectors.set(vector!, (a - i) * dim);
    }
    await insertInto(index, slots, vectors, workers);
    i = j;
  }
}

/**
 * Orders the engine operations of one vector set and runs them on or off the
 * event loop, so that:
 * - every operation takes effect in the order its command ran (a search
 *   queued after an add sees it; one queued before a remove still sees that
 *   element), which is what a Redis client expects;
 * - searches arriving in the same event-loop turn (many clients) run as one
 *   batch on the worker threads, so both cores search while the event loop
 *   keeps parsing and answering; a lone search runs inline (lowest latency);
 * - adds arriving together are inserted as one multi-threaded batch;
 * - operations that usearch cannot run concurrently with others (remove,
 *   reserve, serialize) wait until nothing is in flight.
 */
import type { NativeIndex, SearchResult } from './native-index.js';

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

type Op =
  | { type: 'search'; job: SearchJob; resolve: (r: SearchResult) => void; reject: (e: unknown) => void }
  | { type: 'read'; fn: () => unknown; resolve: (r: unknown) => void; reject: (e: unknown) => void }
  | { type: 'add'; slot: number; vector: Float32Array | null; applied: () => void; resolve: () => void; reject: (e: unknown) => void }
  | { type: 'remove'; slot: number; inGraph: boolean; applied: () => void }
  | { type: 'exclusive'; fn: () => unknown; resolve: (r: unknown) => void; reject: (e: unknown) => void };

type Running = 'none' | 'read' | 'add' | 'exclusive';

export class OpQueue {
  private readonly ops: Op[] = [];
  private head = 0;
  private running: Running = 'none';
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly index: () => NativeIndex) {}

  private get empty(): boolean { return this.head === this.ops.length; }

  /** Queue an insertion (vector null: a zero vector kept out of the graph). */
  add(slot: number, vector: Float32Array | null, applied: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.ops.push({ type: 'add', slot, vector, applied, resolve, reject });
      this.schedule();
    });
  }

  /** Queue a removal; runs at once when nothing is pending. */
  remove(slot: number, zero: boolean, applied: () => void): void {
    this.ops.push({ type: 'remove', slot, inGraph: !zero, applied });
    if (this.running === 'none' && this.ops.length - this.head === 1) this.pump(); else this.schedule();
  }

  search(job: SearchJob): Promise<SearchResult> {
    return new Promise<SearchResult>((resolve, reject) => {
      this.ops.push({ type: 'search', job, resolve, reject });
      this.schedule();
    });
  }

  /** A read of the index (get, links): synchronous when nothing is queued ahead of it. */
  read<T>(fn: () => T): T | Promise<T> {
    if (this.empty && (this.running === 'none' || this.running === 'read')) return fn();
    return new Promise<T>((resolve, reject) => {
      this.ops.push({ type: 'read', fn, resolve: resolve as (r: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Run `fn` alone, after everything queued before it. */
  exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.ops.push({ type: 'exclusive', fn, resolve: resolve as (r: unknown) => void, reject });
      this.schedule();
    });
  }

  idle(): Promise<void> {
    if (this.empty && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void { this.closed = true; }

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
    const index = this.index();
    while (!this.empty) {
      const op = this.ops[this.head];
      if (op.type === 'search' || op.type === 'read') {
        if (this.running === 'add' || this.running === 'exclusive') return;
        if (op.type === 'read') {
          this.head++;
          try { op.resolve(op.fn()); } catch (e) { op.reject(e); }
          continue;
        }
        this.runSearches(index);
        continue;
      }
      if (this.inFlight > 0) return;
      if (op.type === 'remove') {
        this.head++;
        try { if (op.inGraph) index.remove(op.slot); } finally { op.applied(); }
        continue;
      }
      if (op.type === 'add') { this.runAdds(index); continue; }
      // exclusive
      this.head++;
      this.running = 'exclusive';
      this.inFlight++;
      Promise.resolve().then(op.fn).then(op.resolve, op.reject).finally(() => this.done());
    }
    this.compactOps();
    if (this.inFlight === 0) this.wakeIdle();
  }

  /** Take every consecutive search at the head and run them: inline when alone, as worker batches otherwise. */
  private runSearches(index: NativeIndex): void {
    const group: Array<Extract<Op, { type: 'search' }>> = [];
    while (!this.empty && this.ops[this.head].type === 'search') group.push(this.ops[this.head++] as Extract<Op, { type: 'search' }>);
    const batched = new Map<string, Array<Extract<Op, { type: 'search' }>>>();
    for (const op of group) {
      const j = op.job;
      if (j.subset) {
        // An exact scan of a few matches: cheaper inline than a trip to a worker.
        try { op.resolve(index.searchSubset(j.query, j.subset, j.k)); } catch (e) { op.reject(e); }
        continue;
      }
      if (group.length === 1 && !j.filter && !j.exact) {
        try { op.resolve(index.search(j.query, j.k, j.ef)); } catch (e) { op.reject(e); }
        continue;
      }
      const key = `${j.k}/${j.ef}/${j.exact ? 1 : 0}`;
      if (j.filter) { this.launchSearch(index, [op]); continue; }
      let list = batched.get(key);
      if (!list) batched.set(key, (list = []));
      list.push(op);
    }
    for (const list of batched.values()) this.launchSearch(index, list);
  }

  private launchSearch(index: NativeIndex, list: Array<Extract<Op, { type: 'search' }>>): void {
    const j0 = list[0].job;
    const dim = j0.query.length;
    const queries = new Float32Array(list.length * dim);
    list.forEach((op, i) => queries.set(op.job.query, i * dim));
    this.running = 'read';
    this.inFlight++;
    index.searchBatch(queries, list.length, j0.k, j0.ef, { filter: j0.filter ?? undefined, exact: j0.exact }).then(
      (results) => list.forEach((op, i) => op.resolve(results[i])),
      (e: unknown) => list.forEach((op) => op.reject(e)),
    ).finally(() => this.done());
  }

  /** Insert every consecutive add at the head: inline when alone, multi-threaded when many. */
  private runAdds(index: NativeIndex): void {
    const group: Array<Extract<Op, { type: 'add' }>> = [];
    while (!this.empty && this.ops[this.head].type === 'add') group.push(this.ops[this.head++] as Extract<Op, { type: 'add' }>);
    const inGraph = group.filter((op) => op.vector !== null);
    const need = index.size() + inGraph.length;
    if (need > index.capacity()) index.reserve(Math.max(need, Math.ceil(index.capacity() * 1.5), 64));
    const finish = (err: unknown) => {
      for (const op of group) {
        op.applied();
        if (err) op.reject(err); else op.resolve();
      }
    };
    if (inGraph.length <= 1) {
      let err: unknown = null;
      try { for (const op of inGraph) index.add(op.slot, op.vector!); } catch (e) { err = e; }
      finish(err);
      return;
    }
    const dim = inGraph[0].vector!.length;
    const slots = new Uint32Array(inGraph.length);
    const vectors = new Float32Array(inGraph.length * dim);
    inGraph.forEach((op, i) => { slots[i] = op.slot; vectors.set(op.vector!, i * dim); });
    this.running = 'add';
    this.inFlight++;
    index.addBatch(slots, vectors).then(() => finish(null), (e: unknown) => finish(e)).finally(() => this.done());
  }

  private done(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.running = 'none';
    this.pump();
  }

  private compactOps(): void {
    if (this.head > 1024 && this.head * 2 > this.ops.length) { this.ops.splice(0, this.head); this.head = 0; }
    else if (this.empty) { this.ops.length = 0; this.head = 0; }
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }
}

/**
 * A vector set: one key of the keyspace, mapping binary-safe element ids to a
 * vector (held only by usearch, never copied in JS) and an optional JSON
 * payload, served by one HNSW index.
 *
 * Two views of the set are kept on purpose:
 * - the *logical* view (id → slot, payloads, live slots) changes synchronously
 *   when a command runs, so every reply (added or updated, how many removed…)
 *   is known at once and the WAL order is the command order;
 * - the *physical* view (what the native index holds, and which id each
 *   physical slot stands for) changes when the queued engine operations run,
 *   in the same order, on the event loop or off it (see OpQueue).
 * A search completing late maps its slots through the physical view, so it
 * answers as of the moment it ran, never with an id that was reassigned.
 *
 * Storage by metric and quantization (why: recall and bit-exactness):
 * - COSINE F32: the raw vector with usearch's cos metric, so VEC.GET is bit-exact.
 * - COSINE F16/BF16: the vector divided by its norm (cos), norm kept per slot.
 * - COSINE I8: the vector divided by its largest |component| (Redis's Q8
 *   scaling; usearch's i8 assumes [-1, 1]), that scale kept per slot.
 * - zero vectors under COSINE (only V* accepts them) never enter the graph:
 *   their distance to anything is 1, merged into results as such.
 * - L2 / IP: raw; HAMMING / JACCARD: bits (x > 0) with B1.
 */
import { slabFloats } from './float-slab.js';
import { NativeIndex, type HeldBytes, type NativeMetric, type NativeScalar, type SearchResult } from './native-index.js';
import type { StoredValue } from './keyspace.js';
import type { CompiledFilter } from './filter.js';
import { GraphTrust, agreement, type Route } from './graph-trust.js';
import { OpQueue, INLINE_SCAN_MAX, SetDeletedError, type RebuildHooks, type SearchJob } from './op-queue.js';
import { FilterCache, FilterMatch } from './filter-cache.js';
import { SortedIds } from './sorted-ids.js';
import { IdStore, IdTable } from './id-store.js';

export type Metric = 'COSINE' | 'L2' | 'IP' | 'HAMMING' | 'JACCARD';
export type Quant = 'F32' | 'F16' | 'BF16' | 'I8' | 'B1';

export const METRICS: readonly Metric[] = ['COSINE', 'L2', 'IP', 'HAMMING', 'JACCARD'];
export const QUANTS: readonly Quant[] = ['F32', 'F16', 'BF16', 'I8', 'B1'];

export interface SetParams {
  dim: number;
  metric: Metric;
  quant: Quant;
  m: number;
  efConstruction: number;
  ef: number;
  /** Made by VEC.CREATE: stays when empty. Implicit sets vanish with their last element. */
  explicit: boolean;
  /** REDUCE (Redis 8 V* random projection): the input dimension, or 0. */
  projectInputDim: number;
  /** The command family that created it: VADD checks omitted options against Redis's defaults only on its own sets. */
  family: 'vec' | 'vset';
}

/** usearch's index takes at most this connectivity (Redis's vector sets allow 4096). */
export const MAX_M = 1024;

export const DEFAULT_PARAMS = { metric: 'COSINE', quant: 'F32', m: 16, efConstruction: 128, ef: 64 } as const;

export interface Hit {
  /** The element id (latin1-encoded bytes). */
  id: string;
  slot: number;
  distance: number;
}

export interface SearchOptions {
  k: number;
  ef: number;
  filter?: CompiledFilter | null;
  /** The caller asked for this EF: never widened by the planner. */
  efGiven?: boolean;
  /**
   * The matching slots, worked out by the caller from indexes of its own
   * (FT.SEARCH's tag, numeric and text fields): planned exactly as a FILTER's
   * matches are, so a selective one still returns k hits. Wins over `filter`.
   */
  match?: FilterMatch | null;
  exact?: boolean;
}

/** How vectors are transformed before they reach usearch. */
type Storage = 'raw' | 'unit' | 'maxabs' | 'bits';

/**
 * What a payload string costs on V8's heap: a sequential string's header and its characters
 * (one byte each for Latin-1 text, two once any character is wider), 8-byte aligned.
 */
function payloadHeapBytes(p: string | undefined): number {
  if (p === undefined) return 0;
  let wide = false;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) > 0xff) { wide = true; break; }
  return (16 + p.length * (wide ? 2 : 1) + 7) & ~7;
}

/** Sets up to this many times `vec-planner-scan-max` are sampled (a probe scans the whole set). */
export const PROBE_SPAN = 8;

/** Search results mapped to ids per event-loop turn (~10 ms). */
const HITS_SLICE = 16384;

/**
 * What a new set's arrays start as: a typed array costs ~225 bytes of heap however short, an
 * empty Array 32, and a set of one element is common (one per user, per document). Replaced,
 * never written, when first needed.
 */
const EMPTY_I32 = new Int32Array(0);
const NO_PAYLOADS = Object.freeze([]) as unknown as Array<string | undefined>;

/** A scale lives in the per-slot Int32Array as its float32 bits: these reinterpret them. */
const SCALE_BITS = new Int32Array(1);
const SCALE_F32 = new Float32Array(SCALE_BITS.buffer);

/**
 * What a set costs whatever it holds: its objects (set, queue, id store, index wrapper, one
 * per-slot array), the native index object, and the V8 page and malloc overhead around them.
 * Measured on one-element sets: ~1 KB of V8 heap per set in a heap snapshot of 5 000 of them
 * (the set's own objects; ~1.1 KB of old space in all), ~0.6 KB of malloc; RSS grew 3.5-4.4 KB
 * per set over 5 000 (bench/scale.ts's oneElementSets).
 */
const SET_FIXED_BYTES = 4 * 1024;

/** Process-wide counter for set uids (VINFO's vset-uid). */
let nextUid = 1;

/** Bytes one stored vector takes, by quantization. */
export function vectorBytes(quant: Quant, dim: number): number {
  switch (quant) {
    case 'F32': return dim * 4;
    case 'F16': case 'BF16': return dim * 2;
    case 'I8': return dim;
    case 'B1': return Math.ceil(dim / 8);
  }
}

export class VectorSet implements StoredValue {
  /**
   * Sets of at most this many elements are always searched by an exact scan instead of the
   * graph (`vec-exact-search-below`; 0: only when EF covers the whole set): the measured
   * crossover below which the scan is faster (EXACT_BELOW_DEFAULT in src/config.ts).
   */
  static exactBelow = 256;
  /**
   * The largest set the planner scans when the walk's sampled recall misses the target
   * (`vec-planner-scan-max`); larger sets are always walked.
   */
  static scanMax = 32768;
  /** Share of replaced or removed elements past which the index is rebuilt (`vec-compact-threshold`). */
  static compactThreshold = 0.25;
  /** Rebuilds run only past this many tombstones: below it they cost nothing worth a rebuild. */
  static compactMinimum = 1000;

  readonly type = 'vectorset';
  readonly uid = nextUid++;
  readonly params: SetParams;
  readonly storage: Storage;
  private readonly queue: OpQueue;

  // Logical view.
  /** id ↔ slot as the commands see it (the physical view, `isHeld`, lags behind queued operations). */
  private ids = new IdStore();
  /** Sparse: only slots with an attribute are written. */
  private payloads: Array<string | undefined> = NO_PAYLOADS;
  /**
   * The per-slot arrays, as segments of one Int32Array (`slotCap` slots each, but the last):
   * - [0, slotCap): the live slots in [0, liveCount), for uniform random picks (swap-remove
   *   keeps them dense);
   * - [slotCap, 2 slotCap): each live slot's position in that list;
   * - [2 slotCap, 3 slotCap), normalized storages only: each slot's scale, as float32 bits;
   * - from `heldAt`, one bit per slot: the physical view. 1 where the native index holds the
   *   slot's vector. A slot is reused only once its removal has reached the index, so a held
   *   slot that is live in the logical view holds that element's vector.
   * Why one array: four typed arrays cost ~900 bytes of heap for a one-element set.
   */
  private slotData: Int32Array = EMPTY_I32;
  private slotCap = 0;
  private heldAt = 0;
  private liveCount = 0;
  /** Slots whose vector is all zeros (kept out of the index); made by the first. */
  private zeroSlots: Set<number> | null = null;
  private nextSlot = 0;
  /** Slots released by the physical view, safe to hand out again (made by the first). */
  private freeSlots: number[] | null = null;
  /** Ids in byte order for VRANGE: built by the first one, then kept up to date. */
  private sorted: SortedIds | null = null;
  /** Made by the first FILTER: most sets never see one. */
  private filterCache: FilterCache | null = null;
  /** Elements added then removed or replaced since the last rebuild (usearch keeps tombstones). */
  private tombstones = 0;
  attributesCount = 0;
  /** Heap bytes of all payloads (attributes), kept current likewise: MEMORY USAGE grows with them. */
  private payloadBytes = 0;
  searches = 0;
  /** What the planner measured of the walk on this set's queries (created by the first candidate query). */
  private trust: GraphTrust | null = null;

  /** Made when a test asks for them (see compactionHooks). */
  private hooks: RebuildHooks | null = null;
  private compactionRun: Promise<boolean> | null = null;
  /** Physical removals applied since the last compaction's starting point (those its fresh index drops). */
  private removalsApplied = 0;
  private disposing: Promise<void> | null = null;

  /** `index`: a loaded one (restore); else an empty one is made. */
  constructor(params: SetParams, index?: NativeIndex) {
    this.params = sharedParams(params);
    this.storage = storageFor(params.metric, params.quant);
    // A new set starts without worker contexts: most sets that stay small never need them.
    this.queue = new OpQueue(index ?? new NativeIndex({ ...nativeOptions(params), workers: false }));
  }

  /** Tests only: awaited at the named points of the next compactions. */
  get compactionHooks(): RebuildHooks { return (this.hooks ??= {}); }

  private get filters(): FilterCache { return (this.filterCache ??= new FilterCache()); }

  /** The serving index: the queue swaps it when a compaction completes. */
  private get index(): NativeIndex { return this.queue.index; }

  get card(): number { return this.ids.size; }
  get dim(): number { return this.params.dim; }
  get deleted(): number { return this.tombstones; }

  has(id: string): boolean { return this.ids.get(id) >= 0; }
  /** The element's slot in the logical view (what `SearchOptions.match` is indexed by), or undefined. */
  slotOf(id: string): number | undefined {
    const s = this.ids.get(id);
    return s < 0 ? undefined : s;
  }
  payloadOf(id: string): string | undefined {
    const s = this.ids.get(id);
    return s < 0 ? undefined : this.payloads[s];
  }
  payloadOfSlot(slot: number): string | undefined { return this.payloads[slot]; }

  /**
   * Add or replace an element. `vector` is validated (finite, right length,
   * not zero under COSINE unless `allowZero`). `payload`: a string sets it,
   * null removes it, undefined keeps the old one. Returns whether the id is
   * new, and a promise that settles when the index holds the vector.
   */
  add(id: string, vector: Float32Array, payload: string | null | undefined): { added: boolean; done: Promise<void> } {
    if (this.disposing) throw new SetDeletedError();
    const old = this.ids.get(id);
    const slot = this.allocSlot();
    const prepared = this.prepare(vector, slot);
    if (old >= 0) {
      if (payload === undefined) payload = this.payloads[old];
      this.forgetSlot(old);
    }
    this.ids.set(id, slot);
    this.setPayloadAt(slot, payload ?? undefined);
    this.appendLive(slot);
    if (old < 0) this.sorted?.add(id);
    const zero = prepared === null;
    if (zero) (this.zeroSlots ??= new Set()).add(slot);
    const done = this.queue.add(slot, prepared, () => { this.setHeld(slot, true); });
    if (old >= 0) this.compactIfNeeded();
    return { added: old < 0, done };
  }

  /** Remove elements; returns how many existed. */
  remove(ids: string[]): number {
    if (this.disposing) throw new SetDeletedError();
    let n = 0;
    for (const id of ids) {
      const slot = this.ids.get(id);
      if (slot < 0) continue;
      this.forgetSlot(slot);
      this.sorted?.delete(id);
      n++;
    }
    if (n > 0) this.compactIfNeeded();
    return n;
  }

  /**
   * usearch keeps removed nodes in the graph as tombstones (its issue #726):
   * they hold memory and lengthen every walk. Past the threshold, rebuild the
   * index from the live vectors in the background (OpQueue.rebuild): searches
   * and writes keep being served by the current index meanwhile.
   */
  private compactIfNeeded(): void {
    if (this.compactionRun || this.disposing) return;
    // A flat index holds no tombstones (removal deletes), and its promotion builds a clean graph.
    if (this.index.flat) { this.tombstones = 0; return; }
    if (this.tombstones < VectorSet.compactMinimum) return;
    if (this.tombstones < VectorSet.compactThreshold * (this.card + this.tombstones)) return;
    this.compactionRun = this.rebuild().then(
      (swapped) => {
        this.compactionRun = null;
        // Removals during the rebuild are tombstones in the fresh index: maybe enough for another.
        if (swapped) this.compactIfNeeded();
        return swapped;
      },
      () => {
        this.compactionRun = null; // the old index keeps serving; a later removal tries again
        return false;
      },
    );
  }

  /** Whether a compaction is running (searches are answered from the current index meanwhile). */
  get compacting(): boolean { return this.compactionRun !== null; }
  /** The running compaction: true once its index is swapped in, false if it was abandoned. */
  get compaction(): Promise<boolean> | null { return this.compactionRun; }

  /**
   * Replace the index by a fresh one holding only the live elements (same slots), built off
   * the event loop while the current one keeps serving; true once swapped in.
   */
  async rebuild(): Promise<boolean> {
    let dropped = 0;
    const fresh = new NativeIndex(nativeOptions(this.params));
    const swapped = await this.queue.rebuild(fresh, () => {
      dropped = this.removalsApplied;
      return this.nextSlot;
    }, this.card, this.compactionHooks);
    if (swapped) {
      this.tombstones = Math.max(0, this.tombstones - dropped);
      this.removalsApplied -= dropped;
    }
    return swapped;
  }

  /** Set (string) or clear (null) an element's payload; false if the id is absent. */
  setPayload(id: string, payload: string | null): boolean {
    const slot = this.ids.get(id);
    if (slot < 0) return false;
    this.setPayloadAt(slot, payload ?? undefined);
    return true;
  }

  /** The stored vector as the caller gave it (dequantized × scale), or null. */
  get(id: string): Float32Array | null | Promise<Float32Array | null> {
    const slot = this.ids.get(id);
    if (slot < 0) return null;
    return this.queue.read(() => this.readSlot(slot));
  }

  /** The stored (normalized / quantized) form and its scale, for VEMB RAW. */
  getStored(id: string): { vector: Float32Array; scale: number } | null | Promise<{ vector: Float32Array; scale: number } | null> {
    const slot = this.ids.get(id);
    if (slot < 0) return null;
    return this.queue.read(() => {
      const out = new Float32Array(this.params.dim);
      if (this.zeroSlots?.has(slot)) return { vector: out, scale: 0 };
      if (!this.index.get(slot, out)) return null;
      return { vector: out, scale: this.scaled ? this.scaleAt(slot) : 1 };
    });
  }

  private readSlot(slot: number): Float32Array | null {
    const out = new Float32Array(this.params.dim);
    if (this.zeroSlots?.has(slot)) return out;
    if (!this.index.get(slot, out)) return null;
    if (this.scaled) {
      const s = this.scaleAt(slot);
      for (let i = 0; i < out.length; i++) out[i] *= s;
    }
    return out;
  }

  /** Search: k nearest, nearest first. The query is validated and of the set's dimension. */
  search(query: Float32Array, opts: SearchOptions): Promise<Hit[]> | Hit[] {
    if (this.disposing) throw new SetDeletedError();
    this.searches++;
    const q = this.prepareQuery(query);
    const k = Math.max(1, opts.k);
    const ef = Math.max(opts.ef, k);
    if (q === null) return this.zeroQuery(k, opts.match ?? opts.filter ?? null);
    // Plan. A scan is faster than the walk only below a few hundred elements (bench/planner.ts:
    // the crossover was 190-590 at EF 64, EXACT_BELOW_DEFAULT), and a beam as wide as the set
    // visits every node anyway.
    // Past that the walk is faster, but whether it is right depends on where the queries fall:
    // GraphTrust samples this set's own queries both ways and keeps scanning while the walk
    // misses (see graph-trust.ts). A scan of a small set runs inline (searchSubset, no worker
    // round trip); a larger one is usearch's contiguous scan on a worker.
    const n = this.card;
    const exact = !!opts.exact || ef >= n || n <= VectorSet.exactBelow;
    const job: SearchJob = { query: q, k, ef, exact, filter: null, subset: null };
    if (!opts.filter && !opts.match) {
      const route = exact ? 'exact' : this.route(n, ef, !!opts.efGiven);
      if (route !== 'exact' && this.trust && !opts.efGiven && GraphTrust.target > 0) job.ef = this.trust.beam(ef);
      if (route === 'probe') return this.probe(job, k, n, ef);
      return this.runSearch(route === 'exact' ? this.asScan(job, n) : job, k, null);
    }
    const plan = (match: FilterMatch): Promise<Hit[]> | Hit[] => {
      if (match.count === 0) return [];
      // Plan by selectivity (docs/filter-language.md; measured: at 1 % an exact scan of the matches beats a
      // filtered graph walk). Below the cut, or when the beam would cover the matches anyway,
      // scan the matches; above, walk the graph with the predicate and a beam wide enough to find k matches.
      if (exact || ef >= match.count || match.count <= Math.max(2048, k * 64)) job.subset = match.slots();
      else {
        job.filter = match.bitmap;
        const share = match.count / Math.max(1, this.card);
        job.ef = Math.min(Math.max(ef, Math.ceil(k / share) * 2), Math.max(ef, 4096));
      }
      return this.runSearch(job, k, match);
    };
    if (opts.match) return plan(opts.match);
    // A filter new to this set is evaluated over its payloads in slices: the search waits for it.
    const match = this.filters.matching(opts.filter!, this.payloads, () => this.nextSlot);
    return match instanceof Promise ? match.then(plan) : plan(match);
  }

  /**
   * Graph, scan or both for an unfiltered search past the crossover: sets too large to scan
   * are walked; a narrower beam than the set's default is the caller's choice of speed.
   */
  private route(n: number, ef: number, efGiven: boolean): Route {
    if (GraphTrust.target <= 0 || ef < this.params.ef) return 'graph';
    const canScan = n <= VectorSet.scanMax;
    // Past the scan limit the planner may only widen the beam, which a caller's EF forbids; past
    // PROBE_SPAN times it a probe's scan would cost too much to sample at all.
    if (!canScan && (efGiven || n > VectorSet.scanMax * PROBE_SPAN)) return 'graph';
    this.trust ??= new GraphTrust();
    return this.trust.route(canScan, n, ef);
  }

  /**
   * `job` made an exact scan of this set's `n` elements. A flat index (a small set kept without
   * a graph) answers by measuring every element: already exact, and twice as fast as a scan of
   * a copied slot list at 256 elements (bench/planner.ts: 13 against 27 µs a query at 128-d).
   * A graph's live slots are scanned inline when few, else on a worker.
   */
  private asScan(job: SearchJob, n: number): SearchJob {
    if (this.index.flat) return job;
    job.exact = true;
    job.subset = n <= INLINE_SCAN_MAX ? this.liveSlots() : null;
    return job;
  }

  /** Both ways: answer with the scan, record how much of it the walk found. */
  private probe(job: SearchJob, k: number, n: number, baseEf: number): Promise<Hit[]> {
    const scan = this.asScan({ ...job }, n);
    const walk: SearchJob = { ...job, exact: false };
    const previousEf = this.trust?.previousBeam(baseEf) ?? null;
    const narrower = previousEf === null ? null : this.queue.search({ ...job, exact: false, ef: previousEf });
    return Promise.all([this.queue.search(scan), this.queue.search(walk), narrower]).then(([truth, found, before]) => {
      this.trust?.record(agreement(truth, found, k), before ? agreement(truth, before, k) : NaN);
      return this.toHits(truth, k, null);
    });
  }

  /** The planner's sampled recall of the walk on this set (NaN before any probe) and how many probes it rests on. */
  plannerState(): { recall: number; probes: number; trusted: boolean; ef: number } {
    const t = this.trust;
    return t && GraphTrust.target > 0 ? { recall: t.recall(), probes: t.probes, trusted: t.walks(), ef: t.beam(this.params.ef) }
      : { recall: NaN, probes: 0, trusted: false, ef: this.params.ef };
  }

  private runSearch(job: SearchJob, k: number, match: FilterMatch | null): Promise<Hit[]> {
    return this.queue.search(job).then((res) => this.toHits(res, k, match));
  }

  /**
   * Every element's distance to the zero query is 1 under COSINE (Redis: score 0.5): any k
   * (matching) elements. Walks at most k live slots, or the cached matches of the filter.
   */
  private zeroQuery(k: number, filter: CompiledFilter | FilterMatch | null): Hit[] | Promise<Hit[]> {
    const hits: Hit[] = [];
    if (!filter) {
      for (let i = 0; i < this.liveCount && hits.length < k; i++) {
        const slot = this.slotData[i];
        hits.push({ id: this.ids.idAt(slot)!, slot, distance: 1 });
      }
      return hits;
    }
    const pick = (match: FilterMatch): Hit[] => {
      const slots = match.slots();
      for (let i = 0; i < slots.length && hits.length < k; i++) {
        const id = this.ids.idAt(slots[i]);
        if (id !== undefined) hits.push({ id, slot: slots[i], distance: 1 });
      }
      return hits;
    };
    if (filter instanceof FilterMatch) return pick(filter);
    const match = this.filters.matching(filter, this.payloads, () => this.nextSlot);
    return match instanceof Promise ? match.then(pick) : pick(match);
  }

  /**
   * Map result slots to ids through the physical view. A big COUNT maps 100 k results
   * (~60 ms): that is done in slices across event-loop turns.
   */
  private toHits(res: SearchResult, k: number, match: FilterMatch | null): Hit[] | Promise<Hit[]> {
    const hits: Hit[] = [];
    const step = (from: number): Hit[] | Promise<Hit[]> => {
      const to = Math.min(res.count, from + HITS_SLICE);
      for (let i = from; i < to; i++) {
        const slot = res.slots[i];
        // A slot whose element was removed after the search was queued is skipped.
        const id = this.heldId(slot);
        if (id === undefined) continue;
        hits.push({ id, slot, distance: res.distances[i] });
      }
      if (to < res.count) return new Promise<void>((r) => setImmediate(r)).then(() => step(to));
      return this.withZeroVectors(hits, k, match);
    };
    return step(0);
  }

  private withZeroVectors(found: Hit[], k: number, match: FilterMatch | null): Hit[] {
    let hits = found;
    if (this.zeroSlots && this.zeroSlots.size > 0 && this.params.metric === 'COSINE') {
      // Zero vectors sit at distance exactly 1 from everything: they fill in after closer hits
      // (the hits are sorted: insert them after the last at distance <= 1), so k are enough.
      const zeros: Hit[] = [];
      for (const slot of this.zeroSlots) {
        if (zeros.length >= k) break;
        const id = this.heldId(slot);
        if (id === undefined) continue;
        if (match && !match.has(slot)) continue;
        zeros.push({ id, slot, distance: 1 });
      }
      if (zeros.length > 0) {
        let at = hits.length;
        while (at > 0 && hits[at - 1].distance > 1) at--;
        hits = hits.slice(0, at).concat(zeros, hits.slice(at));
      }
    }
    if (hits.length > k) hits.length = k;
    return hits;
  }

  /** Up to `count` distinct random ids (count > 0), or |count| with repeats (count < 0). */
  random(count: number): string[] {
    const n = this.liveCount;
    const out: string[] = [];
    if (n === 0) return out;
    if (count < 0) {
      for (let i = 0; i < -count; i++) out.push(this.slotIdLogical(this.slotData[Math.floor(Math.random() * n)]));
      return out;
    }
    const want = Math.min(count, n);
    if (want * 2 > n) {
      // Most of the set: a partial Fisher–Yates over the live list itself (its order means
      // nothing; positions follow), so the work is the reply's size, not a copy of the whole set.
      const d = this.slotData, pos = this.slotCap;
      for (let i = 0; i < want; i++) {
        const j = i + Math.floor(Math.random() * (n - i));
        const a = d[i], b = d[j];
        d[i] = b; d[j] = a; d[pos + b] = i; d[pos + a] = j;
        out.push(this.slotIdLogical(b));
      }
      return out;
    }
    const picked = new Set<number>();
    while (picked.size < want) picked.add(this.slotData[Math.floor(Math.random() * n)]);
    for (const s of picked) out.push(this.slotIdLogical(s));
    return out;
  }

  private slotIdLogical(slot: number): string { return this.ids.idAt(slot)!; }

  /** The id of a slot both the index and the logical view hold (a search result's), or undefined. */
  private heldId(slot: number): string | undefined {
    return this.isHeld(slot) ? this.ids.idAt(slot) : undefined;
  }

  private liveSlots(): Uint32Array {
    // Copied one by one: a subarray view would move a short array's bytes off V8's heap for good.
    const out = new Uint32Array(this.liveCount);
    for (let i = 0; i < out.length; i++) out[i] = this.slotData[i];
    return out;
  }

  /** Ids in byte order between bounds (VRANGE): O(log n + count) once the sorted index exists. */
  range(lower: { value: Buffer; inclusive: boolean } | null, upper: { value: Buffer; inclusive: boolean } | null, count: number): Buffer[] {
    this.sorted ??= new SortedIds(this.ids.keys());
    const bound = (b: { value: Buffer; inclusive: boolean } | null) => (b ? { value: b.value.toString('latin1'), inclusive: b.inclusive } : null);
    return this.sorted.range(bound(lower), bound(upper), count).map((id) => Buffer.from(id, 'latin1'));
  }

  /** HNSW neighbours per level, top level first (VLINKS). */
  links(id: string): Promise<Array<Array<{ id: string; distance: number }>> | null> | Array<Array<{ id: string; distance: number }>> | null {
    const slot = this.ids.get(id);
    if (slot < 0) return null;
    return this.queue.read(() => {
      if (this.zeroSlots?.has(slot)) return [[]];
      const levels = this.index.links(slot);
      if (!levels) return null;
      const own = new Float32Array(this.params.dim);
      this.index.get(slot, own);
      return levels.map((slots) => {
        const out: Array<{ id: string; distance: number }> = [];
        if (slots.length === 0) return out;
        const res = this.index.searchSubset(own, slots, slots.length);
        for (let i = 0; i < res.count; i++) {
          const other = this.heldId(res.slots[i]);
          if (other !== undefined) out.push({ id: other, distance: res.distances[i] });
        }
        return out;
      });
    });
  }

  maxLevel(): number { return this.index.maxLevel(); }
  /**
   * Bytes this set holds: usearch's graph and vectors in use (not its arena
   * reservations, which the kernel maps lazily), plus the id store, payloads
   * and per-slot arrays.
   */
  usedBytes(): number {
    const js = SET_FIXED_BYTES + this.slotData.byteLength + this.ids.memoryBytes() + this.payloadBytes;
    return this.indexUsedBytes() + js;
  }
  /** usearch's bytes in use, counting the index a running compaction is building. */
  indexUsedBytes(): number {
    const building = this.queue.building;
    return this.index.usedBytes() + (building && !building.freed ? building.usedBytes() : 0);
  }
  /** Address space usearch reserved (whole arenas, mapped lazily), for the serving index. */
  indexReservedBytes(): number { return this.index.reservedBytes(); }
  capacity(): number { return this.index.capacity(); }
  /** Elements the serving index holds (zero vectors are kept out of it): card minus those, once idle. */
  indexSize(): number { return this.index.size(); }

  /**
   * Called once the set has left the keyspace: operations already queued still run (a
   * snapshot cut taken before keeps its graph), a running compaction is cancelled, then the
   * native index is freed, at once rather than whenever the garbage collector runs. Later
   * writes and searches throw SetDeletedError. Resolves once the memory is released.
   */
  dispose(): Promise<void> {
    if (!this.disposing) {
      this.filterCache?.clear();
      this.disposing = this.queue.close();
    }
    return this.disposing;
  }

  // ---- internals ----

  private allocSlot(): number {
    const slot = this.freeSlots && this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.nextSlot++;
    if (slot >= this.slotCap) this.grow(Math.max(4, this.slotCap * 2, slot + 1));
    return slot;
  }

  /** Whether vectors are stored divided by a per-slot scale. */
  private get scaled(): boolean { return this.storage === 'unit' || this.storage === 'maxabs'; }

  /** Room for `cap` slots: every segment of `slotData` moves to its place in a new array. */
  private grow(cap: number): void {
    const old = this.slotData, oldCap = this.slotCap;
    const segments = this.scaled ? 3 : 2;
    const heldAt = segments * cap;
    const d = new Int32Array(heldAt + ((cap + 31) >>> 5));
    copyInts(d, 0, old, 0, this.liveCount);
    for (let seg = 1; seg < segments; seg++) copyInts(d, seg * cap, old, seg * oldCap, oldCap);
    copyInts(d, heldAt, old, this.heldAt, (oldCap + 31) >>> 5);
    this.slotData = d;
    this.slotCap = cap;
    this.heldAt = heldAt;
  }

  private appendLive(slot: number): void {
    this.slotData[this.slotCap + slot] = this.liveCount;
    this.slotData[this.liveCount++] = slot;
  }

  private isHeld(slot: number): boolean {
    return slot < this.slotCap && ((this.slotData[this.heldAt + (slot >>> 5)] >>> (slot & 31)) & 1) === 1;
  }

  private setHeld(slot: number, on: boolean): void {
    const w = this.heldAt + (slot >>> 5), bit = 1 << (slot & 31);
    this.slotData[w] = on ? this.slotData[w] | bit : this.slotData[w] & ~bit;
  }

  private scaleAt(slot: number): number {
    SCALE_BITS[0] = this.slotData[2 * this.slotCap + slot];
    return SCALE_F32[0];
  }

  /** Stored rounded to float32, as the scales have always been kept and snapshotted. */
  private setScale(slot: number, scale: number): void {
    SCALE_F32[0] = scale;
    this.slotData[2 * this.slotCap + slot] = SCALE_BITS[0];
  }

  private setPayloadAt(slot: number, payload: string | undefined): void {
    const old = this.payloads[slot];
    const had = old !== undefined;
    if (payload === undefined && had) this.attributesCount--;
    if (payload !== undefined && !had) this.attributesCount++;
    if (payload === undefined && !had) return;
    this.payloadBytes += payloadHeapBytes(payload) - payloadHeapBytes(old);
    if (this.payloads === NO_PAYLOADS) this.payloads = [];
    this.payloads[slot] = payload;
    this.filterCache?.update(slot, payload);
  }

  /** Drop a slot from the logical view and queue its physical removal. */
  private forgetSlot(slot: number): void {
    this.ids.deleteSlot(slot);
    this.setPayloadAt(slot, undefined);
    const d = this.slotData, cap = this.slotCap;
    const pos = d[cap + slot];
    const last = d[--this.liveCount];
    if (last !== slot) { d[pos] = last; d[cap + last] = pos; }
    const zero = this.zeroSlots?.delete(slot) ?? false;
    this.tombstones++;
    this.queue.remove(slot, zero, () => {
      this.setHeld(slot, false);
      (this.freeSlots ??= []).push(slot);
      this.removalsApplied++;
    });
  }

  /** The form usearch stores, or null for a zero vector under COSINE (kept out of the graph). */
  private prepare(v: Float32Array, slot: number): Float32Array | null {
    if (this.params.metric === 'COSINE') {
      let zero = true;
      for (let i = 0; i < v.length; i++) if (v[i] !== 0) { zero = false; break; }
      if (zero) return null;
    }
    switch (this.storage) {
      case 'raw':
      case 'bits':
        return v;
      case 'unit': {
        let ss = 0;
        for (let i = 0; i < v.length; i++) ss += v[i] * v[i];
        const norm = Math.sqrt(ss);
        this.setScale(slot, norm);
        const out = slabFloats(v.length);
        for (let i = 0; i < v.length; i++) out[i] = v[i] / norm;
        return out;
      }
      case 'maxabs': {
        let max = 0;
        for (let i = 0; i < v.length; i++) { const a = Math.abs(v[i]); if (a > max) max = a; }
        this.setScale(slot, max);
        const out = slabFloats(v.length);
        for (let i = 0; i < v.length; i++) out[i] = v[i] / max;
        return out;
      }
    }
  }

  /** A query in the stored form (scale does not change cosine ranking); null when zero under COSINE. */
  private prepareQuery(v: Float32Array): Float32Array | null {
    if (this.params.metric !== 'COSINE') return v;
    let max = 0;
    for (let i = 0; i < v.length; i++) { const a = Math.abs(v[i]); if (a > max) max = a; }
    if (max === 0) return null;
    if (this.storage === 'raw') return v;
    const out = slabFloats(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[i] / max;
    return out;
  }

  /**
   * The set at this instant, for a snapshot: cheap copies of the slot arrays
   * (no per-element work on the event loop), plus the graph serialized once
   * every operation queued before this call has run and none after it. The
   * caller encodes the copies at leisure (src/store/format/set-body.ts).
   */
  snapshot(): { state: VectorSetState; graph: Promise<Buffer> } {
    const state = this.cutState();
    return { state, graph: this.queue.exclusive(() => this.index.serialize()) };
  }

  /**
   * snapshot() for a file: the graph stays in native memory until the writer copies it out
   * piece by piece (NativeIndex.serializeHeld), never a V8 Buffer.
   */
  snapshotForFile(): { state: VectorSetState; graph: Promise<HeldBytes> } {
    const state = this.cutState();
    return { state, graph: this.queue.exclusive(() => this.index.serializeHeld()) };
  }

  private cutState(): VectorSetState {
    return {
      params: this.params,
      nextSlot: this.nextSlot,
      tombstones: this.tombstones,
      ids: this.ids.freeze(this.nextSlot),
      payloads: this.payloads.slice(0, this.nextSlot),
      payloadCount: this.attributesCount,
      scales: this.scaled ? new Float32Array(this.slotData.slice(2 * this.slotCap, 2 * this.slotCap + this.nextSlot).buffer) : null,
      zero: this.zeroSlots ? [...this.zeroSlots] : [],
    };
  }

  /**
   * Rebuild a set from a snapshot: the graph is loaded, not rebuilt; from its bytes, or
   * streamed from the snapshot file's section (NativeIndex.deserializeFile).
   */
  static async restore(state: VectorSetState, graph: Buffer | { path: string; offset: number; length: number; crc: number }): Promise<VectorSet> {
    const opts = nativeOptions(state.params);
    const loading = Buffer.isBuffer(graph) ? NativeIndex.deserialize(graph, opts) : NativeIndex.deserializeFile(graph, opts);
    // The id table is rebuilt here while usearch copies the graph on a worker (1 M ids: ~40 ms here, ~350 ms there).
    let ids: IdStore;
    try {
      ids = IdStore.fromTable(state.ids);
    } catch (err) {
      loading.then((index) => index.free(), () => undefined);
      throw err;
    }
    const set = new VectorSet(state.params, await loading);
    set.adoptState(state, ids);
    return set;
  }

  /**
   * An independent copy (COPY): the elements and attributes at once, the graph as serialized at
   * this point of this set's queue, loaded into the copy's index before any operation queued on
   * the copy runs. Neither set waits for the other afterwards.
   */
  clone(): VectorSet {
    const { state, graph } = this.snapshot();
    return VectorSet.fromState(state, graph);
  }

  /**
   * A set from a snapshot's state at once, its graph loaded before any operation queued on
   * it runs (COPY, RESTORE): the caller can store it in the keyspace in the same turn.
   */
  static fromState(state: VectorSetState, graph: Buffer | Promise<Buffer>): VectorSet {
    const set = new VectorSet(state.params, new NativeIndex({ ...nativeOptions(state.params), workers: false }));
    set.adoptState(state);
    void set.queue.exclusive(async () => {
      set.queue.adopt(await NativeIndex.deserialize(await graph, nativeOptions(state.params)));
    }).catch(() => { /* deleted before its graph loaded: nothing left to fill */ });
    return set;
  }

  /** The logical view of a snapshot's state (the index is the caller's). */
  private adoptState(state: VectorSetState, ids = IdStore.fromTable(state.ids)): void {
    this.nextSlot = state.nextSlot;
    this.grow(Math.max(4, state.nextSlot + 1));
    this.ids = ids;
    const lengths = state.ids.lengths;
    for (let slot = 0; slot < state.nextSlot; slot++) {
      if (lengths[slot] < 0) {
        // Not live at the cut: free for reuse (its removal had reached the index, which was serialized after it).
        (this.freeSlots ??= []).push(slot);
        continue;
      }
      this.setHeld(slot, true);
      this.appendLive(slot);
    }
    state.payloads.forEach((p, slot) => { if (p !== undefined && slot < state.nextSlot) this.setPayloadAt(slot, p); });
    if (state.scales && this.scaled) {
      const n = Math.min(state.nextSlot, state.scales.length);
      for (let slot = 0; slot < n; slot++) this.setScale(slot, state.scales[slot]);
    }
    if (state.zero.length > 0) this.zeroSlots = new Set(state.zero);
    this.tombstones = state.tombstones;
  }

  /** Wait for every queued engine operation (tests, shutdown, snapshots). */
  idle(): Promise<void> { return this.queue.idle(); }
}

/** A set's metadata at a snapshot's cut, indexed by slot (undefined: no element). */
export interface VectorSetState {
  params: SetParams;
  nextSlot: number;
  tombstones: number;
  ids: IdTable;
  /** Sparse: only slots with an attribute have an entry. */
  payloads: Array<string | undefined>;
  /** How many entries `payloads` has, when known (a set's cut knows it). */
  payloadCount?: number;
  /** Per-slot norm or max |x| for the normalized storages, else null. */
  scales: Float32Array | null;
  /** Slots holding zero vectors (kept out of the graph). */
  zero: number[];
}

/** Frozen parameters, one object per distinct set of values (see sharedParams). */
const paramsSeen = new Map<string, SetParams>();
/** Distinct parameter sets remembered; past this each set keeps its own copy. */
const PARAMS_SEEN_MAX = 256;

/**
 * The parameters a set keeps: frozen, and shared with every set made with the same values
 * (~100 bytes of heap per set otherwise; most sets of a server are made alike).
 */
function sharedParams(p: SetParams): Readonly<SetParams> {
  const key = JSON.stringify(p);
  let shared = paramsSeen.get(key);
  if (!shared) {
    shared = Object.freeze({ ...p });
    if (paramsSeen.size < PARAMS_SEEN_MAX) paramsSeen.set(key, shared);
  }
  return shared;
}

function storageFor(metric: Metric, quant: Quant): Storage {
  if (quant === 'B1') return 'bits';
  if (metric !== 'COSINE') return 'raw';
  if (quant === 'F32') return 'raw';
  if (quant === 'I8') return 'maxabs';
  return 'unit';
}

export function nativeOptions(p: SetParams) {
  const metric: NativeMetric = p.metric === 'COSINE' ? 'cos' : p.metric === 'L2' ? 'l2sq' : p.metric === 'IP' ? 'ip' : p.metric === 'HAMMING' ? 'hamming' : 'jaccard';
  const scalar: NativeScalar = p.quant.toLowerCase() as NativeScalar;
  return { dimensions: p.dim, metric, scalar, connectivity: p.m, expansionAdd: p.efConstruction, expansionSearch: p.ef };
}

/** dst[at, at + n) = src[from, from + n): short runs by hand, so no on-heap array's bytes move off the heap for a view. */
function copyInts(dst: Int32Array, at: number, src: Int32Array, from: number, n: number): void {
  if (n > 64) { dst.set(src.subarray(from, from + n), at); return; }
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
}

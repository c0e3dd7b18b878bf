/**
 * The TypeScript face of Astronaut's own usearch addon (src/engine/native/usearch_addon.cpp),
 * and the only module that loads it.
 *
 * Why our own addon: usearch's stock JS binding has no get-by-key, no per-query EF, no filtered
 * or subset search, ignores a view's byteOffset in `exactSearch`, and blocks
 * the JS thread for every batch, save and load. Here single calls are synchronous and cheap, and
 * batches, (de)serialisation and large CRCs run on the libuv pool, returning promises.
 *
 * Division of labour (as in usearch's own `usearch.ts` / `lib.cpp`): this file validates every
 * argument and throws `Error`/`RangeError`/`TypeError`; the C++ assumes checked input.
 *
 * Elements are addressed by a caller-chosen u32 "slot" (the engine maps element ids to slots).
 * Inside, usearch's key is a bijective 64-bit mix of the slot and results are mapped back.
 *
 * Concurrency rules (all enforced, never a crash):
 * - Sync calls (`add`, `search`, `get`, …) run on the JS thread with a usearch context of their
 *   own, so they may interleave with async jobs in flight, as usearch allows concurrent
 *   add/search/remove.
 * - `reserve` reallocates usearch's per-thread contexts: it throws while `inFlight > 0`.
 * - `serialize` captures every mutation issued before it was called: it waits for `addBatch`
 *   jobs already running, and from the call until it settles, `add`/`addBatch`/`remove` throw.
 * - Typed arrays handed to async calls must not be modified or transferred until they settle
 *   (they are read in place, not copied; the addon keeps them from being collected).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export type NativeMetric = 'ip' | 'l2sq' | 'cos' | 'hamming' | 'jaccard';
export type NativeScalar = 'f32' | 'f16' | 'bf16' | 'i8' | 'b1';

export interface NativeIndexOptions {
  /** Vector length; for `b1`, the number of bits. 1..65536 (spec: VEC.CREATE DIM). */
  dimensions: number;
  /**
   * Distances, smaller is nearer: `cos` 1 − cos (1 against an all-zero vector), `l2sq` squared
   * Euclidean, `ip` 1 − dot, `hamming` differing bits, `jaccard` 1 − |a∧b|/|a∨b|.
   * `hamming` and `jaccard` need scalar `b1`, and `b1` needs one of them.
   */
  metric: NativeMetric;
  /**
   * Storage type. `b1`: bit = x > 0. `i8`: usearch 2.26 scales each vector to unit length and
   * then by 127, so `get` returns the normalised vector and `l2sq`/`ip` distances are those of
   * the quantised unit vectors (integer scale); it is meant for `cos`.
   */
  scalar: NativeScalar;
  /** HNSW M (2..1024). */
  connectivity: number;
  /** ef_construction (≥ 1). */
  expansionAdd: number;
  /** The default search EF for callers; every search call passes its own `ef`. */
  expansionSearch: number;
  /**
   * Create the worker contexts now (default) or only at the first `reserve(…, { workers: true })`.
   * Each costs ~35 KB of RSS; until then batch jobs (`addBatch`, `searchBatch`,
   * `searchSubsetAsync`) throw and everything runs on the calling thread.
   *
   * `false` also starts the index *flat*: its vectors in plain arrays, no graph, every search an
   * exact scan, until it is reserved past FLAT_MAX elements, given workers, or asked for links.
   * A usearch index costs ~55 KB before its first vector; a flat one, its vectors.
   */
  workers?: boolean;
}

export interface SearchResult {
  /** Slots, nearest first; `count` long. */
  slots: Uint32Array;
  distances: Float32Array;
  count: number;
  /** Graph nodes usearch expanded for this query (0 for exact and subset searches). */
  visited?: number;
}

/** The addon's raw surface; arguments are checked here before they get there. */
interface AddonIndex {
  size(): number;
  capacity(): number;
  nodes(): number;
  isFlat(): boolean;
  memoryStats(): RawMemoryStats;
  maxLevel(): number;
  inFlight(): number;
  isa(): string;
  reserve(capacity: number, workers: boolean): void;
  hasWorkers(): boolean;
  add(slot: number, vector: Float32Array): void;
  addBatch(slots: Uint32Array, vectors: Float32Array, chunks: number): Promise<void>;
  remove(slot: number): boolean;
  contains(slot: number): boolean;
  firstPresent(slots: Uint32Array): number;
  get(slot: number, out: Float32Array): boolean;
  search(query: Float32Array, k: number, ef: number, filter: Uint8Array | undefined, exact: boolean,
    outSlots: Uint32Array, outDistances: Float32Array, outVisited: Uint32Array): number;
  searchBatch(queries: Float32Array, n: number, k: number, ef: number, filter: Uint8Array | undefined,
    exact: boolean, outSlots: Uint32Array, outDistances: Float32Array, outCounts: Uint32Array,
    outVisited: Uint32Array, chunks: number): Promise<void>;
  searchTeam(queries: Float32Array, n: number, k: number, ef: number, outSlots: Uint32Array,
    outDistances: Float32Array, outCounts: Uint32Array, outVisited: Uint32Array, helpers: number): void;
  searchSubset(query: Float32Array, slots: Uint32Array, k: number, outSlots: Uint32Array,
    outDistances: Float32Array): number;
  searchSubsetAsync(query: Float32Array, slots: Uint32Array, k: number, outSlots: Uint32Array,
    outDistances: Float32Array): Promise<number>;
  links(slot: number): Uint32Array[] | null;
  promote(capacity: number): Promise<void>;
  serialize(): Promise<Buffer>;
  serializeHeld(): Promise<HeldHandle>;
  load(bytes: Uint8Array): Promise<void>;
  loadFile(path: string, offset: number, length: number, crc: number): Promise<void>;
  getBatch(slots: Uint32Array, out: Float32Array, found: Uint8Array, chunks: number): Promise<void>;
  free(): boolean;
}

interface RawMemoryStats {
  graphAllocated: number; graphWasted: number; graphReserved: number;
  vectorsAllocated: number; vectorsWasted: number; vectorsReserved: number;
}

/** Memory held by one index, in bytes. */
export interface NativeMemoryStats {
  /** Bytes in use: graph nodes and stored vectors, without arena slack (the RSS it costs, roughly). */
  used: number;
  /** Address space usearch reserved: whole arenas (mmap'd, 4 MiB and up, touched lazily). */
  reserved: number;
  graphUsed: number;
  vectorsUsed: number;
}

interface Addon {
  Index: new (dimensions: number, metric: string, scalar: string, connectivity: number,
    expansionAdd: number, asyncContexts: number, workers: boolean, flatMax: number) => AddonIndex;
  crc32c(bytes: Uint8Array, seed: number, software: boolean): number;
  crc32cAsync(bytes: Uint8Array, seed: number): Promise<number>;
  capabilities(): { simd: string; crc32cHardware: boolean; usearch: string };
  nativeMemory(): NativeMemoryTotals;
  trimMemory(): boolean;
  reduceHeap(critical: boolean): void;
  mallocFreeBytes(): number;
  heldLength(handle: HeldHandle): number;
  heldRead(handle: HeldHandle, position: number, into: Uint8Array): number;
  heldFree(handle: HeldHandle): void;
}

/** The addon's handle on bytes it keeps in native memory (serializeHeld). */
declare const heldHandle: unique symbol;
type HeldHandle = { readonly [heldHandle]: true };

/** Native memory of every index of this thread not yet freed (`free()` or garbage collection). */
export interface NativeMemoryTotals {
  indexes: number;
  reservedBytes: number;
  usedBytes: number;
}

/** The directory holding package.json, walking up from this module (src/ or dist/src/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('astronaut: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

const ADDON_PATH = join(projectRoot(), 'src', 'engine', 'native', 'build', 'Release', 'astronaut_usearch.node');

function loadAddon(): Addon {
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    throw new Error(`astronaut: cannot load the native addon at ${ADDON_PATH} ` +
      `(build it with \`npm run install\`): ${(err as Error).message}`, { cause: err });
  }
}

const addon = loadAddon();

/** Worker threads a batch job is spread over (one libuv work item each). */
export const threads: number = Math.max(1, os.availableParallelism());

/**
 * usearch contexts reserved for async workers: one per libuv pool thread, so a worker always
 * finds a free one (the addon waits rather than share one if the pool is somehow larger).
 */
/**
 * The most elements an index keeps flat (see `NativeIndexOptions.workers`): the measured
 * crossover below which a scan is as fast as a graph walk (bench/planner.ts, 190–590 at EF 64),
 * so a small set searches as fast flat and costs only its vectors.
 */
export const FLAT_MAX = 256;

const ASYNC_CONTEXTS = Math.min(1024, Math.max(1, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4));

/**
 * Give the heap pages freed indexes left in the allocator back to the system (glibc keeps
 * them per arena: RSS stayed at its peak after DEL or FLUSHALL). A few ms with many arenas:
 * call it once after a burst of frees, not per free.
 */
export function trimMemory(): boolean { return addon.trimMemory(); }

/** Bytes glibc's malloc holds free (an upper bound on what trimMemory can return). */
export function mallocFreeBytes(): number { return addon.mallocFreeBytes(); }

/**
 * Ask V8 to shrink its heap, young generation included (it otherwise stays at the size a
 * burst grew it to): `critical` collects now, stopping the event loop for two full GCs;
 * otherwise an incremental memory-reducing GC starts and finishes in small steps.
 */
export function reduceHeap(critical: boolean): void { addon.reduceHeap(critical); }


let trimTimer: NodeJS.Timeout | null = null;
/**
 * One trim 100 ms after a burst of frees (FLUSHALL of many sets, a compaction's old index),
 * retried a few times while batch jobs are running (the addon skips the trim then).
 */
function scheduleTrim(attempt = 0): void {
  if (trimTimer) return;
  trimTimer = setTimeout(() => {
    trimTimer = null;
    if (!trimMemory() && attempt < 20) scheduleTrim(attempt + 1);
  }, 100);
  trimTimer.unref();
}

/** What the addon was built with and detects at run time (for INFO and benchmarks). */
export const capabilities: { simd: string; crc32cHardware: boolean; usearch: string } = addon.capabilities();

const METRICS: readonly NativeMetric[] = ['ip', 'l2sq', 'cos', 'hamming', 'jaccard'];
const SCALARS: readonly NativeScalar[] = ['f32', 'f16', 'bf16', 'i8', 'b1'];
const MAX_SLOT = 0xFFFFFFFF;
/**
 * Bytes usearch holds for a graph index beyond what its tapes count as used, from its own
 * layout (index_gt and index_dense_gt `try_reserve`, memory_mapping_allocator_gt):
 * - the graph tape rounds each node up to 64 bytes and counts the padding as wasted: a node is
 *   an 8-byte key, a 2-byte level, then per level a 4-byte count and its links (2M on level 0,
 *   M above), and reaches level l with probability M^-l;
 * - per slot of capacity, a node pointer and a vector pointer (8 bytes each), and the key →
 *   slot hash: ceil2(1.5 × capacity) entries of 16 bytes, in buckets of 64 behind a 16-byte header.
 * The estimate this replaces (64 bytes a node, usearch's own memory_usage() figure, and 32 a
 * slot for every lookup) counted the hash short: it is 4.26 MB for any capacity from 87 382 to
 * 174 762, 42 bytes a slot at 100 k. Net, it counted ~11 bytes a vector too few at 100 k × 128
 * I8 (bench/scale.ts; the rest of the RSS a set's ingest adds stays after FLUSHALL).
 */
export function usearchOverheadBytes(m: number, nodes: number, capacity: number): number {
  if (capacity <= 0) return 0;
  const hashSlots = 2 ** Math.ceil(Math.log2(Math.ceil(1.5 * capacity)));
  const hash = Math.ceil(hashSlots / 64) * (64 * 16 + 16);
  return hash + capacity * 16 + Math.round(nodes * nodePadding(m));
}

const paddingByM = new Map<number, number>();
/** Expected bytes of 64-byte alignment padding per graph node of connectivity `m`. */
function nodePadding(m: number): number {
  let padding = paddingByM.get(m);
  if (padding !== undefined) return padding;
  padding = 0;
  for (let level = 0, p = 1 - 1 / m; level < 16; level++, p /= m) {
    const bytes = 8 + 2 + (4 + 2 * m * 4) + level * (4 + m * 4);
    padding += p * (Math.ceil(bytes / 64) * 64 - bytes);
  }
  paddingByM.set(m, padding);
  return padding;
}
/**
 * Out-parameter of every sync search (nodes visited): read right after the call on the same
 * thread, so one serves all indexes (a typed array per index cost ~200 bytes each).
 */
const VISITED = new Uint32Array(1);
/** usearch's internal node ids are u32 with all-ones reserved. */
const MAX_CAPACITY = 0xFFFFFFFE;
/** Below this size, `crc32cAsync` computes on the JS thread: a pool round trip costs more. */
const CRC_ASYNC_MIN = 1 << 20;

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot > MAX_SLOT) {
    throw new RangeError(`slot must be an integer in [0, ${MAX_SLOT}], got ${slot}`);
  }
}

function checkF32(name: string, value: unknown, length: number): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) throw new TypeError(`${name} must be a Float32Array`);
  if (value.length !== length) throw new RangeError(`${name} has ${value.length} values, expected ${length}`);
}

function checkU32(name: string, value: unknown): asserts value is Uint32Array {
  if (!(value instanceof Uint32Array)) throw new TypeError(`${name} must be a Uint32Array`);
}

function checkBytes(name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array or Buffer`);
}

function validateOptions(opts: NativeIndexOptions): NativeIndexOptions {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
  checkInt('dimensions', opts.dimensions, 1, 65536);
  if (!METRICS.includes(opts.metric)) throw new RangeError(`unknown metric ${String(opts.metric)}`);
  if (!SCALARS.includes(opts.scalar)) throw new RangeError(`unknown scalar ${String(opts.scalar)}`);
  const binaryMetric = opts.metric === 'hamming' || opts.metric === 'jaccard';
  if (binaryMetric !== (opts.scalar === 'b1')) {
    throw new RangeError(`metric ${opts.metric} cannot be used with scalar ${opts.scalar}: ` +
      'hamming and jaccard need b1, and b1 needs hamming or jaccard');
  }
  checkInt('connectivity', opts.connectivity, 2, 1024);
  checkInt('expansionAdd', opts.expansionAdd, 1, 1 << 20);
  checkInt('expansionSearch', opts.expansionSearch, 1, 1 << 20);
  const key = `${opts.dimensions}/${opts.metric}/${opts.scalar}/${opts.connectivity}/${opts.expansionAdd}/${opts.expansionSearch}`;
  const known = sharedOptions.get(key);
  if (known) return known;
  const frozen = Object.freeze({
    dimensions: opts.dimensions, metric: opts.metric, scalar: opts.scalar,
    connectivity: opts.connectivity, expansionAdd: opts.expansionAdd, expansionSearch: opts.expansionSearch,
  });
  if (sharedOptions.size < SHARED_OPTIONS_MAX) sharedOptions.set(key, frozen);
  return frozen;
}

/**
 * Frozen options, one object per distinct set of values: each set's index holds its options,
 * ~100 bytes of heap apiece (the object and its scalar's string), and sets mostly share them.
 */
const sharedOptions = new Map<string, NativeIndexOptions>();
/** Distinct options remembered; past this (options chosen per set by clients) each index has its own. */
const SHARED_OPTIONS_MAX = 256;

/**
 * One HNSW index (usearch `index_dense_t`) over vectors addressed by u32 slots.
 *
 * Capacity is explicit: `reserve` before adding (`add`/`addBatch` throw when full). Removed
 * elements stay in the graph as tombstones (usearch issue #726) whose nodes are reused by later
 * adds; `tombstones()` counts them. usearch's own `compact`/`isolate` are not exposed: in 2.26
 * `isolate` only unlinks tombstones (recall drops, memory stays) and `compact` renumbers nodes
 * without rebuilding index_dense's key table. To shrink, build a fresh index from `get` + `add`.
 */
export class NativeIndex {
  readonly options: NativeIndexOptions;
  readonly #addon: AddonIndex;
  #freed = false;
  /** Batch inserts not settled yet (made by the first: most indexes are small and never batch). */
  #pendingWrites: Set<Promise<void>> | null = null;
  #serializing = false;

  constructor(opts: NativeIndexOptions) {
    this.options = validateOptions(opts);
    const o = this.options;
    this.#addon = new addon.Index(o.dimensions, o.metric, o.scalar, o.connectivity, o.expansionAdd, ASYNC_CONTEXTS, opts.workers !== false, FLAT_MAX);
  }

  /** The addon object, or a clear error once `free()` ran (the addon would refuse too). */
  get #native(): AddonIndex {
    if (this.#freed) throw new Error('this index was freed: it can no longer be used');
    return this.#addon;
  }

  get freed(): boolean { return this.#freed; }

  /**
   * Release the graph and vectors now rather than when the garbage collector finalises this
   * object (which may be never for a large set in a quiet process). Jobs in flight are
   * cancelled where they can be (batches stop between items and reject); the memory goes when
   * the last of them returns. Every later call throws. Returns true if released at once.
   */
  free(): boolean {
    this.#freed = true;
    const now = this.#addon.free();
    scheduleTrim();
    return now;
  }

  /** Whether the vectors are kept without a graph (a small set; see `NativeIndexOptions.workers`). */
  get flat(): boolean { return this.#native.isFlat(); }
  /** Live (not removed) entries. */
  size(): number { return this.#native.size(); }
  capacity(): number { return this.#native.capacity(); }
  /** Removed entries whose nodes still sit in the graph, waiting to be reused by adds. */
  tombstones(): number { return this.#native.nodes() - this.#native.size(); }
  /**
   * Bytes usearch reserved for this index (whole arenas: an index of a few vectors already
   * reports ~16 MiB of which ~200 KiB is resident). Read from the arena counters: usearch's own
   * `memory_usage()` walks every node and races with concurrent inserts (it crashed the
   * process while an addBatch ran).
   */
  reservedBytes(): number { return this.memoryStats().reserved; }
  /**
   * Bytes the index holds: its tapes in use, plus the padding and per-capacity lookups usearch
   * keeps beside them (usearchOverheadBytes).
   */
  usedBytes(): number {
    if (this.#native.isFlat()) return this.memoryStats().used;
    return this.memoryStats().used + usearchOverheadBytes(this.options.connectivity, this.#native.nodes(), this.#native.capacity());
  }
  memoryStats(): NativeMemoryStats {
    const m = this.#native.memoryStats();
    const graphUsed = m.graphAllocated - m.graphWasted - m.graphReserved;
    const vectorsUsed = m.vectorsAllocated - m.vectorsWasted - m.vectorsReserved;
    return { used: graphUsed + vectorsUsed, reserved: m.graphAllocated + m.vectorsAllocated, graphUsed, vectorsUsed };
  }
  maxLevel(): number { return this.#native.maxLevel(); }
  /** Async jobs not yet completed on this index (still answers after `free()`). */
  get inFlight(): number { return this.#addon.inFlight(); }
  /** The SIMD kernel family NumKong picked for this metric on this CPU (e.g. `haswell`). */
  isa(): string { return this.#native.isa(); }

  /**
   * Grow capacity (never shrinks); `workers` also creates the worker contexts batch jobs need,
   * if the index was made without them. Throws while async jobs are in flight on this index.
   */
  reserve(capacity: number, opts: { workers?: boolean } = {}): void {
    checkInt('capacity', capacity, 0, MAX_CAPACITY);
    if (this.inFlight > 0) {
      throw new Error(`reserve refused: ${this.inFlight} async job(s) still running on this index`);
    }
    this.#native.reserve(capacity, opts.workers === true);
  }

  /**
   * A flat index becomes a graph with worker contexts and room for `capacity`, built on the
   * pool (a few hundred 1 536-d vectors take ~25 ms to insert). Reads keep answering from the
   * flat store meanwhile; mutations throw until it settles. `reserve` past FLAT_MAX does the
   * same on the calling thread.
   */
  promote(capacity: number): Promise<void> {
    checkInt('capacity', capacity, 0, MAX_CAPACITY);
    if (!this.flat) return Promise.reject(new Error('promote refused: the index is already a graph'));
    if (this.inFlight > 0) throw new Error(`promote refused: ${this.inFlight} async job(s) still running on this index`);
    return this.#native.promote(capacity);
  }

  /** Whether batch jobs may run (worker contexts exist). */
  get hasWorkers(): boolean { return this.#native.hasWorkers(); }

  /** Adds on the calling thread. Throws if the slot is present or there is no free capacity. */
  add(slot: number, vector: Float32Array): void {
    checkSlot(slot);
    checkF32('vector', vector, this.options.dimensions);
    this.#refuseWhileSerializing();
    if (this.#native.contains(slot)) throw new Error(`slot ${slot} is already present`);
    if (this.#native.size() >= this.#native.capacity()) {
      throw new Error(`index is full (capacity ${this.#native.capacity()}): reserve() more first`);
    }
    this.#native.add(slot, vector);
  }

  /**
   * Adds many vectors on the libuv pool, spread over `threads` workers (or `opts.threads`:
   * background work leaves pool threads to searches). `slots` must be distinct and absent,
   * and capacity reserved beforehand (all checked here, synchronously). If it rejects (out of
   * memory, a racing sync add taking the capacity), some of the batch may have been added:
   * check with `contains`.
   */
  addBatch(slots: Uint32Array, vectors: Float32Array, opts: { threads?: number } = {}): Promise<void> {
    checkU32('slots', slots);
    checkF32('vectors', vectors, slots.length * this.options.dimensions);
    this.#refuseWhileSerializing();
    if (slots.length === 0) return Promise.resolve();
    if (slots.length > 1) {
      const sorted = Uint32Array.from(slots).sort();
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i] === sorted[i - 1]) throw new Error(`slot ${sorted[i]} appears twice in the batch`);
      }
    }
    const present = this.#native.firstPresent(slots);
    if (present >= 0) throw new Error(`slot ${slots[present]} is already present`);
    const free = this.#native.capacity() - this.#native.size();
    if (slots.length > free) {
      throw new Error(`batch of ${slots.length} exceeds the free capacity ${free}: reserve() more first`);
    }
    const chunks = opts.threads === undefined ? threads : Math.max(1, Math.min(threads, Math.floor(opts.threads)));
    const job = this.#native.addBatch(slots, vectors, chunks);
    const pending = (this.#pendingWrites ??= new Set());
    const tracked = job.finally(() => { pending.delete(tracked); });
    pending.add(tracked);
    return tracked;
  }

  /** Removes a slot; false if it was absent. */
  remove(slot: number): boolean {
    checkSlot(slot);
    this.#refuseWhileSerializing();
    return this.#native.remove(slot);
  }

  contains(slot: number): boolean {
    checkSlot(slot);
    return this.#native.contains(slot);
  }

  /** Writes the stored vector, dequantised (bit-exact for f32; 0/1 for b1), into `out`. */
  get(slot: number, out: Float32Array): boolean {
    checkSlot(slot);
    checkF32('out', out, this.options.dimensions);
    return this.#native.get(slot, out);
  }

  /**
   * k nearest by the graph with a beam of max(k, ef), on the calling thread; `filter` and
   * `exact` as for `searchBatch`.
   */
  search(query: Float32Array, k: number, ef: number, opts: { filter?: Uint8Array; exact?: boolean } = {}): SearchResult {
    checkF32('query', query, this.options.dimensions);
    checkInt('k', k, 1, MAX_CAPACITY);
    checkInt('ef', ef, 1, MAX_CAPACITY);
    if (opts.filter !== undefined) checkBytes('filter', opts.filter);
    k = this.#clampK(k);
    const slots = new Uint32Array(k);
    const distances = new Float32Array(k);
    const count = this.#native.search(query, k, ef, opts.filter, opts.exact === true, slots, distances, VISITED);
    return result(slots, distances, count, VISITED[0]);
  }

  /**
   * Many queries (`n` × dimensions, row-major) on the libuv pool, split across `threads`.
   * `filter`: a bitmap over slots, bit `slot` = byte `slot >> 3`, bit `slot & 7` (LSB first);
   * only set slots are returned (usearch walks the graph through unset ones; with very selective
   * filters prefer `searchSubset`). `exact`: brute force over every element instead of the graph.
   * Results are views into one buffer per call.
   */
  searchBatch(queries: Float32Array, n: number, k: number, ef: number,
    opts: { filter?: Uint8Array; exact?: boolean } = {}): Promise<SearchResult[]> {
    checkInt('n', n, 0, MAX_CAPACITY);
    checkF32('queries', queries, n * this.options.dimensions);
    checkInt('k', k, 1, MAX_CAPACITY);
    checkInt('ef', ef, 1, MAX_CAPACITY);
    if (opts.filter !== undefined) checkBytes('filter', opts.filter);
    if (n === 0) return Promise.resolve([]);
    k = this.#clampK(k);
    const out = batchOutputs(n, k);
    const job = this.#native.searchBatch(queries, n, k, ef, opts.filter, opts.exact === true,
      out.slots, out.distances, out.counts, out.visited, threads);
    return job.then(() => out.results());
  }

  /**
   * Many plain graph searches (`n` × dimensions, row-major; no filter, not exact) run now: the
   * calling thread takes queries from a shared cursor alongside up to `threads − 1` helper
   * threads, and returns when every query is answered. Unlike `searchBatch` there is no pool
   * hop, no promise and no core left idle, but the event loop waits for the batch: for batches
   * whose total cost the caller keeps small (the op queue's budget per turn).
   */
  searchTeam(queries: Float32Array, n: number, k: number, ef: number): SearchResult[] {
    checkInt('n', n, 1, MAX_CAPACITY);
    checkF32('queries', queries, n * this.options.dimensions);
    checkInt('k', k, 1, MAX_CAPACITY);
    checkInt('ef', ef, 1, MAX_CAPACITY);
    k = this.#clampK(k);
    const out = batchOutputs(n, k);
    this.#native.searchTeam(queries, n, k, ef, out.slots, out.distances, out.counts, out.visited, threads - 1);
    return out.results();
  }

  /**
   * Exact distances from `query` to the listed slots only (absent ones skipped), nearest k.
   * For very selective filters, where scanning the matches beats walking the graph.
   */
  searchSubset(query: Float32Array, slots: Uint32Array, k: number): SearchResult {
    this.#checkSubset(query, slots, k);
    const m = Math.min(k, slots.length);
    const outSlots = new Uint32Array(m);
    const outDistances = new Float32Array(m);
    const count = this.#native.searchSubset(query, slots, k, outSlots, outDistances);
    return result(outSlots, outDistances, count, 0);
  }

  /** `searchSubset` on the libuv pool, for long slot lists. */
  searchSubsetAsync(query: Float32Array, slots: Uint32Array, k: number): Promise<SearchResult> {
    this.#checkSubset(query, slots, k);
    const m = Math.min(k, slots.length);
    const outSlots = new Uint32Array(m);
    const outDistances = new Float32Array(m);
    return this.#native.searchSubsetAsync(query, slots, k, outSlots, outDistances)
      .then((count) => result(outSlots, outDistances, count, 0));
  }

  /**
   * The stored vectors of `slots` (dequantised, as `get`) read on the libuv pool: row i of
   * `vectors` is slot i's when `found[i]` is 1. The index must not be mutated until it settles
   * (usearch's `get` is not safe against a concurrent remove reusing the node).
   */
  getBatch(slots: Uint32Array): Promise<{ vectors: Float32Array; found: Uint8Array }> {
    checkU32('slots', slots);
    const n = slots.length;
    const vectors = new Float32Array(n * this.options.dimensions);
    const found = new Uint8Array(n);
    if (n === 0) return Promise.resolve({ vectors, found });
    return this.#native.getBatch(slots, vectors, found, threads).then(() => ({ vectors, found }));
  }

  /**
   * HNSW neighbours of `slot`, one array per level, top level first (Redis's VLINKS); null if
   * absent. Removed neighbours still linked in the graph are left out. Read without node locks:
   * exact when no `addBatch` is running.
   */
  links(slot: number): Uint32Array[] | null {
    checkSlot(slot);
    return this.#native.links(slot);
  }

  /**
   * usearch's own serialisation (vectors, header, graph) into one Buffer, built on the pool.
   * Holds exactly the mutations issued before the call: it waits for running `addBatch` jobs,
   * and mutations throw until it settles. Searches keep working meanwhile. usearch's format has
   * no checksum: frame it yourself (crc32c) before it touches disk.
   */
  serialize(): Promise<Buffer> {
    return this.#serializeOnce(() => this.#native.serialize());
  }

  /**
   * `serialize()`'s bytes kept in native memory, for a caller that writes them out a piece at a
   * time (a snapshot file). A Buffer of 600 MB (1 M × 128) counts as V8 external memory, and V8
   * answered it with collections of 4-10 ms each during the BGSAVE writing it.
   */
  async serializeHeld(): Promise<HeldBytes> {
    return new HeldBytes(await this.#serializeOnce(() => this.#native.serializeHeld()));
  }

  /** One serialization at a time, after the running batch inserts; mutations are refused meanwhile. */
  async #serializeOnce<T>(run: () => Promise<T>): Promise<T> {
    if (this.#serializing) throw new Error('serialize refused: a serialization is already running');
    this.#serializing = true;
    try {
      while (this.#pendingWrites && this.#pendingWrites.size > 0) await Promise.allSettled([...this.#pendingWrites]);
      return await run();
    } finally {
      this.#serializing = false;
    }
  }

  /**
   * Rebuilds an index from `serialize()` bytes on the pool. The caller has verified length and
   * checksum (usearch trusts its input). Rejects if the bytes describe another dimension,
   * metric, scalar or connectivity than `opts`. Capacity afterwards equals the size: reserve.
   */
  static async deserialize(buf: Buffer | Uint8Array, opts: NativeIndexOptions): Promise<NativeIndex> {
    checkBytes('buf', buf);
    const index = new NativeIndex(opts);
    await index.#native.load(buf);
    return index;
  }

  /**
   * deserialize() straight from a byte range of a file (a snapshot's graph section), whose
   * crc32c must equal `crc`: read and checksummed in one pass off the event loop, never
   * copied into a JS Buffer. Rejects on a short file, a checksum mismatch or bytes usearch
   * refuses.
   */
  static async deserializeFile(file: { path: string; offset: number; length: number; crc: number }, opts: NativeIndexOptions): Promise<NativeIndex> {
    checkInt('offset', file.offset, 0, Number.MAX_SAFE_INTEGER);
    checkInt('length', file.length, 0, Number.MAX_SAFE_INTEGER);
    checkInt('crc', file.crc, 0, 0xFFFFFFFF);
    const index = new NativeIndex(opts);
    try {
      await index.#native.loadFile(file.path, file.offset, file.length, file.crc);
    } catch (err) {
      index.free();
      throw err;
    }
    return index;
  }

  /**
   * No search can return more results than there are nodes: size output buffers by that, so a
   * huge k costs nothing. (Nodes added by a batch running concurrently are not counted.)
   */
  #clampK(k: number): number {
    return Math.min(k, Math.max(1, this.#native.nodes()));
  }

  #refuseWhileSerializing(): void {
    if (this.#serializing) throw new Error('index is being serialized: mutations are refused until it completes');
  }

  #checkSubset(query: Float32Array, slots: Uint32Array, k: number): void {
    checkF32('query', query, this.options.dimensions);
    checkU32('slots', slots);
    checkInt('k', k, 1, MAX_CAPACITY);
  }
}

/**
 * The buffers a batch of `n` searches of `k` answers is written into (one each, row i at i × k),
 * and the per-query results as views into them once written.
 */
function batchOutputs(n: number, k: number) {
  if (n * k > 0x7FFFFFFF) throw new RangeError(`n × k = ${n * k} results is too many for one batch`);
  const slots = new Uint32Array(n * k);
  const distances = new Float32Array(n * k);
  const counts = new Uint32Array(n);
  const visited = new Uint32Array(n);
  const results = (): SearchResult[] => {
    const out = new Array<SearchResult>(n);
    for (let i = 0; i < n; i++) {
      const c = counts[i];
      out[i] = { slots: slots.subarray(i * k, i * k + c), distances: distances.subarray(i * k, i * k + c), count: c, visited: visited[i] };
    }
    return out;
  };
  return { slots, distances, counts, visited, results };
}

function result(slots: Uint32Array, distances: Float32Array, count: number, visited: number): SearchResult {
  return { slots: slots.subarray(0, count), distances: distances.subarray(0, count), count, visited };
}

/**
 * Native bytes held by this thread's indexes that were not freed yet: what a deleted set must
 * stop counting in at once (tests, INFO).
 */
export function nativeMemory(): NativeMemoryTotals {
  return addon.nativeMemory();
}

/**
 * CRC32C (Castagnoli), hardware (SSE4.2) when available, slice-by-8 otherwise. `seed` chains:
 * crc32c(b, crc32c(a)) === crc32c(a ‖ b). crc32c('123456789') === 0xE3069283.
 */
export function crc32c(buf: Uint8Array, seed = 0): number {
  checkBytes('buf', buf);
  checkInt('seed', seed, 0, 0xFFFFFFFF);
  return addon.crc32c(buf, seed, false);
}

/** `crc32c` on the libuv pool for buffers of 1 MiB and more; smaller ones compute inline. */
export function crc32cAsync(buf: Uint8Array, seed = 0): Promise<number> {
  checkBytes('buf', buf);
  checkInt('seed', seed, 0, 0xFFFFFFFF);
  if (buf.length < CRC_ASYNC_MIN) return Promise.resolve(addon.crc32c(buf, seed, false));
  return addon.crc32cAsync(buf, seed);
}

/** The table-driven CRC32C, whatever the CPU: for tests that compare it with the hardware path. */
export function crc32cSoftware(buf: Uint8Array, seed = 0): number {
  checkBytes('buf', buf);
  checkInt('seed', seed, 0, 0xFFFFFFFF);
  return addon.crc32c(buf, seed, true);
}

/**
 * Bytes the addon holds outside V8's heap (NativeIndex.serializeHeld). Read them in order with
 * `pieces()`, which gives them back once the last piece is read; `free()` gives them back early
 * (a save that failed). Without either, they go when this object is collected.
 */
export class HeldBytes {
  readonly length: number;
  #handle: HeldHandle | null;

  constructor(handle: HeldHandle) {
    this.#handle = handle;
    this.length = addon.heldLength(handle);
  }

  /**
   * The bytes in pieces of at most `size`. Without `buffer`, each is copied into the same buffer and
   * is valid only until the next one is asked for (a file writer writes each before pulling the
   * next). A reader that still holds a piece when it pulls the next (a replica's socket queues it)
   * passes `buffer`, which hands out a buffer of at least the size asked that is free to fill.
   */
  async *pieces(size = 1 << 20, buffer?: (bytes: number) => Buffer | Promise<Buffer>): AsyncGenerator<Uint8Array> {
    const handle = this.#handle;
    if (!handle) throw new Error('held bytes were already freed');
    try {
      const pieceBytes = Math.max(1, Math.min(size, this.length));
      const own = buffer ? null : Buffer.allocUnsafeSlow(pieceBytes);
      for (let position = 0; position < this.length;) {
        const buf = own ?? (await buffer!(pieceBytes)).subarray(0, pieceBytes);
        const n = addon.heldRead(handle, position, buf);
        position += n;
        yield buf.subarray(0, n);
      }
    } finally {
      this.free();
    }
  }

  /** All of it in one new Buffer (tests). */
  toBuffer(): Buffer {
    if (!this.#handle) throw new Error('held bytes were already freed');
    const out = Buffer.allocUnsafe(this.length);
    if (this.length > 0) addon.heldRead(this.#handle, 0, out);
    return out;
  }

  free(): void {
    if (this.#handle) addon.heldFree(this.#handle);
    this.#handle = null;
  }
}

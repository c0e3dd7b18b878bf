/**
 * A vector set's element ids, kept outside V8's object heap.
 *
 * Why: a `Map<string, number>` plus an array of id strings cost ~110 bytes per
 * element on V8's heap (entry, string header, array slots), ~15 % of a 128-d
 * float vector's whole footprint and more than a Q8 vector itself, and made
 * the garbage collector trace a million objects per set. Here each id is bytes
 * in one arena, and the id → slot lookup is an open-addressing table of
 * integers: about 12 bytes per slot, 8 per table entry at most half full, and
 * the id's own bytes.
 *
 * Ids are binary-safe strings with one char per byte (latin1, as the commands
 * decode them). Slots are the set's: the caller picks them (dense, reused).
 *
 * A store whose slots all lie below SMALL_SLOTS keeps its ids as plain strings
 * instead: the arena layout costs five typed arrays (~225 bytes of V8 heap
 * each, however short) and its arena's share of malloc, about 2 KB for a
 * one-element set, where a string and a short array cost ~100 bytes. Most
 * sets hold a handful of elements (one per user, per document), and a handful
 * of strings is nothing for the garbage collector to trace. The first slot at
 * SMALL_SLOTS or above moves the ids into the arena, for good.
 */

/** An id's slot length when the slot holds no element. */
const NONE = -1;
const MIN_TABLE = 8;
/** Slots below this keep their ids as strings, found by a scan (see above): 8 compares cost what a hash probe does. */
export const SMALL_SLOTS = 8;
/** A new store's arrays until they are needed: replaced, never written (~225 bytes of heap each saved per set). */
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_BYTES = Buffer.alloc(0);
const EMPTY_IDS: ReadonlyArray<string | undefined> = Object.freeze([]);
/** Freed arena bytes tolerated before the arena is rewritten (below this, never). */
const GARBAGE_FLOOR = 64 << 10;

/** Slots per block of a background copy (4096). */
const COPY_BLOCK_SHIFT = 12;
/** Blocks a background copy takes per event-loop turn: 64 k slots, 512 KB of copies. */
const COPY_BLOCKS_PER_TURN = 16;
/**
 * Up to this many slots a freeze copies at once. Above, the per-slot arrays are copied in the
 * background: at 1 M slots the two 4 MB copies held the event loop 4.5-5 ms in a quiet process,
 * and 17-23 ms at a 1 M × 128 BGSAVE's cut (a `--cpu-prof` put 70 of that stall's 80 samples in
 * the copy; the rest of the save never held the loop over 13 ms).
 */
const FREEZE_AT_ONCE = 1 << 16;

/**
 * A copy of a store's per-slot arrays at one instant, made a few blocks per event-loop turn.
 * Until it is complete, the store calls `before(slot)` ahead of every write into those arrays,
 * which copies that slot's block first: copy-on-write by block, as a fork copies pages.
 */
class SlotCopy {
  readonly offsets: Uint32Array;
  readonly lengths: Int32Array;
  private readonly copied: Uint8Array;
  private left: number;
  private next = 0;
  private waiters: Array<() => void> = [];
  private readonly blockCount: number;

  constructor(private src: { offsets: Uint32Array; lengths: Int32Array } | null, readonly nextSlot: number,
    private readonly onDone: (copy: SlotCopy) => void) {
    this.offsets = new Uint32Array(nextSlot);
    this.lengths = new Int32Array(nextSlot);
    this.blockCount = (nextSlot + (1 << COPY_BLOCK_SHIFT) - 1) >>> COPY_BLOCK_SHIFT;
    this.copied = new Uint8Array(this.blockCount);
    this.left = this.blockCount;
    setImmediate(this.step);
  }

  /** Called before the store writes `slot`'s entries. */
  before(slot: number): void {
    if (slot < this.nextSlot && this.copied[slot >>> COPY_BLOCK_SHIFT] === 0) this.copyBlock(slot >>> COPY_BLOCK_SHIFT);
  }

  /** Copy whatever is left now. */
  finish(): void {
    for (let b = 0; b < this.blockCount && this.left > 0; b++) if (this.copied[b] === 0) this.copyBlock(b);
  }

  ready(): Promise<void> {
    return this.left === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  private readonly step = (): void => {
    for (let k = 0; this.left > 0 && k < COPY_BLOCKS_PER_TURN; this.next++) {
      if (this.copied[this.next] === 0) { this.copyBlock(this.next); k++; }
    }
    if (this.left > 0) setImmediate(this.step);
  };

  private copyBlock(b: number): void {
    const src = this.src!;
    const from = b << COPY_BLOCK_SHIFT, to = Math.min(this.nextSlot, from + (1 << COPY_BLOCK_SHIFT));
    this.offsets.set(src.offsets.subarray(from, to), from);
    this.lengths.set(src.lengths.subarray(from, to), from);
    this.copied[b] = 1;
    if (--this.left > 0) return;
    this.src = null;
    this.onDone(this);
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * A frozen copy of the ids at one instant, indexed by slot: what a snapshot,
 * COPY or DUMP carries. `offsets`/`lengths` are per slot (length -1: none).
 * A large store's freeze fills them in the background (SlotCopy): reading
 * either completes the copy first; `ready()` waits for it without holding the
 * event loop.
 */
export class IdTable {
  constructor(
    readonly nextSlot: number,
    private readonly offsetsBySlot: Uint32Array,
    private readonly lengthsBySlot: Int32Array,
    readonly bytes: Buffer,
    /** Ids held and their bytes, when known (a freeze knows them): spares an encoder a pass over every slot. */
    readonly totals: { count: number; idBytes: number } | null = null,
    private copy: SlotCopy | null = null,
  ) {}

  get offsets(): Uint32Array {
    if (this.copy) this.complete();
    return this.offsetsBySlot;
  }

  get lengths(): Int32Array {
    if (this.copy) this.complete();
    return this.lengthsBySlot;
  }

  /** Resolves once `offsets` and `lengths` can be read without copying on the spot. */
  ready(): Promise<void> {
    return this.copy ? this.copy.ready() : Promise.resolve();
  }

  private complete(): void {
    this.copy!.finish();
    this.copy = null;
  }

  /** From ids per slot (undefined: none): the layout older snapshots and tests produce. */
  static fromArray(ids: ReadonlyArray<string | undefined>, nextSlot = ids.length): IdTable {
    const offsets = new Uint32Array(nextSlot), lengths = new Int32Array(nextSlot).fill(NONE);
    let total = 0;
    for (let s = 0; s < nextSlot; s++) if (ids[s] !== undefined) total += ids[s]!.length;
    const bytes = Buffer.allocUnsafe(total);
    let o = 0;
    for (let s = 0; s < nextSlot; s++) {
      const id = ids[s];
      if (id === undefined) continue;
      offsets[s] = o;
      lengths[s] = id.length;
      o += bytes.write(id, o, 'latin1');
    }
    return new IdTable(nextSlot, offsets, lengths, bytes);
  }

  /** From per-slot lengths and the ids' bytes back to back in slot order (the snapshot layout). */
  static fromPacked(lengths: Int32Array, bytes: Buffer): IdTable {
    const offsets = new Uint32Array(lengths.length);
    let o = 0;
    for (let s = 0; s < lengths.length; s++) {
      const n = lengths[s];
      if (n < NONE) throw new Error('negative id length');
      if (n === NONE) continue;
      offsets[s] = o;
      o += n;
    }
    if (o !== bytes.length) throw new Error('id bytes do not match their lengths');
    return new IdTable(lengths.length, offsets, lengths, bytes);
  }

  idAt(slot: number): string | undefined {
    const n = this.lengths[slot];
    if (n === undefined || n < 0) return undefined;
    const o = this.offsets[slot];
    return this.bytes.toString('latin1', o, o + n);
  }

  /** How many slots hold an id. */
  count(): number {
    const lengths = this.lengths;
    let n = 0;
    for (let s = 0; s < this.nextSlot; s++) if (lengths[s] >= 0) n++;
    return n;
  }
}

export class IdStore {
  /** Ids by slot while the store is small (see SMALL_SLOTS), else null: the arena below holds them. */
  private small: Array<string | undefined> | null = EMPTY_IDS as Array<string | undefined>;
  private bytes: Buffer = EMPTY_BYTES;
  private used = 0;
  private garbage = 0;
  private offsets: Uint32Array = EMPTY_U32;
  private lengths: Int32Array = EMPTY_I32;
  private hashes: Uint32Array = EMPTY_U32;
  /** Linear probing; each entry is slot + 1, 0 when empty. */
  private table: Int32Array = EMPTY_I32;
  private mask = 0;
  /** Background copies of a freeze still being made (SlotCopy): each sees a slot before it is written. */
  private copies: SlotCopy[] = [];
  /** Elements held. */
  size = 0;
  /** Bytes of all ids held. */
  byteLength = 0;

  /** A store holding a frozen table's ids; takes ownership of its arrays. */
  static fromTable(t: IdTable): IdStore {
    const s = new IdStore();
    if (t.nextSlot <= SMALL_SLOTS) {
      const ids = new Array<string | undefined>(t.nextSlot);
      for (let slot = 0; slot < t.nextSlot; slot++) {
        const id = t.idAt(slot);
        ids[slot] = id;
        if (id === undefined) continue;
        s.size++;
        s.byteLength += id.length;
      }
      if (t.nextSlot > 0) s.small = ids;
      return s;
    }
    s.small = null;
    s.offsets = t.offsets;
    s.lengths = t.lengths;
    s.hashes = new Uint32Array(t.nextSlot);
    // A table's bytes may be a slice of Node's shared 8 KB pool (or of a larger read): adopted
    // as they are, each set would keep a whole pool alive for its few bytes.
    s.bytes = t.bytes.length === 0 ? EMPTY_BYTES : ownBytes(t.bytes);
    s.used = t.bytes.length;
    let size = 0, bytes = 0;
    for (let slot = 0; slot < t.nextSlot; slot++) {
      const n = t.lengths[slot];
      if (n < 0) continue;
      size++;
      bytes += n;
      s.hashes[slot] = hashBytes(s.bytes, t.offsets[slot], n);
    }
    s.garbage = s.used - bytes;
    s.size = size;
    s.byteLength = bytes;
    s.resizeTable(tableSizeFor(size)); // inserts every held slot
    return s;
  }

  /** The slot holding `id`, or -1. */
  get(id: string): number {
    const small = this.small;
    if (small) {
      for (let slot = 0; slot < small.length; slot++) if (small[slot] === id) return slot;
      return -1;
    }
    const h = hashString(id);
    const table = this.table, mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = table[i];
      if (e === 0) return -1;
      const slot = e - 1;
      if (this.hashes[slot] === h && this.lengths[slot] === id.length && this.equals(slot, id)) return slot;
    }
  }

  /** The id a slot holds, or undefined. */
  idAt(slot: number): string | undefined {
    if (this.small) return slot < this.small.length ? this.small[slot] : undefined;
    const n = slot < this.lengths.length ? this.lengths[slot] : NONE;
    if (n < 0) return undefined;
    const o = this.offsets[slot];
    return this.bytes.toString('latin1', o, o + n);
  }

  /** Put `id` (absent) in `slot` (empty). */
  set(id: string, slot: number): void {
    const n = id.length;
    if (this.small) {
      if (slot < SMALL_SLOTS) {
        this.setSmall(id, slot);
        this.size++;
        this.byteLength += n;
        return;
      }
      this.toArena(slot + 1);
    }
    if (slot >= this.lengths.length) this.growSlots(Math.max(4, this.lengths.length * 2, slot + 1));
    if (this.used + n > this.bytes.length) this.growArena(n);
    if (this.copies.length > 0) for (const c of this.copies) c.before(slot);
    this.offsets[slot] = this.used;
    this.used += this.bytes.write(id, this.used, 'latin1');
    this.lengths[slot] = n;
    this.hashes[slot] = hashString(id);
    if ((this.size + 1) * 2 > this.table.length) this.resizeTable(Math.max(MIN_TABLE, this.table.length * 2));
    this.insert(slot);
    this.size++;
    this.byteLength += n;
  }

  /** Empty `slot` (it must hold an id). */
  deleteSlot(slot: number): void {
    if (this.small) {
      this.byteLength -= this.small[slot]!.length;
      this.small[slot] = undefined;
      this.size--;
      return;
    }
    const table = this.table, mask = this.mask, hashes = this.hashes;
    let i = hashes[slot] & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    // Backward-shift deletion: no tombstones, so lookups never slow down with churn.
    for (let j = i; ;) {
      j = (j + 1) & mask;
      const e = table[j];
      if (e === 0) break;
      const home = hashes[e - 1] & mask;
      // The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) { table[i] = e; i = j; }
    }
    table[i] = 0;
    const n = this.lengths[slot];
    if (this.copies.length > 0) for (const c of this.copies) c.before(slot);
    this.lengths[slot] = NONE;
    this.garbage += n;
    this.byteLength -= n;
    this.size--;
    if (this.garbage > GARBAGE_FLOOR && this.garbage * 2 > this.used) this.rewriteArena(this.used - this.garbage);
    if (this.size * 8 < this.table.length && this.table.length > MIN_TABLE) this.resizeTable(tableSizeFor(this.size));
  }

  /** Every id held, in slot order. */
  *keys(): IterableIterator<string> {
    if (this.small) {
      for (const id of this.small) if (id !== undefined) yield id;
      return;
    }
    for (let slot = 0; slot < this.lengths.length; slot++) if (this.lengths[slot] >= 0) yield this.idAt(slot)!;
  }

  /** A copy of slots [0, nextSlot) as they are now: memory copies only (snapshots cut on the event loop). */
  freeze(nextSlot: number): IdTable {
    if (this.small) return IdTable.fromArray(this.small, nextSlot);
    if (nextSlot > this.lengths.length) this.growSlots(nextSlot);
    // The per-slot arrays change in place: one copy each, made at once for a small store, in the
    // background for a large one (FREEZE_AT_ONCE). The arena's bytes below `used` never do (ids are
    // appended; growth and rewrites move to a new buffer), so the table shares them: at 1 M
    // elements that spares a ~10 MB copy on the event loop at the cut. Growing the slot arrays
    // needs no care either: the copy keeps reading the old ones, which nothing writes any more.
    const bytes = this.bytes.subarray(0, this.used), totals = { count: this.size, idBytes: this.byteLength };
    if (nextSlot <= FREEZE_AT_ONCE) return new IdTable(nextSlot, this.offsets.slice(0, nextSlot), this.lengths.slice(0, nextSlot), bytes, totals);
    const copy = new SlotCopy({ offsets: this.offsets, lengths: this.lengths }, nextSlot, (done) => {
      this.copies = this.copies.filter((c) => c !== done);
    });
    this.copies.push(copy);
    return new IdTable(nextSlot, copy.offsets, copy.lengths, bytes, totals, copy);
  }

  /** Bytes this store holds (its arrays and arena; while small, its strings and their array, as V8 lays them out). */
  memoryBytes(): number {
    if (this.small) {
      let b = this.small.length > 0 ? 16 + 8 * this.small.length : 0;
      for (const id of this.small) if (id !== undefined) b += (16 + id.length + 7) & ~7;
      return b;
    }
    return this.bytes.length + this.offsets.byteLength + this.lengths.byteLength + this.hashes.byteLength + this.table.byteLength;
  }

  private setSmall(id: string, slot: number): void {
    let small = this.small!;
    if (slot >= small.length) {
      // Sized by hand: a store at an index past the end would give V8's default growth (17 entries).
      const grown = new Array<string | undefined>(Math.min(SMALL_SLOTS, Math.max(slot + 1, small.length * 2)));
      for (let s = 0; s < small.length; s++) grown[s] = small[s];
      this.small = small = grown;
    }
    small[slot] = id;
  }

  /** Leave the small layout: every id into the arena, with per-slot arrays for at least `slots`. */
  private toArena(slots: number): void {
    const ids = this.small!;
    this.small = null;
    this.size = 0;
    this.byteLength = 0;
    this.growSlots(Math.max(SMALL_SLOTS * 2, slots));
    for (let slot = 0; slot < ids.length; slot++) if (ids[slot] !== undefined) this.set(ids[slot]!, slot);
  }

  private equals(slot: number, id: string): boolean {
    const b = this.bytes;
    const o = this.offsets[slot];
    for (let j = 0; j < id.length; j++) if (b[o + j] !== id.charCodeAt(j)) return false;
    return true;
  }

  private insert(slot: number): void {
    const table = this.table, mask = this.mask;
    let i = this.hashes[slot] & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  private resizeTable(size: number): void {
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let slot = 0; slot < this.lengths.length; slot++) if (this.lengths[slot] >= 0) this.insert(slot);
  }

  private growSlots(n: number): void {
    const off = new Uint32Array(n); off.set(this.offsets); this.offsets = off;
    const len = new Int32Array(n).fill(NONE); len.set(this.lengths); this.lengths = len;
    const h = new Uint32Array(n); h.set(this.hashes); this.hashes = h;
  }

  private growArena(need: number): void {
    const live = this.used - this.garbage;
    // Rewriting drops the garbage; the new arena leaves room to grow by half again.
    if (this.garbage > GARBAGE_FLOOR && this.garbage * 2 > this.used) this.rewriteArena(live + need);
    if (this.used + need <= this.bytes.length) return;
    const bigger = arena(Math.max(this.bytes.length * 2, this.used + need, 64));
    this.bytes.copy(bigger, 0, 0, this.used);
    this.bytes = bigger;
  }

  /** Copy the live ids into a fresh arena (garbage gone) of at least 1.5 × `minimum` bytes. */
  private rewriteArena(minimum: number): void {
    // Every offset moves: a freeze being copied takes the rest of its copy first.
    for (const c of this.copies.slice()) c.finish();
    const fresh = arena(Math.max(64, Math.ceil(minimum * 1.5)));
    let o = 0;
    for (let slot = 0; slot < this.lengths.length; slot++) {
      const n = this.lengths[slot];
      if (n < 0) continue;
      this.bytes.copy(fresh, o, this.offsets[slot], this.offsets[slot] + n);
      this.offsets[slot] = o;
      o += n;
    }
    this.bytes = fresh;
    this.used = o;
    this.garbage = 0;
  }
}

/**
 * An arena of its own: `Buffer.allocUnsafe` hands out slices of a shared 8 KB pool below 4 KB,
 * and a long-lived slice keeps the whole pool alive. Measured in a server holding 5 000 small
 * sets: 727 pools, 1.2 KB of malloc per set, held by a few bytes of ids each.
 */
function arena(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/** `b` itself when it owns its memory, else a copy that does. */
function ownBytes(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const copy = arena(b.length);
  b.copy(copy);
  return copy;
}

function tableSizeFor(n: number): number {
  let size = MIN_TABLE;
  while (size < n * 2) size *= 2;
  return size;
}

// FNV-1a over the id's bytes, then murmur3's finalizer: linear probing needs the low bits well mixed.
function hashString(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return fmix(h);
}

function hashBytes(b: Uint8Array, o: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = o; i < o + n; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return fmix(h);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

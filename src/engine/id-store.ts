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
 */

/** An id's slot length when the slot holds no element. */
const NONE = -1;
const MIN_TABLE = 8;
/** A new store's per-slot arrays until its first id: replaced, never written (~250 bytes each saved per set). */
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_BYTES = Buffer.alloc(0);
/** Freed arena bytes tolerated before the arena is rewritten (below this, never). */
const GARBAGE_FLOOR = 64 << 10;

/**
 * A frozen copy of the ids at one instant, indexed by slot: what a snapshot,
 * COPY or DUMP carries. `offsets`/`lengths` are per slot (length -1: none).
 */
export class IdTable {
  constructor(
    readonly nextSlot: number,
    readonly offsets: Uint32Array,
    readonly lengths: Int32Array,
    readonly bytes: Buffer,
    /** Ids held and their bytes, when known (a freeze knows them): spares an encoder a pass over every slot. */
    readonly totals: { count: number; idBytes: number } | null = null,
  ) {}

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
    let n = 0;
    for (let s = 0; s < this.nextSlot; s++) if (this.lengths[s] >= 0) n++;
    return n;
  }
}

export class IdStore {
  private bytes: Buffer;
  private used = 0;
  private garbage = 0;
  private offsets: Uint32Array;
  private lengths: Int32Array;
  private hashes: Uint32Array;
  /** Linear probing; each entry is slot + 1, 0 when empty. */
  private table: Int32Array;
  private mask: number;
  /** Elements held. */
  size = 0;
  /** Bytes of all ids held. */
  byteLength = 0;

  constructor() {
    this.bytes = EMPTY_BYTES;
    this.offsets = EMPTY_U32;
    this.lengths = EMPTY_I32;
    this.hashes = EMPTY_U32;
    this.table = new Int32Array(MIN_TABLE);
    this.mask = MIN_TABLE - 1;
  }

  /** A store holding a frozen table's ids; takes ownership of its arrays. */
  static fromTable(t: IdTable): IdStore {
    const s = new IdStore();
    s.offsets = t.offsets;
    s.lengths = t.lengths;
    s.hashes = new Uint32Array(t.nextSlot);
    s.bytes = t.bytes.length > 0 ? t.bytes : EMPTY_BYTES;
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
    const n = slot < this.lengths.length ? this.lengths[slot] : NONE;
    if (n < 0) return undefined;
    const o = this.offsets[slot];
    return this.bytes.toString('latin1', o, o + n);
  }

  /** Put `id` (absent) in `slot` (empty). */
  set(id: string, slot: number): void {
    if (slot >= this.lengths.length) this.growSlots(Math.max(4, this.lengths.length * 2, slot + 1));
    const n = id.length;
    if (this.used + n > this.bytes.length) this.growArena(n);
    this.offsets[slot] = this.used;
    this.used += this.bytes.write(id, this.used, 'latin1');
    this.lengths[slot] = n;
    this.hashes[slot] = hashString(id);
    if ((this.size + 1) * 2 > this.table.length) this.resizeTable(this.table.length * 2);
    this.insert(slot);
    this.size++;
    this.byteLength += n;
  }

  /** Empty `slot` (it must hold an id). */
  deleteSlot(slot: number): void {
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
    this.lengths[slot] = NONE;
    this.garbage += n;
    this.byteLength -= n;
    this.size--;
    if (this.garbage > GARBAGE_FLOOR && this.garbage * 2 > this.used) this.rewriteArena(this.used - this.garbage);
    if (this.size * 8 < this.table.length && this.table.length > MIN_TABLE) this.resizeTable(tableSizeFor(this.size));
  }

  /** Every id held, in slot order. */
  *keys(): IterableIterator<string> {
    for (let slot = 0; slot < this.lengths.length; slot++) if (this.lengths[slot] >= 0) yield this.idAt(slot)!;
  }

  /** A copy of slots [0, nextSlot) as they are now: memory copies only (snapshots cut on the event loop). */
  freeze(nextSlot: number): IdTable {
    if (nextSlot > this.lengths.length) this.growSlots(nextSlot);
    // The per-slot arrays change in place: one copy each (slice, no fill first). The arena's bytes
    // below `used` never do (ids are appended; growth and rewrites move to a new buffer), so the
    // table shares them: at 1 M elements that spares a ~10 MB copy on the event loop at the cut.
    return new IdTable(nextSlot, this.offsets.slice(0, nextSlot), this.lengths.slice(0, nextSlot), this.bytes.subarray(0, this.used),
      { count: this.size, idBytes: this.byteLength });
  }

  /** Bytes this store holds (its arrays and arena). */
  memoryBytes(): number {
    return this.bytes.length + this.offsets.byteLength + this.lengths.byteLength + this.hashes.byteLength + this.table.byteLength;
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
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + need));
    this.bytes.copy(bigger, 0, 0, this.used);
    this.bytes = bigger;
  }

  /** Copy the live ids into a fresh arena (garbage gone) of at least 1.5 × `minimum` bytes. */
  private rewriteArena(minimum: number): void {
    const fresh = Buffer.allocUnsafe(Math.max(64, Math.ceil(minimum * 1.5)));
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

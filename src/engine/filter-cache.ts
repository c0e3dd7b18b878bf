/**
 * Which slots match a FILTER, kept up to date as payloads change. Applications
 * reuse a handful of filters ("tenant == 7"); evaluating one over every
 * payload per query would cost O(n) JSON work each time, so the last few
 * filters keep a bitmap of matching slots that each payload change updates
 * in O(1). A new filter costs one pass over the payloads.
 */
import type { CompiledFilter } from './filter.js';

const MAX_CACHED = 16;

export class FilterMatch {
  bitmap: Uint8Array;
  count = 0;
  private list: Uint32Array | null = null;

  constructor(capacity: number) { this.bitmap = new Uint8Array(Math.max(8, (capacity + 7) >> 3)); }

  has(slot: number): boolean { return (this.bitmap[slot >> 3] & (1 << (slot & 7))) !== 0; }

  set(slot: number, on: boolean): void {
    if ((slot >> 3) >= this.bitmap.length) {
      const b = new Uint8Array(Math.max(this.bitmap.length * 2, (slot >> 3) + 1));
      b.set(this.bitmap);
      this.bitmap = b;
    }
    const was = this.has(slot);
    if (was === on) return;
    if (on) { this.bitmap[slot >> 3] |= 1 << (slot & 7); this.count++; }
    else { this.bitmap[slot >> 3] &= ~(1 << (slot & 7)); this.count--; }
    this.list = null;
  }

  /** The matching slots, ascending (cached until the next change). */
  slots(): Uint32Array {
    if (this.list) return this.list;
    const out = new Uint32Array(this.count);
    let n = 0;
    const b = this.bitmap;
    for (let i = 0; i < b.length && n < out.length; i++) {
      let byte = b[i];
      while (byte !== 0) {
        const bit = 31 - Math.clz32(byte & -byte);
        out[n++] = (i << 3) + bit;
        byte &= byte - 1;
      }
    }
    this.list = out;
    return out;
  }
}

export class FilterCache {
  private readonly entries = new Map<string, { filter: CompiledFilter; match: FilterMatch }>();

  /** The matches of `filter` over `payloads` (indexed by slot, `limit` slots in use). */
  matching(filter: CompiledFilter, payloads: ReadonlyArray<string | undefined>, limit: number): FilterMatch {
    const hit = this.entries.get(filter.source);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order, the oldest goes first.
      this.entries.delete(filter.source);
      this.entries.set(filter.source, hit);
      return hit.match;
    }
    const match = new FilterMatch(limit);
    for (let slot = 0; slot < limit; slot++) {
      const p = payloads[slot];
      if (p !== undefined && filter.matches(p)) match.set(slot, true);
    }
    this.entries.set(filter.source, { filter, match });
    if (this.entries.size > MAX_CACHED) this.entries.delete(this.entries.keys().next().value!);
    return match;
  }

  /** A slot's payload changed (undefined: removed): keep every cached match exact. */
  update(slot: number, payload: string | undefined): void {
    for (const { filter, match } of this.entries.values()) {
      match.set(slot, payload !== undefined && filter.matches(payload));
    }
  }

  clear(): void { this.entries.clear(); }
}

/**
 * Which slots match a FILTER, kept up to date as payloads change. Applications
 * reuse a handful of filters ("tenant == 7"); evaluating one over every
 * payload per query would cost O(n) JSON work each time, so the last few
 * filters keep a bitmap of matching slots that each payload change updates
 * in O(1). A new filter costs one pass over the payloads: on a large set that
 * pass is sliced across event-loop turns (JSON.parse of 200 k payloads takes
 * ~150 ms), so one client's new filter never stalls the others.
 */
import type { CompiledFilter } from './filter.js';

const MAX_CACHED = 16;
/** Payloads evaluated per event-loop turn when a new filter is scanned (~1-3 ms of JSON.parse). */
const SCAN_SLICE = 2048;

export class FilterMatch {
  bitmap: Uint8Array;
  count = 0;
  private list: Uint32Array | null = null;

  constructor(capacity: number) { this.bitmap = new Uint8Array(Math.max(8, (capacity + 7) >> 3)); }

  has(slot: number): boolean { return (slot >> 3) < this.bitmap.length && (this.bitmap[slot >> 3] & (1 << (slot & 7))) !== 0; }

  set(slot: number, on: boolean): void {
    if ((slot >> 3) >= this.bitmap.length) {
      if (!on) return;
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

interface Entry {
  filter: CompiledFilter;
  match: FilterMatch;
  /** Slots below this have been evaluated; payload changes above it are picked up by the scan. */
  scanned: number;
  /** Set while the first scan runs across turns. */
  ready: Promise<FilterMatch> | null;
}

export class FilterCache {
  /** Made by the first filter: most sets never see one, and an empty Map costs ~200 bytes each. */
  private entries: Map<string, Entry> | null = null;

  /**
   * The matches of `filter` over `payloads` (indexed by slot, `limit()` slots in use): at once
   * when cached or small, else a promise settled once the scan, run in slices, is complete.
   */
  matching(filter: CompiledFilter, payloads: ReadonlyArray<string | undefined>, limit: () => number): FilterMatch | Promise<FilterMatch> {
    this.entries ??= new Map();
    const hit = this.entries.get(filter.source);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order, the oldest goes first.
      this.entries.delete(filter.source);
      this.entries.set(filter.source, hit);
      return hit.ready ?? hit.match;
    }
    const entry: Entry = { filter, match: new FilterMatch(limit()), scanned: 0, ready: null };
    this.entries.set(filter.source, entry);
    if (this.entries.size > MAX_CACHED) this.entries.delete(this.entries.keys().next().value!);
    scanSlice(entry, payloads, limit);
    if (entry.scanned >= limit()) return entry.match;
    entry.ready = new Promise<FilterMatch>((resolve) => {
      const step = () => {
        scanSlice(entry, payloads, limit);
        if (entry.scanned < limit()) { setImmediate(step); return; }
        entry.ready = null;
        resolve(entry.match);
      };
      setImmediate(step);
    });
    return entry.ready;
  }

  /** A slot's payload changed (undefined: removed): keep every cached match exact. */
  update(slot: number, payload: string | undefined): void {
    if (!this.entries) return;
    for (const e of this.entries.values()) {
      if (slot >= e.scanned) continue; // the running scan will read the new payload
      e.match.set(slot, payload !== undefined && e.filter.matches(payload));
    }
  }

  clear(): void { this.entries = null; }
}

function scanSlice(e: Entry, payloads: ReadonlyArray<string | undefined>, limit: () => number): void {
  const end = Math.min(limit(), e.scanned + SCAN_SLICE);
  for (let slot = e.scanned; slot < end; slot++) {
    const p = payloads[slot];
    if (p !== undefined && e.filter.matches(p)) e.match.set(slot, true);
  }
  e.scanned = end;
}

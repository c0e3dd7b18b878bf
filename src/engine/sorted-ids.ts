/**
 * A set's element ids in byte order, for VRANGE, kept up to date as ids come and go.
 *
 * Why: VRANGE pages through a set; re-sorting every id after each write (as the set did)
 * cost ~300 ms per call at 200 k ids, on the event loop, for every page a client fetched
 * while others wrote. Here the ids sit in sorted blocks (split past 2 × BLOCK entries): an insert
 * or delete is a binary search and a splice within one block, a range starts with two
 * binary searches. Only the first VRANGE of a set pays one sort.
 *
 * Ids are latin1 strings (one char per byte), so JavaScript's string order (UTF-16 code
 * units) is the bytes' unsigned order, shorter prefixes first: the order Buffer.compare gives.
 */

const BLOCK = 512;

export class SortedIds {
  /** Non-empty sorted blocks, in order; empty only when there are no ids. */
  private blocks: string[][] = [];

  /** `block`: ids per block when built (tests use tiny ones to exercise splits). */
  constructor(ids: Iterable<string>, private readonly block = BLOCK) {
    const all = Array.from(ids).sort(); // default sort: code-unit order, i.e. byte order here
    for (let i = 0; i < all.length; i += block) this.blocks.push(all.slice(i, i + block));
  }

  /** The block that holds `id` or would: the last whose first id is <= id (0 if none). */
  private blockOf(id: string): number {
    let a = 0, b = this.blocks.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.blocks[mid][0] <= id) a = mid + 1; else b = mid;
    }
    return Math.max(0, a - 1);
  }

  /** First position in `block` whose id is >= id (or > id when `after`). */
  private static position(block: string[], id: string, after: boolean): number {
    let a = 0, b = block.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (block[mid] < id || (after && block[mid] === id)) a = mid + 1; else b = mid;
    }
    return a;
  }

  add(id: string): void {
    if (this.blocks.length === 0) { this.blocks.push([id]); return; }
    const bi = this.blockOf(id);
    const block = this.blocks[bi];
    const at = SortedIds.position(block, id, false);
    if (block[at] === id) return;
    block.splice(at, 0, id);
    if (block.length > 2 * this.block) this.blocks.splice(bi + 1, 0, block.splice(this.block));
  }

  delete(id: string): void {
    if (this.blocks.length === 0) return;
    const bi = this.blockOf(id);
    const block = this.blocks[bi];
    const at = SortedIds.position(block, id, false);
    if (block[at] !== id) return;
    block.splice(at, 1);
    if (block.length === 0) this.blocks.splice(bi, 1);
  }

  /**
   * Ids from `lower` (or the first) up to `upper` (or the last), at most `count` (< 0: all).
   * Bounds are latin1 strings.
   */
  range(lower: { value: string; inclusive: boolean } | null, upper: { value: string; inclusive: boolean } | null, count: number): string[] {
    const out: string[] = [];
    if (this.blocks.length === 0) return out;
    let bi = 0, at = 0;
    if (lower) {
      bi = this.blockOf(lower.value);
      at = SortedIds.position(this.blocks[bi], lower.value, !lower.inclusive);
    }
    for (; bi < this.blocks.length; bi++, at = 0) {
      const block = this.blocks[bi];
      for (; at < block.length; at++) {
        if (count >= 0 && out.length >= count) return out;
        const id = block[at];
        if (upper && (id > upper.value || (id === upper.value && !upper.inclusive))) return out;
        out.push(id);
      }
    }
    return out;
  }
}

/**
 * SCAN's cursors. Redis guarantees that a full iteration returns every key
 * present from its start to its end, whatever is deleted meanwhile. A cursor
 * that is a position in insertion order cannot keep that promise (a delete
 * before the position shifts every later key back by one, and one is skipped),
 * and re-walking to the position makes a full scan quadratic.
 *
 * So a cursor names a live Map iterator kept here between calls. A JS Map
 * iterator visits every entry present throughout once, skips deleted ones
 * and reaches ones added later (ECMA-262's Map.prototype.forEach semantics),
 * which is the guarantee, at O(COUNT) per call.
 *
 * A cursor is `token × 2^32 + position`. Should its iterator be gone (evicted
 * after IDLE_MS or past MAX_CURSORS, a restart, another database), the
 * position is walked to instead: Redis's promise then holds only when nothing
 * was deleted meanwhile. Cursors given by clients that never got them
 * (token 0) mean positions too.
 */
import type { Database } from '../engine/keyspace.js';

/** Iterators kept; past this the oldest goes (each pins its database's Map). */
const MAX_CURSORS = 4096;
/** An iterator unused this long goes: a client that stopped scanning must not pin a flushed table for ever. */
const IDLE_MS = 5 * 60_000;
const POSITION = 2 ** 32;
const TOKENS = 2 ** 20;

interface Open {
  readonly db: Database;
  readonly it: Iterator<string>;
  readonly epoch: number | null;
  readonly pos: number;
  readonly at: number;
}

export class ScanCursors {
  private readonly open = new Map<number, Open>();
  private nextToken = 1;

  /** The iterator to resume for `cursor` on `db`, and how many keys it has visited. */
  resume(db: Database, cursor: number): { it: Iterator<string>; pos: number; epoch: number | null } {
    this.expire();
    const o = cursor === 0 ? undefined : this.open.get(cursor);
    if (o) this.open.delete(cursor);
    // An iterator made while a snapshot's delta existed cannot be trusted once the release has folded it (keyspace.ts).
    if (o && o.db === db && (o.epoch === null || o.epoch === db.iterationEpoch)) return { it: o.it, pos: o.pos, epoch: o.epoch };
    const pos = cursor % POSITION;
    const epoch = db.iterationEpoch;
    const it = db.allKeys();
    for (let i = 0; i < pos; i++) if (it.next().done) break;
    return { it, pos, epoch };
  }

  /** Keep `it` for the next call; returns the cursor to give the client. */
  suspend(db: Database, it: Iterator<string>, pos: number, epoch: number | null): number {
    const token = this.nextToken;
    this.nextToken = this.nextToken % (TOKENS - 1) + 1;
    const cursor = token * POSITION + Math.min(pos, POSITION - 1);
    this.open.set(cursor, { db, it, epoch, pos, at: Date.now() });
    if (this.open.size > MAX_CURSORS) this.open.delete(this.open.keys().next().value!);
    return cursor;
  }

  private expire(): void {
    const old = Date.now() - IDLE_MS;
    for (const [c, o] of this.open) {
      if (o.at > old) break;
      this.open.delete(c);
    }
  }
}

/**
 * A string-keyed Map split into SHARDS Maps by a hash of the key.
 *
 * Why: V8 rehashes a whole Map, synchronously, each time it doubles or (on a
 * delete that leaves it a quarter full) halves. At 100 k keys that is 2–4 ms
 * of event loop in one go, and a mass expiry shrinks the keyspace table and
 * the deadline table again and again. Split 256 ways, the table that rehashes
 * is 1/256 of the whole, so the pause is too (bench/expiry.ts).
 *
 * Iteration walks the shards in order, each in its insertion order. It is live
 * like a Map's: keys deleted before the walk reaches them are skipped, keys
 * added to a shard not yet finished are reached, every other key once.
 */

const SHARD_BITS = 8;
const SHARDS = 1 << SHARD_BITS;

/** FNV-1a over the key's chars (latin1: one per byte), folded to a shard index. */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (SHARDS - 1);
}

/** Shards are made on first use: a small database does not pay for 256 empty Maps. */
type Shards<V> = (Map<string, V> | undefined)[];

export class ShardedMap<V> implements ReadonlyMap<string, V> {
  private readonly shards: Shards<V> = new Array<Map<string, V> | undefined>(SHARDS).fill(undefined);
  private count = 0;

  get size(): number { return this.count; }

  get(key: string): V | undefined { return this.shards[shardOf(key)]?.get(key); }

  has(key: string): boolean { return this.shards[shardOf(key)]?.has(key) ?? false; }

  set(key: string, value: V): this {
    const i = shardOf(key);
    let m = this.shards[i];
    if (m === undefined) m = this.shards[i] = new Map();
    const before = m.size;
    m.set(key, value);
    this.count += m.size - before;
    return this;
  }

  delete(key: string): boolean {
    if (this.shards[shardOf(key)]?.delete(key) !== true) return false;
    this.count--;
    return true;
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [k, v] of this) fn(v, k, this);
  }

  keys(): IterableIterator<string> { return new ShardWalk(this.shards, (m) => m.keys()); }
  values(): IterableIterator<V> { return new ShardWalk(this.shards, (m) => m.values()); }
  entries(): IterableIterator<[string, V]> { return new ShardWalk(this.shards, (m) => m.entries()); }
  [Symbol.iterator](): IterableIterator<[string, V]> { return this.entries(); }
}

/**
 * One walk over every shard. It hands out each shard iterator's own results
 * (no wrapper per step: the expire cycle walks every deadline, again and again).
 */
class ShardWalk<V, T> implements IterableIterator<T> {
  private index = 0;
  private current: Iterator<T> | null = null;

  constructor(private readonly shards: Shards<V>, private readonly open: (m: Map<string, V>) => Iterator<T>) {}

  next(): IteratorResult<T> {
    for (;;) {
      if (this.current !== null) {
        const r = this.current.next();
        if (r.done !== true) return r;
        this.current = null;
      }
      // Read the slot now, not at construction: a shard made since the walk began is walked too.
      while (this.index < SHARDS && this.shards[this.index] === undefined) this.index++;
      if (this.index === SHARDS) return { done: true, value: undefined };
      this.current = this.open(this.shards[this.index++]!);
    }
  }

  [Symbol.iterator](): IterableIterator<T> { return this; }
}

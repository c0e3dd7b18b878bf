/**
 * WATCH: optimistic locking for MULTI/EXEC. A client's EXEC aborts (null
 * reply) when a key it watches was written by anyone since the WATCH,
 * expired, or flushed.
 *
 * Cost is paid only where someone watches: per database, a Map from watched
 * key to its watchers. A write looks its key up there (one Map miss when
 * nobody watches it); nothing scans the watchers or the keyspace. A key is
 * marked from two sides, so that no write path can slip by: the keyspace
 * reports every structural change it makes (set, delete, rename, deadline,
 * flush, swap), and the dispatcher marks the keys named by every write
 * command that changed something (in-place changes the keyspace never sees,
 * such as an element added to an existing vector set).
 */
import type { Database } from '../engine/keyspace.js';
import type { ClientState } from './types.js';

interface Watched {
  readonly db: number;
  readonly key: string;
  /**
   * Already past its deadline when watched: the key counts as absent, so its
   * later reclaiming changes nothing (Redis 7.0's `watchedKey.expired`).
   */
  expired: boolean;
}

export class Watches {
  /** db index → watched key → its watchers (and their entry for it). */
  private readonly byDb = new Map<number, Map<string, Map<ClientState, Watched>>>();
  private readonly byClient = new Map<ClientState, Watched[]>();
  /** Clients one of whose watched keys changed: their next EXEC aborts. */
  private readonly dirty = new Set<ClientState>();

  /** Whether anyone watches anything: writes skip all of this otherwise. */
  get active(): boolean { return this.byClient.size > 0; }

  /** Watched keys in all clients (INFO `watching_clients`-like counts, tests). */
  get clientCount(): number { return this.byClient.size; }

  watch(client: ClientState, db: Database, key: string): void {
    let keys = this.byDb.get(db.index);
    if (!keys) { keys = new Map(); this.byDb.set(db.index, keys); }
    let watchers = keys.get(key);
    if (!watchers) { watchers = new Map(); keys.set(key, watchers); }
    if (watchers.has(client)) return;
    const w: Watched = { db: db.index, key, expired: db.isExpired(key) };
    watchers.set(client, w);
    let list = this.byClient.get(client);
    if (!list) { list = []; this.byClient.set(client, list); }
    list.push(w);
  }

  /** EXEC, DISCARD, UNWATCH, RESET and a closed connection forget the client's watches. */
  unwatch(client: ClientState): void {
    this.dirty.delete(client);
    const list = this.byClient.get(client);
    if (!list) return;
    this.byClient.delete(client);
    for (const w of list) {
      const keys = this.byDb.get(w.db);
      const watchers = keys?.get(w.key);
      if (!keys || !watchers) continue;
      watchers.delete(client);
      if (watchers.size === 0) keys.delete(w.key);
      if (keys.size === 0) this.byDb.delete(w.db);
    }
  }

  /**
   * Must the client's EXEC abort? Yes when a watched key changed, or passed
   * its deadline since the WATCH without being reclaimed yet (Redis 7.0's
   * isWatchedKeyExpired).
   */
  broken(client: ClientState, dbs: readonly Database[]): boolean {
    if (this.dirty.has(client)) return true;
    for (const w of this.byClient.get(client) ?? []) if (!w.expired && dbs[w.db]?.isExpired(w.key)) return true;
    return false;
  }

  touched(db: number, key: string): void {
    const watchers = this.byDb.get(db)?.get(key);
    if (watchers) for (const c of watchers.keys()) this.dirty.add(c);
  }

  /** Reclaimed because its deadline passed: a change, except for those who watched it already expired. */
  expired(db: number, key: string): void {
    const watchers = this.byDb.get(db)?.get(key);
    if (!watchers) return;
    for (const [c, w] of watchers) {
      if (w.expired) w.expired = false; // now plainly absent, as it logically was
      else this.dirty.add(c);
    }
  }

  /** FLUSHDB/FLUSHALL: the watched keys that exist in `db` change. */
  flushing(db: Database): void {
    const keys = this.byDb.get(db.index);
    if (!keys) return;
    for (const [key, watchers] of keys) if (db.has(key)) for (const c of watchers.keys()) this.dirty.add(c);
  }

  /** SWAPDB: a watched key in either database changes when it exists on either side. */
  swapping(a: Database, b: Database): void {
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const keys = this.byDb.get(self.index);
      if (!keys) continue;
      for (const [key, watchers] of keys) if (self.has(key) || other.has(key)) for (const c of watchers.keys()) this.dirty.add(c);
    }
  }
}

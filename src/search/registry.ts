/**
 * Every FT index of the server, by name, and what keeps them current and
 * durable:
 * - keyspace events re-index the key in each index of its database whose
 *   prefixes it matches (search-index.ts); FLUSHDB/FLUSHALL drop the
 *   database's indexes, as RediSearch does; SWAPDB rebuilds them;
 * - definitions are durable as the commands that made them: FT.CREATE,
 *   FT.ALTER and FT.DROPINDEX are write commands (the WAL logs them), and a
 *   snapshot stores each live index's FT.CREATE and FT.ALTER lines (the
 *   SEARCH_INDEXES section), replayed through the same parser at load;
 * - contents are never stored: while data loads, events are ignored and
 *   every index is backfilled from the documents once loading is done.
 */
import type { Keyspace } from '../engine/keyspace.js';
import type { Logger } from '../log.js';
import { parseCreate, parseFields } from './schema.js';
import { SearchIndex } from './search-index.js';

/** What the snapshot section holds: a versioned JSON document (docs/formats.md). */
interface SavedState { version: 1; indexes: Array<{ db: number; commands: string[][] }> }

export class Registry {
  readonly indexes = new Map<string, SearchIndex>();

  constructor(private readonly keyspace: Keyspace, private readonly log: Logger, private readonly loading: () => boolean) {}

  get(name: string): SearchIndex | undefined { return this.indexes.get(name); }

  /** FT.CREATE (argv as received): the index, backfilled unless data is still loading (then start() does it). */
  create(argv: Buffer[], db: number): SearchIndex {
    const def = parseCreate(argv);
    const index = new SearchIndex(def, db, [argv.map((b) => Buffer.from(b))], this.keyspace, this.log);
    this.indexes.set(def.name, index);
    if (!this.loading() && !def.skipInitialScan) void index.backfill();
    return index;
  }

  /** FT.ALTER idx [SKIPINITIALSCAN] SCHEMA ADD fields…; argv as received. */
  alter(index: SearchIndex, argv: Buffer[], fieldsFrom: number, skipScan: boolean): void {
    const fields = parseFields(argv, fieldsFrom, index.def.on, index.def.fields);
    index.addFields(fields);
    index.commands.push(argv.map((b) => Buffer.from(b)));
    if (!this.loading() && !skipScan) void index.backfill();
  }

  drop(name: string): string[] {
    const index = this.indexes.get(name)!;
    this.indexes.delete(name);
    return index.drop();
  }

  /** After the data has loaded: fill every index from the documents. */
  backfillAll(): Promise<void[]> {
    return Promise.all([...this.indexes.values()].map((i) => i.backfill()));
  }

  /** A keyspace event (ServerApi.keyspaceEvent). */
  onEvent(db: number, event: string, key: Buffer | string): void {
    if (this.indexes.size === 0) return;
    if (event === 'flushdb') {
      // RediSearch drops the indexes with the data; done while loading too, since the WAL replays the flush.
      for (const [name, index] of this.indexes) if (index.dbIndex === db) { this.indexes.delete(name); index.drop(); }
      return;
    }
    if (this.loading()) return;
    if (event === 'swapdb') {
      for (const index of this.indexes.values()) if (index.dbIndex === db) { index.clear(); void index.backfill(); }
      return;
    }
    // A deadline set or cleared changes nothing an index holds.
    if (event === 'expire' || event === 'persist') return;
    const k = typeof key === 'string' ? key : key.toString('latin1');
    for (const index of this.indexes.values()) if (index.dbIndex === db && index.matches(k)) index.reindex(k);
  }

  // ---- the snapshot section ----

  save(): Buffer {
    const state: SavedState = { version: 1, indexes: [] };
    for (const index of this.indexes.values()) {
      state.indexes.push({ db: index.dbIndex, commands: index.commands.map((argv) => argv.map((b) => b.toString('base64'))) });
    }
    return Buffer.from(JSON.stringify(state));
  }

  load(bytes: Buffer): void {
    const state = JSON.parse(bytes.toString('utf8')) as SavedState;
    if (state.version !== 1) throw new Error(`the search index section is version ${String(state.version)}, newer than this build reads: upgrade Astronaut`);
    for (const saved of state.indexes) {
      const [create, ...alters] = saved.commands.map((argv) => argv.map((s) => Buffer.from(s, 'base64')));
      const index = this.create(create!, saved.db);
      for (const argv of alters) {
        const { from, skip } = alterLayout(argv);
        this.alter(index, argv, from, skip);
      }
    }
  }
}

/** Where FT.ALTER's fields start, and whether it skips the scan (argv: FT.ALTER idx [SKIPINITIALSCAN] SCHEMA ADD …). */
export function alterLayout(argv: Buffer[]): { from: number; skip: boolean } {
  let i = 2;
  let skip = false;
  if (argv[i]?.toString('latin1').toUpperCase() === 'SKIPINITIALSCAN') { skip = true; i++; }
  return { from: i + 2, skip };
}

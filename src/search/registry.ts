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
 * - a snapshot also stores each VECTOR field's set and graph, cut with the
 *   keys (SEARCH_SET, SEARCH_GRAPH): rebuilding 100 k × 128 vectors takes
 *   tens of seconds, loading the graph a fraction of one. An index whose sets
 *   all load is completed from the documents at the end of the snapshot load
 *   (SearchIndex.adoptDocuments) and kept current through the WAL replay by
 *   the events. Any other index (an older snapshot, a refused section, one
 *   defined by the replayed WAL) ignores events while data loads and is
 *   backfilled from the documents once loading is done.
 */
import type { Keyspace, StateSection } from '../engine/keyspace.js';
import { VectorSet, type SetParams } from '../engine/vector-set.js';
import type { Logger } from '../log.js';
import { SECTION } from '../store/format/snapshot-schema.js';
import { decodeIndexSet, encodeIndexSet, indexGraphName, indexSetName, setOfIndexGraph } from './index-snapshot.js';
import { parseCreate, parseFields } from './schema.js';
import { SearchIndex, vectorParams, type FieldState } from './search-index.js';

/** What the snapshot section holds: a versioned JSON document (docs/formats.md). */
interface SavedState { version: 1; indexes: Array<{ db: number; commands: string[][] }> }

/** A stored VECTOR field read, waiting for its graph section. */
interface PendingSet { index: SearchIndex; field: FieldState; prints: Float64Array; state: ReturnType<typeof decodeIndexSet>['state'] }

export class Registry {
  readonly indexes = new Map<string, SearchIndex>();
  /** While a snapshot loads: sets read, by section name, until their graph comes. */
  private readonly pendingSets = new Map<string, PendingSet>();
  /** While a snapshot loads: indexes it stored sets for, and those with a set refused. */
  private readonly restoring = new Set<SearchIndex>();
  private readonly refused = new Set<SearchIndex>();

  constructor(private readonly keyspace: Keyspace, private readonly log: Logger, private readonly loading: () => boolean) {}

  get(name: string): SearchIndex | undefined { return this.indexes.get(name); }

  /** FT.CREATE (argv as received): the index, backfilled unless data is still loading (then start() does it). */
  create(argv: Buffer[], db: number): SearchIndex {
    const def = parseCreate(argv);
    const index = new SearchIndex(def, db, [argv.map((b) => Buffer.from(b))], this.keyspace, this.log);
    this.indexes.set(def.name, index);
    if (!this.loading()) {
      index.current = true;
      if (!def.skipInitialScan) void index.backfill();
    }
    return index;
  }

  /** FT.ALTER idx [SKIPINITIALSCAN] SCHEMA ADD fields…; argv as received. */
  alter(index: SearchIndex, argv: Buffer[], fieldsFrom: number, skipScan: boolean): void {
    const fields = parseFields(argv, fieldsFrom, index.def.on, index.def.fields);
    index.addFields(fields);
    index.commands.push(argv.map((b) => Buffer.from(b)));
    if (skipScan) return;
    if (!this.loading()) void index.backfill();
    else index.pendingScan = true;
  }

  drop(name: string): string[] {
    const index = this.indexes.get(name)!;
    this.indexes.delete(name);
    return index.drop();
  }

  /** After the data has loaded: fill every index the snapshot did not bring back whole from the documents. */
  backfillAll(): Promise<void[]> {
    return Promise.all([...this.indexes.values()].filter((i) => !i.current || i.pendingScan).map((i) => i.backfill()));
  }

  /** A keyspace event (ServerApi.keyspaceEvent). */
  onEvent(db: number, event: string, key: Buffer | string): void {
    if (this.indexes.size === 0) return;
    if (event === 'flushdb') {
      // RediSearch drops the indexes with the data; done while loading too, since the WAL replays the flush.
      for (const [name, index] of this.indexes) if (index.dbIndex === db) { this.indexes.delete(name); index.drop(); }
      return;
    }
    if (event === 'swapdb') {
      const loading = this.loading();
      for (const index of this.indexes.values()) {
        if (index.dbIndex !== db || !index.current) continue;
        index.clear();
        if (loading) index.pendingScan = true; else void index.backfill();
      }
      return;
    }
    // A deadline set or cleared changes nothing an index holds; "new" comes with the write's own
    // event, and a read that missed changed nothing.
    if (event === 'expire' || event === 'persist' || event === 'new' || event === 'keymiss') return;
    const k = typeof key === 'string' ? key : key.toString('latin1');
    for (const index of this.indexes.values()) if (index.current && index.dbIndex === db && index.matches(k)) index.reindex(k);
  }

  // ---- snapshot sections ----

  /**
   * At the cut: the definitions, then each VECTOR field's set and graph
   * (serialized later in the set's queue, as of this instant).
   */
  save(): StateSection[] {
    const defs: SavedState = { version: 1, indexes: [] };
    const sections: StateSection[] = [];
    let i = 0;
    for (const index of this.indexes.values()) {
      defs.indexes.push({ db: index.dbIndex, commands: index.commands.map((argv) => argv.map((b) => b.toString('base64'))) });
      for (const f of index.fields) {
        if (!f.vector) continue;
        const cut = f.vector.set.snapshot();
        // The writer awaits it when it reaches the section; a save that fails before must not leave it unhandled.
        cut.graph.catch(() => {});
        const header = { db: index.dbIndex, index: index.name, attribute: f.def.attribute, slots: cut.state.nextSlot };
        sections.push({ kind: SECTION.SEARCH_SET, name: indexSetName(i), data: encodeIndexSet(header, index.printsBySlot(f, cut.state.nextSlot), cut.state) });
        sections.push({ kind: SECTION.SEARCH_GRAPH, name: indexGraphName(i), data: cut.graph });
        i++;
      }
    }
    return [{ kind: SECTION.SEARCH_INDEXES, name: 'search-indexes', data: Buffer.from(JSON.stringify(defs)) }, ...sections];
  }

  async load(kind: number, name: string, bytes: Buffer): Promise<void> {
    if (kind === SECTION.SEARCH_INDEXES) this.loadDefinitions(bytes);
    else if (kind === SECTION.SEARCH_SET) this.loadSet(name, bytes);
    else if (kind === SECTION.SEARCH_GRAPH) await this.loadGraph(name, bytes);
  }

  private loadDefinitions(bytes: Buffer): void {
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

  /** A stored set is refused, never fatal: its index is rebuilt from the documents instead. */
  private loadSet(name: string, bytes: Buffer): void {
    let decoded: ReturnType<typeof decodeIndexSet>;
    try {
      decoded = decodeIndexSet(bytes);
    } catch (e) {
      this.log.warn({ err: e, section: name }, 'FT index: a stored vector set is unreadable; its index will be rebuilt from the documents');
      this.refuseAll();
      return;
    }
    const { header, prints, state } = decoded;
    const index = this.indexes.get(header.index);
    if (!index || index.dbIndex !== header.db) {
      this.log.warn({ section: name, index: header.index }, 'FT index: a stored vector set names no index of the snapshot; ignored');
      return;
    }
    this.restoring.add(index);
    const field = index.field(header.attribute);
    const why = !field?.vector ? 'the field is not a VECTOR field' : paramsDiffer(state.params, vectorParams(field.def));
    if (why) {
      this.refuse(index, `${why} (field ${header.attribute})`);
      return;
    }
    this.pendingSets.set(name, { index, field: field!, prints, state });
  }

  private async loadGraph(name: string, bytes: Buffer): Promise<void> {
    const p = this.pendingSets.get(setOfIndexGraph(name));
    if (!p) return;
    this.pendingSets.delete(setOfIndexGraph(name));
    if (this.refused.has(p.index) || p.index.dropped) return;
    try {
      p.index.attachRestored(p.field, await VectorSet.restore(p.state, bytes), p.prints, p.state.ids);
    } catch (e) {
      this.refuse(p.index, e instanceof Error ? e.message : String(e));
    }
  }

  private refuse(index: SearchIndex, why: string): void {
    this.log.warn({ index: index.name, why }, 'FT index: its stored vector set is refused; the index will be rebuilt from the documents');
    this.refused.add(index);
  }

  /** A section too damaged to say whose it is: no stored set is trusted. */
  private refuseAll(): void {
    for (const index of this.indexes.values()) this.refused.add(index);
  }

  /** The snapshot is loaded (its documents too): complete the restored indexes, before the WAL replays. */
  loaded(): void {
    this.pendingSets.clear();
    for (const index of this.restoring) {
      if (index.dropped || !this.indexes.has(index.name)) continue;
      if (this.refused.has(index) || !index.fullyRestored()) {
        if (!this.refused.has(index)) this.log.warn({ index: index.name }, 'FT index: the snapshot holds only some of its vector sets; rebuilding it from the documents');
        index.discardRestored();
        continue;
      }
      const t0 = Date.now();
      index.adoptDocuments();
      this.log.info({ index: index.name, docs: index.numDocs, ms: Date.now() - t0 }, 'FT index: restored from the snapshot, graphs loaded');
    }
    this.restoring.clear();
    this.refused.clear();
  }
}

/** Why a stored set cannot serve a field as defined now (null: it can). */
function paramsDiffer(stored: SetParams, wanted: SetParams): string | null {
  for (const k of ['dim', 'metric', 'quant', 'm', 'efConstruction', 'ef'] as const) {
    if (stored[k] !== wanted[k]) return `stored ${k} ${String(stored[k])}, the field wants ${String(wanted[k])}`;
  }
  return null;
}

/** Where FT.ALTER's fields start, and whether it skips the scan (argv: FT.ALTER idx [SKIPINITIALSCAN] SCHEMA ADD …). */
export function alterLayout(argv: Buffer[]): { from: number; skip: boolean } {
  let i = 2;
  let skip = false;
  if (argv[i]?.toString('latin1').toUpperCase() === 'SKIPINITIALSCAN') { skip = true; i++; }
  return { from: i + 2, skip };
}

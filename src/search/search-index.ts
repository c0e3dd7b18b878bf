/**
 * One FT index: the documents under its prefixes in one database, numbered,
 * with per-field structures for filtering and one vector set per VECTOR field.
 *
 * The index holds no copy of the documents. Each change to a key under its
 * prefixes (a keyspace event) re-reads that document from the keyspace and
 * replaces what the index held for it, so the index is a function of the
 * keyspace: replaying the same writes, or scanning the keys again after a
 * restart, gives the same index. A snapshot stores the definition and each
 * VECTOR field's set (its graph is what costs to rebuild); at load the keys
 * are scanned once and each document takes its stored vector back when the
 * fingerprints agree, so the index is still a function of the keyspace.
 *
 * Per field:
 * - TAG: value → documents (Set), and each document's values (to undo them);
 * - NUMERIC: a Float64Array by document (NaN: none), scanned per query;
 * - TEXT: term → documents, and each document's term ids (to undo them);
 *   phrases are checked against the document's text, re-read when asked;
 * - VECTOR: a VectorSet keyed by the document's key, plus each document's
 *   slot in it (filters become the set's own slot bitmap) and a fingerprint
 *   (a rewrite that leaves the vector as it was does not re-insert it).
 */
import type { Database, Keyspace, StoredValue } from '../engine/keyspace.js';
import { VectorSet, type Hit, type SetParams } from '../engine/vector-set.js';
import { FilterMatch } from '../engine/filter-cache.js';
import type { IdTable } from '../engine/id-store.js';
import type { Logger } from '../log.js';
import { DocSet } from './doc-set.js';
import type { FieldDef, IndexDef } from './schema.js';
import { asHash, asJson, compilePath, hashText, jsonNumber, select } from './document.js';
import { decodeBlob, fingerprint, fromNumbers, quantOf } from './vector-blob.js';
import { tokenize } from './text.js';

/** Our beam never narrows below the engine's default: RediSearch's EF_RUNTIME 10 costs recall the frameworks do not expect. */
const MIN_EF = 64;
/** Backfill work per event-loop turn (ms): writes and searches keep being served meanwhile. */
const BACKFILL_SLICE_MS = 8;

class TagState {
  readonly postings = new Map<string, Set<number>>();
  readonly values: Array<string[] | undefined> = [];
}

class NumericState {
  values = new Float64Array(64).fill(NaN);
}

class TextState {
  readonly termIds = new Map<string, number>();
  readonly terms: string[] = [];
  readonly postings: Array<Set<number> | undefined> = [];
  readonly docTerms: Array<Uint32Array | undefined> = [];
}

class VectorState {
  slots = new Int32Array(64).fill(-1);
  prints = new Float64Array(64);
  /** A set loaded from a snapshot, until the load's scan: each slot's fingerprint, and its ids. */
  adopt: { prints: Float64Array; ids: IdTable } | null = null;
  constructor(public set: VectorSet) {}
}

export interface FieldState {
  def: FieldDef;
  /** Documents that have the field (ismissing). */
  present: DocSet;
  tag?: TagState;
  numeric?: NumericState;
  text?: TextState;
  vector?: VectorState;
}

/** A field's value as read from a document, before it is indexed. */
type Extracted = string[] | number | Float32Array | null;

export interface VectorHit { key: string; doc: number; distance: number }

export class SearchIndex {
  readonly fields: FieldState[] = [];
  private readonly byAttribute = new Map<string, FieldState>();
  private readonly keyToDoc = new Map<string, number>();
  private readonly docKeys: Array<string | undefined> = [];
  private readonly freeDocs: number[] = [];
  /** Every indexed document. */
  readonly live = new DocSet(64);
  numDocs = 0;
  maxDocId = 0;
  failures = 0;
  lastError = 'N/A';
  lastErrorKey = 'N/A';
  records = 0;
  searches = 0;
  /** The backfill: running, how far, and a generation that stops a superseded one. */
  indexing = false;
  private scanned = 0;
  private scanTotal = 0;
  private generation = 0;
  private indexingStarted = 0;
  totalIndexingMs = 0;
  dropped = false;
  /**
   * Keyspace events update it. False for an index defined while data loads
   * until its backfill starts: the WAL replay's events would index a partial
   * keyspace. A restored index is current from the end of the snapshot load,
   * so the WAL after the cut reaches it through the events.
   */
  current = false;
  /** Fields added (FT.ALTER) during the WAL replay of a current index: backfilled once data has loaded. */
  pendingScan = false;

  constructor(
    readonly def: IndexDef,
    readonly dbIndex: number,
    /** FT.CREATE then each FT.ALTER as received: what a snapshot stores to rebuild this definition. */
    readonly commands: Buffer[][],
    private readonly keyspace: Keyspace,
    private readonly log: Logger,
  ) {
    for (const f of def.fields) this.addFieldState(f);
  }

  get name(): string { return this.def.name; }
  private get db(): Database { return this.keyspace.db(this.dbIndex); }

  field(attribute: string): FieldState | undefined { return this.byAttribute.get(attribute); }

  private addFieldState(def: FieldDef): void {
    const s: FieldState = { def, present: new DocSet(64) };
    if (def.type === 'TAG') s.tag = new TagState();
    else if (def.type === 'NUMERIC') s.numeric = new NumericState();
    else if (def.type === 'TEXT') s.text = new TextState();
    else s.vector = new VectorState(newVectorSet(def));
    this.fields.push(s);
    this.byAttribute.set(def.attribute, s);
  }

  /** FT.ALTER … SCHEMA ADD: the new fields, filled by the next backfill. */
  addFields(defs: FieldDef[]): void {
    for (const d of defs) { this.def.fields.push(d); this.addFieldState(d); }
  }

  matches(key: string): boolean {
    for (const p of this.def.prefixes) if (key.startsWith(p)) return true;
    return false;
  }

  keyOf(doc: number): string | undefined { return this.docKeys[doc]; }
  docOf(key: string): number | undefined { return this.keyToDoc.get(key); }

  /** The value at `key` if it is a document this index reads (right type), else undefined. */
  document(key: string): StoredValue | undefined {
    const v = this.db.peek(key);
    if (v === undefined) return undefined;
    if (this.def.on === 'HASH' ? asHash(v) === null : asJson(v) === null) return undefined;
    return v;
  }

  // ---- upkeep ----

  /** Bring the index in line with what `key` holds now (absent, another type, or a document). */
  reindex(key: string): void {
    if (this.dropped) return;
    const v = this.document(key);
    if (v === undefined) { this.remove(key); return; }
    const values: Extracted[] = [];
    for (const f of this.fields) {
      const x = this.extract(v, f.def);
      if (typeof x === 'string') {
        this.failures++;
        this.lastError = x;
        this.lastErrorKey = key;
        this.remove(key);
        return;
      }
      values.push(x);
    }
    let doc = this.keyToDoc.get(key);
    if (doc === undefined) {
      doc = this.freeDocs.length > 0 ? this.freeDocs.pop()! : this.maxDocId++;
      this.keyToDoc.set(key, doc);
      this.docKeys[doc] = key;
      this.live.add(doc);
      this.numDocs++;
    }
    for (let i = 0; i < this.fields.length; i++) this.apply(this.fields[i], doc, key, values[i]);
  }

  /** Drop a document from every structure (it was deleted, renamed away, or is no longer valid). */
  remove(key: string): void {
    const doc = this.keyToDoc.get(key);
    if (doc === undefined) return;
    for (const f of this.fields) this.apply(f, doc, key, null);
    this.keyToDoc.delete(key);
    this.docKeys[doc] = undefined;
    this.live.delete(doc);
    this.freeDocs.push(doc);
    this.numDocs--;
  }

  /**
   * A field's value from a document: null when absent, the reason (a string)
   * when present but unusable (a vector of the wrong size, a NUMERIC that is
   * not a number): RediSearch then leaves the whole document out and counts
   * an indexing failure.
   */
  private extract(v: StoredValue, f: FieldDef): Extracted | string {
    if (f.noindex && f.type !== 'VECTOR') return null;
    const hash = asHash(v);
    if (hash) {
      const raw = hash.get(f.identifier);
      if (raw === undefined) return null;
      switch (f.type) {
        case 'TAG': return splitTags(hashText(raw), f);
        case 'TEXT': return [hashText(raw)];
        case 'NUMERIC': {
          const n = parseNumeric(raw);
          return n === null ? `Invalid numeric value: '${raw.slice(0, 32)}' for field '${f.attribute}'` : n;
        }
        case 'VECTOR': {
          const vp = f.vector!;
          const vec = decodeBlob(Buffer.from(raw, 'latin1'), vp.type, vp.dim);
          return typeof vec === 'string' ? `Could not add vector with ${vec} for field '${f.attribute}'` : vec;
        }
      }
    }
    const json = asJson(v)!;
    const steps = compilePath(f.identifier);
    if (!steps) return null;
    const nodes = select(json.root, steps);
    if (nodes.length === 0) return null;
    switch (f.type) {
      case 'TAG': {
        const out: string[] = [];
        for (const n of flatten(nodes)) {
          if (typeof n === 'string') out.push(...splitTags(n, f));
          else if (typeof n === 'boolean') out.push(String(n));
          else if (n === null) continue;
          else {
            const x = jsonNumber(n);
            if (x === null) return `Invalid JSON type: TAG field '${f.attribute}' holds an object`;
            out.push(String(x));
          }
        }
        return out.length > 0 || f.indexEmpty ? out : null;
      }
      case 'TEXT': {
        const out: string[] = [];
        for (const n of flatten(nodes)) {
          if (typeof n === 'string') out.push(n);
          else if (n !== null) return `Invalid JSON type: TEXT field '${f.attribute}' holds a non-string value`;
        }
        return out.length > 0 ? out : null;
      }
      case 'NUMERIC': {
        const n = nodes[0];
        if (n === null) return null;
        const x = jsonNumber(n);
        return x === null ? `Invalid JSON type: NUMERIC field '${f.attribute}' holds a non-numeric value` : x;
      }
      case 'VECTOR': {
        const vp = f.vector!;
        const n = nodes.length === 1 && Array.isArray(nodes[0]) ? nodes[0] as unknown[] : nodes;
        if (nodes.length === 1 && nodes[0] === null) return null;
        const vec = fromNumbers(n.map(jsonNumber), vp.dim);
        return typeof vec === 'string' ? `Could not add vector: ${vec} for field '${f.attribute}'` : vec;
      }
    }
  }

  /** Replace the document's entry in one field's structure (null: remove it). */
  private apply(s: FieldState, doc: number, key: string, value: Extracted): void {
    const present = value !== null;
    if (present) s.present.add(doc); else s.present.delete(doc);
    if (s.tag) {
      const old = s.tag.values[doc];
      if (old) for (const t of old) { const set = s.tag.postings.get(t); if (set) { set.delete(doc); this.records--; if (set.size === 0) s.tag.postings.delete(t); } }
      const next = value as string[] | null;
      s.tag.values[doc] = next && next.length > 0 ? next : undefined;
      if (next) for (const t of next) { let set = s.tag.postings.get(t); if (!set) s.tag.postings.set(t, set = new Set()); if (!set.has(doc)) { set.add(doc); this.records++; } }
    } else if (s.numeric) {
      const st = s.numeric;
      if (doc >= st.values.length) { const g = new Float64Array(Math.max(doc + 1, st.values.length * 2)).fill(NaN); g.set(st.values); st.values = g; }
      const had = !Number.isNaN(st.values[doc]);
      st.values[doc] = value === null ? NaN : value as number;
      this.records += (present ? 1 : 0) - (had ? 1 : 0);
    } else if (s.text) {
      const st = s.text;
      const old = st.docTerms[doc];
      if (old) for (const id of old) { const set = st.postings[id]; if (set) { set.delete(doc); this.records--; } }
      if (value === null) { st.docTerms[doc] = undefined; return; }
      const ids = new Set<number>();
      for (const text of value as string[]) {
        for (const t of tokenize(text)) {
          let id = st.termIds.get(t);
          if (id === undefined) { id = st.terms.length; st.termIds.set(t, id); st.terms.push(t); st.postings.push(new Set()); }
          ids.add(id);
        }
      }
      const arr = Uint32Array.from(ids);
      for (const id of arr) { st.postings[id]!.add(doc); this.records++; }
      st.docTerms[doc] = arr.length > 0 ? arr : undefined;
    } else if (s.vector) {
      const st = s.vector;
      if (doc >= st.slots.length) {
        const n = Math.max(doc + 1, st.slots.length * 2);
        const slots = new Int32Array(n).fill(-1); slots.set(st.slots); st.slots = slots;
        const prints = new Float64Array(n); prints.set(st.prints); st.prints = prints;
      }
      const had = st.slots[doc] >= 0;
      if (value === null) {
        if (had) { st.set.remove([key]); st.slots[doc] = -1; this.records--; }
        return;
      }
      const vec = value as Float32Array;
      const print = fingerprint(vec);
      // The same key may have moved to a new document number (removed, then written again).
      if (had && st.prints[doc] === print && st.set.slotOf(key) === st.slots[doc]) return;
      if (!had && st.adopt) {
        // The load's scan: the stored graph already holds this very vector.
        const slot = st.set.slotOf(key);
        if (slot !== undefined && st.adopt.prints[slot] === print) {
          st.slots[doc] = slot;
          st.prints[doc] = print;
          this.records++;
          return;
        }
      }
      const { done } = st.set.add(key, vec, undefined);
      done.catch((e: unknown) => this.log.error({ err: e, index: this.name }, 'FT index: a vector insert failed'));
      st.slots[doc] = st.set.slotOf(key) ?? -1;
      st.prints[doc] = print;
      if (!had) this.records++;
    }
  }

  /** Forget every document (FLUSHDB, SWAPDB): fresh structures, the vector sets released. */
  clear(): void {
    const old = this.fields.splice(0);
    this.byAttribute.clear();
    for (const f of old) { void f.vector?.set.dispose(); this.addFieldState(f.def); }
    this.keyToDoc.clear();
    this.docKeys.length = 0;
    this.freeDocs.length = 0;
    this.live.words.fill(0);
    this.numDocs = 0;
    this.maxDocId = 0;
    this.records = 0;
  }

  // ---- snapshots ----

  /** A VECTOR field's fingerprints by slot of its set (NaN: no document), for the snapshot's cut. */
  printsBySlot(s: FieldState, slots: number): Float64Array {
    const st = s.vector!;
    const out = new Float64Array(slots).fill(NaN);
    const n = Math.min(this.maxDocId, st.slots.length);
    for (let doc = 0; doc < n; doc++) {
      const slot = st.slots[doc];
      if (slot >= 0 && slot < slots) out[slot] = st.prints[doc];
    }
    return out;
  }

  /** A VECTOR field's set as a snapshot stored it, replacing the empty one; used by adoptDocuments(). */
  attachRestored(s: FieldState, set: VectorSet, prints: Float64Array, ids: IdTable): void {
    const st = s.vector!;
    void st.set.dispose();
    st.set = set;
    st.adopt = { prints, ids };
  }

  /** Whether every VECTOR field has a stored set attached (and there is one at least). */
  fullyRestored(): boolean {
    let n = 0;
    for (const f of this.fields) if (f.vector) { if (!f.vector.adopt) return false; n++; }
    return n > 0;
  }

  /**
   * At load, once the index's stored sets are in: scan the documents as a
   * backfill would, in one go (data is still loading), each taking back its
   * stored vector when the fingerprints agree (apply()); then drop what the
   * sets hold that no document accounts for. The index is complete and current
   * before the WAL replays.
   */
  adoptDocuments(): void {
    for (const key of this.db.allKeys()) if (this.matches(key)) this.reindex(key);
    for (const f of this.fields) {
      const st = f.vector;
      if (!st?.adopt) continue;
      const stale: string[] = [];
      for (let slot = 0; slot < st.adopt.ids.nextSlot; slot++) {
        const id = st.adopt.ids.idAt(slot);
        if (id === undefined) continue;
        const doc = this.keyToDoc.get(id);
        if (doc === undefined || st.slots[doc] < 0) stale.push(id);
      }
      if (stale.length > 0) st.set.remove(stale);
      st.adopt = null;
    }
    this.current = true;
  }

  /** Give up the stored sets (one was refused): empty ones instead, for the usual backfill. */
  discardRestored(): void {
    for (const f of this.fields) {
      const st = f.vector;
      if (!st?.adopt) continue;
      void st.set.dispose();
      st.set = newVectorSet(f.def);
      st.adopt = null;
    }
  }

  /** FT.DROPINDEX: stop the backfill and release the vector sets. Returns the keys it indexed (for DD). */
  drop(): string[] {
    this.dropped = true;
    this.generation++;
    this.indexing = false;
    const keys = [...this.keyToDoc.keys()];
    for (const f of this.fields) void f.vector?.set.dispose();
    return keys;
  }

  // ---- backfill ----

  /**
   * Index every key under the prefixes, a slice per event-loop turn. Keys
   * written meanwhile are indexed by their events; reaching them again here
   * is harmless (reindex is idempotent). A snapshot's freeze can invalidate
   * the key iterator (Database.iterationEpoch): the walk then starts over.
   */
  backfill(): Promise<void> {
    const gen = ++this.generation;
    this.current = true;
    this.pendingScan = false;
    this.indexing = true;
    this.indexingStarted = Date.now();
    let db = this.db;
    this.scanned = 0;
    this.scanTotal = Math.max(1, db.size);
    let epoch = db.iterationEpoch;
    let it = db.allKeys();
    return new Promise<void>((resolve) => {
      const step = (): void => {
        if (gen !== this.generation || this.dropped) { resolve(); return; }
        const now = this.db;
        if (now !== db || (epoch !== null && now.iterationEpoch !== epoch)) {
          db = now; epoch = db.iterationEpoch; it = db.allKeys(); this.scanned = 0; this.scanTotal = Math.max(1, db.size);
        }
        const until = Date.now() + BACKFILL_SLICE_MS;
        try {
          for (let n = 0; ; n++) {
            if ((n & 63) === 63 && Date.now() >= until) { setImmediate(step); return; }
            const r = it.next();
            if (r.done) break;
            this.scanned++;
            if (this.matches(r.value)) this.reindex(r.value);
          }
        } catch (e) {
          this.log.error({ err: e, index: this.name }, 'FT index: backfill failed');
        }
        this.indexing = false;
        this.totalIndexingMs += Date.now() - this.indexingStarted;
        resolve();
      };
      setImmediate(step);
    });
  }

  percentIndexed(): number {
    if (!this.indexing) return 1;
    return Math.min(0.99, this.scanned / this.scanTotal);
  }

  // ---- vector search ----

  /** The k nearest documents to `q` in a VECTOR field, among `filter` (null: all), nearest first. */
  async knn(s: FieldState, q: Float32Array, k: number, ef: number | null, filter: DocSet | null): Promise<VectorHit[]> {
    const vs = s.vector!;
    const vp = s.def.vector!;
    let match: FilterMatch | null = null;
    if (filter) {
      match = new FilterMatch(vs.set.card);
      for (const doc of filter) { const slot = vs.slots[doc]; if (slot >= 0) match.set(slot, true); }
      if (match.count === 0) return [];
      // A filter every vector passes is no filter: the unfiltered plan (and its speed) applies.
      if (match.count >= vs.set.card) match = null;
    }
    if (vs.set.card === 0) return [];
    const beam = ef ?? Math.max(vp.efRuntime, MIN_EF);
    const hits = await vs.set.search(q, { k, ef: beam, match, exact: vp.algorithm === 'FLAT' });
    return this.toVectorHits(hits);
  }

  /** Every document within `radius` of `q` in a VECTOR field (VECTOR_RANGE), with its distance. */
  async range(s: FieldState, q: Float32Array, radius: number): Promise<VectorHit[]> {
    const set = s.vector!.set;
    const n = set.card;
    if (n === 0) return [];
    // An exact scan for a k that keeps growing until the k-th result lies past the radius.
    for (let k = Math.min(n, 256); ; k = Math.min(n, k * 4)) {
      const hits = await set.search(q, { k, ef: k, exact: true });
      const last = hits[hits.length - 1];
      if (hits.length < k || k >= n || (last && last.distance > radius)) {
        return this.toVectorHits(hits.filter((h) => h.distance <= radius));
      }
    }
  }

  private toVectorHits(hits: Hit[]): VectorHit[] {
    const out: VectorHit[] = [];
    for (const h of hits) {
      const doc = this.keyToDoc.get(h.id);
      if (doc !== undefined) out.push({ key: h.id, doc, distance: h.distance });
    }
    return out;
  }

  /** Text values of a document's TEXT field, re-read (phrase checks). */
  textOf(doc: number, s: FieldState): string[] {
    const key = this.docKeys[doc];
    if (key === undefined) return [];
    const v = this.document(key);
    if (!v) return [];
    const x = this.extract(v, s.def);
    return Array.isArray(x) ? x : [];
  }

  vectorBytes(): number {
    let n = 0;
    for (const f of this.fields) if (f.vector) n += f.vector.set.usedBytes();
    return n;
  }
}

/** The engine parameters of a VECTOR field's set. */
export function vectorParams(def: FieldDef): SetParams {
  const v = def.vector!;
  return {
    dim: v.dim, metric: v.metric, quant: quantOf(v.type), m: v.m, efConstruction: v.efConstruction,
    ef: Math.max(v.efRuntime, MIN_EF), explicit: true, projectInputDim: 0, family: 'vec',
  };
}

function newVectorSet(def: FieldDef): VectorSet {
  return new VectorSet(vectorParams(def));
}

function flatten(nodes: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const n of nodes) if (Array.isArray(n)) out.push(...n); else out.push(n);
  return out;
}

/** RediSearch's tag splitting: on the separator, trimmed, folded unless CASESENSITIVE. */
export function splitTags(text: string, f: FieldDef): string[] {
  const out: string[] = [];
  for (const part of text.split(f.separator)) {
    const t = part.trim();
    if (t === '' && !f.indexEmpty) continue;
    out.push(f.caseSensitive ? t : t.toLowerCase());
  }
  return out;
}

const NUMERIC = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$|^\s*[+-]?inf(?:inity)?\s*$/i;

export function parseNumeric(s: string): number | null {
  if (!NUMERIC.test(s)) return null;
  const t = s.trim().toLowerCase();
  if (t.endsWith('inf') || t.endsWith('infinity')) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

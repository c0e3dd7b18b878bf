/**
 * A parsed filter → the set of matching documents, from the index's own
 * structures (no document is read, except to confirm a phrase's word order).
 * VECTOR_RANGE clauses need the engine, which answers asynchronously: they
 * are resolved first (`resolveRanges`), then the tree is evaluated at once.
 */
import { DocSet } from './doc-set.js';
import type { Node } from './query.js';
import type { FieldState, SearchIndex } from './search-index.js';
import { DEFAULT_STOPWORDS, tokenize, withinEdits } from './text.js';
import { decodeBlob } from './vector-blob.js';
import { FtError, quote } from './schema.js';

/** A VECTOR_RANGE clause's matches and their distances. */
export interface RangeResult { docs: DocSet; distances: Map<number, number>; yieldAs: string | null }

const DEFAULT_STOPS = new Set(DEFAULT_STOPWORDS);

/** The field a clause names, checked against the schema and the clause's kind. */
export function fieldFor(index: SearchIndex, name: string, kinds: ReadonlyArray<FieldState['def']['type']>): FieldState {
  const f = index.field(name);
  if (!f) throw new FtError(`Unknown field \`${quote(name)}\``);
  if (!kinds.includes(f.def.type)) throw new FtError(`Field \`${quote(name)}\` is a ${f.def.type} field: it cannot be queried as ${kinds.join(' or ')}`);
  return f;
}

/** The vector in a PARAMS value for a VECTOR field, or RediSearch's error for a blob of the wrong size. */
export function queryVector(f: FieldState, blob: Buffer | undefined, param: string): Float32Array {
  if (blob === undefined) throw new FtError(`No such parameter \`${quote(param)}\``);
  const vp = f.def.vector!;
  const v = decodeBlob(blob, vp.type, vp.dim);
  if (typeof v === 'string') {
    throw new FtError(blob.length !== vp.dim * (vp.type === 'FLOAT64' ? 8 : vp.type === 'FLOAT32' ? 4 : 2)
      ? `Error parsing vector similarity query: query vector blob size (${blob.length}) does not match index's expected size (${vp.dim * (vp.type === 'FLOAT64' ? 8 : vp.type === 'FLOAT32' ? 4 : 2)}).`
      : `Error parsing vector similarity query: ${v}`);
  }
  return v;
}

/** Run every VECTOR_RANGE clause of the tree against the engine. */
export async function resolveRanges(index: SearchIndex, node: Node, params: ReadonlyMap<string, Buffer>, out: Map<Node, RangeResult>): Promise<void> {
  switch (node.kind) {
    case 'and': case 'or': for (const c of node.children) await resolveRanges(index, c, params, out); return;
    case 'not': await resolveRanges(index, node.child, params, out); return;
    case 'range': {
      const f = fieldFor(index, node.field, ['VECTOR']);
      const q = queryVector(f, params.get(node.param), node.param);
      const hits = await index.range(f, q, node.radius);
      const docs = new DocSet(index.maxDocId);
      const distances = new Map<number, number>();
      for (const h of hits) { docs.add(h.doc); distances.set(h.doc, h.distance); }
      out.set(node, { docs, distances, yieldAs: node.yieldAs });
      return;
    }
    default: return;
  }
}

export class Evaluator {
  private readonly stopwords: Set<string>;

  constructor(private readonly index: SearchIndex, private readonly ranges: ReadonlyMap<Node, RangeResult>, noStopwords: boolean) {
    const sw = index.def.stopwords;
    this.stopwords = noStopwords ? new Set() : sw === null ? DEFAULT_STOPS : new Set(sw);
  }

  /** The matches of `node`; null stands for every document (so `*` costs nothing). */
  eval(node: Node): DocSet | null {
    switch (node.kind) {
      case 'all': return null;
      case 'and': {
        let acc: DocSet | null = null;
        const negated: DocSet[] = [];
        for (const c of node.children) {
          if (c.kind === 'not') { const m = this.eval(c.child); if (m) negated.push(m); else return this.empty(); continue; }
          const m = this.eval(c);
          if (m === null) continue;
          acc = acc === null ? m : acc.and(m);
        }
        let out = acc ?? this.index.live.clone();
        for (const m of negated) out = out.andNot(m);
        return out;
      }
      case 'or': {
        let acc: DocSet | null = null;
        for (const c of node.children) {
          const m = this.eval(c);
          if (m === null) return null;
          acc = acc === null ? m : acc.or(m);
        }
        return acc;
      }
      case 'not': {
        const m = this.eval(node.child);
        return m === null ? this.empty() : this.index.live.clone().andNot(m);
      }
      case 'tag': return this.tag(node);
      case 'numeric': return this.numeric(node);
      case 'term': return this.term(node);
      case 'phrase': return this.phrase(node.fields, node.terms.flatMap((t) => tokenize(t)));
      case 'missing': {
        const f = this.index.field(node.field);
        if (!f) throw new FtError(`Unknown field \`${quote(node.field)}\``);
        return this.index.live.clone().andNot(f.present);
      }
      case 'range': return this.ranges.get(node)!.docs.clone();
    }
  }

  private empty(): DocSet { return new DocSet(this.index.maxDocId); }

  private tag(node: Extract<Node, { kind: 'tag' }>): DocSet {
    const f = fieldFor(this.index, node.field, ['TAG']);
    const st = f.tag!;
    const out = this.empty();
    const addAll = (s: Set<number> | undefined): void => { if (s) for (const d of s) out.add(d); };
    for (const v of node.values) {
      const value = f.def.caseSensitive ? v.value : v.value.toLowerCase();
      if (v.mode === 'exact') { addAll(st.postings.get(value)); continue; }
      for (const [t, docs] of st.postings) {
        const hit = v.mode === 'prefix' ? t.startsWith(value) : v.mode === 'suffix' ? t.endsWith(value) : t.includes(value);
        if (hit) addAll(docs);
      }
    }
    return out;
  }

  private numeric(node: Extract<Node, { kind: 'numeric' }>): DocSet {
    const f = fieldFor(this.index, node.field, ['NUMERIC']);
    const values = f.numeric!.values;
    const out = this.empty();
    const { lo, hi, loExclusive, hiExclusive } = node;
    const n = Math.min(values.length, this.index.maxDocId);
    for (let d = 0; d < n; d++) {
      const x = values[d];
      // NaN (no value) fails every comparison.
      if ((loExclusive ? x > lo : x >= lo) && (hiExclusive ? x < hi : x <= hi)) out.add(d);
    }
    return out;
  }

  /** The TEXT fields a term clause reads: the named ones, or every indexed TEXT field. */
  private textFields(names: string[] | null): FieldState[] {
    if (names === null) return this.index.fields.filter((f) => f.text && !f.def.noindex);
    // A text clause on a field the schema lacks matches nothing, as in RediSearch (no error).
    return names.map((n) => this.index.field(n)).filter((f): f is FieldState => f !== undefined);
  }

  private term(node: Extract<Node, { kind: 'term' }>): DocSet | null {
    const fields = this.textFields(node.fields);
    // `@tag:word` without braces: read as the tag value, not a syntax error.
    if (fields.length === 1 && fields[0]!.tag) {
      return this.tag({ kind: 'tag', field: fields[0]!.def.attribute, values: [{ value: node.term, mode: node.mode === 'fuzzy' ? 'exact' : node.mode }] });
    }
    for (const f of fields) if (!f.text) throw new FtError(`Field \`${quote(f.def.attribute)}\` is a ${f.def.type} field: it cannot be queried as TEXT`);
    // The parser already cut the term at unescaped punctuation: what remains (escapes resolved) is one token.
    if (node.mode === 'exact') return this.phrase(node.fields, [node.term.toLowerCase()]);
    const term = node.term.toLowerCase();
    const out = this.empty();
    for (const f of fields) {
      const st = f.text!;
      for (let id = 0; id < st.terms.length; id++) {
        const t = st.terms[id]!;
        const hit = node.mode === 'prefix' ? t.startsWith(term) : node.mode === 'suffix' ? t.endsWith(term)
          : node.mode === 'infix' ? t.includes(term) : withinEdits(term, t, node.fuzz);
        if (hit) { const docs = st.postings[id]; if (docs) for (const d of docs) out.add(d); }
      }
    }
    return out;
  }

  /** Documents holding the tokens consecutively (stop words aside) in one of the fields. */
  private phrase(names: string[] | null, rawTokens: string[]): DocSet | null {
    const fields = this.textFields(names);
    if (fields.length === 1 && fields[0]!.tag) {
      return this.tag({ kind: 'tag', field: fields[0]!.def.attribute, values: [{ value: rawTokens.join(' '), mode: 'exact' }] });
    }
    for (const f of fields) if (!f.text) throw new FtError(`Field \`${quote(f.def.attribute)}\` is a ${f.def.type} field: it cannot be queried as TEXT`);
    const tokens = rawTokens.filter((t) => !this.stopwords.has(t));
    // A clause of stop words only constrains nothing, as in RediSearch.
    if (tokens.length === 0) return null;
    const out = this.empty();
    for (const f of fields) {
      const st = f.text!;
      let cand: DocSet | null = null;
      for (const t of tokens) {
        const id = st.termIds.get(t);
        const docs = id === undefined ? undefined : st.postings[id];
        const s = this.empty();
        if (docs) for (const d of docs) s.add(d);
        cand = cand === null ? s : cand.and(s);
      }
      if (!cand) continue;
      if (tokens.length === 1) { out.or(cand); continue; }
      for (const d of cand) if (this.inOrder(d, f, tokens)) out.add(d);
    }
    return out;
  }

  private inOrder(doc: number, f: FieldState, tokens: string[]): boolean {
    for (const text of this.index.textOf(doc, f)) {
      const words = tokenize(text).filter((t) => !this.stopwords.has(t));
      outer: for (let i = 0; i + tokens.length <= words.length; i++) {
        for (let j = 0; j < tokens.length; j++) if (words[i + j] !== tokens[j]) continue outer;
        return true;
      }
    }
    return false;
  }
}

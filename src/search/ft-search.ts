/**
 * FT.SEARCH: arguments (any order after the query), the query run against
 * the index and the engine, and RediSearch's reply shapes: RESP2's flat
 * array, RESP3's map (`attributes, warning, total_results, format, results`).
 */
import { Double, ReplyMap, type Reply } from '../../protocol/reply.js';
import type { Ctx } from '../core/types.js';
import { DocSet } from './doc-set.js';
import { Evaluator, fieldFor, queryVector, resolveRanges, type RangeResult } from './evaluate.js';
import { QueryParser, type Node, type Query } from './query.js';
import { FtError, quote } from './schema.js';
import type { SearchIndex } from './search-index.js';
import { asHash, asJson, compilePath, jsonText, select } from './document.js';

export interface SearchArgs {
  noContent: boolean;
  withScores: boolean;
  noStopwords: boolean;
  returnFields: Array<{ name: string; as: string }> | null;
  sortBy: { field: string; asc: boolean } | null;
  offset: number;
  num: number;
  params: Map<string, Buffer>;
  dialect: number;
  filters: Node[];
  inKeys: Set<string> | null;
}

const upper = (b: Buffer | undefined): string => (b ? b.toString('latin1').toUpperCase() : '');

function count(argv: Buffer[], i: number, what: string): number {
  const s = argv[i]?.toString('latin1') ?? '';
  if (!/^\d+$/.test(s)) throw new FtError(`Bad arguments for ${what}: Expected an argument count`);
  const n = Number(s);
  if (i + n >= argv.length) throw new FtError(`Bad arguments for ${what}: Expected ${n} arguments, but got ${argv.length - i - 1}`);
  return n;
}

function nonNegative(b: Buffer | undefined, what: string): number {
  const s = b?.toString('latin1') ?? '';
  if (!/^\d+$/.test(s)) throw new FtError(`Bad arguments for ${what}: Value is not a non-negative integer`);
  return Number(s);
}

/** FT.SEARCH's options from argv[3] on (FT.EXPLAIN takes PARAMS and DIALECT from the same parser). */
export function parseSearchArgs(argv: Buffer[], from: number): SearchArgs {
  const a: SearchArgs = {
    noContent: false, withScores: false, noStopwords: false, returnFields: null, sortBy: null, offset: 0, num: 10,
    params: new Map(), dialect: 2, filters: [], inKeys: null,
  };
  for (let i = from; i < argv.length; i++) {
    const opt = upper(argv[i]);
    switch (opt) {
      case 'NOCONTENT': a.noContent = true; break;
      case 'WITHSCORES': a.withScores = true; break;
      case 'NOSTOPWORDS': a.noStopwords = true; break;
      case 'VERBATIM': case 'WITHSORTKEYS': case 'INORDER': case 'EXPLAINSCORE': case 'WITHPAYLOADS': case 'SUMMARIZE': case 'HIGHLIGHT': break;
      case 'RETURN': {
        const n = count(argv, i + 1, 'RETURN');
        const fields: Array<{ name: string; as: string }> = [];
        for (let j = i + 2; j < i + 2 + n; j++) {
          const name = argv[j].toString('utf8');
          if (j + 2 < i + 2 + n && upper(argv[j + 1]) === 'AS') { fields.push({ name, as: argv[j + 2].toString('utf8') }); j += 2; }
          else fields.push({ name, as: name });
        }
        a.returnFields = fields;
        i += 1 + n;
        break;
      }
      case 'SORTBY': {
        const f = argv[i + 1];
        if (!f) throw new FtError('Bad arguments for SORTBY: Expected a field name');
        let field = f.toString('utf8');
        if (field.startsWith('@')) field = field.slice(1);
        a.sortBy = { field, asc: true };
        i++;
        const dir = upper(argv[i + 1]);
        if (dir === 'ASC' || dir === 'DESC') { a.sortBy.asc = dir === 'ASC'; i++; }
        if (upper(argv[i + 1]) === 'WITHCOUNT') i++;
        break;
      }
      case 'LIMIT': {
        if (i + 2 >= argv.length) throw new FtError('Bad arguments for LIMIT: Expected offset and number');
        a.offset = nonNegative(argv[i + 1], 'LIMIT');
        a.num = nonNegative(argv[i + 2], 'LIMIT');
        i += 2;
        break;
      }
      case 'PARAMS': {
        const n = count(argv, i + 1, 'PARAMS');
        if (n % 2 !== 0) throw new FtError('Bad arguments for PARAMS: Expected an even number of arguments');
        for (let j = i + 2; j < i + 2 + n; j += 2) a.params.set(argv[j].toString('utf8'), argv[j + 1]);
        i += 1 + n;
        break;
      }
      case 'DIALECT': {
        const d = argv[i + 1]?.toString('latin1') ?? '';
        if (!/^[1-4]$/.test(d)) throw new FtError('DIALECT requires a non negative integer >=1 and <= 4');
        a.dialect = Number(d);
        i++;
        break;
      }
      case 'TIMEOUT': nonNegative(argv[i + 1], 'TIMEOUT'); i++; break;
      case 'SLOP': nonNegative(argv[i + 1], 'SLOP'); i++; break;
      case 'LANGUAGE': case 'EXPANDER': case 'SCORER': case 'PAYLOAD': case 'FORMAT':
        if (!argv[i + 1]) throw new FtError(`Bad arguments for ${opt}: Expected an argument`);
        if (opt === 'FORMAT' && upper(argv[i + 1]) !== 'STRING') throw new FtError('FORMAT EXPAND is not supported by Astronaut: values are returned as strings');
        i++;
        break;
      case 'FILTER': {
        // The legacy numeric filter: FILTER field min max, ANDed with the query.
        if (i + 3 >= argv.length) throw new FtError('Bad arguments for FILTER: Expected field, min and max');
        const q = new QueryParser(`@${argv[i + 1].toString('utf8').replace(/[^A-Za-z0-9_]/g, (c) => `\\${c}`)}:[${argv[i + 2].toString('utf8')} ${argv[i + 3].toString('utf8')}]`, new Map());
        a.filters.push(q.parse().filter);
        i += 3;
        break;
      }
      case 'INKEYS': {
        const n = count(argv, i + 1, 'INKEYS');
        a.inKeys = new Set();
        for (let j = i + 2; j < i + 2 + n; j++) a.inKeys.add(argv[j].toString('latin1'));
        i += 1 + n;
        break;
      }
      case 'INFIELDS': { const n = count(argv, i + 1, 'INFIELDS'); i += 1 + n; break; }
      case 'GEOFILTER': throw new FtError('GEOFILTER is not supported by Astronaut (no GEO fields)');
      default: throw new FtError(`Unknown argument \`${quote(argv[i])}\` at position ${i - from} for <main>`);
    }
  }
  return a;
}

export function parseQuery(text: string, a: SearchArgs): Query {
  const q = new QueryParser(text, a.params).parse();
  if (a.filters.length > 0) q.filter = { kind: 'and', children: [q.filter, ...a.filters] };
  return q;
}

/** One result before it is rendered: its key and the distances it yields. */
interface Row { key: string; doc: number; yields: Array<[string, number]>; distance: number }

export async function runSearch(ctx: Ctx, index: SearchIndex, queryText: string, a: SearchArgs): Promise<Reply> {
  const q = parseQuery(queryText, a);
  index.searches++;
  const ranges = new Map<Node, RangeResult>();
  await resolveRanges(index, q.filter, a.params, ranges);
  const evaluator = new Evaluator(index, ranges, a.noStopwords);
  let matches = evaluator.eval(q.filter);
  if (a.inKeys) {
    const only = new DocSet(index.maxDocId);
    for (const k of a.inKeys) { const d = index.docOf(k); if (d !== undefined) only.add(d); }
    matches = matches ? matches.and(only) : only;
  }
  const rangeYields = [...ranges.values()].filter((r) => r.yieldAs !== null);

  let rows: Row[];
  let total: number;
  if (q.knn) {
    const knn = q.knn;
    const f = fieldFor(index, knn.field, ['VECTOR']);
    const vec = queryVector(f, a.params.get(knn.param), knn.param);
    const alias = knn.alias ?? `__${knn.field}_score`;
    const hits = knn.k === 0 ? [] : await index.knn(f, vec, knn.k, knn.ef, matches);
    rows = hits.map((h) => ({ key: h.key, doc: h.doc, distance: h.distance, yields: [[alias, h.distance]] }));
    total = rows.length;
  } else {
    const set = matches ?? index.live;
    total = set.count();
    const needAll = a.sortBy !== null || rangeYields.length > 0;
    const want = needAll ? Infinity : a.offset + a.num;
    rows = [];
    for (const doc of set) {
      if (rows.length >= want) break;
      rows.push({ key: index.keyOf(doc)!, doc, distance: 0, yields: [] });
    }
    if (rangeYields.length > 0) {
      for (const r of rows) {
        for (const y of rangeYields) { const d = y.distances.get(r.doc); if (d !== undefined) r.yields.push([y.yieldAs!, d]); }
        r.distance = r.yields[0]?.[1] ?? Infinity;
      }
      // Nearest first, as KNN results are, unless SORTBY says otherwise.
      if (!a.sortBy) rows.sort((x, y) => x.distance - y.distance);
    }
  }
  if (a.sortBy) sortRows(ctx, index, rows, a.sortBy, q);
  const page = rows.slice(a.offset, a.offset + a.num);
  return render(ctx, index, page, total, a);
}

function sortRows(ctx: Ctx, index: SearchIndex, rows: Row[], by: { field: string; asc: boolean }, q: Query): void {
  const yielded = rows.some((r) => r.yields.some(([n]) => n === by.field)) || q.knn?.alias === by.field || `__${q.knn?.field}_score` === by.field;
  const dir = by.asc ? 1 : -1;
  let key: (r: Row) => number | string | null;
  if (yielded) {
    key = (r) => r.yields.find(([n]) => n === by.field)?.[1] ?? null;
  } else {
    const f = index.field(by.field);
    if (!f) throw new FtError(`Property \`${quote(by.field)}\` not loaded nor in schema`);
    if (f.numeric) {
      const values = f.numeric.values;
      key = (r) => (Number.isNaN(values[r.doc] ?? NaN) ? null : values[r.doc]!);
    } else {
      const cache = new Map<number, string | null>();
      key = (r) => {
        if (!cache.has(r.doc)) cache.set(r.doc, fieldValueText(index, r.key, f.def.identifier)?.toLowerCase() ?? null);
        return cache.get(r.doc)!;
      };
    }
  }
  void ctx;
  rows.sort((x, y) => {
    const a = key(x), b = key(y);
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1; // missing values last either way
    if (typeof a === 'number' && typeof b === 'number') return (a - b) * dir;
    return (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0) * dir;
  });
}

/** A field of a document as text (SORTBY on TAG/TEXT fields). */
function fieldValueText(index: SearchIndex, key: string, identifier: string): string | null {
  const v = index.document(key);
  const h = asHash(v);
  if (h) { const s = h.get(identifier); return s === undefined ? null : Buffer.from(s, 'latin1').toString('utf8'); }
  const j = asJson(v);
  if (j) {
    const steps = compilePath(identifier);
    const n = steps ? select(j.root, steps)[0] : undefined;
    return n === undefined ? null : typeof n === 'string' ? n : jsonText(n);
  }
  return null;
}

/** `%.12g`, as RediSearch prints numbers it computed (distances). */
export function formatNumber(x: number): string {
  if (x === 0) return '0';
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const [mant, expText] = x.toExponential(11).split('e') as [string, string];
  const exp = Number(expText);
  const strip = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 12) return `${strip(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return strip(x.toFixed(11 - exp));
}

function render(ctx: Ctx, index: SearchIndex, rows: Row[], total: number, a: SearchArgs): Reply {
  const resp3 = ctx.client.proto === 3;
  const noContent = a.noContent || (a.returnFields !== null && a.returnFields.length === 0);
  const out: Reply[] = resp3 ? [] : [total];
  const metric = (r: Row): number => r.distance;
  for (const r of rows) {
    const id = Buffer.from(r.key, 'latin1');
    const score = r.yields.length > 0 ? metric(r) : 1;
    let fields: Array<[Reply, Reply]> | null = null;
    if (!noContent) {
      fields = contentOf(index, r, a);
      // A document deleted between the search and this reply is left out.
      if (fields === null) continue;
    }
    if (resp3) {
      const entries: Array<[Reply, Reply]> = [['id', id]];
      if (a.withScores) entries.push(['score', new Double(score)]);
      if (fields) entries.push(['extra_attributes', new ReplyMap(fields)]);
      entries.push(['values', []]);
      out.push(new ReplyMap(entries));
    } else {
      out.push(id);
      if (a.withScores) out.push(formatNumber(score));
      if (fields) out.push(fields.flat());
    }
  }
  if (!resp3) return out;
  return new ReplyMap([['attributes', []], ['warning', []], ['total_results', total], ['format', 'STRING'], ['results', out]]);
}

/** The fields a result carries: the yielded distances, then the document (or what RETURN asks for). */
function contentOf(index: SearchIndex, r: Row, a: SearchArgs): Array<[Reply, Reply]> | null {
  const v = index.document(r.key);
  if (v === undefined) return null;
  const hash = asHash(v);
  const json = hash ? null : asJson(v);
  const fields: Array<[Reply, Reply]> = [];
  const yielded = new Map(r.yields);
  if (a.returnFields === null) {
    for (const [n, d] of r.yields) fields.push([n, formatNumber(clampDistance(d))]);
    if (hash) for (const [f, val] of hash.entries()) fields.push([Buffer.from(f, 'latin1'), Buffer.from(val, 'latin1')]);
    else if (json) fields.push(['$', json.serialize()]);
    return fields;
  }
  for (const { name, as } of a.returnFields) {
    const d = yielded.get(name);
    if (d !== undefined) { fields.push([as, formatNumber(clampDistance(d))]); continue; }
    const f = index.field(name);
    const identifier = f ? f.def.identifier : name;
    if (hash) {
      const val = hash.get(identifier);
      if (val !== undefined) fields.push([as, Buffer.from(val, 'latin1')]);
    } else if (json) {
      if (identifier === '$') { fields.push([as, json.serialize()]); continue; }
      const steps = identifier.startsWith('$') ? compilePath(identifier) : null;
      const nodes = steps ? select(json.root, steps) : [];
      if (nodes.length === 0) continue;
      const n = nodes[0];
      fields.push([as, typeof n === 'string' ? n : jsonText(n)]);
    }
  }
  return fields;
}

/** Rounding puts an identical vector a hair below 0 under COSINE and L2: shown as 0, as the distance is. */
function clampDistance(d: number): number { return d < 0 && d > -1e-5 ? 0 : d; }

/**
 * The FT.SEARCH query language, dialect 2 (what every framework sends):
 *
 *   query    = union [ "=>" "[" KNN k @field $param [EF_RUNTIME n] [AS alias] "]" ]
 *   union    = intersect { "|" intersect }
 *   intersect= unary { unary }                      (juxtaposition is AND)
 *   unary    = "-" unary | "~" unary | atom [ "=>" "{" attributes "}" ]
 *   atom     = "(" union ")" | "*" | "@" field ":" value | ismissing(@field)
 *            | term | prefix* | *suffix | "phrase" | %fuzzy% | $param
 *   value    = "{" tag { "|" tag } "}" | "[" lo hi "]" | "[" VECTOR_RANGE r $param "]"
 *            | "(" union ")" | term | "phrase" | prefix* | %fuzzy%
 *
 * A malformed query is refused with RediSearch's text, `Syntax error at
 * offset N near X`, naming where the parser stopped.
 */
import { FtError, quote } from './schema.js';

export type Node =
  | { kind: 'all' }
  | { kind: 'and'; children: Node[] }
  | { kind: 'or'; children: Node[] }
  | { kind: 'not'; child: Node }
  | { kind: 'tag'; field: string; values: TagValue[] }
  | { kind: 'numeric'; field: string; lo: number; hi: number; loExclusive: boolean; hiExclusive: boolean }
  | { kind: 'term'; fields: string[] | null; term: string; mode: 'exact' | 'prefix' | 'suffix' | 'infix' | 'fuzzy'; fuzz: number }
  | { kind: 'phrase'; fields: string[] | null; terms: string[] }
  | { kind: 'missing'; field: string }
  | { kind: 'range'; field: string; radius: number; param: string; yieldAs: string | null };

export interface TagValue { value: string; mode: 'exact' | 'prefix' | 'suffix' | 'infix' }

export interface Knn { k: number; field: string; param: string; ef: number | null; alias: string | null }

export interface Query { filter: Node; knn: Knn | null }

/** Characters that end a bare term (RediSearch's query lexer punctuation). */
const PUNCT = new Set(' \t\n\r\v\f!"#$%&\'()*+,-./:;<=>?@[\\]^`{|}~');

export class QueryParser {
  private pos = 0;
  /** Parentheses open: a hostile `((((…` must meet an error, not the stack's end. */
  private depth = 0;
  constructor(private readonly src: string, private readonly params: ReadonlyMap<string, Buffer>) {}

  parse(): Query {
    this.ws();
    if (this.pos >= this.src.length) throw this.fail();
    const filter = this.union(null);
    this.ws();
    let knn: Knn | null = null;
    if (this.src.startsWith('=>', this.pos)) {
      this.pos += 2;
      this.ws();
      if (this.src[this.pos] !== '[') throw this.fail();
      this.pos++;
      knn = this.knn();
      this.ws();
      // `=>{$YIELD_DISTANCE_AS: d}` may follow the KNN clause too.
      if (this.src.startsWith('=>', this.pos)) {
        this.pos += 2;
        this.ws();
        const attrs = this.attributes();
        const y = attrs.get('yield_distance_as');
        if (y !== undefined) knn.alias = y;
      }
    }
    this.ws();
    if (this.pos < this.src.length) throw this.fail();
    return { filter, knn };
  }

  private fail(at = this.pos): FtError {
    const rest = this.src.slice(at).trim();
    const near = rest === '' ? 'the end of the query' : quote(rest.split(/\s/)[0]!, 32);
    return new FtError(`Syntax error at offset ${at} near ${near}`);
  }

  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  private peek(): string { return this.src[this.pos] ?? ''; }

  /** True at `=>[`: the KNN clause, which ends the filter. */
  private atKnn(): boolean {
    if (!this.src.startsWith('=>', this.pos)) return false;
    let i = this.pos + 2;
    while (i < this.src.length && /\s/.test(this.src[i]!)) i++;
    return this.src[i] === '[';
  }

  private union(scope: string[] | null): Node {
    if (++this.depth > 256) throw new FtError('Query nests deeper than 256 levels of parentheses');
    const children = [this.intersect(scope)];
    for (;;) {
      this.ws();
      if (this.peek() !== '|') break;
      this.pos++;
      children.push(this.intersect(scope));
    }
    this.depth--;
    return children.length === 1 ? children[0]! : { kind: 'or', children };
  }

  private intersect(scope: string[] | null): Node {
    const children: Node[] = [];
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === '' || c === '|' || c === ')' || this.atKnn()) break;
      children.push(this.unary(scope));
    }
    if (children.length === 0) throw this.fail();
    return children.length === 1 ? children[0]! : { kind: 'and', children };
  }

  private unary(scope: string[] | null): Node {
    this.ws();
    if (this.peek() === '-') {
      if (++this.depth > 256) throw new FtError('Query nests deeper than 256 levels of negation');
      this.pos++;
      const child = this.unary(scope);
      this.depth--;
      return { kind: 'not', child };
    }
    // An optional clause never narrows the matches.
    if (this.peek() === '~') { this.pos++; this.unary(scope); return { kind: 'all' }; }
    const node = this.atom(scope);
    this.ws();
    if (this.src.startsWith('=>', this.pos) && !this.atKnn()) {
      this.pos += 2;
      this.ws();
      const attrs = this.attributes();
      const y = attrs.get('yield_distance_as');
      if (node.kind === 'range' && y !== undefined) node.yieldAs = y;
    }
    return node;
  }

  /** `{$name: value; …}`: names case-insensitive, without their `$`. */
  private attributes(): Map<string, string> {
    if (this.peek() !== '{') throw this.fail();
    const close = this.src.indexOf('}', this.pos);
    if (close < 0) throw this.fail();
    const out = new Map<string, string>();
    for (const part of this.src.slice(this.pos + 1, close).split(/[;,]/)) {
      if (part.trim() === '') continue;
      const m = /^\s*\$?([A-Za-z_]+)\s*:\s*(.*?)\s*$/.exec(part);
      if (!m) throw this.fail(this.pos + 1);
      out.set(m[1]!.toLowerCase(), m[2]!);
    }
    this.pos = close + 1;
    return out;
  }

  private atom(scope: string[] | null): Node {
    this.ws();
    const c = this.peek();
    if (c === '(') {
      this.pos++;
      const inner = this.union(scope);
      this.ws();
      if (this.peek() !== ')') throw this.fail();
      this.pos++;
      return inner;
    }
    // Inside `@f:( … )`, tag sets and ranges belong to f: `@f:({a} | {b})`.
    if ((c === '{' || c === '[') && scope && scope.length === 1) return c === '{' ? this.tags(scope[0]!) : this.bracket(scope[0]!);
    if (c === '*' && (this.pos + 1 >= this.src.length || /[\s)|=]/.test(this.src[this.pos + 1]!))) { this.pos++; return { kind: 'all' }; }
    if (c === '@') {
      this.pos++;
      const field = this.fieldName();
      this.ws();
      if (this.peek() !== ':') throw this.fail();
      this.pos++;
      this.ws();
      return this.fieldValue(field);
    }
    if (/^ismissing\s*\(/i.test(this.src.slice(this.pos, this.pos + 16))) {
      this.pos = this.src.indexOf('(', this.pos) + 1;
      this.ws();
      if (this.peek() !== '@') throw this.fail();
      this.pos++;
      const field = this.fieldName();
      this.ws();
      if (this.peek() !== ')') throw this.fail();
      this.pos++;
      return { kind: 'missing', field };
    }
    return this.textAtom(scope);
  }

  private fieldName(): string {
    const start = this.pos;
    let name = '';
    while (this.pos < this.src.length) {
      const ch = this.src[this.pos]!;
      if (ch === '\\' && this.pos + 1 < this.src.length) { name += this.src[this.pos + 1]; this.pos += 2; continue; }
      if (/[A-Za-z0-9_$.\-\u0080-\uffff]/.test(ch) && !(ch === '-' && name === '')) { name += ch; this.pos++; continue; }
      break;
    }
    if (name === '') throw this.fail(start);
    return name;
  }

  private fieldValue(field: string): Node {
    const c = this.peek();
    if (c === '{') return this.tags(field);
    if (c === '[') return this.bracket(field);
    if (c === '(') {
      this.pos++;
      const inner = this.union([field]);
      this.ws();
      if (this.peek() !== ')') throw this.fail();
      this.pos++;
      return inner;
    }
    if (c === '-') { this.pos++; return { kind: 'not', child: this.fieldValue(field) }; }
    return this.textAtom([field]);
  }

  /** A term, prefix, suffix, phrase, fuzzy term or $param over `scope` (null: every TEXT field). */
  private textAtom(scope: string[] | null): Node {
    const c = this.peek();
    if (c === '"' || c === '\'') {
      const close = this.closing(c);
      const text = unescape(this.src.slice(this.pos + 1, close));
      this.pos = close + 1;
      return { kind: 'phrase', fields: scope, terms: text.split(/\s+/).filter((t) => t !== '') };
    }
    if (c === '%') {
      let n = 0;
      while (this.peek() === '%') { n++; this.pos++; }
      const term = this.word();
      for (let i = 0; i < n; i++) { if (this.peek() !== '%') throw this.fail(); this.pos++; }
      return { kind: 'term', fields: scope, term, mode: 'fuzzy', fuzz: Math.min(n, 3) };
    }
    if (c === '$') {
      this.pos++;
      const name = this.word();
      return { kind: 'phrase', fields: scope, terms: [this.param(name).toString('utf8')] };
    }
    let leading = false;
    if (c === '*') { leading = true; this.pos++; }
    const start = this.pos;
    const term = this.word();
    if (term === '') throw this.fail(start);
    let trailing = false;
    if (this.peek() === '*') { trailing = true; this.pos++; }
    const mode = leading && trailing ? 'infix' : leading ? 'suffix' : trailing ? 'prefix' : 'exact';
    return { kind: 'term', fields: scope, term, mode, fuzz: 0 };
  }

  private closing(q: string): number {
    for (let i = this.pos + 1; i < this.src.length; i++) {
      if (this.src[i] === '\\') { i++; continue; }
      if (this.src[i] === q) return i;
    }
    throw this.fail();
  }

  /** A bare word: up to the next unescaped punctuation or space. */
  private word(): string {
    let out = '';
    while (this.pos < this.src.length) {
      const ch = this.src[this.pos]!;
      if (ch === '\\' && this.pos + 1 < this.src.length) { out += this.src[this.pos + 1]; this.pos += 2; continue; }
      if (PUNCT.has(ch) && !(ch === '.' && /\d/.test(this.src[this.pos + 1] ?? '') && /\d$/.test(out))) break;
      out += ch;
      this.pos++;
    }
    return out;
  }

  private param(name: string): Buffer {
    const v = this.params.get(name);
    if (v === undefined) throw new FtError(`No such parameter \`${quote(name)}\``);
    return v;
  }

  private tags(field: string): Node {
    this.pos++;
    const values: TagValue[] = [];
    let cur = '';
    let raw = false;
    const push = (): void => {
      let v = cur.trim();
      cur = '';
      if (v === '' && !raw) return;
      let mode: TagValue['mode'] = 'exact';
      if (!raw) {
        if (v.startsWith('$') && v.length > 1 && /^\$[A-Za-z0-9_]+$/.test(v)) v = this.param(v.slice(1)).toString('utf8');
        else if (v.endsWith('\u0000*')) { v = v.slice(0, -2); mode = 'prefix'; }
        if (v.startsWith('*\u0000')) { v = v.slice(2); mode = mode === 'prefix' ? 'infix' : 'suffix'; }
      }
      values.push({ value: v.replace(/\u0000\*?/g, '').replace(/\u0001/g, '*'), mode });
      raw = false;
    };
    for (;;) {
      if (this.pos >= this.src.length) throw this.fail();
      const ch = this.src[this.pos]!;
      if (ch === '\\' && this.pos + 1 < this.src.length) {
        // An escaped `*` is a literal star, not a prefix mark.
        const next = this.src[this.pos + 1]!;
        cur += next === '*' ? '\u0001' : next;
        this.pos += 2;
        continue;
      }
      if (ch === '"' && cur.trim() === '') {
        const close = this.closing('"');
        cur = unescape(this.src.slice(this.pos + 1, close));
        raw = true;
        this.pos = close + 1;
        continue;
      }
      if (ch === '*') {
        // Unescaped stars mark prefix (after) or suffix (before) matching.
        cur = cur.trim() === '' ? '*\u0000' : `${cur}\u0000*`;
        this.pos++;
        continue;
      }
      if (ch === '|') { push(); this.pos++; continue; }
      if (ch === '}') { push(); this.pos++; break; }
      cur += ch;
      this.pos++;
    }
    if (values.length === 0) throw this.fail();
    return { kind: 'tag', field, values };
  }

  private bracket(field: string): Node {
    const open = this.pos;
    const close = this.src.indexOf(']', open);
    if (close < 0) throw this.fail();
    const parts = this.src.slice(open + 1, close).split(/[\s,]+/).filter((p) => p !== '');
    this.pos = close + 1;
    if (parts.length > 0 && parts[0]!.toUpperCase() === 'VECTOR_RANGE') {
      if (parts.length !== 3 || !parts[2]!.startsWith('$')) throw this.fail(open);
      const radius = this.number(parts[1]!, open);
      if (!(radius >= 0)) throw new FtError(`Error parsing vector similarity parameters: invalid radius '${quote(parts[1])}'`);
      return { kind: 'range', field, radius, param: parts[2]!.slice(1), yieldAs: null };
    }
    if (parts.length === 1) {
      const v = this.bound(parts[0]!, open);
      return { kind: 'numeric', field, lo: v.value, hi: v.value, loExclusive: v.exclusive, hiExclusive: v.exclusive };
    }
    if (parts.length !== 2) throw this.fail(open);
    const lo = this.bound(parts[0]!, open), hi = this.bound(parts[1]!, open);
    return { kind: 'numeric', field, lo: lo.value, hi: hi.value, loExclusive: lo.exclusive, hiExclusive: hi.exclusive };
  }

  private bound(text: string, at: number): { value: number; exclusive: boolean } {
    let t = text;
    let exclusive = false;
    if (t.startsWith('(')) { exclusive = true; t = t.slice(1); }
    return { value: this.number(t, at), exclusive };
  }

  private number(text: string, at: number): number {
    let t = text;
    if (t.startsWith('$')) t = this.param(t.slice(1)).toString('utf8').trim();
    const l = t.toLowerCase();
    if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Infinity;
    if (l === '-inf' || l === '-infinity') return -Infinity;
    if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(t)) throw this.fail(at + 1);
    return Number(t);
  }

  private knn(): Knn {
    const close = this.src.indexOf(']', this.pos);
    if (close < 0) throw this.fail();
    const start = this.pos;
    const parts = this.src.slice(this.pos, close).trim().split(/\s+/);
    this.pos = close + 1;
    if (parts[0]?.toUpperCase() !== 'KNN' || parts.length < 4) throw this.fail(start);
    let kText = parts[1]!;
    if (kText.startsWith('$')) kText = this.param(kText.slice(1)).toString('utf8').trim();
    if (!/^\d+$/.test(kText)) throw new FtError(`Invalid value for KNN k: '${quote(kText)}' is not a non-negative integer`);
    const k = Number(kText);
    if (!parts[2]!.startsWith('@') || parts[2]!.length < 2) throw this.fail(start);
    if (!parts[3]!.startsWith('$')) throw this.fail(start);
    const knn: Knn = { k, field: parts[2]!.slice(1), param: parts[3]!.slice(1), ef: null, alias: null };
    for (let i = 4; i < parts.length; i++) {
      const opt = parts[i]!.toUpperCase();
      const val = parts[i + 1];
      if (val === undefined) throw this.fail(start);
      if (opt === 'EF_RUNTIME') {
        let t = val;
        if (t.startsWith('$')) t = this.param(t.slice(1)).toString('utf8').trim();
        if (!/^\d+$/.test(t) || Number(t) < 1) throw new FtError(`Invalid value for EF_RUNTIME: '${quote(t)}'`);
        knn.ef = Number(t);
      } else if (opt === 'AS' || opt === 'YIELD_DISTANCE_AS') {
        knn.alias = val.startsWith('$') ? this.param(val.slice(1)).toString('utf8') : val;
      } else if (opt === 'EPSILON' || opt === 'HYBRID_POLICY' || opt === 'BATCH_SIZE' || opt === 'SHARD_K_RATIO') {
        // Tuning knobs of RediSearch's own planner: ours plans by measured selectivity.
      } else {
        throw new FtError(`Unknown attribute \`${quote(parts[i])}\` in the KNN clause`);
      }
      i++;
    }
    return knn;
  }
}

function unescape(s: string): string { return s.replace(/\\(.)/g, '$1'); }

/** FT.EXPLAIN's rendering: one node per line, children indented, as RediSearch prints its plan. */
export function explain(q: Query): string {
  const lines: string[] = [];
  const walk = (n: Node, depth: number): void => {
    const pad = '  '.repeat(depth);
    switch (n.kind) {
      case 'all': lines.push(`${pad}<WILDCARD>`); break;
      case 'and': case 'or':
        lines.push(`${pad}${n.kind === 'and' ? 'INTERSECT' : 'UNION'} {`);
        for (const c of n.children) walk(c, depth + 1);
        lines.push(`${pad}}`);
        break;
      case 'not': lines.push(`${pad}NOT{`); walk(n.child, depth + 1); lines.push(`${pad}}`); break;
      case 'tag':
        lines.push(`${pad}TAG:@${n.field} {`);
        for (const v of n.values) lines.push(`${pad}  ${v.mode === 'suffix' || v.mode === 'infix' ? '*' : ''}${v.value}${v.mode === 'prefix' || v.mode === 'infix' ? '*' : ''}`);
        lines.push(`${pad}}`);
        break;
      case 'numeric':
        lines.push(`${pad}NUMERIC {${n.lo}${n.loExclusive ? ' <' : ' <='} @${n.field}${n.hiExclusive ? ' <' : ' <='} ${n.hi}}`);
        break;
      case 'term': {
        const f = n.fields ? `@${n.fields.join('|')}:` : '';
        const t = n.mode === 'prefix' ? `${n.term}*` : n.mode === 'suffix' ? `*${n.term}` : n.mode === 'infix' ? `*${n.term}*` : n.mode === 'fuzzy' ? `%${n.term}%` : n.term;
        lines.push(`${pad}${f}${t}`);
        break;
      }
      case 'phrase': lines.push(`${pad}${n.fields ? `@${n.fields.join('|')}:` : ''}EXACT {`); for (const t of n.terms) lines.push(`${pad}  ${t}`); lines.push(`${pad}}`); break;
      case 'missing': lines.push(`${pad}ISMISSING{@${n.field}}`); break;
      case 'range': lines.push(`${pad}VECTOR {@${n.field} RANGE ${n.radius} $${n.param}${n.yieldAs ? ` YIELD_DISTANCE_AS ${n.yieldAs}` : ''}}`); break;
    }
  };
  if (q.knn) {
    lines.push(`VECTOR {K=${q.knn.k} nearest vectors to \`$${q.knn.param}\` in vector index associated with field @${q.knn.field}${q.knn.ef ? `, EF_RUNTIME = ${q.knn.ef}` : ''}${q.knn.alias ? `, yields distance as \`${q.knn.alias}\`` : ''}}`);
    lines.push('  FILTER:');
    walk(q.filter, 2);
  } else {
    walk(q.filter, 0);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The FILTER expression language of Redis 8's `VSIM … FILTER` (docs/filter-language.md),
 * shared by `VEC.SEARCH … FILTER`.
 *
 * `compileFilter` tokenizes and parses once, then turns the tree into closures, so a
 * search that tests a million payloads pays only for `JSON.parse` and a few calls per
 * payload. Every field the expression reads is resolved up front: a missing field, bad
 * JSON or an unconvertible value makes the whole expression false (as Redis, which
 * evaluates every selector, does), and once the fields are resolved nothing can fail,
 * so `and`/`or` may short-circuit without changing any result.
 *
 * Why `JSON.parse` and not a scanner that extracts just the fields read: a hand-written
 * one (validating, as the bad-JSON rule needs) measured no faster than V8's parser on
 * small payloads. Callers that keep parsed payloads skip the parse with `matchesValue`.
 */
import { ArgError, oneLine } from '../errors.js';

/** A compiled filter: evaluates against an element's attribute/payload JSON text (or an already parsed object). */
export interface CompiledFilter {
  readonly source: string;
  /** true if the element matches. attrs: the raw JSON text stored for the element, or undefined/null when it has none (→ false). */
  matches(attrs: string | null | undefined): boolean;
  /** Same on a parsed JSON value (lets callers cache parsed payloads). */
  matchesValue(value: unknown): boolean;
  /** Top-level field names the expression reads (e.g. ['year','genre']); lets callers index or skip. */
  readonly fields: readonly string[];
}

// ---------------------------------------------------------------------------
// Values

/** A scalar at run time: numbers (JSON booleans become 1/0), strings, null. */
type Scalar = number | string | null;
/** A tuple is a flat array of scalars: an `[…]` literal or a flat JSON array. */
type Tuple = readonly Scalar[];
type Value = Scalar | Tuple;
/** Resolved field values, one slot per entry of `fields`. */
type Slots = Value[];

/** strtod's view of a string, restricted to decimal (anything else is not a number → 0). */
const NUMERIC_STRING = /^[\t\n\v\f\r ]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function stringToNumber(s: string): number {
  return NUMERIC_STRING.test(s) ? Number(s) : 0;
}

/** Comparison and arithmetic operands: a non-numeric string, null and tuples are 0. */
function toNumber(v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return stringToNumber(v);
  return 0;
}

/** 0, "" and null are false; NaN, like any non-zero number, and every tuple are true. */
function truthy(v: Value): boolean {
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length !== 0;
  return v !== null;
}

function isTuple(v: Value): v is Tuple {
  return typeof v === 'object' && v !== null;
}

/**
 * `==`: two strings compare by content (code units, i.e. bytes for valid UTF-8), two
 * numbers numerically, null equals only null, two tuples element by element, anything
 * else mixed is compared as numbers.
 */
function equal(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (a === null || b === null) return a === b;
  if (isTuple(a) && isTuple(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i]!, b[i]!)) return false;
    return true;
  }
  return toNumber(a) === toNumber(b);
}

/** `in`: membership in a tuple, or substring for two strings; anything else is false. */
function contains(a: Value, b: Value): boolean {
  if (isTuple(b)) {
    for (let i = 0; i < b.length; i++) if (equal(a, b[i]!)) return true;
    return false;
  }
  return typeof a === 'string' && typeof b === 'string' && b.includes(a);
}

/** C's pow() where it differs from `**`: pow(1, y) and pow(-1, ±inf) are 1. */
function power(a: number, b: number): number {
  if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
  return a ** b;
}

/**
 * A JSON value as the language sees it, or undefined when it cannot be converted
 * (an object, a nested array, or nothing at all).
 */
function convertJson(v: unknown): Value | undefined {
  switch (typeof v) {
    case 'number':
    case 'string':
      return v;
    case 'boolean':
      return v ? 1 : 0;
    case 'object': {
      if (v === null) return null;
      if (!Array.isArray(v)) return undefined;
      let out: Scalar[] | null = null; // copied only if a boolean needs converting
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        const t = typeof e;
        if (t === 'number' || t === 'string' || e === null) {
          if (out !== null) out.push(e as Scalar);
        } else if (t === 'boolean') {
          if (out === null) out = (v as Scalar[]).slice(0, i);
          out.push(e ? 1 : 0);
        } else {
          return undefined;
        }
      }
      return out ?? (v as Scalar[]);
    }
    default:
      // undefined (missing) or a function (an inherited Object.prototype member)
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Tokens

const enum Tok { Num, Str, Null, Tuple, Field, Op, End }

interface Token {
  readonly kind: Tok;
  /** Offset in the source, for "near: …". */
  readonly pos: number;
  /** Op: the operator ('and' for '&&', 'or' for '||', 'not' for '!'); Field: the name. */
  readonly text: string;
  /** Num, Str, Tuple: the literal. */
  readonly value: Value;
}

/** Symbolic operators, longest first so `**` wins over `*`, `>=` over `>`, `!=` over `!`. */
const SYMBOLS: readonly (readonly [string, string])[] = [
  ['**', '**'], ['>=', '>='], ['<=', '<='], ['==', '=='], ['!=', '!='], ['&&', 'and'], ['||', 'or'],
  ['(', '('], [')', ')'], ['!', 'not'], ['*', '*'], ['/', '/'], ['%', '%'], ['+', '+'], ['-', '-'],
  ['>', '>'], ['<', '<'],
];
const WORD_OPS = new Set(['and', 'or', 'not', 'in']);

class FilterSyntaxError extends Error {
  /** tooDeep: the expression is well formed, but nests past MAX_FILTER_DEPTH. */
  constructor(readonly pos: number, readonly tooDeep = false) { super('filter syntax error'); }
}

function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isAlpha(c: number): boolean { return (c >= 65 && c <= 90) || (c >= 97 && c <= 122); }
/** Field names: [A-Za-z0-9_-]. */
function isFieldChar(c: number): boolean { return isAlpha(c) || isDigit(c) || c === 95 || c === 45; }
/** C isspace() in the "C" locale. */
function isSpace(c: number): boolean { return c === 32 || (c >= 9 && c <= 13); }

const NUMBER_LITERAL = /^-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$/;

class Lexer {
  private i = 0;
  private readonly tokens: Token[] = [];
  constructor(private readonly src: string) {}

  run(): Token[] {
    const s = this.src;
    for (;;) {
      while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
      const pos = this.i;
      if (pos >= s.length) {
        this.tokens.push({ kind: Tok.End, pos, text: '', value: null });
        return this.tokens;
      }
      const c = s.charCodeAt(pos);
      if (isDigit(c) || (c === 45 && this.minusIsNumber() && isDigit(s.charCodeAt(pos + 1)))) {
        this.tokens.push({ kind: Tok.Num, pos, text: '', value: this.number() });
      } else if (c === 34 || c === 39) {
        this.tokens.push({ kind: Tok.Str, pos, text: '', value: this.string() });
      } else if (c === 46 && isFieldChar(s.charCodeAt(pos + 1))) {
        let j = pos + 1;
        while (j < s.length && isFieldChar(s.charCodeAt(j))) j++;
        this.i = j;
        this.tokens.push({ kind: Tok.Field, pos, text: s.slice(pos + 1, j), value: null });
      } else if (c === 91) {
        this.tokens.push({ kind: Tok.Tuple, pos, text: '', value: this.tuple() });
      } else if (isAlpha(c)) {
        let j = pos;
        while (j < s.length && isAlpha(s.charCodeAt(j))) j++;
        const word = s.slice(pos, j);
        // Keywords are lowercase only; there is no true/false literal.
        if (word === 'null') this.tokens.push({ kind: Tok.Null, pos, text: word, value: null });
        else if (WORD_OPS.has(word)) this.tokens.push({ kind: Tok.Op, pos, text: word, value: null });
        else throw new FilterSyntaxError(pos);
        this.i = j;
      } else {
        const sym = SYMBOLS.find(([spelling]) => s.startsWith(spelling, pos));
        if (sym === undefined) throw new FilterSyntaxError(pos);
        this.tokens.push({ kind: Tok.Op, pos, text: sym[1], value: null });
        this.i = pos + sym[0].length;
      }
    }
  }

  /**
   * As in Redis, '-' before a digit is part of a number at the start, after an operator
   * or after '(' (so `2--3`, `.a==-1` and `(-1)` work), and a minus operator after a
   * value or ')'. Unary minus on anything but a number literal is thus a syntax error.
   */
  private minusIsNumber(): boolean {
    const last = this.tokens[this.tokens.length - 1];
    return last === undefined || (last.kind === Tok.Op && last.text !== ')');
  }

  private number(): number {
    const s = this.src;
    const start = this.i;
    let j = start + 1; // the first char is a digit or a '-'
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (isDigit(c) || c === 46 /* . */ || c === 101 || c === 69 /* e E */) continue;
      const p = s.charCodeAt(j - 1);
      if ((c === 43 || c === 45) && (p === 101 || p === 69) && isDigit(s.charCodeAt(j + 1))) continue;
      break;
    }
    const text = s.slice(start, j);
    if (!NUMBER_LITERAL.test(text)) throw new FilterSyntaxError(start);
    this.i = j;
    return Number(text);
  }

  /** A '…' or "…" literal; `\n \t \r \b \f \uXXXX` as in JSON, any other `\c` is c. */
  private string(): string {
    const s = this.src;
    const start = this.i;
    const quote = s.charCodeAt(start);
    let out = '';
    let run = start + 1; // start of the pending unescaped run
    let j = start + 1;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c === quote) {
        this.i = j + 1;
        return out + s.slice(run, j);
      }
      if (c !== 92 /* \ */) { j++; continue; }
      if (j + 1 >= s.length) break;
      out += s.slice(run, j);
      const e = s[j + 1]!;
      j += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          const hex = s.slice(j, j + 4);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new FilterSyntaxError(j - 2);
          out += String.fromCharCode(parseInt(hex, 16));
          j += 4;
          break;
        }
        default: out += e;
      }
      run = j;
    }
    throw new FilterSyntaxError(start); // unterminated
  }

  /** `[` scalar (`,` scalar)* [`,`] `]`: numbers (with optional '-'), strings, null. */
  private tuple(): Tuple {
    const s = this.src;
    const out: Scalar[] = [];
    this.i++; // '['
    for (;;) {
      this.skipSpaces();
      if (s.charCodeAt(this.i) === 93 /* ] */) { this.i++; return out; }
      const c = s.charCodeAt(this.i);
      if (isDigit(c) || (c === 45 && isDigit(s.charCodeAt(this.i + 1)))) out.push(this.number());
      else if (c === 34 || c === 39) out.push(this.string());
      else if (s.startsWith('null', this.i) && !isAlpha(s.charCodeAt(this.i + 4))) { out.push(null); this.i += 4; }
      else throw new FilterSyntaxError(this.i);
      this.skipSpaces();
      const d = s.charCodeAt(this.i);
      if (d === 44 /* , */) this.i++;
      else if (d === 93) { this.i++; return out; }
      else throw new FilterSyntaxError(this.i);
    }
  }

  private skipSpaces(): void {
    while (this.i < this.src.length && isSpace(this.src.charCodeAt(this.i))) this.i++;
  }
}

// ---------------------------------------------------------------------------
// Compiled nodes

const enum Ty { Num, Str, Null, Tuple, Any }

/**
 * One node of the expression as closures. `val` gives the value, `num` and `bool` its
 * number and truth without boxing through `val` where the node can do better (a
 * comparison computes a boolean, an arithmetic node a number).
 */
interface Node {
  readonly ty: Ty;
  /** The node's value when it reads no field. */
  readonly constant: boolean;
  val(s: Slots): Value;
  num(s: Slots): number;
  bool(s: Slots): boolean;
}

const NO_SLOTS: Slots = [];

function constNode(v: Value): Node {
  const n = toNumber(v);
  const b = truthy(v);
  const ty = typeof v === 'number' ? Ty.Num : typeof v === 'string' ? Ty.Str : v === null ? Ty.Null : Ty.Tuple;
  return { ty, constant: true, val: () => v, num: () => n, bool: () => b };
}

function numberNode(num: (s: Slots) => number): Node {
  return { ty: Ty.Num, constant: false, val: num, num, bool: (s) => num(s) !== 0 };
}

function boolNode(bool: (s: Slots) => boolean): Node {
  return { ty: Ty.Num, constant: false, val: (s) => (bool(s) ? 1 : 0), num: (s) => (bool(s) ? 1 : 0), bool };
}

function fieldNode(slot: number): Node {
  return {
    ty: Ty.Any,
    constant: false,
    val: (s) => s[slot]!,
    num: (s) => { const v = s[slot]!; return typeof v === 'number' ? v : toNumber(v); },
    bool: (s) => truthy(s[slot]!),
  };
}

/** Fold a node that reads no field into a constant. */
function fold(node: Node, ...inputs: Node[]): Node {
  return inputs.every((n) => n.constant) ? constNode(node.val(NO_SLOTS)) : node;
}

function arithmetic(op: string, l: Node, r: Node): Node {
  const a = l.num, b = r.num;
  switch (op) {
    case '+': return numberNode((s) => a(s) + b(s));
    case '-': return numberNode((s) => a(s) - b(s));
    case '*': return numberNode((s) => a(s) * b(s));
    case '/': return numberNode((s) => a(s) / b(s));
    case '%': return numberNode((s) => a(s) % b(s)); // JS % is C's fmod
    default: return numberNode((s) => power(a(s), b(s)));
  }
}

function comparison(op: string, l: Node, r: Node): Node {
  // Ordering is numeric only: no lexicographic '<' on strings.
  if (op === '<' || op === '<=' || op === '>' || op === '>=') {
    const a = l.num, b = r.num;
    if (r.constant) {
      const c = r.num(NO_SLOTS);
      switch (op) {
        case '<': return boolNode((s) => a(s) < c);
        case '<=': return boolNode((s) => a(s) <= c);
        case '>': return boolNode((s) => a(s) > c);
        default: return boolNode((s) => a(s) >= c);
      }
    }
    switch (op) {
      case '<': return boolNode((s) => a(s) < b(s));
      case '<=': return boolNode((s) => a(s) <= b(s));
      case '>': return boolNode((s) => a(s) > b(s));
      default: return boolNode((s) => a(s) >= b(s));
    }
  }
  if (op === 'in') {
    const a = l.val, b = r.val;
    if (r.constant && r.ty === Ty.Tuple) {
      const has = memberTest(r.val(NO_SLOTS) as Tuple);
      return boolNode((s) => has(a(s)));
    }
    return boolNode((s) => contains(a(s), b(s)));
  }
  const eq = equality(l, r);
  return op === '==' ? boolNode(eq) : boolNode((s) => !eq(s));
}

function equality(l: Node, r: Node): (s: Slots) => boolean {
  if (l.constant && !r.constant) [l, r] = [r, l]; // `equal` is symmetric; keep the constant on the right
  if (l.ty === Ty.Num && r.ty === Ty.Num) {
    const a = l.num, b = r.num;
    return (s) => a(s) === b(s);
  }
  const a = l.val;
  if (r.constant) {
    const c = r.val(NO_SLOTS);
    if (typeof c === 'string') {
      // The common `.genre == "drama"`: a string field is a content compare.
      return (s) => { const v = a(s); return typeof v === 'string' ? v === c : equal(v, c); };
    }
    if (typeof c === 'number') {
      return (s) => { const v = a(s); return typeof v === 'number' ? v === c : equal(v, c); };
    }
    return (s) => equal(a(s), c);
  }
  const b = r.val;
  return (s) => equal(a(s), b(s));
}

/**
 * Membership in a constant tuple. Short tuples are scanned; long ones (`.id in [… 1000
 * ids]`) use sets that give the same answers as `equal` against every element.
 */
function memberTest(t: Tuple): (v: Value) => boolean {
  if (t.length <= 8) return (v) => contains(v, t);
  const strings = new Set<string>();
  const numbersAll = new Set<number>(); // toNumber of every non-null element
  const numbersNonString = new Set<number>(); // … of numbers (tuples are not elements)
  let hasNull = false;
  for (const e of t) {
    if (e === null) { hasNull = true; continue; }
    numbersAll.add(toNumber(e));
    if (typeof e === 'string') strings.add(e);
    else numbersNonString.add(e);
  }
  return (v) => {
    if (typeof v === 'number') return v === v && numbersAll.has(v); // NaN equals nothing
    if (typeof v === 'string') return strings.has(v) || numbersNonString.has(stringToNumber(v));
    if (v === null) return hasNull;
    return contains(v, t);
  };
}

// ---------------------------------------------------------------------------
// Parser: precedence climbing over the spec's table, highest first:
// () · ! not · ** (right) · * / % · + - · > >= < <= == != in · and && · or ||

const BINARY: ReadonlyMap<string, number> = new Map([
  ['or', 1], ['and', 2],
  ['>', 3], ['>=', 3], ['<', 3], ['<=', 3], ['==', 3], ['!=', 3], ['in', 3],
  ['+', 4], ['-', 4],
  ['*', 5], ['/', 5], ['%', 5],
  ['**', 6],
]);
const UNARY_POWER = 7;

/**
 * Deepest expression accepted. Evaluation recurses through the closures, so a hostile
 * `((((…` or `.a+.a+…` must be refused at compile time rather than overflow the stack
 * on every payload. Long `and`/`or` chains do not count: they compile to one loop.
 */
export const MAX_FILTER_DEPTH = 1000;

interface Chain {
  readonly op: 'and' | 'or';
  readonly tests: ((s: Slots) => boolean)[];
}

class Parser {
  private k = 0;
  private level = 0;
  readonly fields: string[] = [];
  private readonly slotOf = new Map<string, number>();
  /** Compile-time bookkeeping: a node's depth (1 if absent), and and/or chains still open to extension. */
  private readonly depthOf = new Map<Node, number>();
  private readonly chainOf = new Map<Node, Chain>();

  constructor(private readonly tokens: Token[]) {}

  parseAll(): Node {
    const node = this.expression(0);
    const t = this.tokens[this.k]!;
    if (t.kind !== Tok.End) throw new FilterSyntaxError(t.pos);
    return node;
  }

  private expression(minPower: number): Node {
    if (++this.level > MAX_FILTER_DEPTH) throw new FilterSyntaxError(this.tokens[this.k]!.pos, true);
    let left = this.unary();
    for (;;) {
      const t = this.tokens[this.k]!;
      if (t.kind !== Tok.Op) {
        if (t.kind === Tok.End) break;
        throw new FilterSyntaxError(t.pos); // two operands in a row
      }
      const power = BINARY.get(t.text);
      if (power === undefined) {
        if (t.text === ')') break; // the caller checks that a '(' is open
        throw new FilterSyntaxError(t.pos); // '(' or 'not' after an operand
      }
      if (power <= minPower) break;
      this.k++;
      // '**' is right-associative: its right side may hold another '**'.
      const right = this.expression(t.text === '**' ? power - 1 : power);
      left = this.binary(t, left, right);
    }
    this.level--;
    return left;
  }

  private depth(n: Node): number {
    return this.depthOf.get(n) ?? 1;
  }

  private deeper(node: Node, depth: number, at: Token): Node {
    if (node.constant) return node; // folded: evaluating it recurses no further
    if (depth > MAX_FILTER_DEPTH) throw new FilterSyntaxError(at.pos, true);
    if (depth > 1) this.depthOf.set(node, depth);
    return node;
  }

  private binary(at: Token, l: Node, r: Node): Node {
    const op = at.text;
    if (op === 'and' || op === 'or') return this.logic(at, op, l, r);
    const node = BINARY.get(op) === 3 ? comparison(op, l, r) : arithmetic(op, l, r);
    return this.deeper(fold(node, l, r), 1 + Math.max(this.depth(l), this.depth(r)), at);
  }

  /** `a or b or c …` is one node testing each operand in turn, however long the chain. */
  private logic(at: Token, op: 'and' | 'or', l: Node, r: Node): Node {
    if (l.constant && r.constant) {
      const b = op === 'and' ? l.bool(NO_SLOTS) && r.bool(NO_SLOTS) : l.bool(NO_SLOTS) || r.bool(NO_SLOTS);
      return constNode(b ? 1 : 0);
    }
    const depth = Math.max(this.depth(l), 1 + this.depth(r));
    const chain = this.chainOf.get(l);
    if (chain !== undefined && chain.op === op) {
      // l is the chain built so far and is referenced nowhere else: extend it in place.
      chain.tests.push(r.bool);
      return this.deeper(l, depth, at);
    }
    const a = l.bool, b = r.bool;
    const tests = [a, b]; // grows in place as the chain is extended
    const node = op === 'and'
      ? boolNode((s) => {
        if (!a(s) || !b(s)) return false;
        for (let i = 2; i < tests.length; i++) if (!tests[i]!(s)) return false;
        return true;
      })
      : boolNode((s) => {
        if (a(s) || b(s)) return true;
        for (let i = 2; i < tests.length; i++) if (tests[i]!(s)) return true;
        return false;
      });
    this.chainOf.set(node, { op, tests });
    return this.deeper(node, Math.max(depth, 2), at);
  }

  private unary(): Node {
    const t = this.tokens[this.k]!;
    this.k++;
    switch (t.kind) {
      case Tok.Num:
      case Tok.Str:
      case Tok.Null:
      case Tok.Tuple:
        return constNode(t.value);
      case Tok.Field:
        return fieldNode(this.slot(t.text));
      case Tok.Op:
        if (t.text === 'not') {
          // The operand binds tighter than every binary operator: `not .a == 1` is `(not .a) == 1`.
          const operand = this.expression(UNARY_POWER);
          const b = operand.bool;
          return this.deeper(fold(boolNode((s) => !b(s)), operand), 1 + this.depth(operand), t);
        }
        if (t.text === '(') {
          const inner = this.expression(0);
          const close = this.tokens[this.k]!;
          if (close.kind !== Tok.Op || close.text !== ')') throw new FilterSyntaxError(close.pos);
          this.k++;
          return inner;
        }
        throw new FilterSyntaxError(t.pos);
      default:
        throw new FilterSyntaxError(t.pos); // the end, where an operand should be
    }
  }

  private slot(name: string): number {
    let i = this.slotOf.get(name);
    if (i === undefined) {
      i = this.fields.length;
      this.fields.push(name);
      this.slotOf.set(name, i);
    }
    return i;
  }
}

// ---------------------------------------------------------------------------

/**
 * Throws ArgError('syntax error in FILTER expression near: <rest of the expression from the
 * offending token>') on bad syntax, including an empty expression, and ArgError('FILTER
 * expression nests deeper than 1000 levels near: <rest from where the limit was crossed>').
 */
export function compileFilter(expr: string): CompiledFilter {
  let root: Node;
  let names: string[];
  try {
    const parser = new Parser(new Lexer(expr).run());
    root = parser.parseAll();
    names = parser.fields;
  } catch (err) {
    if (err instanceof FilterSyntaxError) {
      const what = err.tooDeep ? `FILTER expression nests deeper than ${MAX_FILTER_DEPTH} levels` : 'syntax error in FILTER expression';
      throw new ArgError(`${what} near: ${oneLine(expr.slice(err.pos))}`);
    }
    throw err;
  }
  const fields: readonly string[] = Object.freeze(names.slice());
  const test = root.bool;
  const count = fields.length;
  // Reused across calls: evaluation never re-enters itself.
  const slots: Slots = new Array<Value>(count).fill(null);

  function matchesValue(value: unknown): boolean {
    if (value === undefined) return false;
    if (count === 0) return test(slots);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const obj = value as Record<string, unknown>;
    for (let i = 0; i < count; i++) {
      const v = convertJson(obj[fields[i]!]);
      if (v === undefined) return false; // missing or unconvertible: the whole expression is false
      slots[i] = v;
    }
    return test(slots);
  }

  function matches(attrs: string | null | undefined): boolean {
    if (attrs === null || attrs === undefined || attrs.length === 0) return false;
    let value: unknown;
    try {
      value = JSON.parse(attrs);
    } catch {
      return false; // bad JSON: no match, by the spec's rule (not an error)
    }
    return matchesValue(value);
  }

  return { source: expr, fields, matches, matchesValue };
}

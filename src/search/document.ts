/**
 * Reading a document's fields out of the keyspace. The search feature must
 * not import the hashes or JSON features (docs/architecture.md: features
 * import core, engine, store and protocol only), so it reads their values by
 * their published shape: a `hash` answers `get(field)` with a latin1 string;
 * a `ReJSON-RL` document has a `root` tree (Maps for objects, arrays,
 * strings, numbers, bigints, booleans, null, and `{value}` floats) and
 * `serialize()` for its JSON text.
 */
import type { StoredValue } from '../engine/keyspace.js';

export interface HashLike extends StoredValue { get(field: string): string | undefined; entries(): IterableIterator<[string, string]> }
export interface JsonLike extends StoredValue { root: unknown; serialize(): Buffer }

export function asHash(v: StoredValue | undefined): HashLike | null {
  return v !== undefined && v.type === 'hash' && typeof (v as Partial<HashLike>).get === 'function' ? v as HashLike : null;
}

export function asJson(v: StoredValue | undefined): JsonLike | null {
  return v !== undefined && v.type === 'ReJSON-RL' && 'root' in v ? v as JsonLike : null;
}

/** A JSON number node of any representation, else null. */
export function jsonNumber(n: unknown): number | null {
  if (typeof n === 'number') return n;
  if (typeof n === 'bigint') return Number(n);
  if (typeof n === 'object' && n !== null && !Array.isArray(n) && !(n instanceof Map) && typeof (n as { value?: unknown }).value === 'number') {
    return (n as { value: number }).value;
  }
  return null;
}

/** JSON text of a node, for RETURN of a non-string JSON field. */
export function jsonText(n: unknown): string {
  if (n === null || n === undefined) return 'null';
  if (typeof n === 'string') return JSON.stringify(n);
  if (typeof n === 'boolean' || typeof n === 'bigint') return String(n);
  if (typeof n === 'number') return String(n);
  if (Array.isArray(n)) return `[${n.map(jsonText).join(',')}]`;
  if (n instanceof Map) return `{${[...n].map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  const f = jsonNumber(n);
  if (f !== null) return Number.isInteger(f) ? f.toFixed(1) : String(f);
  return 'null';
}

/** A schema path compiled once: the steps of `$.a.b`, `$['a']`, `$.a[0]`, `$.a[*]`, `$..a`. */
type Step = { kind: 'name'; name: string } | { kind: 'index'; index: number } | { kind: 'all' } | { kind: 'deep'; name: string };

const compiled = new Map<string, Step[] | null>();

export function compilePath(path: string): Step[] | null {
  const hit = compiled.get(path);
  if (hit !== undefined) return hit;
  const steps = parsePath(path);
  if (compiled.size > 10_000) compiled.clear();
  compiled.set(path, steps);
  return steps;
}

function parsePath(p: string): Step[] | null {
  if (!p.startsWith('$')) return null;
  const steps: Step[] = [];
  let i = 1;
  const name = (): string => {
    const m = /^[^.[\]\s]+/.exec(p.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < p.length) {
    if (p.startsWith('..', i)) {
      i += 2;
      const n = name();
      if (!n) return null;
      steps.push({ kind: 'deep', name: n });
    } else if (p[i] === '.') {
      i++;
      if (p[i] === '*') { i++; steps.push({ kind: 'all' }); continue; }
      const n = name();
      if (!n) return null;
      steps.push({ kind: 'name', name: n });
    } else if (p[i] === '[') {
      const close = p.indexOf(']', i);
      if (close < 0) return null;
      const inner = p.slice(i + 1, close).trim();
      i = close + 1;
      if (inner === '*') steps.push({ kind: 'all' });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^(['"]).*\1$/.test(inner)) steps.push({ kind: 'name', name: inner.slice(1, -1) });
      else return null;
    } else {
      return null;
    }
  }
  return steps;
}

/** The nodes a path selects in a document (none when the path is malformed or absent). */
export function select(root: unknown, steps: readonly Step[]): unknown[] {
  let cur: unknown[] = [root];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const n of cur) {
      if (s.kind === 'name') { if (n instanceof Map && n.has(s.name)) next.push(n.get(s.name)); }
      else if (s.kind === 'index') {
        if (Array.isArray(n)) { const j = s.index < 0 ? n.length + s.index : s.index; if (j >= 0 && j < n.length) next.push(n[j]); }
      } else if (s.kind === 'all') {
        if (Array.isArray(n)) next.push(...n); else if (n instanceof Map) next.push(...n.values());
      } else {
        deep(n, s.name, next);
      }
    }
    cur = next;
  }
  return cur;
}

function deep(n: unknown, name: string, out: unknown[]): void {
  if (n instanceof Map) {
    if (n.has(name)) out.push(n.get(name));
    for (const v of n.values()) deep(v, name, out);
  } else if (Array.isArray(n)) {
    for (const v of n) deep(v, name, out);
  }
}

/** Bytes of a hash value (latin1, one char per byte) as text. */
export const hashText = (s: string): string => (/[\x80-\xff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);

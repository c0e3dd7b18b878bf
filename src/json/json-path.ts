/**
 * JSONPath as RedisJSON reads it, the subset the frameworks send: `$`,
 * `.name`, `['name']`/`["name"]`, `[0]`, `[-1]`, `[*]`, `.*`, `..name`,
 * `..*`, unions `[0,2]`/`['a','b']` and slices `[1:3]`. Filters (`[?(…)]`)
 * are refused with a path error.
 *
 * Legacy paths (RedisJSON 1.x: `.`, `.a.b`, `a`) become JSONPaths the way
 * RedisJSON converts them (`$`, `$.a.b`, `$.a`); a legacy path answers with
 * its first match rather than an array of all of them.
 */
import { BareError, isObject, type JsonNode, type JsonObject } from './json-value.js';

export type Step =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wild' }
  | { kind: 'names'; names: string[] }
  | { kind: 'indexes'; indexes: number[] }
  | { kind: 'slice'; start: number | null; end: number | null; step: number }
  | { kind: 'descend'; then: Step };

export interface PathArg {
  /** As the client wrote it (multi-path JSON.GET keys its answer by it). */
  readonly original: string;
  /** As a JSONPath (legacy paths converted). */
  readonly path: string;
  readonly legacy: boolean;
}

export function pathArg(text: string): PathArg {
  if (text.startsWith('$')) return { original: text, path: text, legacy: false };
  const path = text === '.' ? '$' : text.startsWith('.') ? `$${text}` : `$.${text}`;
  return { original: text, path, legacy: true };
}

function fail(pos: number, why: string): never {
  throw new BareError(`Error occurred on position ${pos}, ${why}`);
}

export function compile(path: string): Step[] {
  if (!path.startsWith('$')) fail(1, 'expected a path starting with $');
  const steps: Step[] = [];
  let i = 1;
  const n = path.length;
  while (i < n) {
    const c = path[i];
    if (c === '.') {
      if (path[i + 1] === '.') {
        i += 2;
        const [step, next] = afterDot(path, i, true);
        steps.push({ kind: 'descend', then: step });
        i = next;
      } else {
        i += 1;
        const [step, next] = afterDot(path, i, false);
        steps.push(step);
        i = next;
      }
    } else if (c === '[') {
      const [step, next] = bracket(path, i);
      steps.push(step);
      i = next;
    } else {
      fail(i + 1, `unexpected '${c}'`);
    }
  }
  return steps;
}

/** What follows a `.` or `..`: `*`, a name, or a bracket. */
function afterDot(path: string, i: number, descend: boolean): [Step, number] {
  if (path[i] === '*') return [{ kind: 'wild' }, i + 1];
  if (path[i] === '[') return bracket(path, i);
  let j = i;
  while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
  if (j === i) fail(i + 1, descend ? 'expected a name, * or [ after ..' : 'expected a name, * or [ after .');
  const name = path.slice(i, j);
  if (/[\s\]]/.test(name)) fail(i + 1, `invalid name '${name}'`);
  return [{ kind: 'name', name }, j];
}

function bracket(path: string, i: number): [Step, number] {
  let j = i + 1;
  const skip = () => { while (path[j] === ' ') j++; };
  skip();
  if (path[j] === '*') {
    j++; skip();
    if (path[j] !== ']') fail(j + 1, 'expected ]');
    return [{ kind: 'wild' }, j + 1];
  }
  if (path[j] === '?') fail(j + 1, 'filter expressions are not supported');
  const names: string[] = [];
  const indexes: number[] = [];
  let slice: Step | null = null;
  for (;;) {
    skip();
    const c = path[j];
    if (c === '\'' || c === '"') {
      let k = j + 1, s = '';
      while (k < path.length && path[k] !== c) {
        if (path[k] === '\\' && k + 1 < path.length) { s += path[k + 1]; k += 2; } else s += path[k++];
      }
      if (k >= path.length) fail(k, 'unterminated string');
      names.push(s);
      j = k + 1;
    } else {
      const m = /^(-?\d+)?\s*(?::\s*(-?\d+)?\s*(?::\s*(-?\d+)?)?)?/.exec(path.slice(j));
      const text = m?.[0] ?? '';
      if (!text.trim()) fail(j + 1, 'expected an index, a quoted name or *');
      if (text.includes(':')) {
        if (names.length || indexes.length || slice) fail(j + 1, 'a slice cannot be part of a union');
        slice = { kind: 'slice', start: m![1] ? Number(m![1]) : null, end: m![2] ? Number(m![2]) : null, step: m![3] ? Number(m![3]) : 1 };
      } else {
        indexes.push(Number(m![1]));
      }
      j += text.length;
    }
    skip();
    if (path[j] === ',') { j++; continue; }
    if (path[j] === ']') { j++; break; }
    fail(j + 1, 'expected , or ]');
  }
  if (slice) return [slice, j];
  if (names.length && indexes.length) fail(i + 1, 'a union mixes names and indexes');
  if (names.length === 1) return [{ kind: 'name', name: names[0]! }, j];
  if (names.length) return [{ kind: 'names', names }, j];
  if (indexes.length === 1) return [{ kind: 'index', index: indexes[0]! }, j];
  return [{ kind: 'indexes', indexes }, j];
}

/** Only single names and indexes: a path JSON.SET may create the last step of. */
export const isStatic = (steps: readonly Step[]): boolean => steps.every((s) => s.kind === 'name' || s.kind === 'index');

/** One node a path reached, with where it sits (to replace or delete it). */
export interface Match {
  value: JsonNode;
  parent: JsonNode[] | JsonObject | null;
  key: string | number;
  /** Keys and indexes from the root: its depth, and nested-match detection for deletes. */
  path: ReadonlyArray<string | number>;
}

export function evaluate(root: JsonNode, steps: readonly Step[]): Match[] {
  let cur: Match[] = [{ value: root, parent: null, key: '', path: [] }];
  for (const step of steps) {
    const next: Match[] = [];
    for (const m of cur) apply(step, m, next);
    cur = next;
  }
  return cur;
}

const child = (m: Match, key: string | number, value: JsonNode): Match =>
  ({ value, parent: m.value as JsonNode[] | JsonObject, key, path: [...m.path, key] });

function apply(step: Step, m: Match, out: Match[]): void {
  const v = m.value;
  switch (step.kind) {
    case 'name':
      if (isObject(v) && v.has(step.name)) out.push(child(m, step.name, v.get(step.name)!));
      return;
    case 'names':
      if (isObject(v)) for (const name of step.names) if (v.has(name)) out.push(child(m, name, v.get(name)!));
      return;
    case 'index':
      if (Array.isArray(v)) {
        const i = step.index < 0 ? v.length + step.index : step.index;
        if (i >= 0 && i < v.length) out.push(child(m, i, v[i]!));
      }
      return;
    case 'indexes':
      if (Array.isArray(v)) {
        for (const x of step.indexes) {
          const i = x < 0 ? v.length + x : x;
          if (i >= 0 && i < v.length) out.push(child(m, i, v[i]!));
        }
      }
      return;
    case 'slice': {
      if (!Array.isArray(v) || step.step <= 0) return;
      const len = v.length;
      const norm = (x: number) => (x < 0 ? Math.max(0, len + x) : Math.min(len, x));
      const start = step.start === null ? 0 : norm(step.start);
      const end = step.end === null ? len : norm(step.end);
      for (let i = start; i < end; i += step.step) out.push(child(m, i, v[i]!));
      return;
    }
    case 'wild':
      if (Array.isArray(v)) v.forEach((c, i) => out.push(child(m, i, c)));
      else if (isObject(v)) for (const [k, c] of v) out.push(child(m, k, c));
      return;
    case 'descend': {
      // Pre-order: the node itself, then each child's subtree in order.
      const stack: Match[] = [m];
      while (stack.length > 0) {
        const n = stack.pop()!;
        apply(step.then, n, out);
        const kids: Match[] = [];
        if (Array.isArray(n.value)) n.value.forEach((c, i) => kids.push(child(n, i, c)));
        else if (isObject(n.value)) for (const [k, c] of n.value) kids.push(child(n, k, c));
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
      }
      return;
    }
  }
}

/**
 * RedisJSON's commands, the subset AI frameworks send (JSON.SET/GET/MGET/DEL
 * and the small readers and updaters), with RedisJSON's replies and error
 * lines. Each follows RedisJSON's two modes: a JSONPath (`$…`) answers per
 * match (an array, null where a match has the wrong type), a legacy path
 * answers for its first match and errors when there is none.
 *
 * Writes are logged as received: each is deterministic (NUMINCRBY's
 * arithmetic included), so replay redoes exactly what ran.
 */
import { OK, type Reply } from '../../protocol/reply.js';
import { ArgError, SYNTAX, WrongTypeError, RespError } from '../errors.js';
import { keyOf, type Database } from '../engine/keyspace.js';
import { MAX_PAYLOAD_DEPTH } from '../core/json-depth.js';
import { isKeyword } from '../core/numbers.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { JsonDoc } from './json-doc.js';
import { compile, evaluate, isStatic, pathArg, type Match, type PathArg, type Step } from './json-path.js';
import {
  BareError, COMPACT, cloneNode, floatNode, intNode, isNumber, isObject, nodeDepth, numberOf, parseJson, stringify,
  typeOf, type JsonNode, type Layout,
} from './json-value.js';

const NO_KEY = 'could not perform this operation on a key that doesn\'t exist';
const utf8 = (b: Buffer): string => b.toString('utf8');
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

function wrongArgs(name: string): ArgError { return new ArgError(`wrong number of arguments for '${name}' command`); }

/** The document at `key`, or undefined; WRONGTYPE for another type. */
function lookup(ctx: Ctx, key: Buffer, read: boolean): JsonDoc | undefined {
  const k = keyOf(key);
  const v = read ? ctx.db.get(k) : ctx.db.peek(k);
  if (v === undefined) return undefined;
  if (!(v instanceof JsonDoc)) throw new WrongTypeError();
  return v;
}

function mustExist(doc: JsonDoc | undefined): JsonDoc {
  if (!doc) throw new ArgError(NO_KEY);
  return doc;
}

/**
 * The document to change: itself, or a deep copy when a running snapshot may
 * be reading it (Database.shared). Nothing is stored until `commit`, so a
 * command that ends up changing nothing leaves the key as it was.
 */
function mutable(db: Database, doc: JsonDoc): JsonDoc {
  return db.shared(doc.stamp) ? doc.clone(db.valueEpoch) : doc;
}

function commit(ctx: Ctx, key: Buffer, doc: JsonDoc, event: string): void {
  doc.changed();
  // The same object again (TTL kept) tells the keyspace of the change (WATCH); a copy replaces the original.
  ctx.db.set(keyOf(key), doc, true);
  ctx.server.keyspaceEvent(ctx.client.db, 'd', event, key);
}

function compiled(p: PathArg): Step[] { return compile(p.path); }

/** Replace a match's node in its parent (never the root: callers handle `$`). */
function replace(m: Match, value: JsonNode): void {
  if (Array.isArray(m.parent)) m.parent[m.key as number] = value;
  else m.parent!.set(m.key as string, value);
}

function checkDepth(at: number, value: JsonNode): void {
  if (at + nodeDepth(value) > MAX_PAYLOAD_DEPTH) throw new BareError(`ERR the document would nest more than ${MAX_PAYLOAD_DEPTH} levels of arrays and objects`);
}

function pathMissing(path: string): ArgError { return new ArgError(`Path '${path}' does not exist`); }
function pathMissingOr(path: string, or: string): ArgError { return new ArgError(`Path '${path}' does not exist or ${or}`); }
function expected(what: string, found: JsonNode): RespError {
  return new RespError('WRONGTYPE', `wrong type of path value - expected ${what} but found ${typeOf(found)}`);
}

// ---- JSON.SET ----

function jsonSet(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(utf8(argv[2]));
  let nx = false, xx = false;
  for (let i = 4; i < argv.length; i++) {
    if (isKeyword(argv[i], 'NX') && !nx && !xx) nx = true;
    else if (isKeyword(argv[i], 'XX') && !nx && !xx) xx = true;
    else throw new ArgError(SYNTAX);
  }
  const cur = lookup(ctx, argv[1], false);
  const value = parseJson(argv[3]);
  const nothing = (): Reply => { ctx.propagate = null; return null; };
  const db = ctx.db;
  if (!cur) {
    if (xx) return nothing();
    if (p.path !== '$') throw new ArgError('new objects must be created at the root');
    db.set(keyOf(argv[1]), new JsonDoc(value, db.valueEpoch));
    ctx.server.keyspaceEvent(ctx.client.db, 'd', 'json.set', argv[1]);
    return OK;
  }
  if (p.path === '$') {
    if (nx) return nothing();
    // A new document in place of the old one; the key (and its TTL) stays, as in RedisJSON.
    commit(ctx, argv[1], new JsonDoc(value, db.valueEpoch), 'json.set');
    return OK;
  }
  const steps = compiled(p);
  const doc = mutable(db, cur);
  if (!nx) {
    const matches = evaluate(doc.root, steps);
    if (matches.length > 0) {
      for (const m of matches) checkDepth(m.path.length, value);
      matches.forEach((m, i) => replace(m, i === 0 ? value : cloneNode(value)));
      commit(ctx, argv[1], doc, 'json.set');
      return OK;
    }
  }
  if (xx) return nothing();
  if (!isStatic(steps)) throw new BareError('Err wrong static path');
  const last = steps[steps.length - 1]!;
  if (last.kind === 'index') {
    if (evaluate(doc.root, steps).length === 0) throw new ArgError('array index out of range');
    return nothing();
  }
  const name = (last as { name: string }).name;
  const parents = evaluate(doc.root, steps.slice(0, -1));
  let added = false;
  for (const m of parents) {
    if (!isObject(m.value) || m.value.has(name)) continue;
    checkDepth(m.path.length + 1, value);
    m.value.set(name, added ? cloneNode(value) : value);
    added = true;
  }
  if (!added) return nothing();
  commit(ctx, argv[1], doc, 'json.set');
  return OK;
}

// ---- JSON.GET / JSON.MGET ----

function render(doc: JsonDoc, paths: PathArg[], layout: Layout): string {
  const legacy = paths.every((p) => p.legacy);
  if (paths.length === 1) {
    const p = paths[0]!;
    const matches = evaluate(doc.root, compiled(p));
    if (!legacy) return stringify(matches.map((m) => m.value), layout);
    if (matches.length === 0) throw pathMissing(p.path);
    return stringify(matches[0]!.value, layout);
  }
  // Several paths: an object keyed by each path as written; a path that does not compile is left out.
  const out = new Map<string, JsonNode>();
  let missing: string | null = null;
  for (const p of paths) {
    let matches: Match[];
    try { matches = evaluate(doc.root, compiled(p)); } catch (e) { if (e instanceof RespError) continue; throw e; }
    if (!legacy) out.set(p.original, matches.map((m) => m.value));
    else if (matches.length > 0) out.set(p.original, matches[0]!.value);
    else missing ??= p.original;
  }
  if (missing !== null) throw pathMissing(missing);
  return stringify(out, layout);
}

function jsonGet(ctx: Ctx, argv: Buffer[]): Reply {
  const layout: Layout = { ...COMPACT };
  const paths: PathArg[] = [];
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    // As RedisJSON: an argument longer than any keyword is a path, whatever it spells.
    if (a.length <= 8) {
      const which = isKeyword(a, 'INDENT') ? 'indent' : isKeyword(a, 'NEWLINE') ? 'newline' : isKeyword(a, 'SPACE') ? 'space' : null;
      if (which) {
        if (i + 1 >= argv.length) throw wrongArgs('json.get');
        layout[which] = utf8(argv[++i]);
        continue;
      }
      if (isKeyword(a, 'NOESCAPE')) continue;
    }
    paths.push(pathArg(utf8(a)));
  }
  if (paths.length === 0) paths.push(pathArg('.'));
  const doc = lookup(ctx, argv[1], true);
  if (!doc) return null;
  return text(render(doc, paths, layout));
}

function jsonMget(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(utf8(argv[argv.length - 1]));
  const out: Reply[] = [];
  for (let i = 1; i < argv.length - 1; i++) {
    const v = ctx.db.get(keyOf(argv[i]));
    if (!(v instanceof JsonDoc)) { out.push(null); continue; }
    try { out.push(text(render(v, [p], COMPACT))); } catch (e) { if (e instanceof RespError) out.push(null); else throw e; }
  }
  return out;
}

// ---- JSON.DEL ----

function jsonDel(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const cur = lookup(ctx, argv[1], false);
  if (!cur) { ctx.propagate = null; return 0; }
  if (p.path === '$') {
    ctx.db.delete(keyOf(argv[1]));
    ctx.server.keyspaceEvent(ctx.client.db, 'd', 'json.del', argv[1]);
    return 1;
  }
  const steps = compiled(p);
  const doc = mutable(ctx.db, cur);
  const matches = evaluate(doc.root, steps).filter((m) => m.parent !== null);
  // As RedisJSON: a match inside another match goes with it and is not counted; array
  // elements go from the highest index down so the lower indexes stay valid.
  const ids = matches.map((m) => m.path.map(String).join('\u0000'));
  const keep = matches.filter((m, i) => !ids.some((o, j) => j !== i && ids[i]!.startsWith(o + '\u0000')) && ids.indexOf(ids[i]!) === i);
  keep.sort((a, b) => (a.parent === b.parent && typeof a.key === 'number' ? (b.key as number) - (a.key as number) : 0));
  for (const m of keep) {
    if (Array.isArray(m.parent)) m.parent.splice(m.key as number, 1);
    else m.parent!.delete(m.key as string);
  }
  if (keep.length === 0) { ctx.propagate = null; return 0; }
  commit(ctx, argv[1], doc, 'json.del');
  return keep.length;
}

// ---- readers ----

function jsonType(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const doc = lookup(ctx, argv[1], true);
  if (!doc) return null;
  const matches = evaluate(doc.root, compiled(p));
  if (p.legacy) return matches.length > 0 ? typeOf(matches[0]!.value) : null;
  return matches.map((m) => typeOf(m.value));
}

/** Per match for a JSONPath (null where `ok` fails); for a legacy path, the first match or an error. */
function perMatch(doc: JsonDoc, p: PathArg, ok: (n: JsonNode) => boolean, f: (m: Match) => Reply, legacyMissing: () => RespError): Reply {
  const matches = evaluate(doc.root, compiled(p));
  if (!p.legacy) return matches.map((m) => (ok(m.value) ? f(m) : null));
  if (matches.length === 0) throw pathMissing(p.path);
  if (!ok(matches[0]!.value)) throw legacyMissing();
  return f(matches[0]!);
}

function jsonStrlen(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const doc = lookup(ctx, argv[1], true);
  if (!doc) { if (p.legacy) return null; throw new ArgError(NO_KEY); }
  const m0 = () => evaluate(doc.root, compiled(p))[0]!.value;
  return perMatch(doc, p, (n) => typeof n === 'string', (m) => Buffer.byteLength(m.value as string), () => expected('string', m0()));
}

function jsonArrlen(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const doc = lookup(ctx, argv[1], true);
  if (!doc) { if (p.legacy) return null; throw new ArgError(NO_KEY); }
  return perMatch(doc, p, Array.isArray, (m) => (m.value as JsonNode[]).length, () => pathMissingOr(p.original, 'not an array'));
}

function jsonObjkeys(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const doc = lookup(ctx, argv[1], true);
  if (!doc) { if (p.legacy) return null; throw new ArgError(NO_KEY); }
  const keys = (m: Match): Reply => [...(m.value as Map<string, JsonNode>).keys()].map(text);
  if (p.legacy && evaluate(doc.root, compiled(p)).length === 0) return null;
  return perMatch(doc, p, isObject, keys, () => pathMissingOr(p.path, 'not an object'));
}

function jsonObjlen(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '.');
  const doc = lookup(ctx, argv[1], true);
  if (!doc) { if (p.legacy) return null; throw pathMissingOr(p.path, 'not an object'); }
  if (p.legacy && evaluate(doc.root, compiled(p)).length === 0) return null;
  const m0 = () => evaluate(doc.root, compiled(p))[0]!.value;
  return perMatch(doc, p, isObject, (m) => (m.value as Map<string, JsonNode>).size, () => expected('object', m0()));
}

// ---- updaters ----

const isInteger = (n: JsonNode): boolean => typeof n === 'bigint' || (typeof n === 'number' && Number.isInteger(n));

function jsonNumincrby(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(utf8(argv[2]));
  const cur = mustExist(lookup(ctx, argv[1], false));
  const doc = mutable(ctx.db, cur);
  const matches = evaluate(doc.root, compiled(p));
  let incr: JsonNode | undefined;
  const results: JsonNode[] = [];
  let changed = false;
  for (const m of matches) {
    if (!isNumber(m.value)) { results.push(null); continue; }
    // RedisJSON parses the increment per match: a bad one only errors when a number is reached.
    if (incr === undefined) {
      incr = parseJson(argv[3]);
      if (!isNumber(incr)) throw new BareError('bad input number');
    }
    let r: JsonNode;
    if (isInteger(m.value) && isInteger(incr)) {
      // i64 arithmetic, wrapping on overflow as RedisJSON's does.
      r = intNode(BigInt.asIntN(64, BigInt(m.value as number | bigint) + BigInt(incr as number | bigint)));
    } else {
      const sum = numberOf(m.value) + numberOf(incr);
      if (!Number.isFinite(sum)) throw new BareError('result is not a number');
      r = floatNode(sum);
    }
    if (m.parent === null) doc.root = r; else replace(m, r);
    results.push(r);
    changed = true;
  }
  if (changed) commit(ctx, argv[1], doc, 'json.numincrby');
  else ctx.propagate = null;
  if (!p.legacy) return text(stringify(results));
  if (!changed) throw pathMissingOr(p.path, 'does not contains a number');
  return text(stringify(results.filter((r) => r !== null).pop()!));
}

function jsonArrappend(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(utf8(argv[2]));
  const values = argv.slice(3).map((a) => parseJson(a));
  const cur = mustExist(lookup(ctx, argv[1], false));
  const doc = mutable(ctx.db, cur);
  const matches = evaluate(doc.root, compiled(p));
  const out: Reply[] = [];
  let last = -1;
  for (const m of matches) {
    if (!Array.isArray(m.value)) { out.push(null); continue; }
    for (const v of values) checkDepth(m.path.length + 1, v);
    for (const v of values) m.value.push(last < 0 ? v : cloneNode(v));
    last = m.value.length;
    out.push(last);
  }
  if (last >= 0) commit(ctx, argv[1], doc, 'json.arrappend');
  else ctx.propagate = null;
  if (!p.legacy) return out;
  if (last < 0) throw pathMissingOr(p.original, 'not an array');
  return last;
}

function jsonClear(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(argv.length > 2 ? utf8(argv[2]) : '$');
  const cur = mustExist(lookup(ctx, argv[1], false));
  const doc = mutable(ctx.db, cur);
  let n = 0;
  for (const m of evaluate(doc.root, compiled(p))) {
    const v = m.value;
    if (Array.isArray(v) && v.length > 0) v.length = 0;
    else if (isObject(v) && v.size > 0) v.clear();
    else if (isNumber(v) && numberOf(v) !== 0) { if (m.parent === null) doc.root = 0; else replace(m, 0); }
    else continue;
    n++;
  }
  if (n > 0) commit(ctx, argv[1], doc, 'json.clear');
  else ctx.propagate = null;
  return n;
}

function jsonToggle(ctx: Ctx, argv: Buffer[]): Reply {
  const p = pathArg(utf8(argv[2]));
  const cur = mustExist(lookup(ctx, argv[1], false));
  const doc = mutable(ctx.db, cur);
  const out: Reply[] = [];
  let last: boolean | null = null;
  for (const m of evaluate(doc.root, compiled(p))) {
    if (typeof m.value !== 'boolean') { out.push(null); continue; }
    last = !m.value;
    if (m.parent === null) doc.root = last; else replace(m, last);
    out.push(last ? 1 : 0);
  }
  if (last !== null) commit(ctx, argv[1], doc, 'json.toggle');
  else ctx.propagate = null;
  if (!p.legacy) return out;
  if (last === null) throw pathMissingOr(p.path, 'not a bool');
  return text(String(last));
}

// ---- specs ----

const base = { group: 'json', since: '1.0.0', firstKey: 1, lastKey: 1, step: 1 } as const;
const key: ArgSpec = { name: 'key', type: 'key' };
const path: ArgSpec = { name: 'path', type: 'string' };
const optPath: ArgSpec = { ...path, optional: true };
const json = (...c: string[]) => ['@json', ...c];

export const jsonCommands: CommandSpec[] = [
  {
    ...base, name: 'json.set', arity: -4, flags: ['write', 'denyoom'], aclCategories: json('@write', '@slow'),
    summary: 'Sets or updates the JSON value at a path', complexity: 'O(M+N) where M is the size of the original value and N the size of the new one',
    arguments: [key, path, { name: 'value', type: 'string' },
      { name: 'condition', type: 'oneof', optional: true, arguments: [{ name: 'nx', type: 'pure-token', token: 'NX' }, { name: 'xx', type: 'pure-token', token: 'XX' }] }],
    handler: jsonSet,
  },
  {
    ...base, name: 'json.get', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Gets the value at one or more paths in JSON serialized form', complexity: 'O(N) where N is the size of the value',
    arguments: [key, { name: 'indent', type: 'string', token: 'INDENT', optional: true }, { name: 'newline', type: 'string', token: 'NEWLINE', optional: true },
      { name: 'space', type: 'string', token: 'SPACE', optional: true }, { ...path, optional: true, multiple: true }],
    handler: jsonGet,
  },
  {
    ...base, name: 'json.mget', arity: -3, flags: ['readonly'], lastKey: -2, aclCategories: json('@read', '@slow'),
    summary: 'Returns the values at a path from one or more keys', complexity: 'O(M*N) where M is the number of keys and N the size of the value',
    arguments: [{ ...key, multiple: true }, path],
    handler: jsonMget,
  },
  {
    ...base, name: 'json.del', arity: -2, flags: ['write'], aclCategories: json('@write', '@slow'),
    summary: 'Deletes a value', complexity: 'O(N) where N is the size of the deleted value',
    arguments: [key, optPath],
    handler: jsonDel,
  },
  {
    ...base, name: 'json.forget', arity: -2, flags: ['write'], aclCategories: json('@write', '@slow'),
    summary: 'Deletes a value', complexity: 'O(N) where N is the size of the deleted value',
    arguments: [key, optPath],
    handler: jsonDel,
  },
  {
    ...base, name: 'json.type', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Returns the type of the JSON value at path', complexity: 'O(1) per matched value',
    arguments: [key, optPath],
    handler: jsonType,
  },
  {
    ...base, name: 'json.numincrby', arity: 4, flags: ['write'], aclCategories: json('@write', '@slow'),
    summary: 'Increments the numeric value at path by a value', complexity: 'O(1) per matched value',
    arguments: [key, path, { name: 'value', type: 'double' }],
    handler: jsonNumincrby,
  },
  {
    ...base, name: 'json.arrappend', arity: -4, flags: ['write', 'denyoom'], aclCategories: json('@write', '@slow'),
    summary: 'Append one or more JSON values into the array at path after the last element in it.', complexity: 'O(1) per value added',
    arguments: [key, path, { name: 'value', type: 'string', multiple: true }],
    handler: jsonArrappend,
  },
  {
    ...base, name: 'json.objkeys', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Returns the JSON keys of the object at path', complexity: 'O(N) where N is the number of keys in the object',
    arguments: [key, optPath],
    handler: jsonObjkeys,
  },
  {
    ...base, name: 'json.objlen', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Returns the number of keys of the object at path', complexity: 'O(1) per matched value',
    arguments: [key, optPath],
    handler: jsonObjlen,
  },
  {
    ...base, name: 'json.strlen', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Returns the length of the JSON String at path in key', complexity: 'O(1) per matched value',
    arguments: [key, optPath],
    handler: jsonStrlen,
  },
  {
    ...base, name: 'json.arrlen', arity: -2, flags: ['readonly'], aclCategories: json('@read', '@slow'),
    summary: 'Returns the length of the array at path', complexity: 'O(1) per matched value',
    arguments: [key, optPath],
    handler: jsonArrlen,
  },
  {
    ...base, name: 'json.clear', arity: -2, flags: ['write'], since: '2.0.0', aclCategories: json('@write', '@slow'),
    summary: 'Clears all values from an array or an object and sets numeric values to `0`', complexity: 'O(N) where N is the number of values cleared',
    arguments: [key, optPath],
    handler: jsonClear,
  },
  {
    ...base, name: 'json.toggle', arity: 3, flags: ['write'], since: '2.0.0', aclCategories: json('@write', '@slow'),
    summary: 'Toggles a boolean value', complexity: 'O(1) per matched value',
    arguments: [key, path],
    handler: jsonToggle,
  },
];

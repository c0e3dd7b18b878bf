/**
 * The native vector API (README.md, "The VEC commands"): VEC.CREATE, VEC.ADD, VEC.DEL,
 * VEC.SEARCH, VEC.GET, VEC.SETPAYLOAD, VEC.CARD, VEC.DIM, VEC.INFO, VEC.LIST.
 */
import { Double, OK, RawReply, ReplyMap, type Reply } from '../../protocol/reply.js';
import { ReplyEncoder } from '../../protocol/encoder.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ArgError, SYNTAX } from '../errors.js';
import { keyBytes, keyOf } from '../engine/keyspace.js';
import { DEFAULT_PARAMS, MAX_M, METRICS, QUANTS, VectorSet, type Hit, type Metric, type Quant, type SetParams } from '../engine/vector-set.js';
import { WINDOW } from '../engine/graph-trust.js';
import { compileFilter } from '../engine/filter.js';
import { parseIntegerInRange, isKeyword } from '../core/numbers.js';
import { MAX_DIM, MAX_EF, checkPayload, isZero, lookupSet, parseVectorAt, shown, vectorArgDoc } from './vector-args.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';

const base = { group: 'vector', since: '0.1.0', firstKey: 1, lastKey: 1, step: 1 } as const;

/** Creation options shared by VEC.CREATE and VEC.ADD. */
interface CreateOptions { dim?: number; metric?: Metric; quant?: Quant; m?: number; efConstruction?: number; ef?: number }

/** EF or EF_CONSTRUCTION's value. */
const parseEf = (value: Buffer, name: 'EF' | 'EF_CONSTRUCTION') =>
  parseIntegerInRange(value, 1, MAX_EF, `${name} must be an integer between 1 and ${MAX_EF}`);

/** One of `allowed`, in any case; the error lists them all. */
function parseChoice<T extends string>(value: Buffer, name: string, allowed: readonly T[]): T {
  const v = value.toString().toUpperCase() as T;
  if (!allowed.includes(v)) throw new ArgError(`unknown ${name} '${shown(value)}': use ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`);
  return v;
}

/** Parse one creation option at argv[i]; returns the next index, or -1 if argv[i] is not one. */
function parseCreateOption(argv: Buffer[], i: number, o: CreateOptions): number {
  const value = argv[i + 1];
  const needs = (name: string) => { if (!value) throw new ArgError(`${name} needs a value`); };
  if (isKeyword(argv[i], 'METRIC')) { needs('METRIC'); o.metric = parseChoice(value, 'METRIC', METRICS); return i + 2; }
  if (isKeyword(argv[i], 'QUANT')) { needs('QUANT'); o.quant = parseChoice(value, 'QUANT', QUANTS); return i + 2; }
  if (isKeyword(argv[i], 'M')) { needs('M'); o.m = parseIntegerInRange(value, 2, MAX_M, `M must be an integer between 2 and ${MAX_M}`); return i + 2; }
  if (isKeyword(argv[i], 'EF_CONSTRUCTION')) { needs('EF_CONSTRUCTION'); o.efConstruction = parseEf(value, 'EF_CONSTRUCTION'); return i + 2; }
  if (isKeyword(argv[i], 'DIM')) { needs('DIM'); o.dim = parseIntegerInRange(value, 1, MAX_DIM, `DIM must be an integer between 1 and ${MAX_DIM}`); return i + 2; }
  return -1;
}

/** Complete and check a parameter set (metric/quant pairs usearch can serve). */
export function makeParams(o: CreateOptions & { dim: number }, explicit: boolean): SetParams {
  const quant = o.quant ?? (o.metric === 'HAMMING' || o.metric === 'JACCARD' ? 'B1' : DEFAULT_PARAMS.quant);
  const metric = o.metric ?? (quant === 'B1' ? 'HAMMING' : DEFAULT_PARAMS.metric);
  if ((quant === 'B1') !== (metric === 'HAMMING' || metric === 'JACCARD')) {
    throw new ArgError(`METRIC ${metric} cannot be used with QUANT ${quant}: HAMMING and JACCARD need B1, and B1 needs HAMMING or JACCARD`);
  }
  return {
    dim: o.dim, metric, quant, m: o.m ?? DEFAULT_PARAMS.m, efConstruction: o.efConstruction ?? DEFAULT_PARAMS.efConstruction,
    ef: o.ef ?? DEFAULT_PARAMS.ef, explicit, projectInputDim: 0, family: 'vec',
  };
}

function vecCreate(ctx: Ctx, argv: Buffer[]): Reply {
  const o: CreateOptions = {};
  for (let i = 2; i < argv.length;) {
    let next = parseCreateOption(argv, i, o);
    if (next < 0 && isKeyword(argv[i], 'EF')) {
      if (!argv[i + 1]) throw new ArgError('EF needs a value');
      o.ef = parseEf(argv[i + 1], 'EF');
      next = i + 2;
    }
    if (next < 0) throw new ArgError(`unknown option '${shown(argv[i])}' for VEC.CREATE`);
    i = next;
  }
  if (o.dim === undefined) throw new ArgError('VEC.CREATE needs DIM');
  const params = makeParams({ ...o, dim: o.dim }, true);
  const key = keyOf(argv[1]);
  if (ctx.db.peek(key)) throw new ArgError(`key '${shown(argv[1])}' already exists`);
  ctx.db.set(key, new VectorSet(params));
  vectorEvent(ctx, 'vec.create', argv[1]);
  return OK;
}

function vecAdd(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const parsed = parseVectorAt(argv, 3, 'vec');
  if (!parsed) throw new ArgError(`expected FP32 or VALUES after the id, got '${shown(argv[3])}'`);
  const { vector } = parsed;
  const o: CreateOptions = {};
  let payload: string | null | undefined;
  for (let i = parsed.next; i < argv.length;) {
    if (isKeyword(argv[i], 'PAYLOAD')) {
      if (!argv[i + 1]) throw new ArgError('PAYLOAD needs a JSON object');
      payload = argv[i + 1].length === 0 ? null : checkPayload(ctx, argv[i + 1]);
      i += 2;
      continue;
    }
    const next = parseCreateOption(argv, i, o);
    if (next < 0 || o.dim !== undefined) throw new ArgError(`unknown option '${shown(argv[i])}' for VEC.ADD`);
    i = next;
  }
  let set = lookupSet(ctx, argv[1]);
  const params = set ? set.params : makeParams({ ...o, dim: vector.length }, false);
  if (set) {
    // Creation options must agree with the set's own: silently ignoring them would hide a mistake.
    const clash = (o.metric && o.metric !== params.metric && 'METRIC') || (o.quant && o.quant !== params.quant && 'QUANT')
      || (o.m !== undefined && o.m !== params.m && 'M') || (o.efConstruction !== undefined && o.efConstruction !== params.efConstruction && 'EF_CONSTRUCTION');
    if (clash) throw new ArgError(`${clash} differs from the existing set '${shown(argv[1])}' (${describe(params)})`);
  }
  if (vector.length !== params.dim) {
    throw new ArgError(`vector has ${vector.length} values, the set '${shown(argv[1])}' has DIM ${params.dim}`);
  }
  if (params.metric === 'COSINE' && isZero(vector)) throw new ArgError('zero vector: its direction, and so its cosine distance, is undefined');
  if (!set) {
    set = new VectorSet(params);
    ctx.db.set(keyOf(argv[1]), set);
  }
  const { added, done } = set.add(keyOf(argv[2]), vector, payload);
  vectorEvent(ctx, 'vec.add', argv[1]);
  return done.then(() => (added ? 1 : 0));
}

function describe(p: SetParams): string {
  return `METRIC ${p.metric} QUANT ${p.quant} M ${p.m} EF_CONSTRUCTION ${p.efConstruction}`;
}

/**
 * A keyspace event of a vector set: class `v` (our extension to Redis's
 * letters), named after the command that caused it (`vadd`, `vec.add`…).
 */
export function vectorEvent(ctx: Ctx, event: string, key: Buffer): void {
  ctx.server.keyspaceEvent(ctx.client.db, 'v', event, key);
}

/**
 * Remove ids; an implicitly created set that empties disappears, as Redis
 * aggregates do, with a `del` event after the command's own (as SREM's last member).
 */
export function removeIds(ctx: Ctx, key: Buffer, set: VectorSet, ids: string[], event: string): number {
  const n = set.remove(ids);
  if (n > 0) vectorEvent(ctx, event, key);
  if (set.card === 0 && !set.params.explicit && ctx.db.delete(keyOf(key)) && n > 0) ctx.server.keyspaceEvent(ctx.client.db, 'g', 'del', key);
  return n;
}

function vecDel(ctx: Ctx, argv: Buffer[]): Reply {
  const set = lookupSet(ctx, argv[1]);
  if (!set) { ctx.propagate = null; return 0; }
  const n = removeIds(ctx, argv[1], set, argv.slice(2).map(keyOf), 'vec.del');
  if (n === 0) ctx.propagate = null;
  return n;
}

export interface SearchFlags { count: number; ef: number | null; filter: string | null; withScores: boolean; withPayloads: boolean; exact: boolean }

/**
 * Hits past this many are encoded a slice at a time, in turns of their own:
 * bench/stalls.ts `count` (VEC.SEARCH … COUNT 100000) held the event loop for
 * ~40 ms building and encoding the reply in one go.
 */
export const REPLY_SLICE = 8192;

/** RESP2 flat `id [score] [payload]…`; RESP3 like Redis 8's VSIM: a map id → score | payload | [score, payload]. */
export function searchReply(
  ctx: Ctx, set: VectorSet, hits: Hit[], withScores: boolean, withPayloads: boolean, score: (d: number) => number,
): Reply | Promise<Reply> {
  const proto = ctx.client.proto;
  const n = hits.length;
  const sliced = n > REPLY_SLICE;
  // Sliced, the payloads are read now: a slot may hold another element by the time a later slice runs.
  const held = sliced && withPayloads ? hits.map((h) => set.payloadOfSlot(h.slot) ?? null) : null;
  const payload = (i: number): Reply => held ? held[i] : set.payloadOfSlot(hits[i].slot) ?? null;
  const value = (i: number): Reply => withScores && withPayloads ? [new Double(score(hits[i].distance)), payload(i)]
    : withScores ? new Double(score(hits[i].distance)) : payload(i);
  /** RESP2's flat items of hit i, appended to `out`. */
  const pushFlat = (out: Reply[], i: number): Reply[] => {
    out.push(keyBytes(hits[i].id));
    if (withScores) out.push(new Double(score(hits[i].distance)));
    if (withPayloads) out.push(payload(i));
    return out;
  };
  if (sliced) {
    if (!withScores && !withPayloads) return encodeInSlices(`*${n}\r\n`, n, (i) => [keyBytes(hits[i].id)], proto);
    if (proto === 3) return encodeInSlices(`%${n}\r\n`, n, (i) => [keyBytes(hits[i].id), value(i)], proto);
    return encodeInSlices(`*${n * (1 + Number(withScores) + Number(withPayloads))}\r\n`, n, (i) => pushFlat([], i), proto);
  }
  if (!withScores && !withPayloads) return hits.map((h) => keyBytes(h.id));
  if (proto === 3) return new ReplyMap(hits.map((h, i) => [keyBytes(h.id), value(i)] as [Reply, Reply]));
  const out: Reply[] = [];
  for (let i = 0; i < n; i++) pushFlat(out, i);
  return out;
}

/** A reply of `count` elements (each one or more array items, or a map's key and value) after `header`, encoded REPLY_SLICE at a time. */
async function encodeInSlices(header: string, count: number, element: (i: number) => readonly Reply[], proto: 2 | 3): Promise<Reply> {
  const encoder = new ReplyEncoder(64 * 1024);
  encoder.writeRaw(Buffer.from(header, 'latin1'));
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % REPLY_SLICE === 0) await nextTurn();
    for (const r of element(i)) encoder.write(r, proto);
  }
  return new RawReply(encoder.take());
}

/** A search's query as written: a vector, or ELE and an element id. */
export type QuerySpec = { vector: Float32Array; ele: null; next: number } | { vector: null; ele: Buffer; next: number };

/** Parse `FP32 blob | VALUES n … | ELE id` at argv[i], before the key is even looked up. */
export function parseQuery(argv: Buffer[], i: number, dialect: 'vec' | 'vset'): QuerySpec {
  if (isKeyword(argv[i], 'ELE')) {
    if (!argv[i + 1]) throw new ArgError(dialect === 'vset' ? SYNTAX : 'ELE needs an element id');
    return { vector: null, ele: argv[i + 1], next: i + 2 };
  }
  const parsed = parseVectorAt(argv, i, dialect);
  if (!parsed) throw new ArgError(dialect === 'vset' ? 'invalid vector specification' : `expected FP32, VALUES or ELE, got '${shown(argv[i])}'`);
  return { vector: parsed.vector, ele: null, next: parsed.next };
}

/** The query vector: the given one, or the stored vector of the ELE element (null if absent). */
export function resolveQuery(set: VectorSet, q: QuerySpec): Float32Array | null | Promise<Float32Array | null> {
  return q.vector ?? set.get(keyOf(q.ele!));
}

function vecSearch(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const set = lookupSet(ctx, argv[1]);
  // Parse everything even for a missing key, so a malformed request is an error either way.
  const q = parseQuery(argv, 2, 'vec');
  const f: SearchFlags = { count: 10, ef: null, filter: null, withScores: false, withPayloads: false, exact: false };
  for (let i = q.next; i < argv.length; i++) {
    const a = argv[i];
    if (isKeyword(a, 'COUNT') && argv[i + 1]) f.count = parseIntegerInRange(argv[++i], 1, 100_000, 'COUNT must be an integer between 1 and 100000');
    else if (isKeyword(a, 'EF') && argv[i + 1]) f.ef = parseEf(argv[++i], 'EF');
    else if (isKeyword(a, 'FILTER') && argv[i + 1]) f.filter = argv[++i].toString('utf8');
    else if (isKeyword(a, 'WITHSCORES')) f.withScores = true;
    else if (isKeyword(a, 'WITHPAYLOADS')) f.withPayloads = true;
    else if (isKeyword(a, 'EXACT')) f.exact = true;
    else throw new ArgError(`unknown option '${shown(a)}' for VEC.SEARCH`);
  }
  const filter = f.filter !== null ? compileFilter(f.filter) : null;
  if (!set) return [];
  if (q.vector) checkQuery(set, q.vector, argv[1]);
  const run = (v: Float32Array | null): Reply | Promise<Reply> => {
    if (v === null) throw new ArgError(`element '${shown(q.ele!)}' not found in set '${shown(argv[1])}'`);
    const hits = set.search(v, { k: f.count, ef: f.ef ?? set.params.ef, efGiven: f.ef !== null, filter, exact: f.exact });
    const reply = (h: Hit[]) => searchReply(ctx, set, h, f.withScores, f.withPayloads, (d) => d);
    return hits instanceof Promise ? hits.then(reply) : reply(hits);
  };
  const v = resolveQuery(set, q);
  return v instanceof Promise ? v.then(run) : run(v);
}

function checkQuery(set: VectorSet, v: Float32Array, key: Buffer): void {
  if (v.length !== set.dim) throw new ArgError(`query vector has ${v.length} values, the set '${shown(key)}' has DIM ${set.dim}`);
  if (set.params.metric === 'COSINE' && isZero(v)) throw new ArgError('zero query vector: cosine distance is undefined');
}

function vecGet(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const set = lookupSet(ctx, argv[1]);
  if (!set) return null;
  const id = keyOf(argv[2]);
  const payload = set.payloadOf(id);
  const shape = (v: Float32Array | null): Reply => {
    if (!v) return null;
    const doubles = Array.from(v, (x) => new Double(x));
    return new ReplyMap([['vector', doubles], ['payload', payload ?? null]]);
  };
  const v = set.get(id);
  return v instanceof Promise ? v.then(shape) : shape(v);
}

/** VEC.DIM and VDIM. */
export function setDim(ctx: Ctx, argv: Buffer[]): Reply {
  const set = lookupSet(ctx, argv[1]);
  if (!set) throw new ArgError('key does not exist');
  return set.dim;
}

export function vecInfoReply(set: VectorSet): Reply {
  const p = set.params;
  const planner = set.plannerState();
  const distance = p.metric === 'COSINE' ? '1 - cosine similarity' : p.metric === 'L2' ? 'squared euclidean' : p.metric === 'IP' ? '1 - inner product' : p.metric === 'HAMMING' ? 'differing bits' : '1 - jaccard similarity';
  return new ReplyMap([
    ['dim', p.dim], ['metric', p.metric], ['quant', p.quant], ['m', p.m], ['ef_construction', p.efConstruction], ['ef', p.ef],
    ['size', set.card], ['capacity', set.capacity()], ['memory_bytes', set.usedBytes()], ['index_bytes', set.indexUsedBytes()], ['index_reserved_bytes', set.indexReservedBytes()],
    ['deleted', set.deleted], ['payloads', set.attributesCount], ['distance', distance],
    ['created', p.explicit ? 'explicit' : 'implicit'], ['max_level', set.maxLevel()], ['searches', set.searches],
    // What the planner measured of the walk on this set's own queries (NaN: not sampled yet).
    ['planner', planner.probes < WINDOW ? 'sampling' : planner.trusted ? 'graph' : 'scan'],
    ['planner_graph_recall', Number.isNaN(planner.recall) ? '-' : planner.recall.toFixed(3)], ['planner_ef', planner.ef],
  ]);
}

const vectorArg = vectorArgDoc('blob');
const createArgs: ArgSpec[] = [
  { name: 'metric', type: 'oneof', token: 'METRIC', optional: true, arguments: METRICS.map((m) => ({ name: m.toLowerCase(), type: 'pure-token' as const, token: m })) },
  { name: 'quant', type: 'oneof', token: 'QUANT', optional: true, arguments: QUANTS.map((q) => ({ name: q.toLowerCase(), type: 'pure-token' as const, token: q })) },
  { name: 'm', type: 'integer', token: 'M', optional: true },
  { name: 'ef-construction', type: 'integer', token: 'EF_CONSTRUCTION', optional: true },
];

export const vecCommands: CommandSpec[] = [
  {
    ...base, name: 'vec.create', arity: -4, flags: ['write', 'denyoom'], summary: 'Creates an empty vector set with fixed parameters.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'dim', type: 'integer', token: 'DIM' }, ...createArgs, { name: 'ef', type: 'integer', token: 'EF', optional: true }],
    handler: vecCreate,
  },
  {
    ...base, name: 'vec.add', arity: -5, flags: ['write', 'denyoom'], summary: 'Adds an element (id, vector, optional JSON payload) or replaces its vector.',
    complexity: 'O(log(N)) for each element added, where N is the number of elements in the set.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'id', type: 'string' }, vectorArg, { name: 'payload', type: 'string', token: 'PAYLOAD', optional: true }, ...createArgs],
    handler: vecAdd, completesLater: true,
  },
  {
    ...base, name: 'vec.del', arity: -3, flags: ['write', 'fast'], summary: 'Removes elements from a vector set.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'id', type: 'string', multiple: true }],
    handler: vecDel,
  },
  {
    ...base, name: 'vec.search', arity: -4, flags: ['readonly'], summary: 'Returns the k nearest elements to a vector or to a stored element.',
    complexity: 'O(log(N)) with the HNSW graph; O(N) with EXACT.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'query', type: 'oneof', arguments: [...vectorArg.arguments!, { name: 'element', type: 'string', token: 'ELE' }] },
      { name: 'count', type: 'integer', token: 'COUNT', optional: true }, { name: 'ef', type: 'integer', token: 'EF', optional: true },
      { name: 'expression', type: 'string', token: 'FILTER', optional: true }, { name: 'withscores', type: 'pure-token', token: 'WITHSCORES', optional: true },
      { name: 'withpayloads', type: 'pure-token', token: 'WITHPAYLOADS', optional: true }, { name: 'exact', type: 'pure-token', token: 'EXACT', optional: true }],
    handler: vecSearch, completesLater: true,
  },
  {
    ...base, name: 'vec.get', arity: 3, flags: ['readonly', 'fast'], summary: 'Returns an element\'s vector and payload.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'id', type: 'string' }],
    handler: vecGet, completesLater: true,
  },
  {
    ...base, name: 'vec.setpayload', arity: 4, flags: ['write', 'fast'], summary: 'Sets or (with "") removes an element\'s JSON payload.',
    arguments: [{ name: 'key', type: 'key' }, { name: 'id', type: 'string' }, { name: 'json', type: 'string' }],
    handler: (ctx, argv) => {
      const payload = argv[3].length === 0 ? null : checkPayload(ctx, argv[3]);
      const set = lookupSet(ctx, argv[1]);
      const ok = set ? set.setPayload(keyOf(argv[2]), payload) : false;
      if (!ok) ctx.propagate = null;
      else vectorEvent(ctx, 'vec.setpayload', argv[1]);
      return ok ? 1 : 0;
    },
  },
  {
    ...base, name: 'vec.card', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns the number of elements in a vector set.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => lookupSet(ctx, argv[1])?.card ?? 0,
  },
  {
    ...base, name: 'vec.dim', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns the dimension of a vector set.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: setDim,
  },
  {
    ...base, name: 'vec.info', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns a vector set\'s parameters and statistics.',
    arguments: [{ name: 'key', type: 'key' }],
    handler: (ctx, argv) => { const set = lookupSet(ctx, argv[1]); return set ? vecInfoReply(set) : null; },
  },
  {
    ...base, firstKey: 0, lastKey: 0, step: 0, name: 'vec.list', arity: 1, flags: ['readonly'], summary: 'Lists the vector sets of the selected database.',
    handler: (ctx) => {
      const out: Buffer[] = [];
      for (const [k, v] of ctx.db.objects()) if (v instanceof VectorSet) out.push(keyBytes(k));
      return out;
    },
  },
];

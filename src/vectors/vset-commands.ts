/**
 * The Redis 8 vector-set commands (README.md, "Coming from Redis 8"): VADD, VSIM,
 * VREM, VCARD, VDIM, VEMB, VGETATTR, VSETATTR, VINFO, VLINKS, VRANDMEMBER,
 * VISMEMBER, VRANGE, on the same keys and engine as the VEC.* family.
 *
 * Mapping (spec, "Mapping to a VEC.* engine"):
 * - VADD creates a COSINE set: Q8 (default) → QUANT I8, NOQUANT → F32,
 *   BIN → B1 with HAMMING; M 16; EF (construction) 200.
 * - Scores: 1 − d/2 for COSINE (d = 1 − cos), 1 − hamming/dim for BIN sets.
 * - Attributes are the engine's payloads, stored verbatim and never validated
 *   (only the size limit `vec-max-payload-bytes` applies).
 * - REDUCE sets keep `projectInputDim` in their params; the projection is a
 *   function of the dimensions alone (engine/projection.ts).
 *
 * Every handler validates everything synchronously before it mutates: the WAL
 * logs a write as soon as the handler returns.
 */
import { Double, NULL_ARRAY, ReplyMap, SimpleString, type Reply } from '../../protocol/reply.js';
import { ArgError } from '../errors.js';
import { keyBytes, keyOf } from '../engine/keyspace.js';
import { MAX_M, VectorSet, type Hit, type Quant } from '../engine/vector-set.js';
import { compileFilter, type CompiledFilter } from '../engine/filter.js';
import { projectionFor, projectionOf } from '../engine/projection.js';
import { isKeyword, parseFiniteDouble, parseInteger } from '../core/numbers.js';
import { MAX_PAYLOAD_DEPTH, jsonTextDepth, tooDeepMessage } from '../core/json-depth.js';
import { MAX_DIM, MAX_EF, lookupSet, parseVectorAt, vectorArgDoc } from './vector-args.js';
import { makeParams, parseQuery, removeIds, resolveQuery, searchReply, setDim, vectorEvent } from './vec-commands.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { wrongArity } from '../core/command-table.js';

const base = { group: 'vector', since: '0.1.0', firstKey: 1, lastKey: 1, step: 1 } as const;

const BAD_VECTOR = 'invalid vector specification';
/** Redis 8's texts for a vector of the wrong length, to VADD and VSIM alike. */
const dimensionMismatch = (got: number, has: number) => new ArgError(`Vector dimension mismatch - got ${got} but set has ${has}`);
const projectionMismatch = (got: number, expects: number) =>
  new ArgError(`Input dimension mismatch for projection - got ${got} but projection expects ${expects}`);
const VADD_M = 16;
const VADD_EF = 200;
const VSIM_EF = 100;
const VSIM_COUNT = 10;
/** VRANDMEMBER with a negative count: at most this many names (memory stays bounded). */
const RANDOM_REPEAT_MAX = 1_000_000;


/** An integer argument, or NaN (no exception: each command has its own error text). */
function intOrNaN(arg: Buffer | undefined): number {
  if (!arg) return NaN;
  try { return parseInteger(arg); } catch { return NaN; }
}

/** V* serves COSINE sets (and the HAMMING/B1 sets BIN makes); L2, IP and JACCARD are VEC.* only. */
function needCosine(set: VectorSet, command: string): void {
  const m = set.params.metric;
  if (m !== 'COSINE' && m !== 'HAMMING') throw new ArgError(`${command} needs a COSINE vector set`);
}

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Redis's similarity score from the engine's distance: 1 same direction, 0.5 orthogonal, 0 opposite. */
function scorer(set: VectorSet): (d: number) => number {
  if (set.params.metric === 'HAMMING') {
    const dim = set.dim;
    return (d) => clamp01(1 - d / dim);
  }
  return (d) => clamp01(1 - d / 2);
}

/** VINFO / VEMB RAW names of the storage types. */
function quantName(q: Quant): string {
  switch (q) {
    case 'I8': return 'int8';
    case 'F32': return 'f32';
    case 'B1': return 'bin';
    case 'F16': return 'f16';
    case 'BF16': return 'bf16';
  }
}

/** An attribute as stored: the bytes verbatim (as UTF-8 text), within the payload size limit. */
function checkAttribute(ctx: Ctx, arg: Buffer): string | null {
  const limit = ctx.server.config['vec-max-payload-bytes'];
  if (arg.length > limit) throw new ArgError(`attribute of ${arg.length} bytes is over the limit of ${limit} (vec-max-payload-bytes)`);
  if (arg.length === 0) return null;
  const text = arg.toString('utf8');
  // Never validated as JSON (Redis 8 stores it verbatim), but clients and the HTTP API parse it.
  if (!ctx.replaying && jsonTextDepth(text, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) throw new ArgError(tooDeepMessage('attribute'));
  return text;
}

// ---------------------------------------------------------------------------
// VADD

function vadd(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  // 1. The vector (with REDUCE right before it).
  let at = 2;
  let reduce = 0;
  if (isKeyword(argv[2], 'REDUCE')) {
    reduce = intOrNaN(argv[3]);
    if (!(reduce >= 1 && reduce <= MAX_DIM)) throw new ArgError(BAD_VECTOR);
    at = 4;
  }
  const parsed = parseVectorAt(argv, at, 'vset');
  if (!parsed) throw new ArgError(BAD_VECTOR);
  const input = parsed.vector;
  if (parsed.next >= argv.length) throw wrongArity('vadd');
  const element = argv[parsed.next];

  // 2. Options after the element, in any order.
  let quant: Quant | undefined;
  let m: number | undefined;
  let ef: number | undefined;
  let attribute: string | null | undefined;
  for (let i = parsed.next + 1; i < argv.length; i++) {
    const a = argv[i];
    const hasValue = i + 1 < argv.length;
    if (isKeyword(a, 'CAS')) continue; // only threads the candidate search in Redis: a plain insert here
    else if (isKeyword(a, 'NOQUANT')) quant = 'F32';
    else if (isKeyword(a, 'Q8')) quant = 'I8';
    else if (isKeyword(a, 'BIN')) quant = 'B1';
    else if (isKeyword(a, 'EF') && hasValue) {
      ef = intOrNaN(argv[++i]);
      if (!(ef >= 1 && ef <= MAX_EF)) throw new ArgError('invalid EF');
    } else if (isKeyword(a, 'M') && hasValue) {
      m = intOrNaN(argv[++i]);
      if (!(m >= 4 && m <= 4096)) throw new ArgError('invalid M');
    } else if (isKeyword(a, 'SETATTR') && hasValue) attribute = checkAttribute(ctx, argv[++i]);
    else throw new ArgError('invalid option after element');
  }

  // 3. The key: type, quantization, M, dimension.
  let set = lookupSet(ctx, argv[1]);
  let vector = input;
  if (set) {
    needCosine(set, 'VADD');
    const p = set.params;
    // Redis checks an omitted quantization flag as Q8 and an omitted M as 16 against a set
    // VADD created; into a VEC-created set an omitted flag means "the set's own".
    const strict = set.params.family === 'vset';
    if ((quant ?? (strict ? 'I8' : p.quant)) !== p.quant) throw new ArgError('asked quantization mismatch with existing vector set');
    if ((m ?? (strict ? VADD_M : p.m)) !== p.m) throw new ArgError('asked M value mismatch with existing vector set');
    // A projected set needs the same REDUCE on every VADD; a plain one none.
    if (p.projectInputDim ? reduce !== p.dim : input.length !== p.dim) {
      throw dimensionMismatch(input.length, p.dim);
    }
    if (reduce) {
      if (!p.projectInputDim) throw new ArgError('cannot add projection to existing set without projection');
      if (reduce !== p.dim) throw new ArgError('projection dimension mismatch with existing set');
    }
    if (p.projectInputDim) {
      if (input.length !== p.projectInputDim) {
        throw projectionMismatch(input.length, p.projectInputDim);
      }
      vector = projectionFor(p.projectInputDim, p.dim).project(input);
    }
  } else {
    const q = quant ?? 'I8';
    if (m !== undefined && m > MAX_M) throw new ArgError(`M ${m} is over ${MAX_M}, the largest this server supports`);
    const params = makeParams({ dim: reduce || input.length, metric: q === 'B1' ? 'HAMMING' : 'COSINE', quant: q, m: m ?? VADD_M, efConstruction: ef ?? VADD_EF }, false);
    params.projectInputDim = reduce ? input.length : 0;
    params.family = 'vset';
    if (reduce) vector = projectionFor(input.length, reduce).project(input);
    set = new VectorSet(params);
    ctx.db.set(keyOf(argv[1]), set);
  }
  // A zero vector is accepted (Redis 8 does): the engine keeps it out of the graph at distance 1.
  const { added, done } = set.add(keyOf(element), vector, attribute);
  vectorEvent(ctx, 'vadd', argv[1]);
  return done.then(() => added);
}

// ---------------------------------------------------------------------------
// VSIM

function vsim(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const set = lookupSet(ctx, argv[1]);
  if (!set) return []; // before parsing anything else, as Redis does
  needCosine(set, 'VSIM');
  const q = parseQuery(argv, 2, 'vset');
  // The query first (Redis's order): the element must exist, the vector must fit the set.
  let query = q.vector;
  if (query) {
    const proj = projectionOf(set.params);
    if (proj && query.length !== set.dim) {
      // A full-dimension query on a projected set is projected first (a reduced one is used as is).
      if (query.length !== proj.inputDim) throw projectionMismatch(query.length, proj.inputDim);
      query = proj.project(query);
    }
    if (query.length !== set.dim) throw dimensionMismatch(query.length, set.dim);
  } else if (!set.has(keyOf(q.ele!))) {
    throw new ArgError('element not found in set');
  }
  let withScores = false, withAttribs = false, truth = false;
  let count = VSIM_COUNT, ef = VSIM_EF, efGiven = false;
  let epsilon: number | null = null;
  let filter: CompiledFilter | null = null;
  for (let i = q.next; i < argv.length; i++) {
    const a = argv[i];
    const hasValue = i + 1 < argv.length;
    if (isKeyword(a, 'WITHSCORES')) withScores = true;
    else if (isKeyword(a, 'WITHATTRIBS')) withAttribs = true;
    else if (isKeyword(a, 'COUNT') && hasValue) {
      count = intOrNaN(argv[++i]);
      if (!(count > 0)) throw new ArgError('invalid COUNT');
    } else if (isKeyword(a, 'EPSILON') && hasValue) {
      epsilon = parseFiniteDouble(argv[++i]);
      if (!(epsilon > 0)) throw new ArgError('invalid EPSILON');
    } else if (isKeyword(a, 'EF') && hasValue) {
      ef = intOrNaN(argv[++i]);
      if (!(ef > 0 && ef <= MAX_EF)) throw new ArgError('invalid EF');
      efGiven = true;
    } else if (isKeyword(a, 'FILTER') && hasValue) filter = compileFilter(argv[++i].toString('utf8'));
    else if (isKeyword(a, 'FILTER-EF') && hasValue) {
      // Accepted and checked; the engine plans filtered searches itself (and may find more matches than Redis).
      if (!(intOrNaN(argv[++i]) > 0)) throw new ArgError('invalid FILTER-EF');
    } else if (isKeyword(a, 'TRUTH')) truth = true;
    else if (isKeyword(a, 'NOTHREAD')) continue;
    else throw new ArgError('syntax error in VSIM command');
  }
  if (set.card === 0) return [];

  const score = scorer(set);
  const k = Math.min(count, set.card);
  const reply = (hits: Hit[]): Reply => {
    if (epsilon !== null) {
      const min = 1 - epsilon;
      hits = hits.filter((h) => score(h.distance) >= min);
    }
    return searchReply(ctx, set, hits, withScores, withAttribs, score);
  };
  const run = (v: Float32Array | null): Reply | Promise<Reply> => {
    if (v === null) throw new ArgError('element not found in set');
    const hits = set.search(v, { k, ef, efGiven, filter, exact: truth });
    return hits instanceof Promise ? hits.then(reply) : reply(hits);
  };
  const v = query ?? resolveQuery(set, q);
  return v instanceof Promise ? v.then(run) : run(v);
}

// ---------------------------------------------------------------------------
// VEMB

type Stored = { vector: Float32Array; scale: number };

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) { const a = Math.abs(v[i]); if (a > m) m = a; }
  return m;
}

/**
 * Redis's Q8 levels round(x·127/max|x|) from the stored I8 form. The stored
 * vector is x scaled then quantized by the index (whatever its integer scale:
 * x/max|x| or x/‖x‖ times 127), so dividing by its own largest component
 * recovers x/max|x| up to the quantization step.
 */
function int8Levels(v: Float32Array): Int8Array {
  const m = maxAbs(v);
  const q = new Int8Array(v.length);
  if (m === 0) return q;
  for (let i = 0; i < v.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round((v[i] / m) * 127)));
  return q;
}

/** What Redis's VEMB returns: the dequantized vector × its norm (±1 per bit for BIN). */
function embedding(set: VectorSet, st: Stored): Float32Array {
  const v = st.vector;
  const out = new Float32Array(v.length);
  switch (set.storage) {
    case 'bits':
      for (let i = 0; i < v.length; i++) out[i] = v[i] > 0 ? 1 : -1;
      return out;
    case 'raw':
      out.set(v);
      return out;
    case 'unit':
      for (let i = 0; i < v.length; i++) out[i] = v[i] * st.scale;
      return out;
    case 'maxabs': {
      // The stored form is x up to a positive factor (the index's quantization scale);
      // its largest component stands for max|x|, which the engine keeps as the scale.
      const m = maxAbs(v);
      const f = m > 0 ? st.scale / m : 0;
      for (let i = 0; i < v.length; i++) out[i] = v[i] * f;
      return out;
    }
  }
}

function l2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** VEMB RAW: `[quant, blob, l2, range?]` as Redis stores an element. */
function rawEmbedding(set: VectorSet, st: Stored): Reply {
  const v = st.vector;
  switch (set.storage) {
    case 'bits': {
      // 64-bit little-endian words, bit j of the vector = bit j%64 of word j/64.
      const blob = Buffer.alloc(Math.ceil(v.length / 64) * 8);
      for (let j = 0; j < v.length; j++) if (v[j] > 0) blob[j >> 3] |= 1 << (j & 7);
      // The engine keeps no norm for bit vectors: 1 stands for "unknown".
      return [new SimpleString('bin'), blob, new Double(1)];
    }
    case 'maxabs': {
      const q = int8Levels(v);
      const qn = l2(q) / 127; // ‖x / max|x|‖
      const norm = st.scale * qn;
      const range = qn > 0 ? 1 / qn : 0; // max|x| / ‖x‖
      return [new SimpleString('int8'), Buffer.from(q.buffer, q.byteOffset, q.byteLength), new Double(norm), new Double(range)];
    }
    case 'raw':
    case 'unit': {
      const norm = set.storage === 'raw' ? l2(v) : st.scale;
      const unit = new Float32Array(v.length);
      if (set.storage === 'unit') unit.set(v);
      else if (norm > 0) for (let i = 0; i < v.length; i++) unit[i] = v[i] / norm;
      return [new SimpleString('f32'), Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength), new Double(norm)];
    }
  }
}

function vemb(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  for (let i = 3; i < argv.length; i++) if (!isKeyword(argv[i], 'RAW')) throw new ArgError('invalid option');
  const raw = argv.length > 3;
  const set = lookupSet(ctx, argv[1]);
  if (!set) return null;
  const shape = (st: Stored | null): Reply => {
    if (!st) return null;
    if (raw) return rawEmbedding(set, st);
    return Array.from(embedding(set, st), (x) => new Double(x));
  };
  const st = set.getStored(keyOf(argv[2]));
  return st instanceof Promise ? st.then(shape) : shape(st);
}

// ---------------------------------------------------------------------------
// VLINKS

function vlinks(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  if (argv.length > 4 || (argv.length === 4 && !isKeyword(argv[3], 'WITHSCORES'))) throw wrongArity('vlinks');
  const withScores = argv.length === 4;
  const set = lookupSet(ctx, argv[1]);
  if (!set) return null;
  if (withScores) needCosine(set, 'VLINKS');
  const score = scorer(set);
  type Levels = Array<Array<{ id: string; distance: number }>> | null;
  const shape = (levels: Levels): Reply => {
    if (!levels) return null;
    return levels.map((level) => (withScores
      ? new ReplyMap(level.map((n) => [keyBytes(n.id), new Double(score(n.distance))] as [Reply, Reply]))
      : level.map((n) => keyBytes(n.id))));
  };
  const levels = set.links(keyOf(argv[2]));
  return levels instanceof Promise ? levels.then(shape) : shape(levels);
}

// ---------------------------------------------------------------------------
// VRANDMEMBER, VRANGE

function vrandmember(ctx: Ctx, argv: Buffer[]): Reply {
  if (argv.length > 3) throw wrongArity('vrandmember');
  let count: number | null = null;
  if (argv.length === 3) {
    count = intOrNaN(argv[2]);
    if (count !== count) throw new ArgError('COUNT value is not an integer');
  }
  const set = lookupSet(ctx, argv[1]);
  if (count === null) {
    if (!set) return null;
    const one = set.random(1);
    return one.length ? keyBytes(one[0]) : null;
  }
  if (!set || count === 0) return [];
  if (count < -RANDOM_REPEAT_MAX) count = -RANDOM_REPEAT_MAX;
  return set.random(count).map(keyBytes);
}

type Bound = { value: Buffer; inclusive: boolean } | null;

const PLUS_MINUS = "'-' can only be used as first argument, '+' only as second";

function parseBound(arg: Buffer, which: 'start' | 'end'): Bound {
  if (arg.length === 1 && (arg[0] === 0x2d /* - */ || arg[0] === 0x2b /* + */)) {
    const open = which === 'start' ? 0x2d : 0x2b;
    if (arg[0] !== open) throw new ArgError(PLUS_MINUS);
    return null;
  }
  if (arg.length >= 1 && (arg[0] === 0x5b /* [ */ || arg[0] === 0x28 /* ( */)) {
    return { value: arg.subarray(1), inclusive: arg[0] === 0x5b };
  }
  throw new ArgError(`invalid ${which} range format`);
}

function vrange(ctx: Ctx, argv: Buffer[]): Reply {
  if (argv.length > 5) throw wrongArity('vrange');
  const lower = parseBound(argv[2], 'start');
  const upper = parseBound(argv[3], 'end');
  let count = -1;
  if (argv.length === 5) {
    count = intOrNaN(argv[4]);
    if (count !== count) throw new ArgError('invalid COUNT value');
    if (count < 0) count = -1;
  }
  const set = lookupSet(ctx, argv[1]);
  if (!set) return [];
  return set.range(lower, upper, count);
}

// ---------------------------------------------------------------------------
// VINFO

function vinfo(ctx: Ctx, argv: Buffer[]): Reply {
  const set = lookupSet(ctx, argv[1]);
  if (!set) return NULL_ARRAY;
  const p = set.params;
  const field = (name: string, value: Reply): [Reply, Reply] => [new SimpleString(name), value];
  return new ReplyMap([
    field('quant-type', new SimpleString(quantName(p.quant))),
    field('hnsw-m', p.m),
    field('vector-dim', p.dim),
    field('projection-input-dim', p.projectInputDim),
    field('size', set.card),
    field('max-level', Math.max(0, set.maxLevel())),
    field('attributes-count', set.attributesCount),
    field('vset-uid', set.uid),
    // Nodes ever inserted (live + replaced or removed since the last rebuild).
    field('hnsw-max-node-uid', set.card + set.deleted),
  ]);
}

// ---------------------------------------------------------------------------
// The command table

const vectorArg = vectorArgDoc('vector');
const key: ArgSpec = { name: 'key', type: 'key' };
const element: ArgSpec = { name: 'element', type: 'string' };

export const vsetCommands: CommandSpec[] = [
  {
    ...base, name: 'vadd', arity: -5, flags: ['write', 'denyoom'],
    summary: 'Adds an element and its vector to a vector set (created if missing), or replaces its vector.',
    complexity: 'O(log(N)) for each element added, where N is the number of elements in the vector set.',
    arguments: [
      key, { name: 'reduce', type: 'integer', token: 'REDUCE', displayText: 'dim', optional: true }, vectorArg, element,
      { name: 'cas', type: 'pure-token', token: 'CAS', optional: true },
      { name: 'quant_type', type: 'oneof', optional: true, arguments: [
        { name: 'noquant', type: 'pure-token', token: 'NOQUANT' }, { name: 'bin', type: 'pure-token', token: 'BIN' }, { name: 'q8', type: 'pure-token', token: 'Q8' }] },
      { name: 'build-exploration-factor', type: 'integer', token: 'EF', optional: true },
      { name: 'attributes', type: 'string', token: 'SETATTR', optional: true },
      { name: 'numlinks', type: 'integer', token: 'M', optional: true },
    ],
    handler: vadd, completesLater: true,
  },
  {
    ...base, name: 'vsim', arity: -4, flags: ['readonly'],
    summary: 'Returns the elements most similar to a vector or to an element of the vector set.',
    complexity: 'O(log(N)) where N is the number of elements in the vector set; O(N) with TRUTH.',
    arguments: [
      key, { name: 'query', type: 'oneof', arguments: [{ name: 'element', type: 'string', token: 'ELE' }, ...vectorArg.arguments!] },
      { name: 'withscores', type: 'pure-token', token: 'WITHSCORES', optional: true },
      { name: 'withattribs', type: 'pure-token', token: 'WITHATTRIBS', optional: true },
      { name: 'count', type: 'integer', token: 'COUNT', optional: true },
      { name: 'max_distance', type: 'double', token: 'EPSILON', optional: true },
      { name: 'search-exploration-factor', type: 'integer', token: 'EF', optional: true },
      { name: 'expression', type: 'string', token: 'FILTER', optional: true },
      { name: 'max-filtering-effort', type: 'integer', token: 'FILTER-EF', optional: true },
      { name: 'truth', type: 'pure-token', token: 'TRUTH', optional: true },
      { name: 'nothread', type: 'pure-token', token: 'NOTHREAD', optional: true },
    ],
    handler: vsim, completesLater: true,
  },
  {
    ...base, name: 'vrem', arity: 3, flags: ['write', 'fast'], summary: 'Removes an element from a vector set; the key goes with its last element.',
    complexity: 'O(log(N)) where N is the number of elements in the vector set.',
    arguments: [key, element],
    handler: (ctx, argv) => {
      const set = lookupSet(ctx, argv[1]);
      const n = set ? removeIds(ctx, argv[1], set, [keyOf(argv[2])], 'vrem') : 0;
      if (n === 0) ctx.propagate = null;
      return n > 0;
    },
  },
  {
    ...base, name: 'vcard', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns the number of elements in a vector set.',
    complexity: 'O(1)',
    arguments: [key],
    handler: (ctx, argv) => lookupSet(ctx, argv[1])?.card ?? 0,
  },
  {
    ...base, name: 'vdim', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns the dimension of the vectors in a vector set (after REDUCE).',
    complexity: 'O(1)',
    arguments: [key],
    handler: setDim,
  },
  {
    ...base, name: 'vemb', arity: -3, flags: ['readonly', 'fast'], summary: 'Returns the vector of an element (RAW: its stored, quantized form).',
    complexity: 'O(1)',
    arguments: [key, element, { name: 'raw', type: 'pure-token', token: 'RAW', optional: true }],
    handler: vemb, completesLater: true,
  },
  {
    ...base, name: 'vgetattr', arity: 3, flags: ['readonly', 'fast'], summary: 'Returns the attributes (JSON) of an element.',
    complexity: 'O(1)',
    arguments: [key, element],
    handler: (ctx, argv) => lookupSet(ctx, argv[1])?.payloadOf(keyOf(argv[2])) ?? null,
  },
  {
    ...base, name: 'vsetattr', arity: 4, flags: ['write', 'fast'], summary: 'Sets (or with "" removes) the attributes of an element.',
    complexity: 'O(1)',
    arguments: [key, element, { name: 'json', type: 'string' }],
    handler: (ctx, argv) => {
      const attribute = checkAttribute(ctx, argv[3]);
      const set = lookupSet(ctx, argv[1]);
      const ok = set ? set.setPayload(keyOf(argv[2]), attribute) : false;
      if (!ok) ctx.propagate = null;
      else vectorEvent(ctx, 'vsetattr', argv[1]);
      return ok;
    },
  },
  {
    ...base, name: 'vinfo', arity: 2, flags: ['readonly', 'fast'], summary: 'Returns information about a vector set.',
    complexity: 'O(1)',
    arguments: [key],
    handler: vinfo,
  },
  {
    ...base, name: 'vlinks', arity: -3, flags: ['readonly'], summary: 'Returns the HNSW neighbours of an element at each level, top level first.',
    complexity: 'O(1)',
    arguments: [key, element, { name: 'withscores', type: 'pure-token', token: 'WITHSCORES', optional: true }],
    handler: vlinks, completesLater: true,
  },
  {
    ...base, name: 'vrandmember', arity: -2, flags: ['readonly'], summary: 'Returns one or more random elements of a vector set.',
    complexity: 'O(N) where N is the absolute value of the count.',
    arguments: [key, { name: 'count', type: 'integer', optional: true }],
    handler: vrandmember,
  },
  {
    ...base, name: 'vismember', arity: 3, flags: ['readonly', 'fast'], summary: 'Tells whether an element is in a vector set.',
    complexity: 'O(1)',
    arguments: [key, element],
    handler: (ctx, argv) => lookupSet(ctx, argv[1])?.has(keyOf(argv[2])) ?? false,
  },
  {
    ...base, name: 'vrange', arity: -4, flags: ['readonly'], summary: 'Returns the elements of a vector set between two names, in byte order.',
    complexity: 'O(log(N)+M) where M is the number of elements returned.',
    arguments: [key, { name: 'start', type: 'string' }, { name: 'end', type: 'string' }, { name: 'count', type: 'integer', optional: true }],
    handler: vrange,
  },
];

/**
 * Reading vectors and vector-set options from command arguments, shared by the
 * native VEC.* commands and the Redis 8 V* commands. Every vector is checked
 * here, before anything reaches usearch: length, NaN, ±Inf, float32 overflow
 * (a NaN inside an HNSW graph corrupts it silently).
 */
import { slabFloats } from '../engine/float-slab.js';
import { ArgError, WrongTypeError, oneLine } from '../errors.js';
import { parseFloat32, parseInteger } from '../core/numbers.js';
import { isKeyword } from '../core/numbers.js';
import { keyOf } from '../engine/keyspace.js';
import { MAX_PAYLOAD_DEPTH, jsonTextDepth, tooDeepMessage } from '../core/json-depth.js';
import { VectorSet } from '../engine/vector-set.js';
import type { ArgSpec, Ctx } from '../core/types.js';

/** Vector dimension ≤ 65536, checked before allocating. */
export const MAX_DIM = 65536;

/** The largest EF (search) and EF_CONSTRUCTION either family accepts. */
export const MAX_EF = 1_000_000;

/** How a caller wants vector errors worded: VEC.* names the problem, V* uses Redis 8's one text. */
export type Dialect = 'vec' | 'vset';

const VSET_BAD = 'invalid vector specification';

/** Show an argument inside an error: cut, CR/LF removed, non-printables escaped. */
export function shown(arg: Buffer, max = 64): string {
  let s = '';
  for (let i = 0; i < arg.length && i < max; i++) {
    const c = arg[i];
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return oneLine(arg.length > max ? s + '…' : s);
}

export interface ParsedVector {
  vector: Float32Array;
  /** Index of the first argument after the vector. */
  next: number;
}

/**
 * `FP32 <blob>` or `VALUES <n> <v1> … <vn>` starting at argv[i]. Returns null
 * when argv[i] is neither keyword (callers decide: ELE, or an error).
 */
export function parseVectorAt(argv: Buffer[], i: number, dialect: Dialect): ParsedVector | null {
  const fail = (msg: string): never => { throw new ArgError(dialect === 'vset' ? VSET_BAD : msg); };
  if (isKeyword(argv[i], 'FP32')) {
    const blob = argv[i + 1];
    if (!blob) fail('FP32 needs a blob of little-endian float32 values');
    if (blob.length === 0) fail('empty vector: FP32 blob has no bytes');
    if (blob.length % 4 !== 0) fail(`FP32 blob length ${blob.length} is not a multiple of 4`);
    if (blob.length / 4 > MAX_DIM) fail(`vector has ${blob.length / 4} values, more than the ${MAX_DIM} allowed`);
    // Copy: a bulk string inside a socket chunk is rarely 4-aligned, and the chunk is reused.
    const vector = slabFloats(blob.length / 4);
    new Uint8Array(vector.buffer, vector.byteOffset, blob.length).set(blob);
    for (let j = 0; j < vector.length; j++) {
      const x = vector[j];
      if (x !== x || x === Infinity || x === -Infinity) fail(`FP32 blob holds ${x !== x ? 'NaN' : x > 0 ? 'inf' : '-inf'} at position ${j}`);
    }
    return { vector, next: i + 2 };
  }
  if (isKeyword(argv[i], 'VALUES')) {
    const countArg = argv[i + 1];
    if (!countArg) fail('VALUES needs a count and that many numbers');
    let n: number;
    try { n = parseInteger(countArg); } catch { return fail(`VALUES count '${shown(countArg)}' is not an integer`); }
    if (n < 1) fail('empty vector: VALUES count must be at least 1');
    if (n > MAX_DIM) fail(`vector has ${n} values, more than the ${MAX_DIM} allowed`);
    if (i + 2 + n > argv.length) fail(`VALUES declares ${n} values but ${argv.length - i - 2} follow`);
    const vector = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const arg = argv[i + 2 + j];
      const x = parseFloat32(arg);
      if (x !== x) fail(`invalid vector value '${shown(arg)}' at position ${j}: not a finite float32 number`);
      vector[j] = x;
    }
    return { vector, next: i + 2 + n };
  }
  return null;
}

/** COMMAND DOCS of the vector argument parseVectorAt reads; each family has its own name for the blob. */
export function vectorArgDoc(blobName: string): ArgSpec {
  return {
    name: 'vector', type: 'oneof', arguments: [
      { name: blobName, type: 'string', token: 'FP32' },
      { name: 'values', type: 'block', arguments: [{ name: 'num', type: 'integer', token: 'VALUES' }, { name: 'value', type: 'double', multiple: true }] },
    ],
  };
}

export function isZero(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

/** The vector set at `key`, undefined if absent; WRONGTYPE for any other kind of key. */
export function lookupSet(ctx: Ctx, key: Buffer): VectorSet | undefined {
  const v = ctx.db.get(keyOf(key));
  if (v === undefined) return undefined;
  if (!(v instanceof VectorSet)) throw new WrongTypeError();
  return v;
}

/** A JSON object payload, as stored (the text verbatim). */
export function checkPayload(ctx: Ctx, arg: Buffer): string {
  const limit = ctx.server.config['vec-max-payload-bytes'];
  if (arg.length > limit) throw new ArgError(`payload of ${arg.length} bytes is over the limit of ${limit} (vec-max-payload-bytes)`);
  const text = arg.toString('utf8');
  if (!ctx.replaying && jsonTextDepth(text, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) throw new ArgError(tooDeepMessage('payload'));
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { throw new ArgError(`payload is not valid JSON: '${shown(arg)}'`); }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ArgError('payload must be a JSON object');
  return text;
}

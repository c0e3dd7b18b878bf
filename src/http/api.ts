/**
 * The HTTP API's routes. Each request becomes the equivalent command line
 * (VEC.ADD, VEC.SEARCH, VEC.INFO…) run through the dispatcher, exactly as if a
 * RESP client had sent it: the same validation and error texts, the same
 * -LOADING and -MISCONF refusals, the same WAL record before the reply, the
 * same INFO commandstats and SLOWLOG entries. This file only translates JSON
 * to arguments and replies back to JSON.
 */
import { ErrorReply, ReplyMap, Double, type Reply } from '../../protocol/reply.js';
import type { ClientState } from '../core/types.js';
import { Slicer } from '../core/slicer.js';
import { errorCode } from '../errors.js';
import { replyToJson, type Json } from './json-reply.js';
import { MAX_PAYLOAD_DEPTH, jsonTextDepth, jsonValueDepth, tooDeepMessage } from '../core/json-depth.js';

/** What the routes need from the server. */
export interface ApiHost {
  readonly loading: boolean;
  /** Run one command line as `client` (never throws; errors are ErrorReply). */
  dispatch(client: ClientState, argv: Buffer[]): Reply | Promise<Reply>;
  /** Run command lines as one transaction, in slices that leave the event loop free (never throws). */
  runBatch(client: ClientState, queued: Buffer[][]): Promise<Reply>;
  /** The -MISCONF line writes are refused with, or null while the disk is fine. */
  writeRefusal(): string | null;
  /** Prometheus text for /metrics. */
  metrics(): string;
  /** The OpenAPI document for /v1/openapi.json. */
  openapi(): Json;
}

/** An error answered as `{"error": line, "code": CODE}` with an HTTP status. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly line: string, readonly headers: Record<string, string> = {}) {
    super(line);
  }

  get code(): string { return errorCode(this.line); }

  /** A RESP error line with the status that fits its code. */
  static fromLine(line: string): HttpError {
    switch (errorCode(line)) {
      case 'ERR': return new HttpError(line === 'ERR internal error' ? 500 : 400, line);
      case 'WRONGTYPE': return new HttpError(409, line);
      case 'NOAUTH': case 'WRONGPASS': return new HttpError(401, line);
      case 'DENIED': return new HttpError(403, line);
      case 'LOADING': return new HttpError(503, line, { 'retry-after': '1' });
      case 'MISCONF': case 'BUSY': return new HttpError(503, line);
      default: return new HttpError(400, line);
    }
  }

  /** Bad input that never reached a command (JSON shape, types). */
  static bad(message: string): HttpError { return new HttpError(400, `ERR ${message}`); }
}

export interface ApiRequest {
  client: ClientState;
  /** Path parameters, decoded, in pattern order. */
  params: string[];
  /** The parsed JSON body (read on demand, size-limited by the listener). */
  body(): Promise<unknown>;
}

export interface ApiResponse {
  status: number;
  /** JSON value, or a string sent as-is with `contentType`. */
  body: Json | string;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * The body holds a stored payload nested deeper than MAX_PAYLOAD_DEPTH (one
   * an older version accepted): sent with a serialiser that does not recurse,
   * slower than JSON.stringify, which overflows its stack on it.
   */
  deep?: boolean;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Segments; ':name' is a parameter. */
  pattern: string[];
  /** The route as metrics label it, e.g. `/v1/sets/{key}`. */
  name: string;
  /** Served without authentication and outside protected mode (health and the API description reveal no data). */
  open?: boolean;
  handle(req: ApiRequest): Promise<ApiResponse>;
}

export const DEFAULT_KEY = 'default';

const ok = (body: Json, status = 200): ApiResponse => ({ status, body });

// ---- argument helpers ----

function asObject(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw HttpError.bad('request body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw HttpError.bad(`unknown field '${k}': expected ${allowed.join(', ')}`);
  return o;
}

function text(o: Record<string, unknown>, field: string, deflt?: string): string {
  const v = o[field];
  if (v === undefined && deflt !== undefined) return deflt;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && field.endsWith('id')) return String(v);
  throw HttpError.bad(v === undefined ? `'${field}' is required` : `'${field}' must be a string`);
}

function integer(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw HttpError.bad(`'${field}' must be an integer`);
  return String(v);
}

function flag(o: Record<string, unknown>, field: string): boolean {
  const v = o[field];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw HttpError.bad(`'${field}' must be true or false`);
  return v;
}

/**
 * A JSON array of numbers as the FP32 argument (little-endian float32 bytes):
 * compact in the WAL, and the command checks it as it checks any RESP client's.
 * Only what JSON can get wrong is checked here, with VALUES's wording.
 */
function vectorBlob(v: unknown, field: string): Buffer {
  if (!Array.isArray(v)) throw HttpError.bad(`'${field}' must be an array of numbers`);
  const f = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) {
      // Not JSON.stringify(x): x may be an array nested deeply enough to overflow it.
      const what = x !== null && typeof x === 'object' ? (Array.isArray(x) ? '[…]' : '{…}') : String(JSON.stringify(x)).slice(0, 64);
      throw HttpError.bad(`invalid vector value '${what}' at position ${i}: not a finite float32 number`);
    }
    f[i] = x;
  }
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

function payloadArg(v: unknown): Buffer | undefined {
  if (v === undefined) return undefined;
  if (v === null) return Buffer.alloc(0); // PAYLOAD "": remove it
  if (typeof v !== 'object' || Array.isArray(v)) throw HttpError.bad('payload must be a JSON object');
  // Checked on the parsed value, before JSON.stringify recurses into it; VEC.ADD checks the text again.
  if (jsonValueDepth(v, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) throw HttpError.bad(tooDeepMessage('payload'));
  return Buffer.from(JSON.stringify(v));
}

const b = (s: string) => Buffer.from(s, 'utf8');

/** Run a command line; an error reply becomes an HttpError. */
async function run(host: ApiHost, client: ClientState, argv: Buffer[]): Promise<Reply> {
  const r = await host.dispatch(client, argv);
  if (r instanceof ErrorReply) throw HttpError.fromLine(r.line);
  return r;
}

/** Stored payloads as JSON values, noting whether any nests deeper than JSON.stringify is trusted with. */
class PayloadReader {
  deep = false;

  read(r: Reply): Json {
    if (r === null) return null;
    const s = Buffer.isBuffer(r) ? r.toString('utf8') : typeof r === 'string' ? r : null;
    if (s === null) return replyToJson(r);
    if (jsonTextDepth(s, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) this.deep = true;
    try { return JSON.parse(s) as Json; } catch { return s; }
  }
}

// ---- routes ----

interface Point { id: string; vector: Buffer; payload: Buffer | undefined }

function point(o: unknown, where: string): Point {
  const p = asObject(o, ['id', 'vector', 'payload']);
  try {
    return { id: text(p, 'id'), vector: vectorBlob(p.vector, 'vector'), payload: payloadArg(p.payload) };
  } catch (e) {
    if (e instanceof HttpError && where) throw HttpError.bad(`${where}: ${e.line.slice(4)}`);
    throw e;
  }
}

// Shared by every command line built here: nothing downstream writes into an argument.
const VEC_ADD = b('VEC.ADD'), FP32 = b('FP32'), PAYLOAD = b('PAYLOAD');

function addArgv(key: Buffer, p: Point): Buffer[] {
  const argv: Buffer[] = [VEC_ADD, key, b(p.id), FP32, p.vector];
  if (p.payload !== undefined) argv.push(PAYLOAD, p.payload);
  return argv;
}

async function insert(host: ApiHost, req: ApiRequest): Promise<ApiResponse> {
  const o = asObject(await req.body(), ['key', 'id', 'vector', 'payload', 'points']);
  const key = b(text(o, 'key', DEFAULT_KEY));
  if (o.points === undefined) {
    const r = await run(host, req.client, addArgv(key, point({ id: o.id, vector: o.vector, payload: o.payload }, '')));
    return ok({ added: r === 1 ? 1 : 0, updated: r === 1 ? 0 : 1 });
  }
  if (o.id !== undefined || o.vector !== undefined || o.payload !== undefined) throw HttpError.bad("give either 'points' or one point's 'id', 'vector' and 'payload', not both");
  if (!Array.isArray(o.points) || o.points.length === 0) throw HttpError.bad("'points' must be a non-empty array of {id, vector, payload}");
  const ids: string[] = [];
  const commands: Buffer[][] = [];
  // In slices, as the body was parsed: checking 100 000 points holds the loop longer than one turn should.
  const slicer = new Slicer();
  for (let i = 0; i < o.points.length; i++) {
    const p = point(o.points[i], `points[${i}]`);
    ids.push(p.id);
    commands.push(addArgv(key, p));
    if (slicer.due()) await slicer.pause();
  }
  if (commands.length === 1) {
    const r = await run(host, req.client, commands[0]);
    return ok({ added: r === 1 ? 1 : 0, updated: r === 1 ? 0 : 1 });
  }
  return insertBatch(host, req.client, ids, commands);
}

/**
 * A batch is one VEC.ADD per point run as one transaction: one WAL record, so
 * a crash keeps all of it or none, and commands on its key wait for all of it.
 * It runs in slices (runBatch) so that 100 000 points do not hold the event
 * loop for seconds. As with EXEC, a point the command refuses (a zero vector under
 * COSINE…) does not stop the others; it is reported.
 */
async function insertBatch(host: ApiHost, client: ClientState, ids: string[], commands: Buffer[][]): Promise<ApiResponse> {
  const replies = await host.runBatch(client, commands);
  if (replies instanceof ErrorReply) throw HttpError.fromLine(replies.line);
  if (!Array.isArray(replies)) throw HttpError.fromLine('ERR internal error');
  let added = 0, updated = 0;
  const failed: Json[] = [];
  let first: HttpError | null = null;
  (replies as Reply[]).forEach((r, i) => {
    if (r instanceof ErrorReply) {
      first ??= HttpError.fromLine(r.line);
      failed.push({ index: i, id: ids[i], error: r.line });
    } else if (r === 1) added++;
    else updated++;
  });
  if (first) {
    const e: HttpError = first;
    return { status: e.status, body: { error: e.line, code: e.code, added, updated, failed } };
  }
  return ok({ added, updated });
}

async function search(host: ApiHost, req: ApiRequest): Promise<ApiResponse> {
  const o = asObject(await req.body(), ['key', 'vector', 'near_id', 'top_k', 'filter', 'ef', 'with_payload', 'exact']);
  const key = b(text(o, 'key', DEFAULT_KEY));
  const argv: Buffer[] = [b('VEC.SEARCH'), key];
  if (o.vector !== undefined && o.near_id !== undefined) throw HttpError.bad("give either 'vector' or 'near_id', not both");
  if (o.near_id !== undefined) argv.push(b('ELE'), b(text(o, 'near_id')));
  else if (o.vector !== undefined) argv.push(b('FP32'), vectorBlob(o.vector, 'vector'));
  else throw HttpError.bad("'vector' is required (or 'near_id', the id of a stored point)");
  argv.push(b('COUNT'), b(integer(o, 'top_k') ?? '10'));
  const ef = integer(o, 'ef');
  if (ef !== undefined) argv.push(b('EF'), b(ef));
  if (o.filter !== undefined) argv.push(b('FILTER'), b(text(o, 'filter')));
  argv.push(b('WITHSCORES'));
  const withPayload = flag(o, 'with_payload');
  if (withPayload) argv.push(b('WITHPAYLOADS'));
  if (flag(o, 'exact')) argv.push(b('EXACT'));
  const r = await run(host, req.client, argv);
  const results: Json[] = [];
  const payloads = new PayloadReader();
  // RESP3: a map id → score, or id → [score, payload].
  if (r instanceof ReplyMap) {
    for (const [id, v] of r.entries) {
      const pair = Array.isArray(v) ? (v as Reply[]) : [v];
      const score = pair[0] instanceof Double ? pair[0].value : Number(replyToJson(pair[0]));
      const hit: { [k: string]: Json } = { id: replyToJson(id), score };
      if (withPayload) hit.payload = payloads.read(pair[1] ?? null);
      results.push(hit);
    }
  }
  return { status: 200, body: { results }, deep: payloads.deep };
}

async function createSet(host: ApiHost, req: ApiRequest): Promise<ApiResponse> {
  const o = asObject(await req.body(), ['dim', 'metric', 'quant', 'm', 'ef_construction', 'ef']);
  const key = req.params[0];
  const dim = integer(o, 'dim');
  if (dim === undefined) throw HttpError.bad("'dim' is required");
  const argv: Buffer[] = [b('VEC.CREATE'), b(key), b('DIM'), b(dim)];
  if (o.metric !== undefined) argv.push(b('METRIC'), b(text(o, 'metric')));
  if (o.quant !== undefined) argv.push(b('QUANT'), b(text(o, 'quant')));
  for (const [field, token] of [['m', 'M'], ['ef_construction', 'EF_CONSTRUCTION'], ['ef', 'EF']] as const) {
    const v = integer(o, field);
    if (v !== undefined) argv.push(b(token), b(v));
  }
  await run(host, req.client, argv);
  return ok(await setInfo(host, req.client, key), 201);
}

async function setInfo(host: ApiHost, client: ClientState, key: string): Promise<Json> {
  const r = await run(host, client, [b('VEC.INFO'), b(key)]);
  if (r === null) throw new HttpError(404, `ERR no vector set at key '${key}'`);
  const info = replyToJson(r) as { [k: string]: Json };
  return { key, ...info };
}

const noPoint = (key: string, id: string) => new HttpError(404, `ERR no point '${id}' in set '${key}'`);

export function routes(host: ApiHost): Route[] {
  return [
    {
      method: 'GET', pattern: ['healthz'], name: '/healthz', open: true,
      handle: async () => {
        if (host.loading) return { status: 503, body: { status: 'loading' }, headers: { 'retry-after': '1' } };
        const refusal = host.writeRefusal();
        // Reads still work while the disk refuses writes: report it without failing a liveness probe.
        return ok(refusal ? { status: 'degraded', error: refusal } : { status: 'ok' });
      },
    },
    {
      method: 'GET', pattern: ['metrics'], name: '/metrics',
      handle: async () => ({ status: 200, body: host.metrics(), contentType: 'text/plain; version=0.0.4; charset=utf-8' }),
    },
    { method: 'GET', pattern: ['v1', 'openapi.json'], name: '/v1/openapi.json', open: true, handle: async () => ok(host.openapi()) },
    { method: 'POST', pattern: ['v1', 'insert'], name: '/v1/insert', handle: (req) => insert(host, req) },
    { method: 'POST', pattern: ['v1', 'search'], name: '/v1/search', handle: (req) => search(host, req) },
    {
      method: 'GET', pattern: ['v1', 'sets'], name: '/v1/sets',
      handle: async (req) => ok({ sets: replyToJson(await run(host, req.client, [b('VEC.LIST')])) }),
    },
    { method: 'GET', pattern: ['v1', 'sets', ':key'], name: '/v1/sets/{key}', handle: async (req) => ok(await setInfo(host, req.client, req.params[0])) },
    { method: 'PUT', pattern: ['v1', 'sets', ':key'], name: '/v1/sets/{key}', handle: (req) => createSet(host, req) },
    {
      method: 'GET', pattern: ['v1', 'sets', ':key', 'points', ':id'], name: '/v1/sets/{key}/points/{id}',
      handle: async (req) => {
        const [key, id] = req.params;
        const r = await run(host, req.client, [b('VEC.GET'), b(key), b(id)]);
        if (r === null) throw noPoint(key, id);
        const v = replyToJson(r) as { vector: Json; payload: Json };
        const payloads = new PayloadReader();
        const payload = r instanceof ReplyMap ? payloads.read(r.entries.find(([k]) => k === 'payload')?.[1] ?? null) : v.payload;
        return { status: 200, body: { id, vector: v.vector, payload }, deep: payloads.deep };
      },
    },
    {
      method: 'DELETE', pattern: ['v1', 'sets', ':key', 'points', ':id'], name: '/v1/sets/{key}/points/{id}',
      handle: async (req) => {
        const [key, id] = req.params;
        const r = await run(host, req.client, [b('VEC.DEL'), b(key), b(id)]);
        if (r !== 1) throw noPoint(key, id);
        return ok({ deleted: 1 });
      },
    },
  ];
}

/** Match a decoded path against the routes: the route and its parameters, or the methods the path allows. */
export function matchRoute(all: readonly Route[], method: string, segments: string[]): { route: Route; params: string[] } | { allow: string[] } {
  const allow: string[] = [];
  for (const route of all) {
    if (route.pattern.length !== segments.length) continue;
    const params: string[] = [];
    let hit = true;
    for (let i = 0; i < segments.length && hit; i++) {
      const p = route.pattern[i];
      if (p.startsWith(':')) params.push(segments[i]);
      else hit = p === segments[i];
    }
    if (!hit) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allow.push(route.method);
  }
  return { allow };
}

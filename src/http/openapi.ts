/**
 * The OpenAPI 3.0 description of the HTTP API, served at /v1/openapi.json.
 * Kept beside the routes it describes; test/http checks that every route is
 * in it and every path in it is a route.
 */
import type { Json } from './json-reply.js';

const json = (schema: Json) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));
const keyParam = { name: 'key', in: 'path', required: true, description: 'The vector set (a Redis key; percent-encode "/" and other reserved characters).', schema: { type: 'string' } };
const idParam = { name: 'id', in: 'path', required: true, description: 'The point id.', schema: { type: 'string' } };

export function openapiDocument(version: string): Json {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Astronaut HTTP API',
      version,
      description: 'The JSON API beside the RESP port. Every route runs the equivalent command (VEC.ADD, VEC.SEARCH, VEC.INFO, VEC.GET, VEC.DEL, VEC.CREATE, VEC.LIST) '
        + 'on the same engine, with the same durability and the same error messages. When requirepass is set, send `Authorization: Bearer <password>`.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths: {
      '/v1/insert': {
        post: {
          summary: 'Insert or replace points (VEC.ADD). A set is created on first insert, with the vectors\' dimension and COSINE distance.',
          requestBody: { required: true, content: json({ oneOf: [ref('PointInsert'), ref('BatchInsert')] }) },
          responses: {
            200: { description: 'Points added (new ids) and updated (existing ids).', content: json(ref('InsertResult')) },
            ...errors(400, 401, 409, 413, 503),
          },
        },
      },
      '/v1/search': {
        post: {
          summary: 'The nearest points to a vector, or to a stored point (VEC.SEARCH).',
          requestBody: { required: true, content: json(ref('SearchRequest')) },
          responses: { 200: { description: 'Nearest first.', content: json(ref('SearchResult')) }, ...errors(400, 401, 409, 413, 503) },
        },
      },
      '/v1/sets': {
        get: {
          summary: 'The vector sets (VEC.LIST).',
          responses: { 200: { description: 'Set names.', content: json({ type: 'object', properties: { sets: { type: 'array', items: { type: 'string' } } } }) }, ...errors(401, 503) },
        },
      },
      '/v1/sets/{key}': {
        parameters: [keyParam],
        get: { summary: 'A set\'s parameters and statistics (VEC.INFO).', responses: { 200: { description: 'VEC.INFO\'s fields.', content: json(ref('SetInfo')) }, ...errors(401, 404, 409, 503) } },
        put: {
          summary: 'Create an empty set with explicit parameters (VEC.CREATE).',
          requestBody: { required: true, content: json(ref('SetCreate')) },
          responses: { 201: { description: 'Created.', content: json(ref('SetInfo')) }, ...errors(400, 401, 503) },
        },
      },
      '/v1/sets/{key}/points/{id}': {
        parameters: [keyParam, idParam],
        get: { summary: 'A point\'s vector and payload (VEC.GET).', responses: { 200: { description: 'The point.', content: json(ref('Point')) }, ...errors(401, 404, 409, 503) } },
        delete: {
          summary: 'Delete a point (VEC.DEL).',
          responses: { 200: { description: 'Deleted.', content: json({ type: 'object', properties: { deleted: { type: 'integer', enum: [1] } } }) }, ...errors(401, 404, 409, 503) },
        },
      },
      '/healthz': {
        get: {
          summary: 'Readiness: 503 while the dataset loads, 200 once it is served. Needs no authentication.',
          security: [],
          responses: {
            200: { description: '`ok`, or `degraded` while writes are refused (-MISCONF).', content: json(ref('Health')) },
            503: { description: 'Loading.', content: json(ref('Health')) },
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus text exposition: INFO\'s counters and per-command latency histograms.',
          responses: { 200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401) },
        },
      },
      '/v1/openapi.json': {
        get: { summary: 'This document.', security: [], responses: { 200: { description: 'OpenAPI 3.0.', content: json({ type: 'object' }) } } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The requirepass password.' } },
      responses: Object.fromEntries([
        [400, 'Bad input: the message the RESP command gives (`ERR …`).'],
        [401, 'Missing or wrong password (`NOAUTH`, `WRONGPASS`).'],
        [404, 'No such set, point or route.'],
        [409, 'The key holds another type (`WRONGTYPE`).'],
        [413, 'Request body larger than http-max-body-bytes.'],
        [503, 'Loading the dataset (`LOADING`, with Retry-After) or writes refused after a disk error (`MISCONF`).'],
      ].map(([code, description]) => [`E${code}`, { description, content: json(ref('Error')) }])),
      schemas: {
        Vector: { type: 'array', items: { type: 'number', format: 'float' }, minItems: 1, description: 'float32 values; every vector of a set has its dimension.' },
        Payload: { type: 'object', additionalProperties: true, nullable: true, description: 'Any JSON object (FILTER expressions read its fields); null removes it.' },
        Point: {
          type: 'object', required: ['id', 'vector'],
          properties: { id: { type: 'string' }, vector: ref('Vector'), payload: ref('Payload') },
        },
        PointInsert: {
          type: 'object', required: ['id', 'vector'],
          properties: { key: { type: 'string', default: 'default' }, id: { type: 'string' }, vector: ref('Vector'), payload: ref('Payload') },
        },
        BatchInsert: {
          type: 'object', required: ['points'],
          properties: { key: { type: 'string', default: 'default' }, points: { type: 'array', minItems: 1, items: ref('Point') } },
          description: 'Applied as one transaction (one WAL record). A point the command refuses is reported in `failed`; the others are applied.',
        },
        InsertResult: {
          type: 'object',
          properties: {
            added: { type: 'integer' }, updated: { type: 'integer' },
            failed: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, id: { type: 'string' }, error: { type: 'string' } } } },
          },
        },
        SearchRequest: {
          type: 'object',
          properties: {
            key: { type: 'string', default: 'default' },
            vector: ref('Vector'),
            near_id: { type: 'string', description: 'Search near a stored point instead of a vector (VEC.SEARCH … ELE).' },
            top_k: { type: 'integer', default: 10, minimum: 1, maximum: 100000 },
            filter: { type: 'string', description: 'A FILTER expression over payload fields, e.g. `.year > 1980 and .genre == "drama"`.', example: '.year > 1980' },
            ef: { type: 'integer', minimum: 1, description: 'Search beam width (default: the set\'s EF).' },
            with_payload: { type: 'boolean', default: false },
            exact: { type: 'boolean', default: false, description: 'Brute-force scan instead of the HNSW graph.' },
          },
        },
        SearchResult: {
          type: 'object',
          properties: {
            results: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  score: { type: 'number', description: 'The distance VEC.SEARCH WITHSCORES gives: smaller is nearer (COSINE: 1 - cosine similarity).' },
                  payload: ref('Payload'),
                },
              },
            },
          },
        },
        SetCreate: {
          type: 'object', required: ['dim'],
          properties: {
            dim: { type: 'integer', minimum: 1, maximum: 65536 },
            metric: { type: 'string', enum: ['COSINE', 'L2', 'IP', 'HAMMING', 'JACCARD'], default: 'COSINE' },
            quant: { type: 'string', enum: ['F32', 'F16', 'BF16', 'I8', 'B1'], default: 'F32' },
            m: { type: 'integer', default: 16 }, ef_construction: { type: 'integer', default: 128 }, ef: { type: 'integer', default: 64 },
          },
        },
        SetInfo: {
          type: 'object', additionalProperties: true,
          properties: {
            key: { type: 'string' }, dim: { type: 'integer' }, metric: { type: 'string' }, quant: { type: 'string' }, m: { type: 'integer' },
            ef_construction: { type: 'integer' }, ef: { type: 'integer' }, size: { type: 'integer' }, capacity: { type: 'integer' },
            memory_bytes: { type: 'integer' }, index_bytes: { type: 'integer' }, deleted: { type: 'integer' }, payloads: { type: 'integer' },
            distance: { type: 'string' }, created: { type: 'string' }, max_level: { type: 'integer' }, searches: { type: 'integer' },
          },
        },
        Health: { type: 'object', properties: { status: { type: 'string', enum: ['ok', 'degraded', 'loading'] }, error: { type: 'string' } } },
        Error: {
          type: 'object', required: ['error', 'code'],
          properties: { error: { type: 'string', description: 'The error line a RESP client gets, e.g. `ERR vector has 2 values, the set \'docs\' has DIM 3`.' }, code: { type: 'string', example: 'ERR' } },
        },
      },
    },
  };
}

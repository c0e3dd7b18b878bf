/**
 * The FT.* commands (the part of RediSearch the AI frameworks send; README, "Coming
 * from RediSearch") and MODULE LIST, which frameworks ask before they use them.
 */
import { Double, OK, ReplyMap, ReplySet, type Reply } from '../../protocol/reply.js';
import type { ArgSpec, CommandSpec, Ctx } from '../core/types.js';
import { keyBytes } from '../engine/keyspace.js';
import { parseSearchArgs, parseQuery, runSearch, formatNumber } from './ft-search.js';
import { explain } from './query.js';
import { alterLayout, type Registry } from './registry.js';
import { FtError, type FieldDef } from './schema.js';
import type { SearchIndex } from './search-index.js';

/** The version MODULE LIST reports: RediSearch 8.0 (frameworks require ≥ 2.6). */
export const SEARCH_MODULE_VERSION = 80000;

const UNKNOWN_INDEX = 'Unknown Index name';
const DEL = Buffer.from('DEL');

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'search', since: '1.0.0' } as const;

function indexName(argv: Buffer[]): string { return argv[1].toString('utf8'); }

function mustGet(reg: Registry, argv: Buffer[], missing = UNKNOWN_INDEX): SearchIndex {
  const index = reg.get(indexName(argv));
  if (!index) throw new FtError(missing);
  return index;
}

// ---- FT.INFO ----

/** One schema attribute as FT.INFO lists it: RESP2 a flat list with bare flags, RESP3 a map. */
function attributeReply(f: FieldDef, resp3: boolean): Reply {
  const pairs: Array<[string, Reply]> = [['identifier', f.identifier], ['attribute', f.attribute], ['type', f.type]];
  const flags: string[] = [];
  if (f.type === 'TAG') { pairs.push(['SEPARATOR', f.separator]); if (f.caseSensitive) flags.push('CASESENSITIVE'); }
  if (f.type === 'TEXT') { pairs.push(['WEIGHT', String(f.weight)]); if (f.nostem) flags.push('NOSTEM'); }
  if (f.type === 'VECTOR') {
    const v = f.vector!;
    pairs.push(['algorithm', v.algorithm], ['data_type', v.type], ['dim', v.dim], ['distance_metric', v.metric]);
    if (v.algorithm === 'HNSW') pairs.push(['M', v.m], ['ef_construction', v.efConstruction]);
  }
  if (f.sortable) flags.push('SORTABLE');
  if (f.noindex) flags.push('NOINDEX');
  if (f.indexMissing) flags.push('INDEXMISSING');
  if (f.indexEmpty) flags.push('INDEXEMPTY');
  if (resp3) return new ReplyMap([...pairs, ['flags', flags]]);
  return [...pairs.flat(), ...flags];
}

const mb = (bytes: number): Reply => new Double(Math.round((bytes / 1048576) * 1e6) / 1e6);

/** RediSearch's FT.INFO, field for field and in its order (clients read some by position). */
function info(index: SearchIndex, resp3: boolean): Reply {
  const d = index.def;
  const options: string[] = [];
  if (d.skipInitialScan) options.push('SKIPINITIALSCAN');
  const definition: Array<[string, Reply]> = [['key_type', d.on], ['prefixes', d.prefixes], ['default_score', new Double(d.score)]];
  if (d.language !== 'english') definition.push(['default_language', d.language]);
  const vectorBytes = index.vectorBytes();
  const docs = index.numDocs;
  const records = index.records;
  const entries: Array<[string, Reply]> = [
    ['index_name', d.name],
    ['index_options', options],
    ['index_definition', new ReplyMap(definition)],
    ['attributes', d.fields.map((f) => attributeReply(f, resp3))],
    ['num_docs', docs],
    ['max_doc_id', index.maxDocId],
    ['num_terms', index.fields.reduce((n, f) => n + (f.text ? f.text.termIds.size : 0), 0)],
    ['num_records', records],
    ['inverted_sz_mb', mb(0)],
    ['vector_index_sz_mb', mb(vectorBytes)],
    ['total_inverted_index_blocks', 0],
    ['offset_vectors_sz_mb', mb(0)],
    ['doc_table_size_mb', mb(0)],
    ['sortable_values_size_mb', mb(0)],
    ['key_table_size_mb', mb(0)],
    ['records_per_doc_avg', new Double(docs > 0 ? records / docs : NaN)],
    ['bytes_per_record_avg', new Double(records > 0 ? 0 : NaN)],
    ['offsets_per_term_avg', new Double(NaN)],
    ['offset_bits_per_record_avg', new Double(NaN)],
    ['hash_indexing_failures', index.failures],
    ['indexing', index.indexing ? 1 : 0],
    ['percent_indexed', new Double(index.percentIndexed())],
    ['gc_stats', new ReplyMap([['bytes_collected', 0], ['total_ms_run', 0], ['total_cycles', 0], ['average_cycle_time_ms', new Double(NaN)], ['last_run_time_ms', 0], ['gc_numeric_trees_missed', 0], ['gc_blocks_denied', 0]])],
    ['cursor_stats', new ReplyMap([['global_idle', 0], ['global_total', 0], ['index_capacity', 128], ['index_total', 0]])],
    // node-redis 4 (under @langchain/redis) reads the fields above by position, in RediSearch 2.6's order; newer fields follow.
    ['tag_overhead_sz_mb', mb(0)],
    ['text_overhead_sz_mb', mb(0)],
    ['total_index_memory_sz_mb', mb(vectorBytes)],
    ['geoshapes_sz_mb', mb(0)],
    ['total_indexing_time', new Double(index.totalIndexingMs)],
    ['number_of_uses', index.searches],
    ['cleaning', 0],
    ['dialect_stats', new ReplyMap([['dialect_1', 0], ['dialect_2', index.searches], ['dialect_3', 0], ['dialect_4', 0]])],
    ['Index Errors', new ReplyMap([['indexing failures', index.failures], ['last indexing error', index.lastError], ['last indexing error key', index.lastErrorKey]])],
    ['field statistics', d.fields.map((f) => new ReplyMap([['identifier', f.identifier], ['attribute', f.attribute],
      ['Index Errors', new ReplyMap([['indexing failures', 0], ['last indexing error', 'N/A'], ['last indexing error key', 'N/A']])]]))],
  ];
  if (d.stopwords !== null) entries.splice(entries.findIndex(([k]) => k === 'cursor_stats') + 1, 0, ['stopwords_list', d.stopwords]);
  return new ReplyMap(entries);
}

// ---- command specs ----

const INDEX: ArgSpec = { name: 'index', type: 'string' };

export function searchCommands(reg: Registry): CommandSpec[] {
  const ftCreate = (ctx: Ctx, argv: Buffer[]): Reply => {
    if (reg.get(indexName(argv))) throw new FtError('Index already exists');
    reg.create(argv, ctx.client.db);
    return OK;
  };

  const ftSearch = (ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> => {
    const index = mustGet(reg, argv, `${indexName(argv)}: no such index`);
    const args = parseSearchArgs(argv, 3);
    return runSearch(ctx, index, argv[2].toString('utf8'), args);
  };

  const ftDrop = (ctx: Ctx, argv: Buffer[]): Reply => {
    let dd = false;
    for (let i = 2; i < argv.length; i++) {
      if (argv[i].toString('latin1').toUpperCase() === 'DD') dd = true;
      else throw new FtError(`Unknown argument \`${argv[i].toString('utf8').slice(0, 48)}\``);
    }
    mustGet(reg, argv);
    const keys = reg.drop(indexName(argv));
    if (!dd) return OK;
    // The deletions are logged as the DEL they are: replay must not depend on what the index held.
    const deleted: Buffer[] = [];
    for (const k of keys) {
      if (ctx.db.delete(k)) { deleted.push(keyBytes(k)); ctx.server.keyspaceEvent(ctx.client.db, 'g', 'del', k); }
    }
    ctx.propagate = deleted.length > 0 ? [[argv[0], argv[1]], [DEL, ...deleted]] : [[argv[0], argv[1]]];
    return OK;
  };

  const ftAlter = (_ctx: Ctx, argv: Buffer[]): Reply => {
    const index = mustGet(reg, argv);
    const { from, skip } = alterLayout(argv);
    const schema = argv[from - 2]?.toString('latin1').toUpperCase(), add = argv[from - 1]?.toString('latin1').toUpperCase();
    if (schema !== 'SCHEMA' || add !== 'ADD') throw new FtError('FT.ALTER takes SCHEMA ADD followed by fields (only adding fields is supported)');
    reg.alter(index, argv, from, skip);
    return OK;
  };

  const ftExplain = (_ctx: Ctx, argv: Buffer[]): Reply => {
    mustGet(reg, argv);
    const args = parseSearchArgs(argv, 3);
    return explain(parseQuery(argv[2].toString('utf8'), args));
  };

  const moduleList = (ctx: Ctx): Reply => {
    const one = (name: string): Reply => new ReplyMap([['name', name], ['ver', SEARCH_MODULE_VERSION], ['path', ''], ['args', []]]);
    void ctx;
    return [one('search'), one('ReJSON')];
  };

  return [
    {
      ...base, name: 'ft.create', arity: -2, flags: ['write', 'denyoom'], summary: 'Creates an index with the given spec.',
      complexity: 'O(K) at creation where K is the number of fields, O(N) to index the N existing keys under its prefixes, in the background',
      arguments: [
        INDEX,
        { name: 'data-type', type: 'oneof', token: 'ON', optional: true, arguments: [{ name: 'hash', type: 'pure-token', token: 'HASH' }, { name: 'json', type: 'pure-token', token: 'JSON' }] },
        { name: 'prefix', type: 'block', optional: true, arguments: [{ name: 'count', type: 'integer', token: 'PREFIX' }, { name: 'prefix', type: 'string', multiple: true }] },
        { name: 'language', type: 'string', token: 'LANGUAGE', optional: true },
        { name: 'score', type: 'double', token: 'SCORE', optional: true },
        { name: 'skipinitialscan', type: 'pure-token', token: 'SKIPINITIALSCAN', optional: true },
        { name: 'stopwords', type: 'block', optional: true, arguments: [{ name: 'count', type: 'integer', token: 'STOPWORDS' }, { name: 'stopword', type: 'string', multiple: true, optional: true }] },
        { name: 'schema', type: 'pure-token', token: 'SCHEMA' },
        {
          name: 'field', type: 'block', multiple: true, arguments: [
            { name: 'field-name', type: 'string' },
            { name: 'alias', type: 'string', token: 'AS', optional: true },
            { name: 'type', type: 'oneof', arguments: [
              { name: 'text', type: 'pure-token', token: 'TEXT' }, { name: 'tag', type: 'pure-token', token: 'TAG' },
              { name: 'numeric', type: 'pure-token', token: 'NUMERIC' }, { name: 'vector', type: 'pure-token', token: 'VECTOR' }] },
            { name: 'options', type: 'string', optional: true, multiple: true, displayText: 'FLAT|HNSW nargs TYPE t DIM d DISTANCE_METRIC m … | SEPARATOR c | WEIGHT w | SORTABLE' },
          ],
        },
      ],
      handler: ftCreate,
    },
    {
      ...base, name: 'ft.search', arity: -3, flags: ['readonly'], summary: 'Searches the index with a textual query, returning either documents or just ids.',
      complexity: 'O(log N) for a KNN query on an HNSW field; O(N) for filters over N documents',
      arguments: [
        INDEX, { name: 'query', type: 'string' },
        { name: 'nocontent', type: 'pure-token', token: 'NOCONTENT', optional: true },
        { name: 'withscores', type: 'pure-token', token: 'WITHSCORES', optional: true },
        { name: 'return', type: 'block', optional: true, arguments: [{ name: 'count', type: 'integer', token: 'RETURN' }, { name: 'identifier', type: 'string', multiple: true }] },
        { name: 'sortby', type: 'block', optional: true, arguments: [{ name: 'sortby', type: 'string', token: 'SORTBY' }, { name: 'order', type: 'oneof', optional: true, arguments: [{ name: 'asc', type: 'pure-token', token: 'ASC' }, { name: 'desc', type: 'pure-token', token: 'DESC' }] }] },
        { name: 'limit', type: 'block', optional: true, token: 'LIMIT', arguments: [{ name: 'offset', type: 'integer' }, { name: 'num', type: 'integer' }] },
        { name: 'params', type: 'block', optional: true, arguments: [{ name: 'nargs', type: 'integer', token: 'PARAMS' }, { name: 'name-value', type: 'string', multiple: true }] },
        { name: 'dialect', type: 'integer', token: 'DIALECT', optional: true },
        { name: 'timeout', type: 'integer', token: 'TIMEOUT', optional: true },
      ],
      handler: ftSearch, completesLater: true,
    },
    {
      ...base, name: 'ft.info', arity: 2, flags: ['readonly'], summary: 'Returns information and statistics on the index.',
      complexity: 'O(1)', arguments: [INDEX],
      handler: (ctx, argv) => info(mustGet(reg, argv), ctx.client.proto === 3),
    },
    {
      ...base, name: 'ft._list', arity: 1, flags: ['readonly'], summary: 'Returns a list of all existing indexes.',
      complexity: 'O(1)',
      handler: () => new ReplySet([...reg.indexes.keys()]),
    },
    {
      ...base, name: 'ft.dropindex', arity: -2, flags: ['write'], summary: 'Deletes the index (with DD, the documents it indexed too).',
      complexity: 'O(1), or O(N) with DD for N documents',
      arguments: [INDEX, { name: 'delete-docs', type: 'pure-token', token: 'DD', optional: true }],
      handler: ftDrop,
    },
    {
      ...base, name: 'ft.alter', arity: -5, flags: ['write', 'denyoom'], summary: 'Adds a new field to the index.',
      complexity: 'O(N) to index the N documents again, in the background',
      arguments: [INDEX, { name: 'skipinitialscan', type: 'pure-token', token: 'SKIPINITIALSCAN', optional: true },
        { name: 'schema', type: 'pure-token', token: 'SCHEMA' }, { name: 'add', type: 'pure-token', token: 'ADD' },
        { name: 'field', type: 'block', multiple: true, arguments: [{ name: 'field-name', type: 'string' }, { name: 'options', type: 'string', multiple: true }] }],
      handler: ftAlter,
    },
    {
      ...base, name: 'ft.explain', arity: -3, flags: ['readonly'], summary: 'Returns the execution plan for a complex query.',
      complexity: 'O(1)',
      arguments: [INDEX, { name: 'query', type: 'string' }, { name: 'dialect', type: 'integer', token: 'DIALECT', optional: true }],
      handler: ftExplain,
    },
    {
      ...base, name: 'ft.aggregate', arity: -3, flags: ['readonly'], summary: 'Not supported by Astronaut: answers an error saying so.',
      arguments: [INDEX, { name: 'query', type: 'string' }],
      handler: () => { throw new FtError('FT.AGGREGATE is not supported by Astronaut: use FT.SEARCH'); },
    },
    {
      ...base, group: 'server', since: '4.0.0', name: 'module', arity: -2, flags: [], summary: 'A container for module commands.',
      subcommands: [
        {
          ...base, group: 'server', since: '4.0.0', name: 'module|list', arity: 2, flags: ['admin', 'noscript'],
          summary: 'Returns all loaded modules (Astronaut reports the search and JSON support it has built in).', handler: moduleList,
        },
        {
          ...base, group: 'server', since: '4.0.0', name: 'module|load', arity: -3, flags: ['admin', 'noscript'],
          summary: 'Not supported: Astronaut loads no modules.', arguments: [{ name: 'path', type: 'string' }],
          handler: () => { throw new FtError('Error loading the extension. Please check the server logs.'); },
        },
      ],
    },
  ];
}

export { formatNumber };

/**
 * FT.* end to end through ioredis raw calls: the command shapes RedisVL,
 * langchain-redis, LlamaIndex, Spring AI and Semantic Kernel send, reply
 * shapes in RESP2 and RESP3,
 * RediSearch's errors, and the index kept current by every kind of write.
 */
import test from 'ava';
import { startInProcess } from '../helpers/server.js';
import { f32, ftInfo, indexed, ioredis, rows } from './helpers.js';

const VEC_FLAT = ['VECTOR', 'FLAT', '6', 'TYPE', 'FLOAT32', 'DIM', '3', 'DISTANCE_METRIC', 'COSINE'];

test('RedisVL: FT.INFO probe, FT.CREATE with STOPWORDS 0, pipelined HSET, KNN with filter, RETURN, SORTBY, counts, range, DROPINDEX DD', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  try {
    const missing = await r.call('FT.INFO', 'rvl').catch((e: Error) => e.message);
    t.true(String(missing).toLowerCase().includes('unknown index name'));
    t.is(await r.call('FT.CREATE', 'rvl', 'ON', 'HASH', 'PREFIX', '1', 'rvl', 'STOPWORDS', '0', 'SCHEMA',
      'user', 'TAG', 'SEPARATOR', ',', 'credit_score', 'TAG', 'SEPARATOR', ',', 'job', 'TEXT', 'WEIGHT', '1', 'age', 'NUMERIC',
      'user_embedding', ...VEC_FLAT), 'OK');
    const users = [
      ['john', 'high', 'engineer', 18, [0.1, 0.1, 0.5]], ['mary', 'low', 'doctor', 14, [0.1, 0.1, 0.5]],
      ['joe', 'medium', 'dentist', 35, [0.9, 0.9, 0.1]], ['tyler', 'high', 'engineer', 100, [0.1, 0.4, 0.5]],
      ['tim', 'high', 'dermatologist', 12, [0.7, 0.7, 0.7]], ['taimur', 'low', 'CEO', 25, [0.6, 0.1, 0.5]],
      ['joe', 'medium', 'dentist', 35, [0.9, 0.9, 0.1]],
    ] as const;
    const p = r.pipeline();
    users.forEach(([user, credit, job, age, v], i) => p.hset(`rvl:${i}`, 'user', user, 'credit_score', credit, 'job', job, 'age', String(age), 'user_embedding', f32(v)));
    await p.exec();
    const info = await ftInfo(r, 'rvl');
    t.is(info.get('num_docs'), 7);
    t.deepEqual((info.get('index_definition') as unknown[]).slice(0, 4), ['key_type', 'HASH', 'prefixes', ['rvl']]);

    const q = [0.1, 0.1, 0.5];
    const reply = await r.call('FT.SEARCH', 'rvl', '(@credit_score:{high})=>[KNN 3 @user_embedding $vector AS vector_distance]',
      'RETURN', '4', 'user', 'age', 'job', 'vector_distance', 'SORTBY', 'vector_distance', 'ASC', 'DIALECT', '2', 'LIMIT', '0', '3',
      'PARAMS', '2', 'vector', f32(q)) as unknown[];
    const got = rows(reply);
    t.is(reply[0], 3);
    t.deepEqual(got.map((g) => g.fields.user), ['john', 'tyler', 'tim']);
    t.is(got[0].fields.vector_distance, '0');
    t.deepEqual(Object.keys(got[1].fields), ['user', 'age', 'job', 'vector_distance']);
    const d = Number(got[1].fields.vector_distance);
    const cos = (0.01 + 0.04 + 0.25) / (Math.sqrt(0.27) * Math.sqrt(0.42));
    t.true(Math.abs(d - (1 - cos)) < 1e-5, `cosine distance ${d}`);

    // Counting: NOCONTENT LIMIT 0 0 answers the total alone.
    t.deepEqual(await r.call('FT.SEARCH', 'rvl', '@credit_score:{high}', 'NOCONTENT', 'LIMIT', '0', '0', 'DIALECT', '2'), [3]);
    t.deepEqual(await r.call('FT.SEARCH', 'rvl', '@age:[(18 +inf] -@job:(dentist)', 'NOCONTENT', 'DIALECT', '2'), [2, 'rvl:3', 'rvl:5']);
    t.deepEqual(await r.call('FT.SEARCH', 'rvl', '@job:(doct*|CEO) @age:[-inf 20]', 'NOCONTENT', 'DIALECT', '2'), [1, 'rvl:1']);

    // RedisVL's RangeQuery: radius as a parameter, EPSILON and YIELD_DISTANCE_AS attributes, a filter beside it.
    const range = await r.call('FT.SEARCH', 'rvl', '(@user_embedding:[VECTOR_RANGE $distance_threshold $vector]=>{$EPSILON:0.01; $YIELD_DISTANCE_AS: vector_distance} @credit_score:{high})',
      'RETURN', '2', 'user', 'vector_distance', 'SORTBY', 'vector_distance', 'ASC', 'DIALECT', '2', 'LIMIT', '0', '10',
      'PARAMS', '4', 'distance_threshold', '0.15', 'vector', f32(q)) as unknown[];
    t.deepEqual(rows(range).map((g) => g.fields.user), ['john', 'tyler']);

    t.deepEqual(await r.call('FT._LIST'), ['rvl']);
    t.is(await r.call('FT.DROPINDEX', 'rvl', 'DD'), 'OK');
    t.is(await r.dbsize(), 0);
    t.deepEqual(await r.call('FT._LIST'), []);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('langchain-redis and langchain_community: MODULE LIST, @_index_name phrase filter, lower-case yield_distance_as, FLAT exact search', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  try {
    const mods = await r.call('MODULE', 'LIST') as unknown[][];
    const search = mods.find((m) => m[1] === 'search')!;
    t.true(Number(search[3]) >= 20600);
    await r.call('FT.CREATE', 'lc', 'ON', 'HASH', 'PREFIX', '1', 'lc:', 'SCHEMA', 'text', 'TEXT', 'WEIGHT', '1', '_index_name', 'TEXT',
      'category', 'TAG', 'embedding', ...VEC_FLAT);
    for (let i = 0; i < 20; i++) {
      await r.hset(`lc:${i}`, 'text', `document number ${i}`, '_index_name', i < 15 ? 'lc' : 'other-index', 'category', i % 2 ? 'odd' : 'even',
        'embedding', f32([1, i / 10, 0]));
    }
    const knn = await r.call('FT.SEARCH', 'lc', '(@_index_name:("lc") @category:{odd})=>[KNN 4 @embedding $vector AS vector_distance]',
      'RETURN', '3', 'text', '_index_name', 'vector_distance', 'SORTBY', 'vector_distance', 'ASC', 'DIALECT', '2', 'LIMIT', '0', '4',
      'PARAMS', '2', 'vector', f32([1, 0, 0])) as unknown[];
    t.deepEqual(rows(knn).map((x) => x.id), ['lc:1', 'lc:3', 'lc:5', 'lc:7']);
    // The phrase needs both words in order: "other index" is not "lc".
    t.deepEqual(await r.call('FT.SEARCH', 'lc', '@_index_name:("other index")', 'NOCONTENT', 'LIMIT', '0', '0'), [5]);
    t.deepEqual(await r.call('FT.SEARCH', 'lc', '@_index_name:("index other")', 'NOCONTENT', 'LIMIT', '0', '0'), [0]);
    // langchain_community: (*) and a lower-case range attribute.
    const c = await r.call('FT.SEARCH', 'lc', '(*)=>[KNN 2 @embedding $vector AS distance]', 'SORTBY', 'distance', 'ASC', 'LIMIT', '0', '2',
      'DIALECT', '2', 'PARAMS', '2', 'vector', f32([1, 0.35, 0])) as unknown[];
    t.deepEqual(rows(c).map((x) => x.id).sort(), ['lc:3', 'lc:4']);
    const rr = await r.call('FT.SEARCH', 'lc', '@embedding:[VECTOR_RANGE 0.08 $vector]=>{$yield_distance_as: distance}', 'RETURN', '1', 'distance',
      'DIALECT', '2', 'PARAMS', '2', 'vector', f32([1, 0, 0])) as unknown[];
    t.deepEqual(rows(rr).map((x) => x.id), ['lc:0', 'lc:1', 'lc:2', 'lc:3', 'lc:4']);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('LlamaIndex: id/doc_id TAG fields, delete by doc_id count then RETURN 1 id, then DEL', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  try {
    await r.call('FT.CREATE', 'llama', 'ON', 'HASH', 'PREFIX', '1', 'llama/vector', 'SCHEMA', 'id', 'TAG', 'doc_id', 'TAG', 'text', 'TEXT', 'vector', ...VEC_FLAT);
    for (let i = 0; i < 6; i++) {
      await r.hset(`llama/vector_n${i}`, 'id', `n${i}`, 'doc_id', i < 4 ? 'doc-a' : 'doc-b', 'text', `chunk ${i}`, '_node_content', `{"id_": "n${i}"}`, 'vector', f32([i, 1, 0]));
    }
    const total = await r.call('FT.SEARCH', 'llama', '@doc_id:{doc\\-a}', 'NOCONTENT', 'LIMIT', '0', '0', 'DIALECT', '2') as unknown[];
    t.is(total[0], 4);
    const ids = await r.call('FT.SEARCH', 'llama', '@doc_id:{doc\\-a}', 'RETURN', '1', 'id', 'LIMIT', '0', String(total[0]), 'DIALECT', '2') as unknown[];
    const found = rows(ids);
    t.deepEqual(found.map((x) => x.fields.id).sort(), ['n0', 'n1', 'n2', 'n3']);
    await r.del(...found.map((x) => x.id));
    t.deepEqual(await r.call('FT.SEARCH', 'llama', '*', 'NOCONTENT', 'LIMIT', '0', '0'), [2]);
    const q = await r.call('FT.SEARCH', 'llama', '*=>[KNN 1 @vector $vector AS vector_distance]', 'RETURN', '4', 'id', 'doc_id', 'text', '_node_content',
      'DIALECT', '2', 'PARAMS', '2', 'vector', f32([5, 1, 0])) as unknown[];
    t.deepEqual(rows(q)[0].fields, { id: 'n5', doc_id: 'doc-b', text: 'chunk 5', _node_content: '{"id_": "n5"}' });
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('Spring AI (JSON, no SORTBY, no LIMIT: nearest first) and Semantic Kernel (WITHSCORES, JSON.MGET, DROPINDEX without DD)', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  try {
    t.deepEqual(await r.call('FT._LIST'), []);
    t.is(await r.call('FT.CREATE', 'spring-ai-index', 'ON', 'JSON', 'PREFIX', '1', 'embedding:', 'SCHEMA',
      '$.content', 'AS', 'content', 'TEXT', 'WEIGHT', '1.0', '$.metadata.country', 'AS', 'country', 'TAG', '$.metadata.year', 'AS', 'year', 'NUMERIC',
      '$.embedding', 'AS', 'embedding', 'VECTOR', 'HNSW', '6', 'TYPE', 'FLOAT32', 'DIM', '3', 'DISTANCE_METRIC', 'COSINE'), 'OK');
    const p = r.pipeline();
    const docs = [['a', 'NL', 2020, [1, 0, 0]], ['b', 'BG', 2021, [0.8, 0.2, 0]], ['c', 'NL', 2023, [0, 1, 0]], ['d', 'NL', 2024, [0.5, 0.5, 0]]] as const;
    for (const [id, country, year, v] of docs) {
      p.call('JSON.SET', `embedding:${id}`, '$', JSON.stringify({ content: `The World is ${id}`, metadata: { country, year }, embedding: v }));
    }
    await p.exec();
    const res = await r.call('FT.SEARCH', 'spring-ai-index', '(@country:{NL} @year:[2020 2023])=>[KNN 3 @embedding $BLOB AS vector_score]',
      'RETURN', '3', 'content', 'country', 'vector_score', 'PARAMS', '2', 'BLOB', f32([1, 0.1, 0]), 'DIALECT', '2') as unknown[];
    const got = rows(res);
    t.deepEqual(got.map((x) => x.id), ['embedding:a', 'embedding:c']);
    t.deepEqual(got[0].fields.content, 'The World is a');
    // Without RETURN, a JSON document comes back whole under `$`, after the distance.
    const whole = rows(await r.call('FT.SEARCH', 'spring-ai-index', '*=>[KNN 1 @embedding $BLOB AS vector_score]', 'PARAMS', '2', 'BLOB', f32([0, 1, 0]), 'DIALECT', '2') as unknown[]);
    t.deepEqual(Object.keys(whole[0].fields), ['vector_score', '$']);
    t.is(JSON.parse(whole[0].fields.$).metadata.year, 2023);
    // JSON.DEL and a rewrite keep it current.
    await r.call('JSON.DEL', 'embedding:c');
    await r.call('JSON.SET', 'embedding:d', '$.metadata.country', '"BG"');
    t.deepEqual(await r.call('FT.SEARCH', 'spring-ai-index', '@country:{NL}', 'NOCONTENT'), [1, 'embedding:a']);

    // Semantic Kernel .NET: WITHSCORES on a KNN query gives the distance as the score.
    const sk = await r.call('FT.SEARCH', 'spring-ai-index', '*=>[KNN 2 @embedding $embedding AS vector_score]', 'WITHSCORES', 'RETURN', '1', 'content',
      'DIALECT', '2', 'PARAMS', '2', 'embedding', f32([1, 0, 0])) as unknown[];
    const skRows = rows(sk, { withScores: true });
    t.is(skRows[0].id, 'embedding:a');
    t.is(skRows[0].score, '0');
    t.deepEqual(await r.call('JSON.MGET', 'embedding:a', 'embedding:zz', '$.content'), ['["The World is a"]', null]);
    t.is(await r.call('FT.DROPINDEX', 'spring-ai-index'), 'OK');
    t.is(await r.exists('embedding:a'), 1);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('RESP3 shapes: FT.SEARCH map with results, FT.INFO map, FT._LIST set; RESP2 WITHSCORES and NOCONTENT', async (t) => {
  const srv = await startInProcess();
  const r3 = await ioredis(srv.port, 3);
  const r2 = await ioredis(srv.port, 2);
  try {
    await r3.call('FT.CREATE', 'i', 'PREFIX', '1', 'd:', 'SCHEMA', 't', 'TEXT', 'v', ...VEC_FLAT);
    await r3.hset('d:1', 't', 'hello world', 'v', f32([1, 0, 0]));
    await r3.hset('d:2', 't', 'hello planet', 'v', f32([0, 1, 0]));
    const res = await r3.call('FT.SEARCH', 'i', 'hello', 'WITHSCORES', 'RETURN', '1', 't') as unknown[];
    t.deepEqual(res.filter((_, i) => i % 2 === 0), ['attributes', 'warning', 'total_results', 'format', 'results']);
    t.is(res[5], 2);
    const first = res[9] as unknown[][];
    t.deepEqual(first[0], ['id', 'd:1', 'score', '1', 'extra_attributes', ['t', 'hello world'], 'values', []]);
    t.deepEqual(await r2.call('FT.SEARCH', 'i', 'hello', 'WITHSCORES', 'NOCONTENT'), [2, 'd:1', '1', 'd:2', '1']);
    t.deepEqual(await r2.call('FT.SEARCH', 'i', 'planet', 'RETURN', '1', 't'), [1, 'd:2', ['t', 'hello planet']]);
    // Without AS the distance is __<field>_score.
    t.deepEqual(await r2.call('FT.SEARCH', 'i', '*=>[KNN 1 @v $q]', 'RETURN', '1', '__v_score', 'PARAMS', '2', 'q', f32([1, 0, 0])), [1, 'd:1', ['__v_score', '0']]);
    const info = await r3.call('FT.INFO', 'i') as unknown[];
    t.is(info[0], 'index_name');
    t.is(info[info.indexOf('num_docs') + 1], 2);
  } finally {
    r3.disconnect(); r2.disconnect();
    await srv.stop();
  }
});

test('errors: RediSearch texts, unknown options named, malformed queries located, vector bytes never echoed', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  const err = (...args: Array<string | Buffer>) => r.call(args[0] as string, ...args.slice(1)).then(() => 'no error', (e: Error) => e.message);
  try {
    await r.call('FT.CREATE', 'e', 'PREFIX', '1', 'e:', 'SCHEMA', 'n', 'NUMERIC', 'g', 'TAG', 'v', ...VEC_FLAT);
    t.is(await err('FT.CREATE', 'e', 'SCHEMA', 'x', 'TEXT'), 'Index already exists');
    t.is(await err('FT.CREATE', 'e2', 'BOGUS', 'SCHEMA', 'x', 'TEXT'), 'Unknown argument `BOGUS`');
    t.is(await err('FT.CREATE', 'e2', 'SCHEMA', 'x', 'WHAT'), 'Invalid field type for field `x`');
    t.regex(await err('FT.CREATE', 'e2', 'SCHEMA', 'v', 'VECTOR', 'HNSW', '4', 'TYPE', 'FLOAT32', 'DIM', '3'), /DISTANCE_METRIC/);
    t.regex(await err('FT.CREATE', 'e2', 'SCHEMA', 'g', 'GEO'), /not supported/);
    t.is(await err('FT.INFO', 'nope'), 'Unknown Index name');
    t.is(await err('FT.DROPINDEX', 'nope'), 'Unknown Index name');
    t.is(await err('FT.SEARCH', 'nope', '*'), 'nope: no such index');
    t.is(await err('FT.SEARCH', 'e', '*', 'LIMIT', '0', '10', 'FROBNICATE'), 'Unknown argument `FROBNICATE` at position 3 for <main>');
    t.is(await err('FT.SEARCH', 'e', '@n:[1 2'), 'Syntax error at offset 3 near [1');
    t.is(await err('FT.SEARCH', 'e', '@g:{a} | (b'), 'Syntax error at offset 11 near the end of the query');
    t.is(await err('FT.SEARCH', 'e', '@nope:{a}'), 'Unknown field `nope`');
    t.is(await err('FT.SEARCH', 'e', '*=>[KNN 3 @v $B]'), 'No such parameter `B`');
    const blob = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02]);
    const m = await err('FT.SEARCH', 'e', '*=>[KNN 3 @v $B]', 'PARAMS', '2', 'B', blob);
    t.is(m, 'Error parsing vector similarity query: query vector blob size (7) does not match index\'s expected size (12).');
    const m2 = await err('FT.SEARCH', 'e', Buffer.concat([Buffer.from('@g:{'), blob]));
    t.false(m2.includes('\xde'));
    t.is(await err('FT.SEARCH', 'e', '*', 'DIALECT', '9'), 'DIALECT requires a non negative integer >=1 and <= 4');
    t.is(await err('FT.SEARCH', 'e', '('.repeat(100_000)), 'Query nests deeper than 256 levels of parentheses');
    t.is(await err('FT.SEARCH', 'e', '-'.repeat(100_000) + 'x'), 'Query nests deeper than 256 levels of negation');
    for (const q of ['@', '@g:', '@g:{', '@n:[a b]', '"unclosed', '=>[KNN', '*=>[KNN x @v $B]', '@v:[VECTOR_RANGE]', '%%%', '|', ')', 'ismissing(@']) {
      t.regex(await err('FT.SEARCH', 'e', q, 'PARAMS', '2', 'B', f32([1, 0, 0])), /^(Syntax error at offset \d+ near|Invalid value|Unknown|No such)/, q);
    }
    t.is(await err('FT.AGGREGATE', 'e', '*'), 'FT.AGGREGATE is not supported by Astronaut: use FT.SEARCH');
    t.is(await err('FT.SEARCH', 'e', '*', 'SORTBY', 'zz'), 'Property `zz` not loaded nor in schema');
    // Bad documents: counted, left out, never a crash.
    await r.hset('e:1', 'n', 'abc', 'v', f32([1, 0, 0]));
    await r.hset('e:2', 'n', '5', 'v', 'short');
    await r.hset('e:3', 'n', '6', 'v', f32([1, 0, 0]));
    await r.hset('e:4', 'n', '7', 'v', f32([NaN, 0, 0]));
    const info = await ftInfo(r, 'e');
    t.is(info.get('num_docs'), 1);
    t.is(info.get('hash_indexing_failures'), 3);
    t.is(await r.ping(), 'PONG');
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('upkeep: HSET/HDEL/DEL/RENAME/EXPIRE/MULTI/FLUSHDB/SWAPDB/ALTER keep num_docs and results exact; backfill at create', async (t) => {
  const srv = await startInProcess();
  const r = await ioredis(srv.port, 2);
  const count = async (q = '*') => ((await r.call('FT.SEARCH', 'u', q, 'NOCONTENT', 'LIMIT', '0', '0')) as number[])[0];
  try {
    for (let i = 0; i < 3000; i++) await r.hset(`u:${i}`, 'tag', i % 3 === 0 ? 'x' : 'y', 'v', f32([1, i, 0]));
    await r.set('u:string', 'not a hash');
    await r.hset('other:1', 'tag', 'x');
    await r.call('FT.CREATE', 'u', 'PREFIX', '1', 'u:', 'SCHEMA', 'tag', 'TAG', 'v', ...VEC_FLAT);
    await indexed(r, 'u');
    t.is(await count(), 3000);
    t.is(await count('@tag:{x}'), 1000);
    await r.hdel('u:0', 'tag');
    t.is(await count('@tag:{x}'), 999);
    t.is(await count('ismissing(@tag)'), 1);
    await r.del('u:3', 'u:6');
    t.is(await count(), 2998);
    await r.rename('u:9', 'other:9');
    await r.rename('u:1', 'u:new');
    t.is(await count(), 2997);
    t.deepEqual(await r.call('FT.SEARCH', 'u', '*=>[KNN 1 @v $q]', 'NOCONTENT', 'PARAMS', '2', 'q', f32([1, 1, 0])), [1, 'u:new']);
    await r.pexpire('u:12', 1);
    await new Promise((res) => setTimeout(res, 20));
    await r.exists('u:12'); // reclaims it
    t.is(await count(), 2996);
    await r.multi().hset('u:t1', 'tag', 'x').hset('u:t2', 'tag', 'x').del('u:15').exec();
    t.is(await count(), 2997);
    await r.call('FT.ALTER', 'u', 'SCHEMA', 'ADD', 'n', 'NUMERIC');
    await r.hset('u:18', 'n', '42');
    await indexed(r, 'u');
    t.deepEqual(await r.call('FT.SEARCH', 'u', '@n:[42 42]', 'NOCONTENT'), [1, 'u:18']);
    t.is((await ftInfo(r, 'u')).get('num_docs'), 2997);
    await r.swapdb(0, 1);
    await indexed(r, 'u');
    t.is(await count(), 0);
    await r.swapdb(0, 1);
    await indexed(r, 'u');
    t.is(await count(), 2997);
    await r.flushdb();
    t.deepEqual(await r.call('FT._LIST'), []);
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

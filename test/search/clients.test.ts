/**
 * Real clients: node-redis 6's `client.ft.*` helpers in RESP2 and RESP3,
 * node-redis 4 (what @langchain/redis itself depends on, reading FT.INFO by
 * position), and LangChain.js's RedisVectorStore end to end with a
 * deterministic fake embedding.
 */
import test from 'ava';
import { createRequire } from 'node:module';
import { createClient, SCHEMA_FIELD_TYPE, SCHEMA_VECTOR_FIELD_ALGORITHM } from 'redis';
import { Embeddings } from '@langchain/core/embeddings';
import { Document } from '@langchain/core/documents';
import { RedisVectorStore } from '@langchain/redis';
import { startInProcess } from '../helpers/server.js';
import { f32 } from './helpers.js';

const require = createRequire(import.meta.url);
/** node-redis 4, as installed for @langchain/redis. */
const redis4 = createRequire(require.resolve('@langchain/redis'))('redis') as { createClient: (o: object) => any };

/** Words hashed into 64 dimensions, normalized: texts sharing words are near. */
class FakeEmbeddings extends Embeddings {
  constructor() { super({}); }
  private one(text: string): number[] {
    const v = new Array<number>(64).fill(0);
    for (const w of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      let h = 2166136261;
      for (const c of w) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
      v[(h >>> 0) % 64] += 1;
    }
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  }
  embedDocuments(texts: string[]): Promise<number[][]> { return Promise.resolve(texts.map((t) => this.one(t))); }
  embedQuery(text: string): Promise<number[]> { return Promise.resolve(this.one(text)); }
}

for (const RESP of [2, 3] as const) {
  test(`node-redis 6 client.ft.create/search/info/dropIndex (RESP${RESP})`, async (t) => {
    const srv = await startInProcess();
    const c = createClient({ socket: { port: srv.port }, RESP });
    await c.connect();
    try {
      await c.ft.create('nr', {
        title: { type: SCHEMA_FIELD_TYPE.TEXT },
        genre: { type: SCHEMA_FIELD_TYPE.TAG },
        year: { type: SCHEMA_FIELD_TYPE.NUMERIC },
        v: { type: SCHEMA_FIELD_TYPE.VECTOR, ALGORITHM: SCHEMA_VECTOR_FIELD_ALGORITHM.HNSW, TYPE: 'FLOAT32', DIM: 3, DISTANCE_METRIC: 'L2' },
      }, { ON: 'HASH', PREFIX: 'm:' });
      await c.hSet('m:1', { title: 'Star Wars', genre: 'scifi', year: '1977', v: f32([0, 0, 1]) });
      await c.hSet('m:2', { title: 'Star Trek', genre: 'scifi', year: '1979', v: f32([0, 1, 1]) });
      await c.hSet('m:3', { title: 'Heat', genre: 'crime', year: '1995', v: f32([3, 0, 0]) });
      const info = await c.ft.info('nr') as any;
      t.is(Number(info.num_docs), 3);
      t.is(info.index_name, 'nr');
      const knn = await c.ft.search('nr', '@genre:{scifi}=>[KNN 2 @v $B AS dist]', { PARAMS: { B: f32([0, 0, 1]) }, RETURN: ['title', 'dist'], DIALECT: 2 }) as any;
      t.is(knn.total, 2);
      t.deepEqual(knn.documents.map((d: any) => [d.id, d.value.title, d.value.dist]), [['m:1', 'Star Wars', '0'], ['m:2', 'Star Trek', '1']]);
      const text = await c.ft.search('nr', '@title:(star) @year:[1978 +inf]', { RETURN: ['title'] }) as any;
      t.deepEqual(text.documents.map((d: any) => d.id), ['m:2']);
      const sorted = await c.ft.search('nr', '*', { SORTBY: { BY: 'year', DIRECTION: 'DESC' }, LIMIT: { from: 0, size: 2 } }) as any;
      t.is(sorted.total, 3);
      t.deepEqual(sorted.documents.map((d: any) => d.id), ['m:3', 'm:2']);
      t.deepEqual([...await c.ft._list()], ['nr']);
      await c.ft.dropIndex('nr', { DD: true });
      t.is(await c.dbSize(), 0);
    } finally {
      c.destroy();
      await srv.stop();
    }
  });
}

test('node-redis 4 (inside @langchain/redis) reads FT.INFO by position: fields in RediSearch\'s order', async (t) => {
  const srv = await startInProcess();
  const c = redis4.createClient({ socket: { port: srv.port } });
  await c.connect();
  try {
    await c.sendCommand(['FT.CREATE', 'p', 'PREFIX', '1', 'p:', 'SCHEMA', 'x', 'TAG']);
    await c.hSet('p:1', { x: 'a' });
    const info = await c.ft.info('p');
    t.is(info.indexName, 'p');
    t.is(Number(info.numDocs), 1);
    t.is(Number(info.hashIndexingFailures), 0);
    t.is(Number(info.indexing), 0);
    t.is(Number(info.percentIndexed), 1);
    t.is(info.indexDefinition.key_type, 'HASH');
  } finally {
    await c.quit();
    await srv.stop();
  }
});

test('LangChain.js RedisVectorStore: addDocuments twice (numbering from num_docs), similaritySearch, with scores, metadata filters, delete', async (t) => {
  const srv = await startInProcess();
  const client = redis4.createClient({ socket: { port: srv.port } });
  await client.connect();
  try {
    const store = new RedisVectorStore(new FakeEmbeddings(), {
      redisClient: client, indexName: 'lcdocs',
      customSchema: { category: { type: 'TAG' }, year: { type: 'NUMERIC' } } as any,
    });
    await store.addDocuments([
      new Document({ pageContent: 'redis is fast', metadata: { category: 'db', year: 2020 } }),
      new Document({ pageContent: 'the quick brown fox jumped', metadata: { category: 'animal', year: 2021 } }),
    ]);
    await store.addDocuments([
      new Document({ pageContent: 'lorem ipsum dolor sit amet', metadata: { category: 'latin', year: 2022 } }),
      new Document({ pageContent: 'a lazy brown dog', metadata: { category: 'animal', year: 2023 } }),
    ]);
    // The second batch was numbered after the first: nothing overwritten.
    t.deepEqual((await client.keys('doc:lcdocs:*')).sort(), ['doc:lcdocs:0', 'doc:lcdocs:1', 'doc:lcdocs:2', 'doc:lcdocs:3']);

    const top = await store.similaritySearch('redis is fast', 1);
    t.is(top[0].pageContent, 'redis is fast');
    t.deepEqual(top[0].metadata, { category: 'db', year: 2020 });
    const scored = await store.similaritySearchWithScore('brown fox', 2);
    t.is(scored[0][0].pageContent, 'the quick brown fox jumped');
    t.true(scored[0][1] <= scored[1][1]);
    t.true(scored[0][1] >= 0 && scored[0][1] < 1);

    const q = await new FakeEmbeddings().embedQuery('brown');
    const animals = await store.similaritySearchVectorWithScoreAndMetadata(q, 5, { category: 'animal' } as any);
    t.deepEqual(animals.map(([d]) => d.pageContent).sort(), ['a lazy brown dog', 'the quick brown fox jumped']);
    const recent = await store.similaritySearchVectorWithScoreAndMetadata(q, 5, { year: { min: 2022 } } as any);
    t.deepEqual(recent.map(([d]) => d.pageContent).sort(), ['a lazy brown dog', 'lorem ipsum dolor sit amet']);

    await store.delete({ ids: ['0'] });
    const after = await store.similaritySearch('redis is fast', 4);
    t.false(after.some((d) => d.pageContent === 'redis is fast'));
    t.is(after.length, 3);
    await store.delete({ deleteAll: true });
    t.is(await client.dbSize(), 0);
    t.deepEqual(await client.sendCommand(['FT._LIST']), []);
  } finally {
    await client.quit();
    await srv.stop();
  }
});

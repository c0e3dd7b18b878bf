/**
 * Child process: how much resident memory the stock usearch package takes for
 * a set, measured in a fresh process so nothing else in the heap muddies it.
 * Prints one JSON line: RSS before the index exists, after half the vectors,
 * after all of them.
 *   node dist/bench/lib/usearch-memory.js '{"n":20000,"dim":128,"q":10,"seed":1,"quantization":"f16","metric":"cos","m":16,"efConstruction":128,"threads":2}'
 */
import { clustered } from './data.js';
import { keysFor, newStock, type StockConfig } from './baseline.js';
import { rssBytes } from './server.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as { n: number; dim: number; q: number; seed: number; threads: number } & Omit<StockConfig, 'ef'>;
const { n, dim } = spec;
const ds = clustered(n, dim, spec.q, spec.seed);
// B1: hand usearch the sign bits as 0/1, as the server stores them (bit = x > 0).
const vectors = spec.quantization === 'b1' ? ds.vectors.map((x) => (x > 0 ? 1 : 0)) : ds.vectors;
const half = Math.floor(n / 2);
// Own arrays, allocated before the first reading (never views: see src/engine/native-index.ts on byteOffset).
const firstV = vectors.slice(0, half * dim), secondV = vectors.slice(half * dim);
const firstK = keysFor(0, half), secondK = keysFor(half, n);
const rss0 = rssBytes(process.pid);
const ix = newStock({ ...spec, ef: 64 });
ix.add(firstK, firstV, spec.threads);
const rssHalf = rssBytes(process.pid);
ix.add(secondK, secondV, spec.threads);
const rssFull = rssBytes(process.pid);
process.stdout.write(JSON.stringify({ rss0, rssHalf, rssFull, size: ix.size() }) + '\n');

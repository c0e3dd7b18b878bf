/**
 * Child process: how much resident memory the stock usearch package takes for
 * a set, measured in a fresh process so nothing else in the heap muddies it.
 * Prints one JSON line: RSS before the index exists, after half the vectors,
 * after all of them; the seconds the two batch adds took (usearch's own
 * executor on `threads` threads); and, with `save`, the index written there
 * for the parent to search.
 *   node dist/bench/lib/usearch-memory.js '{"n":20000,"dim":128,"q":10,"seed":1,"quantization":"f16","metric":"cos","m":16,"efConstruction":128,"threads":2}'
 * `scaleToMaxAbs: true` hands usearch each vector divided by its largest |component|: its i8
 * assumes components in [-1, 1], cosine does not care about length,
 * and this is how Redis's Q8 (and the server's I8) use the 255 levels.
 */
import { clustered } from './data.js';
import { keysFor, newStock, type StockConfig } from './baseline.js';
import { rssBytes } from './server.js';
import { nowUs } from './stats.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as { n: number; dim: number; q: number; seed: number; threads: number; scaleToMaxAbs?: boolean; save?: string }
  & Omit<StockConfig, 'ef'>;
const { n, dim } = spec;
const ds = clustered(n, dim, spec.q, spec.seed);
// B1: hand usearch the sign bits as 0/1, as the server stores them (bit = x > 0).
const vectors = spec.quantization === 'b1' ? ds.vectors.map((x) => (x > 0 ? 1 : 0)) : ds.vectors;
if (spec.scaleToMaxAbs) {
  for (let i = 0; i < n; i++) {
    let max = 0;
    for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(vectors[i * dim + j]));
    const inv = max > 0 ? 1 / max : 0;
    for (let j = 0; j < dim; j++) vectors[i * dim + j] *= inv;
  }
}
const half = Math.floor(n / 2);
// Own arrays, allocated before the first reading (never views: see src/engine/native-index.ts on byteOffset).
const firstV = vectors.slice(0, half * dim), secondV = vectors.slice(half * dim);
const firstK = keysFor(0, half), secondK = keysFor(half, n);
const rss0 = rssBytes(process.pid);
const ix = newStock({ ...spec, ef: 64 });
const t0 = nowUs();
ix.add(firstK, firstV, spec.threads);
const t1 = nowUs();
const rssHalf = rssBytes(process.pid);
const t2 = nowUs();
ix.add(secondK, secondV, spec.threads);
const addSeconds = (t1 - t0 + nowUs() - t2) / 1e6;
const rssFull = rssBytes(process.pid);
if (spec.save) ix.save(spec.save);
process.stdout.write(JSON.stringify({ rss0, rssHalf, rssFull, size: ix.size(), addSeconds }) + '\n');

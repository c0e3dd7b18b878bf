/** One worker's share of an exact k-NN scan (see truth.ts). Writes into shared output arrays. */
import { parentPort, workerData } from 'node:worker_threads';
import type { TruthJob } from './truth.js';
import { popcount32 } from './truth.js';

const job = workerData as TruthJob;
const { dim, k, n, metric } = job;
const outIds = new Int32Array(job.outIds);
const outD = new Float32Array(job.outDistances);
const subset = job.subset ? new Uint32Array(job.subset) : null;
const count = subset ? subset.length : n;
const bestD = new Float64Array(k);
const bestI = new Int32Array(k);

/** Insert (d, id) into the sorted top-k if it beats the worst; ties keep the lower index first. */
function offer(d: number, id: number): void {
  if (d >= bestD[k - 1]) return;
  let j = k - 1;
  while (j > 0 && bestD[j - 1] > d) { bestD[j] = bestD[j - 1]; bestI[j] = bestI[j - 1]; j--; }
  bestD[j] = d; bestI[j] = id;
}

if (metric === 'cos') {
  const base = new Float32Array(job.base);
  const queries = new Float32Array(job.queries);
  for (let qi = job.from; qi < job.to; qi++) {
    bestD.fill(Infinity); bestI.fill(-1);
    const qo = qi * dim;
    for (let t = 0; t < count; t++) {
      const i = subset ? subset[t] : t;
      const bo = i * dim;
      // Four accumulators: V8 does not vectorise, but it overlaps independent adds.
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, j = 0;
      for (; j + 3 < dim; j += 4) {
        a0 += queries[qo + j] * base[bo + j];
        a1 += queries[qo + j + 1] * base[bo + j + 1];
        a2 += queries[qo + j + 2] * base[bo + j + 2];
        a3 += queries[qo + j + 3] * base[bo + j + 3];
      }
      for (; j < dim; j++) a0 += queries[qo + j] * base[bo + j];
      offer(1 - (a0 + a1 + a2 + a3), i);
    }
    for (let j = 0; j < k; j++) { outIds[qi * k + j] = bestI[j]; outD[qi * k + j] = bestD[j]; }
  }
} else {
  const words = Math.ceil(dim / 32);
  const base = new Uint32Array(job.base);
  const queries = new Uint32Array(job.queries);
  for (let qi = job.from; qi < job.to; qi++) {
    bestD.fill(Infinity); bestI.fill(-1);
    for (let t = 0; t < count; t++) {
      const i = subset ? subset[t] : t;
      let d = 0;
      for (let w = 0; w < words; w++) d += popcount32(base[i * words + w] ^ queries[qi * words + w]);
      offer(d, i);
    }
    for (let j = 0; j < k; j++) { outIds[qi * k + j] = bestI[j]; outD[qi * k + j] = bestD[j]; }
  }
}
parentPort!.postMessage('done');

/**
 * A worker thread that sends PING on its own connection, one at a time with a
 * pause between, and reports each round trip. It runs on its own event loop,
 * so the load generator's busy main thread does not delay its replies.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';

const { port, durationMs, pauseMs } = workerData as { port: number; durationMs: number; pauseMs: number };
const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 0 });
await r.connect();
parentPort!.postMessage({ type: 'ready' });
const start = await new Promise<number>((resolve) => parentPort!.once('message', () => resolve(performance.now())));
const lat: number[] = [];
while (performance.now() - start < durationMs) {
  const t = performance.now();
  await r.ping();
  lat.push((performance.now() - t) * 1000);
  await new Promise((res) => setTimeout(res, pauseMs));
}
r.disconnect();
parentPort!.postMessage({ type: 'done', latenciesUs: lat });

/**
 * A worker thread that sends PING on its own connection, one at a time with a
 * pause between, and reports each round trip. It runs on its own event loop,
 * so the load generator's busy main thread does not delay its replies.
 * It stops after `durationMs`, or earlier on a 'stop' message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';

const { port, durationMs, pauseMs } = workerData as { port: number; durationMs: number; pauseMs: number };
const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 0 });
await r.connect();
parentPort!.postMessage({ type: 'ready' });
let stopping = false;
const start = await new Promise<number>((resolve) => parentPort!.once('message', () => resolve(performance.now())));
parentPort!.on('message', (m) => { if (m === 'stop') stopping = true; });
const lat: number[] = [];
while (!stopping && performance.now() - start < durationMs) {
  const t = performance.now();
  await r.ping();
  lat.push((performance.now() - t) * 1000);
  await new Promise((res) => setTimeout(res, pauseMs));
}
r.disconnect();
parentPort!.postMessage({ type: 'done', latenciesUs: lat });

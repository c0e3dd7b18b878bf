/**
 * The server's own longest event-loop stall over a span: LATENCY's `event-loop`
 * event (a 1 ms timer's lateness, in whole ms), free of the delays a client
 * probe on the same cores adds to its PINGs.
 */
import type { Redis } from 'ioredis';

/** Start watching (latency-monitor-threshold 1, events reset); the result reads the worst stall since, in ms. */
export async function watchLoopStalls(r: Redis): Promise<() => Promise<number>> {
  await r.call('CONFIG', 'SET', 'latency-monitor-threshold', '1');
  await r.call('LATENCY', 'RESET');
  return async () => {
    const events = await r.call('LATENCY', 'LATEST') as Array<[string, number, number, number]>;
    return events.find((e) => e[0] === 'event-loop')?.[3] ?? 0;
  };
}

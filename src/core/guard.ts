/**
 * One fault boundary for work nobody awaits: timer callbacks and background
 * tasks. An exception thrown from a setInterval callback (say EMFILE from
 * process.memoryUsage() once descriptors run out) is uncaught and ends the
 * process, taking every client with it. Behind the guard it is logged,
 * rate-limited, and the timer keeps running.
 *
 * Every setInterval/setTimeout callback in src/ goes through `safeInterval`,
 * `safeTimeout` or `guarded`.
 */
import type { Logger } from '../log.js';

/** A failing task logs at most once per this many milliseconds (with a count of the failures in between). */
const LOG_EVERY_MS = 60_000;

/**
 * Wrap `fn` so that whatever it throws, or whatever its promise rejects with,
 * is logged as `what` and goes no further.
 */
export function guarded<A extends unknown[]>(log: Logger, what: string, fn: (...args: A) => unknown): (...args: A) => void {
  let lastLogged = -Infinity;
  let suppressed = 0;
  const report = (err: unknown) => {
    const now = Date.now();
    if (now - lastLogged < LOG_EVERY_MS) { suppressed++; return; }
    try {
      log.error({ err, task: what, ...(suppressed > 0 ? { suppressed } : {}) }, 'background task failed; it keeps running');
    } catch {
      // The logger itself failed (its destination is gone): there is no one left to tell.
    }
    lastLogged = now;
    suppressed = 0;
  };
  return (...args: A) => {
    try {
      const r = fn(...args);
      if (r instanceof Promise) r.catch(report);
    } catch (err) {
      report(err);
    }
  };
}

/** setInterval behind the guard, unref'd: a timer never keeps the process alive on its own. */
export function safeInterval(log: Logger, what: string, ms: number, fn: () => unknown): NodeJS.Timeout {
  const t = setInterval(guarded(log, what, fn), ms);
  t.unref();
  return t;
}

/** setTimeout behind the guard, unref'd. */
export function safeTimeout(log: Logger, what: string, ms: number, fn: () => unknown): NodeJS.Timeout {
  const t = setTimeout(guarded(log, what, fn), ms);
  t.unref();
  return t;
}

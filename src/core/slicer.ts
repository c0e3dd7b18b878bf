/**
 * Long work on the event loop (a batch of 100 000 writes, a large request's
 * parse and checks) runs in slices, yielding to other clients between them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
// Imported: the global `performance` is a lazy getter, and `due()` runs once per batched command.
import { performance } from 'node:perf_hooks';

/**
 * Work between two yields, ms: under half the loop's 20 ms budget (bench/stalls.ts). A
 * young-generation GC of the work's own objects (5-10 ms) can land inside a slice: with
 * slices of 10 ms an HTTP batch of 100 000 points held the loop 18-28 ms at a time.
 */
export const SLICE_MS = 5;

/** Yields to the event loop once `sliceMs` have passed since the slice began. */
export class Slicer {
  private start = performance.now();
  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Whether the slice's time is up. */
  due(): boolean { return performance.now() - this.start >= this.sliceMs; }

  /** A new slice starts now (after waiting on other work, which yielded already). */
  restart(): void { this.start = performance.now(); }

  async pause(): Promise<void> {
    await nextTurn();
    this.restart();
  }

  async maybeYield(): Promise<void> {
    if (this.due()) await this.pause();
  }
}

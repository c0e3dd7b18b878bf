/** A tiny "database" over the store for tests: its state is the list of record indices applied, in order. */
import type { Store, StoreOptions } from '../../src/store/store.js';
import { openStore } from '../../src/store/store.js';
import { payload, payloadIndex } from './store.js';

export const STATE_KIND = 1;

export class TestDb {
  applied: number[] = [];
  /** Indices whose commit resolved (acknowledged to a client). */
  acked = new Set<number>();
  /** Indices appended (acknowledged or not). */
  appended: number[] = [];
  private constructor(readonly store: Store) {}

  /** Open the directory, load snapshot + replay, start writing. */
  static async open(dir: string, opts: StoreOptions): Promise<TestDb> {
    const store = await openStore(dir, opts);
    const db = new TestDb(store);
    const { snapshot, replay } = store.recovery;
    if (snapshot) {
      const s = snapshot.find('state', STATE_KIND);
      if (!s) throw new Error('snapshot without state section');
      db.applied = JSON.parse((await snapshot.readSection(s)).toString()) as number[];
    }
    for await (const r of replay) db.applied.push(payloadIndex(r.payload));
    await store.startWriting();
    db.appended = [...db.applied];
    for (const i of db.applied) db.acked.add(i);
    return db;
  }

  /** Apply and log record `i`; resolves when acknowledged. */
  write(i: number, size = 64): Promise<void> {
    this.store.append(payload(i, size));
    this.applied.push(i);
    this.appended.push(i);
    return this.store.commit().then(() => {
      this.acked.add(i);
    });
  }

  /** Snapshot the state as of the call (sections serialized synchronously at the cut). */
  snapshot(extraSections = 0): ReturnType<Store['snapshot']> {
    return this.store.snapshot(async (w) => {
      const state = Buffer.from(JSON.stringify(this.applied)); // read synchronously: exactly the cut
      await w.addSection(STATE_KIND, 'state', state);
      for (let k = 0; k < extraSections; k++) await w.addSection(2, `extra-${k}`, Buffer.alloc(1000, k));
    });
  }
}

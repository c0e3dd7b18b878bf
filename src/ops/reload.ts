/**
 * DEBUG RELOAD: the dataset goes through a snapshot's encoding and back, as
 * Redis's saves and reloads its RDB (test suites use it to check that every
 * type survives persistence). The sections are captured in memory, not written
 * to a file; the WAL is not touched, since the dataset it describes does not
 * change. Other clients get -LOADING from the cut until the load is complete,
 * so nothing written after the cut is lost by the reload.
 */
import type { ModuleHost } from '../core/module.js';
import { ArgError } from '../errors.js';
import { chunksOf } from '../store/snapshot-writer.js';

export async function reloadDataset(host: ModuleHost): Promise<void> {
  const dataset = host.dataset();
  if (!dataset) throw new ArgError('DEBUG RELOAD needs the persistence feature');
  const release = host.holdLoading();
  try {
    const sections: Array<[kind: number, name: string, bytes: Buffer]> = [];
    await dataset.capture({
      async addSection(kind, name, data) {
        const parts: Buffer[] = [];
        for await (const c of chunksOf(data)) parts.push(Buffer.from(c));
        sections.push([kind, name, Buffer.concat(parts)]);
      },
    }, () => {});
    // FT indexes go with their data, as FLUSHALL drops them; the snapshot's definitions bring them back.
    host.flushAll();
    const loader = dataset.loader();
    try {
      for (const [kind, name, bytes] of sections) await loader.section(kind, name, bytes);
      await loader.finish();
    } catch (err) {
      // The sections came from this process a moment ago: a failure is a bug. The WAL still has it all.
      host.log.error({ err }, 'DEBUG RELOAD could not load the dataset it had just saved: restart the server to recover it from disk');
      throw new ArgError('Error trying to load the dataset back, check server logs.');
    }
  } finally {
    release();
  }
}


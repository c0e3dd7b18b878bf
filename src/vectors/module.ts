/**
 * Vector sets in the server: the VEC.* (and V*) command families and INFO's
 * `vectors` section.
 */
import type { ServerModule } from '../core/module.js';
import { vecCommands } from './vec-commands.js';
import { VectorSet } from '../engine/vector-set.js';

export const vectorModule: ServerModule = {
  name: 'vectors',
  async attach(server) {
    server.table.register(vecCommands);
    const apply = () => {
      VectorSet.exactBelowBytes = server.config['vec-exact-search-below'];
      VectorSet.compactThreshold = server.config['vec-compact-threshold'];
    };
    apply();
    server.configHooks.push(apply);
    server.table.register((await import('./vset-commands.js')).vsetCommands);
    server.infoSections.push({
      name: 'vectors', inDefault: true,
      fields: () => {
        let sets = 0, elements = 0, bytes = 0, deleted = 0, searches = 0;
        const byQuant = new Map<string, number>();
        for (const [, , v] of server.keyspace.all()) {
          if (!(v instanceof VectorSet)) continue;
          sets++;
          elements += v.card;
          deleted += v.deleted;
          searches += v.searches;
          const b = v.memoryUsage();
          bytes += b;
          byQuant.set(v.params.quant, (byQuant.get(v.params.quant) ?? 0) + b);
        }
        const fields: Array<[string, string | number]> = [
          ['vector_sets', sets], ['vector_elements', elements], ['vector_deleted_elements', deleted],
          ['vector_memory_bytes', bytes], ['vector_searches', searches],
        ];
        for (const [q, b] of byQuant) fields.push([`vector_memory_bytes_${q.toLowerCase()}`, b]);
        return fields;
      },
    });
  },
};

/**
 * FT.* search over hashes and JSON documents (RediSearch's vector subset, so
 * LangChain, LlamaIndex, RedisVL, Spring AI and Semantic Kernel work
 * unchanged), and MODULE LIST.
 *
 * Listed after persistence in MODULES: its start() runs once the data has
 * loaded, and fills from the documents every index the snapshot did not
 * bring back with its graphs (see registry.ts).
 */
import type { FeatureModule } from '../core/module.js';
import { SECTION } from '../store/format/snapshot-schema.js';
import { searchCommands } from './commands.js';
import { Registry } from './registry.js';

export const searchModule: FeatureModule = {
  name: 'search',
  create: (host) => {
    const registry = new Registry(host.keyspace, host.log, () => host.loading);
    host.keyspace.registerState({
      sectionKinds: [SECTION.SEARCH_INDEXES, SECTION.SEARCH_SET, SECTION.SEARCH_GRAPH],
      save: () => registry.save(),
      load: (kind, name, bytes) => registry.load(kind, name, bytes),
      loaded: () => registry.loaded(),
    });
    return {
      commands: searchCommands(registry),
      keyspaceEvent: (db, _cls, event, key) => registry.onEvent(db, event, key),
      infoSections: [{
        name: 'search', inDefault: false, inAll: true,
        fields: () => {
          let docs = 0, failures = 0, indexing = 0, vectorBytes = 0;
          for (const i of registry.indexes.values()) {
            docs += i.numDocs; failures += i.failures; indexing += i.indexing ? 1 : 0; vectorBytes += i.vectorBytes();
          }
          return [
            ['search_number_of_indexes', registry.indexes.size], ['search_number_of_indexing_indexes', indexing],
            ['search_total_docs', docs], ['search_total_indexing_failures', failures], ['search_used_memory_vector_index', vectorBytes],
          ];
        },
      }],
      start: () => {
        // Not awaited: queries are answered meanwhile (FT.INFO shows `indexing`), as RediSearch does.
        void registry.backfillAll();
        return Promise.resolve();
      },
      stop: async () => {
        for (const name of [...registry.indexes.keys()]) registry.drop(name);
      },
    };
  },
};

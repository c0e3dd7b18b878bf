/** JSON documents (RedisJSON's JSON.* subset that AI frameworks use), type `ReJSON-RL`. */
import type { FeatureModule } from '../core/module.js';
import { SECTION } from '../store/format/snapshot-schema.js';
import { jsonCommands } from './commands.js';
import { JsonDoc } from './json-doc.js';

export const jsonModule: FeatureModule = {
  name: 'json',
  create: (host) => {
    host.keyspace.registerCodec({ sectionKind: SECTION.JSON, sectionName: 'json', decode: (b) => JsonDoc.decode(b) });
    return { commands: jsonCommands };
  },
};

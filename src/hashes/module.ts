/** Hashes (HSET, HGET, HGETALL…): documents as field → value maps, the shape RediSearch-style frameworks store. */
import type { FeatureModule } from '../core/module.js';
import { SECTION } from '../store/format/snapshot-schema.js';
import { hashCommands } from './commands.js';
import { HashValue } from './hash-value.js';

export const hashesModule: FeatureModule = {
  name: 'hashes',
  create: (host) => {
    host.keyspace.registerCodec({ sectionKind: SECTION.HASHES, sectionName: 'hashes', decode: (b) => HashValue.decode(b) });
    return { commands: hashCommands };
  },
};

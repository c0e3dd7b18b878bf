/**
 * The keyspace's commands for every type: generic ones (DEL, EXISTS, TYPE,
 * SCAN, RENAME, COPY, MOVE, SWAPDB, OBJECT…), deadlines (EXPIRE, TTL,
 * PERSIST…), plain strings (SET, GET, INCR, APPEND…) and DUMP/RESTORE.
 */
import type { FeatureModule } from '../core/module.js';
import { keyCommands } from './commands.js';
import { expiryCommands } from './expiry-commands.js';
import { stringCommands } from './string-commands.js';
import { dumpCommands } from './dump-commands.js';

export const keysModule: FeatureModule = {
  name: 'keys',
  create: () => ({ commands: [...keyCommands(), ...stringCommands, ...expiryCommands, ...dumpCommands] }),
};

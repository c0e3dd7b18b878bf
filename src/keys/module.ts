/**
 * The keyspace's commands for every type: generic ones (DEL, EXISTS, TYPE,
 * SCAN, RENAME, COPY, MOVE, SWAPDB, OBJECT…), deadlines (EXPIRE, TTL,
 * PERSIST…) and plain strings (SET, GET, INCR, APPEND…).
 */
import type { FeatureModule } from '../core/module.js';
import { keyCommands } from './commands.js';
import { expiryCommands } from './expiry-commands.js';
import { stringCommands } from './string-commands.js';

export const keysModule: FeatureModule = {
  name: 'keys',
  create: () => ({ commands: [...keyCommands(), ...stringCommands, ...expiryCommands] }),
};

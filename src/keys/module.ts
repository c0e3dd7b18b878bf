/** The keyspace's generic commands (DEL, EXISTS, TYPE, SCAN, RENAME…) and plain strings (SET, GET). */
import type { FeatureModule } from '../core/module.js';
import { keyCommands } from './commands.js';

export const keysModule: FeatureModule = {
  name: 'keys',
  create: () => ({ commands: keyCommands }),
};

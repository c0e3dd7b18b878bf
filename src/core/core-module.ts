/**
 * The commands every server has whatever features it runs: connection
 * (PING, HELLO, AUTH, CLIENT…), server (COMMAND, INFO, CONFIG, SHUTDOWN…)
 * and transactions (MULTI/EXEC).
 */
import type { FeatureModule } from './module.js';
import { connectionCommands } from './commands/connection.js';
import { serverCommands } from './commands/server.js';
import { transactionCommands } from './commands/transactions.js';

export const coreModule: FeatureModule = {
  name: 'core',
  create: (host) => ({ commands: [...connectionCommands, ...serverCommands(host.table), ...transactionCommands] }),
};

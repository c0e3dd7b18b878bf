/**
 * Assemble a running Astronaut: configuration → logger → server with every
 * command family registered → persistence recovery → listening sockets →
 * signal handling. `cli.ts` calls this; tests call it too, in process.
 */
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Server } from './core/server.js';
import { serverInfoSections } from './core/info.js';
import { connectionCommands } from './core/commands/connection.js';
import { serverCommands } from './core/commands/server.js';
import { keyCommands } from './keys/commands.js';
import { transactionCommands } from './core/commands/transactions.js';
import type { ServerModule } from './core/module.js';
import type { Fs } from './store/fs.js';
import { vectorModule } from './vectors/module.js';
import { persistenceModule } from './persistence/module.js';
import { opsModule } from './ops/module.js';
import { httpModule } from './http/module.js';
import { persistenceCommands } from './persistence/commands.js';
import { VERSION } from './version.js';

/**
 * In attach order. HTTP comes before persistence: it listens before the data
 * loads (/healthz answers 503 meanwhile) and stops before the WAL is flushed.
 */
const modules: ServerModule[] = [vectorModule, opsModule, httpModule, persistenceModule];

export interface StartOptions {
  logger?: Logger;
  configFile?: string;
  /** Install SIGTERM/SIGINT handlers that shut down and exit the process. */
  handleSignals?: boolean;
  /** The file system for persistence (tests: a SimulatedFs session). */
  fs?: Fs;
}

export async function startAstronaut(config: Config, opts: StartOptions = {}): Promise<Server> {
  const log = opts.logger ?? createLogger(config.loglevel, { file: config.logfile || undefined });
  const server = new Server(config, log);
  server.configFile = opts.configFile ?? '';
  server.persistenceFs = opts.fs ?? null;
  server.table.register(connectionCommands);
  server.table.register(serverCommands(server.table));
  server.table.register(keyCommands);
  server.table.register(transactionCommands);
  server.table.register(persistenceCommands);
  server.infoSections.push(...serverInfoSections(server));
  // Vector sets, persistence, HTTP…: each module registers its commands and hooks.
  for (const m of modules) await m.attach(server);
  await server.listen();
  log.info({ version: VERSION, port: server.tcpPort, addresses: server.addresses, dir: config.dir }, 'Astronaut ready to accept connections');
  for (const m of modules) if (m.started) await m.started(server);

  if (opts.handleSignals) {
    server.exitOnShutdown = true;
    let signalled = false;
    const stop = (signal: string) => {
      if (signalled) { log.warn({ signal }, 'second signal: exiting now'); process.exit(1); }
      signalled = true;
      log.info({ signal }, 'received signal, shutting down');
      void server.shutdown('default');
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  }
  return server;
}

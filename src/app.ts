/**
 * Assemble a running Astronaut: the closed core plus the features listed
 * below, folded together once; then listening sockets, the features' start
 * steps (data loads here, answering -LOADING meanwhile) and signal handling.
 * `cli.ts` calls this; tests call it too, in process, with the modules they need.
 */
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { Server } from './core/server.js';
import type { FeatureModule, StartOptions } from './core/module.js';
import { coreModule } from './core/core-module.js';
import { keysModule } from './keys/module.js';
import { hashesModule } from './hashes/module.js';
import { jsonModule } from './json/module.js';
import { vectorsModule } from './vectors/module.js';
import { pubsubModule } from './pubsub/module.js';
import { opsModule } from './ops/module.js';
import { httpModule } from './http/module.js';
import { persistenceModule } from './persistence/module.js';
import { replicationModule } from './replication/module.js';
import { searchModule } from './search/module.js';
import { scriptingModule } from './scripting/module.js';
import { VERSION } from './version.js';

/**
 * Every feature, in start order. HTTP comes before persistence: it listens
 * before the data loads (/healthz answers 503 meanwhile) and stops before the
 * WAL is flushed. Replication comes before persistence too: its link stops
 * before the WAL closes, and waits for the local load before it syncs.
 * Search comes last: its start() fills the FT indexes from the documents
 * once persistence has loaded them.
 */
export const MODULES: readonly FeatureModule[] = [coreModule, keysModule, hashesModule, jsonModule, vectorsModule, pubsubModule, scriptingModule, opsModule, httpModule, replicationModule, persistenceModule, searchModule];

export interface AppOptions extends StartOptions {
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers that shut down and exit the process. */
  handleSignals?: boolean;
  /** The features to run (default: all of MODULES). */
  modules?: readonly FeatureModule[];
}

export async function startAstronaut(config: Config, opts: AppOptions = {}): Promise<Server> {
  const log = opts.logger ?? createLogger(config.loglevel, { file: config.logfile || undefined });
  const server = new Server(config, log, { fs: opts.fs, configFile: opts.configFile, repair: opts.repair }, !!opts.handleSignals);
  await server.install(opts.modules ?? MODULES);
  await server.listen();
  log.info({ version: VERSION, port: server.tcpPort, addresses: server.addresses, dir: config.dir }, 'Astronaut ready to accept connections');
  await server.start();

  if (opts.handleSignals) {
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

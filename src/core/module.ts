/**
 * Optional parts of the server (vector sets, persistence, HTTP API…), attached
 * in order at start-up. Each registers its commands, INFO sections and hooks.
 */
import type { Server } from './server.js';

export interface ServerModule {
  name: string;
  /** Before listening: register commands and hooks. */
  attach(server: Server): Promise<void>;
  /** After listening (data loads here, answering -LOADING meanwhile). */
  started?(server: Server): Promise<void>;
}

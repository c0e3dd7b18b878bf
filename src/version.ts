import { readFileSync } from 'node:fs';

/** Astronaut's own version, from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** What HELLO and INFO's redis_version say: client libraries gate features on it, and we speak Redis 7's protocol. */
export const REDIS_COMPAT_VERSION = '7.4.0';

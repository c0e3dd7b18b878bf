/**
 * Secrets never leave the server through its observability: AUTH's
 * arguments, HELLO's password and CONFIG SET requirepass's value are replaced
 * by "(redacted)" in MONITOR, the slow log and the logs, as Redis does.
 */
import type { CommandSpec } from './types.js';

const REDACTED = Buffer.from('(redacted)');

/** Secrets never reach the slow log: AUTH's arguments, HELLO's password, CONFIG SET requirepass's value (as Redis redacts them). */
export function redactArgv(spec: CommandSpec | undefined, argv: Buffer[]): Buffer[] {
  switch (spec?.name) {
    case 'auth':
      return [argv[0], ...argv.slice(1).map(() => REDACTED)];
    case 'hello': {
      const out = argv.slice();
      for (let i = 1; i < out.length; i++) {
        if (out[i].toString().toUpperCase() === 'AUTH' && i + 2 < out.length) { out[i + 2] = REDACTED; i += 2; }
      }
      return out;
    }
    case 'config|set': {
      const out = argv.slice();
      for (let i = 2; i + 1 < out.length; i += 2) if (out[i].toString().toLowerCase() === 'requirepass') out[i + 1] = REDACTED;
      return out;
    }
    default:
      return argv;
  }
}


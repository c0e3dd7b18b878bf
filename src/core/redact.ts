/**
 * Secrets never leave the server through its observability: AUTH's
 * arguments, HELLO's password and CONFIG SET requirepass's value are replaced
 * by "(redacted)" in MONITOR, the slow log and the logs, as Redis does.
 */
import type { CommandSpec } from './types.js';

const REDACTED = Buffer.from('(redacted)');

/**
 * Secrets never reach MONITOR or the slow log: AUTH's arguments, HELLO AUTH's
 * username and password, CONFIG SET requirepass's value (as Redis redacts
 * them). Malformed lines too, whose secret is not where a well-formed one's
 * is: `HELLO 3 AUTH s3cret` (username forgotten), `CONFIG SET maxclients
 * requirepass s3cret` (a value missing). They are refused, but shown.
 */
export function redactArgv(spec: CommandSpec | undefined, argv: Buffer[]): Buffer[] {
  switch (spec?.name) {
    case 'auth':
      return [argv[0], ...argv.slice(1).map(() => REDACTED)];
    case 'hello': {
      const out = argv.slice();
      for (let i = 1; i < out.length; i++) {
        if (out[i].toString().toUpperCase() !== 'AUTH') continue;
        for (let j = i + 1; j <= i + 2 && j < out.length; j++) out[j] = REDACTED;
        i += 2;
      }
      return out;
    }
    case 'config|set': {
      const out = argv.slice();
      for (let i = 2; i + 1 < out.length; i++) {
        if (['requirepass', 'masterauth'].includes(out[i].toString().toLowerCase())) { out[i + 1] = REDACTED; i++; }
      }
      return out;
    }
    default:
      return argv;
  }
}


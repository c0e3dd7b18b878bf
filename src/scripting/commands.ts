/**
 * EVAL, EVALSHA, their read-only forms, and SCRIPT: Redis 7's commands and
 * replies. What a script may do and how its writes are logged is in
 * scripts.ts; docs/scripting.md says where Astronaut differs from Redis.
 */
import { OK, type Reply } from '../../protocol/index.js';
import { ArgError, RespError } from '../errors.js';
import { helpReply, subcommandBuilder } from '../core/command-table.js';
import { isKeyword, parseInteger } from '../core/numbers.js';
import type { ArgSpec, CommandFlag, CommandSpec, Ctx } from '../core/types.js';
import type { Scripts } from './scripts.js';

class NoScriptError extends RespError {
  constructor() { super('NOSCRIPT', 'No matching script. Please use EVAL.'); }
}
class NotBusyError extends RespError {
  constructor() { super('NOTBUSY', 'No scripts in execution right now.'); }
}

/** The number of keys argv[2] declares, checked against the arguments there are. */
function numkeys(argv: Buffer[]): number {
  const n = parseInteger(argv[2]);
  if (n < 0) throw new ArgError('Number of keys can\'t be negative');
  if (n > argv.length - 3) throw new ArgError('Number of keys can\'t be greater than number of args');
  return n;
}

/** EVAL's keys for COMMAND GETKEYS: none when numkeys does not parse. */
function evalKeys(argv: Buffer[]): Buffer[] {
  try { return argv.slice(3, 3 + numkeys(argv)); } catch { return []; }
}

const EVAL_ARGS = (first: ArgSpec): ArgSpec[] => [
  first,
  { name: 'numkeys', type: 'integer' },
  { name: 'key', type: 'key', optional: true, multiple: true },
  { name: 'arg', type: 'string', optional: true, multiple: true },
];

const COMPLEXITY = 'Depends on the script that is executed.';

export function scriptingCommands(scripts: Scripts): CommandSpec[] {
  const run = (ctx: Ctx, argv: Buffer[], bySha: boolean, readOnly: boolean): Reply => {
    const n = numkeys(argv);
    let script;
    if (bySha) {
      script = scripts.get(argv[1].toString('latin1').toLowerCase());
      if (!script) throw new NoScriptError();
    } else {
      script = scripts.load(argv[1]);
    }
    return scripts.run(ctx, script, argv.slice(3, 3 + n), argv.slice(3 + n), readOnly);
  };

  const evalSpec = (name: string, summary: string, first: ArgSpec, bySha: boolean, readOnly: boolean, since: string): CommandSpec => {
    const flags: CommandFlag[] = ['noscript', 'stale', 'no_mandatory_keys', 'movablekeys'];
    // may_replicate tells the dispatcher the command may write (batches wait for it).
    flags.push(readOnly ? 'readonly' : 'may_replicate');
    return {
      name, arity: -3, flags, firstKey: 0, lastKey: 0, step: 0, group: 'scripting', since, summary, complexity: COMPLEXITY,
      arguments: EVAL_ARGS(first), keys: evalKeys,
      handler: (ctx, argv) => run(ctx, argv, bySha, readOnly),
    };
  };

  const sub = subcommandBuilder('script', { firstKey: 0, lastKey: 0, step: 0, group: 'scripting', since: '2.6.0', flags: ['noscript'] });
  return [
    evalSpec('eval', 'Executes a server-side Lua script.', { name: 'script', type: 'string' }, false, false, '2.6.0'),
    evalSpec('evalsha', 'Executes a server-side Lua script by SHA1 digest.', { name: 'sha1', type: 'string' }, true, false, '2.6.0'),
    evalSpec('eval_ro', 'Executes a read-only server-side Lua script.', { name: 'script', type: 'string' }, false, true, '7.0.0'),
    evalSpec('evalsha_ro', 'Executes a read-only server-side Lua script by SHA1 digest.', { name: 'sha1', type: 'string' }, true, true, '7.0.0'),
    {
      name: 'script', arity: -2, flags: [], firstKey: 0, lastKey: 0, step: 0, group: 'scripting', since: '2.6.0',
      summary: 'A container for Lua scripts management commands.',
      subcommands: [
        sub('load', 3, 'Loads a server-side Lua script to the script cache.', (_ctx, argv) => scripts.load(argv[2]).sha,
          { flags: ['noscript', 'stale'], arguments: [{ name: 'script', type: 'string' }] }),
        sub('exists', -3, 'Determines whether server-side Lua scripts exist in the script cache.',
          (_ctx, argv) => argv.slice(2).map((s) => (scripts.has(s.toString('latin1').toLowerCase()) ? 1 : 0)),
          { flags: ['noscript'], arguments: [{ name: 'sha1', type: 'string', multiple: true }] }),
        sub('flush', -2, 'Removes all server-side Lua scripts from the script cache.', (_ctx, argv) => {
          if (argv.length > 3 || (argv.length === 3 && !isKeyword(argv[2], 'ASYNC') && !isKeyword(argv[2], 'SYNC'))) {
            throw new ArgError('SCRIPT FLUSH only support SYNC|ASYNC option');
          }
          // ASYNC too: a fresh Lua state is quick to make, and dropping the old one is immediate.
          scripts.flush();
          return OK;
        }, {
          arguments: [{
            name: 'flush-type', type: 'oneof', optional: true, since: '6.2.0',
            arguments: [{ name: 'async', type: 'pure-token', token: 'ASYNC' }, { name: 'sync', type: 'pure-token', token: 'SYNC' }],
          }],
        }),
        // A script holds the event loop from start to end, so no client can be heard while one runs.
        sub('kill', 2, 'Terminates a server-side Lua script during execution.', () => { throw new NotBusyError(); },
          { flags: ['noscript', 'allow_busy'] }),
        sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('script', [
          'EXISTS <sha1> [<sha1> ...]',
          '    Return information about the existence of the scripts in the script cache.',
          'FLUSH [ASYNC|SYNC]',
          '    Flush the Lua scripts cache.',
          'KILL',
          '    Kill the currently executing Lua script.',
          'LOAD <script>',
          '    Load a script into the scripts cache without executing it.',
          'HELP',
          '    Prints this help.',
        ]), { flags: ['loading', 'stale'] }),
      ],
    },
  ];
}

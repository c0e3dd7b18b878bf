/**
 * Server commands: COMMAND, INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, CONFIG,
 * SHUTDOWN, MONITOR.
 */
import { OK, ReplyMap, Verbatim, type Reply } from '../../../protocol/reply.js';
import { ArgError, SYNTAX } from '../../errors.js';
import { InvalidConfigValue, OPTION_NAMES, OPTIONS, formatValue, isOption, parseValue, type Config } from '../../config.js';
import { globMatch } from '../glob.js';
import { arityOk, commandDocs, commandInfo, helpReply, subcommandBuilder, wrongArity, type CommandTable } from '../command-table.js';
import type { ArgSpec, CommandSpec, Ctx, InfoSection } from '../types.js';
import { isKeyword } from '../numbers.js';
import { configRewrite } from '../config-file.js';

const base = { firstKey: 0, lastKey: 0, step: 0, group: 'server', since: '1.0.0' } as const;

/** FLUSHDB's and FLUSHALL's one option: both flush at once, so ASYNC and SYNC are the same. */
const FLUSH_TYPE: ArgSpec = { name: 'flush-type', type: 'oneof', optional: true, arguments: [{ name: 'async', type: 'pure-token', token: 'ASYNC' }, { name: 'sync', type: 'pure-token', token: 'SYNC' }] };

function checkFlushType(argv: Buffer[]): void {
  if (argv.length > 2 || (argv.length === 2 && !isKeyword(argv[1], 'ASYNC') && !isKeyword(argv[1], 'SYNC'))) throw new ArgError(SYNTAX);
}

/** The INFO text for the requested sections (Redis rules: none/default, all, everything, or names). */
export function renderInfo(sections: readonly InfoSection[], requested: string[]): string {
  const want = requested.map((s) => s.toLowerCase());
  const everything = want.includes('everything');
  const all = everything || want.includes('all');
  const deflt = want.length === 0 || want.includes('default');
  const parts: string[] = [];
  for (const s of sections) {
    const name = s.name.toLowerCase();
    if (!(everything || (all && s.inAll !== false) || (deflt && s.inDefault) || want.includes(name))) continue;
    const title = s.name[0].toUpperCase() + s.name.slice(1);
    let text = `# ${title}\r\n`;
    for (const [k, v] of s.fields()) text += `${k}:${v}\r\n`;
    parts.push(text);
  }
  return parts.join('\r\n');
}

function commandContainer(table: CommandTable): CommandSpec {
  const sub = subcommandBuilder('command', { ...base, flags: ['loading', 'stale'], since: '2.8.13' });
  const find = (arg: Buffer) => table.lookupName(arg.toString('latin1'));
  return {
    ...base, name: 'command', arity: -1, flags: ['loading', 'stale'], since: '2.8.13',
    summary: 'Returns detailed information about all commands.',
    handler: () => [...table.all()].map(commandInfo),
    subcommands: [
      sub('count', 2, 'Returns a count of commands.', () => table.size),
      sub('info', -2, 'Returns information about one, multiple or all commands.', (_ctx, argv) => {
        if (argv.length === 2) return [...table.all()].map(commandInfo);
        return argv.slice(2).map((a) => { const s = find(a); return s ? commandInfo(s) : null; });
      }, { arguments: [{ name: 'command-name', type: 'string', optional: true, multiple: true }] }),
      sub('docs', -2, 'Returns documentary information about one, multiple or all commands.', (_ctx, argv) => {
        const specs = argv.length === 2 ? [...table.all()] : argv.slice(2).map(find).filter((s): s is CommandSpec => !!s);
        return new ReplyMap(specs.map((s) => [s.name, commandDocs(s)] as [Reply, Reply]));
      }, { arguments: [{ name: 'command-name', type: 'string', optional: true, multiple: true }] }),
      sub('list', -2, 'Returns a list of command names.', (_ctx, argv) => {
        let filter: (s: CommandSpec) => boolean = () => true;
        if (argv.length === 5 && isKeyword(argv[2], 'FILTERBY')) {
          const v = argv[4].toString();
          if (isKeyword(argv[3], 'PATTERN')) filter = (s) => globMatch(v, s.name, true);
          else if (isKeyword(argv[3], 'ACLCAT')) filter = (s) => commandInfo(s) && (s.aclCategories ?? []).includes('@' + v) || (v === 'write' && s.flags.includes('write')) || (v === 'read' && s.flags.includes('readonly'));
          else if (isKeyword(argv[3], 'MODULE')) filter = () => false;
          else throw new ArgError(SYNTAX);
        } else if (argv.length !== 2) throw new ArgError(SYNTAX);
        return [...table.all()].filter(filter).map((s) => s.name);
      }, { arguments: [{ name: 'filterby', type: 'oneof', token: 'FILTERBY', optional: true, arguments: [{ name: 'module-name', type: 'string', token: 'MODULE' }, { name: 'category', type: 'string', token: 'ACLCAT' }, { name: 'pattern', type: 'pattern', token: 'PATTERN' }] }] }),
      sub('getkeys', -3, 'Extracts the key names from an arbitrary command.', (_ctx, argv) => {
        let spec = table.lookup(argv[2]);
        if (!spec) throw new ArgError('Invalid command specified');
        const args = argv.slice(2);
        if (spec.subcommands) spec = table.subcommand(spec, args[1]) ?? spec;
        if (!arityOk(spec, args.length)) throw new ArgError('Invalid number of arguments specified for command');
        const keys = table.keysOf(spec, args);
        if (keys.length === 0) throw new ArgError('The command has no key arguments');
        return keys;
      }, { arguments: [{ name: 'command', type: 'string' }, { name: 'arg', type: 'string', optional: true, multiple: true }] }),
      sub('help', 2, 'Returns helpful text about the different subcommands.', () => helpReply('command', [
        '(no subcommand)', 'COUNT', 'INFO [<command-name> ...]', 'DOCS [<command-name> ...]',
        'LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]', 'GETKEYS <full-command>', 'HELP',
      ])),
    ],
  };
}

function configGet(ctx: Ctx, argv: Buffer[]): Reply {
  const out: Array<[Reply, Reply]> = [];
  const seen = new Set<string>();
  for (const p of argv.slice(2)) {
    const pattern = p.toString().toLowerCase();
    for (const name of OPTION_NAMES) {
      if (seen.has(name) || !globMatch(pattern, name, true)) continue;
      seen.add(name);
      out.push([name, formatValue(name, ctx.server.config[name])]);
    }
  }
  return new ReplyMap(out);
}

function configSet(ctx: Ctx, argv: Buffer[]): Reply {
  if ((argv.length - 2) % 2 !== 0) throw wrongArity('config|set');
  // Validate every pair before applying any, as Redis does: all or nothing.
  const parsed: Array<[keyof Config, unknown, string]> = [];
  for (let i = 2; i < argv.length; i += 2) {
    const name = argv[i].toString().toLowerCase();
    const text = argv[i + 1].toString();
    if (!isOption(name)) throw new ArgError(`Unknown option or number of arguments for CONFIG SET - '${name}'`);
    if (!OPTIONS[name].mutable) throw new ArgError(`CONFIG SET failed (possibly related to argument '${name}') - can't set immutable config`);
    if (parsed.some(([n]) => n === name)) throw new ArgError(`CONFIG SET failed (possibly related to argument '${name}') - duplicate parameter`);
    let value: unknown;
    try { value = parseValue(name, text); } catch (e) {
      const reason = e instanceof InvalidConfigValue ? e.reason : `invalid value '${text}'`;
      throw new ArgError(`CONFIG SET failed (possibly related to argument '${name}') - ${reason}`);
    }
    parsed.push([name, value, text]);
  }
  for (const [name, value, text] of parsed) {
    (ctx.server.config as unknown as Record<string, unknown>)[name] = value;
    ctx.server.configSet(name, text);
  }
  return OK;
}

function configSubcommands(): CommandSpec[] {
  const sub = subcommandBuilder('config', { ...base, flags: ['admin', 'noscript', 'loading', 'stale'], since: '2.0.0' });
  return [
    sub('get', -3, 'Returns the effective values of configuration parameters.', configGet,
      { arguments: [{ name: 'parameter', type: 'string', multiple: true }] }),
    sub('set', -4, 'Sets configuration parameters in-flight.', configSet,
      { arguments: [{ name: 'data', type: 'block', multiple: true, arguments: [{ name: 'parameter', type: 'string' }, { name: 'value', type: 'string' }] }] }),
    sub('rewrite', 2, 'Persists the effective configuration to file.', configRewrite, { since: '2.8.0' }),
    sub('resetstat', 2, 'Resets the server\'s statistics.', (ctx) => { ctx.server.resetStats(); return OK; }),
    sub('help', 2, 'Returns helpful text about the different subcommands.',
      () => helpReply('config', ['GET <pattern>', 'SET <directive> <value>', 'RESETSTAT', 'REWRITE', 'HELP']), { flags: ['loading', 'stale'], since: '5.0.0' }),
  ];
}

export function serverCommands(table: CommandTable): CommandSpec[] {
  return [
    commandContainer(table),
    {
      ...base, name: 'info', arity: -1, flags: ['loading', 'stale'], summary: 'Returns information and statistics about the server.',
      arguments: [{ name: 'section', type: 'string', optional: true, multiple: true }],
      handler: (ctx, argv) => new Verbatim('txt', renderInfo(ctx.server.infoSections, argv.slice(1).map((a) => a.toString()))),
    },
    {
      ...base, name: 'dbsize', arity: 1, flags: ['readonly', 'fast'], group: 'server',
      summary: 'Returns the number of keys in the database.', handler: (ctx) => ctx.db.size,
    },
    {
      ...base, name: 'flushdb', arity: -1, flags: ['write'], summary: 'Removes all keys from the current database.',
      arguments: [FLUSH_TYPE],
      handler: (ctx, argv) => {
        checkFlushType(argv);
        ctx.db.clear();
        // No keyspace notification in Redis; class '' is never published. FT indexes are dropped on it.
        ctx.server.keyspaceEvent(ctx.client.db, '', 'flushdb', '');
        return OK;
      },
    },
    {
      ...base, name: 'flushall', arity: -1, flags: ['write'], summary: 'Removes all keys from all databases.',
      arguments: [FLUSH_TYPE],
      handler: (ctx, argv) => {
        checkFlushType(argv);
        ctx.server.flushAll();
        return OK;
      },
    },
    {
      ...base, name: 'time', arity: 1, flags: ['loading', 'stale', 'fast'], since: '2.6.0', summary: 'Returns the server time.',
      handler: () => {
        const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));
        return [String(us / 1000000n), String(us % 1000000n)];
      },
    },
    {
      ...base, name: 'config', arity: -2, flags: [], since: '2.0.0', summary: 'A container for server configuration commands.',
      subcommands: configSubcommands(),
    },
    {
      ...base, name: 'shutdown', arity: -1, flags: ['admin', 'noscript', 'loading', 'stale', 'no_multi', 'allow_busy'],
      summary: 'Synchronously saves the database(s) to disk and shuts down the server.',
      arguments: [{ name: 'save-selector', type: 'oneof', optional: true, arguments: [{ name: 'nosave', type: 'pure-token', token: 'NOSAVE' }, { name: 'save', type: 'pure-token', token: 'SAVE' }] },
        { name: 'now', type: 'pure-token', token: 'NOW', optional: true }, { name: 'force', type: 'pure-token', token: 'FORCE', optional: true }],
      handler: async (ctx, argv) => {
        let mode: 'save' | 'nosave' | 'default' = 'default';
        for (const a of argv.slice(1)) {
          if (isKeyword(a, 'NOSAVE')) mode = 'nosave';
          else if (isKeyword(a, 'SAVE')) mode = 'save';
          else if (isKeyword(a, 'NOW') || isKeyword(a, 'FORCE') || isKeyword(a, 'ABORT')) continue;
          else throw new ArgError(SYNTAX);
        }
        await ctx.server.shutdown(mode);
        // The process exits once shutdown completes; a client sees the connection close, as with Redis.
        return new Promise<Reply>(() => {});
      },
    },
    {
      ...base, name: 'monitor', arity: 1, flags: ['admin', 'noscript', 'loading', 'stale'], summary: 'Listens for all requests received by the server in real time.',
      handler: (ctx) => { ctx.server.addMonitor(ctx.client.id); return OK; },
    },
  ];
}

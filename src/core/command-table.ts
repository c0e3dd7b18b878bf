/**
 * The one command table. Every command the server has is registered here with
 * its declarative spec, and the same spec drives dispatch, arity checks, flags,
 * key positions and the replies of COMMAND, COMMAND INFO|DOCS|LIST|GETKEYS
 * (redis/redis does this from commands/*.json; we keep typed TS objects).
 */
import { ReplyMap, ReplySet, SimpleString, type Reply } from '../../protocol/reply.js';
import type { ArgSpec, CommandSpec } from './types.js';
import { ArgError } from '../errors.js';

export class CommandTable {
  private readonly byName = new Map<string, CommandSpec>();
  /** Same specs keyed by the exact bytes clients usually send (upper or lower case), to skip lower-casing. */
  private readonly fast = new Map<string, CommandSpec>();
  private readonly subByParent = new Map<CommandSpec, Map<string, CommandSpec>>();

  register(specs: readonly CommandSpec[]): void {
    for (const spec of specs) {
      if (this.byName.has(spec.name)) throw new Error(`command ${spec.name} registered twice`);
      if (!spec.handler && !spec.subcommands) throw new Error(`command ${spec.name} has neither a handler nor subcommands`);
      this.byName.set(spec.name, spec);
      this.fast.set(spec.name, spec);
      this.fast.set(spec.name.toUpperCase(), spec);
      if (spec.subcommands) {
        const subs = new Map<string, CommandSpec>();
        for (const s of spec.subcommands) subs.set(s.name.slice(spec.name.length + 1), s);
        this.subByParent.set(spec, subs);
      }
    }
  }

  /** Find a command by its name argument (case-insensitive). */
  lookup(nameArg: Buffer): CommandSpec | undefined {
    const raw = nameArg.toString('latin1');
    return this.fast.get(raw) ?? this.byName.get(raw.toLowerCase());
  }

  lookupName(name: string): CommandSpec | undefined {
    return this.byName.get(name.toLowerCase());
  }

  /** The subcommand of a container command named by `arg`, if any. */
  subcommand(parent: CommandSpec, arg: Buffer | undefined): CommandSpec | undefined {
    if (!arg) return undefined;
    return this.subByParent.get(parent)?.get(arg.toString('latin1').toLowerCase());
  }

  all(): IterableIterator<CommandSpec> { return this.byName.values(); }
  get size(): number { return this.byName.size; }

  /** Key arguments of a command line, from its key positions (COMMAND GETKEYS). */
  keysOf(spec: CommandSpec, argv: Buffer[]): Buffer[] {
    if (spec.firstKey <= 0) return [];
    const last = spec.lastKey < 0 ? argv.length + spec.lastKey : spec.lastKey;
    const keys: Buffer[] = [];
    for (let i = spec.firstKey; i <= last && i < argv.length; i += spec.step || 1) keys.push(argv[i]);
    return keys;
  }
}

export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity >= 0 ? argc === spec.arity : argc >= -spec.arity;
}

const flagSet = (flags: readonly string[]) => new ReplySet(flags.map((f) => new SimpleString(f)));

function aclCategories(spec: CommandSpec): string[] {
  const cats = new Set<string>(spec.aclCategories ?? []);
  if (spec.flags.includes('write')) cats.add('@write');
  if (spec.flags.includes('readonly')) cats.add('@read');
  if (spec.flags.includes('admin')) cats.add('@admin').add('@dangerous');
  if (spec.flags.includes('fast')) cats.add('@fast'); else cats.add('@slow');
  if (spec.firstKey > 0) cats.add('@keyspace');
  return [...cats];
}

function keySpecs(spec: CommandSpec): Reply[] {
  if (spec.firstKey <= 0) return [];
  const access = spec.flags.includes('write') ? ['RW', 'UPDATE'] : ['RO', 'ACCESS'];
  return [new ReplyMap([
    ['begin_search', new ReplyMap([['type', 'index'], ['spec', new ReplyMap([['index', spec.firstKey]])]])],
    ['find_keys', new ReplyMap([['type', 'range'], ['spec', new ReplyMap([
      ['lastkey', spec.lastKey < 0 ? spec.lastKey : spec.lastKey - spec.firstKey],
      ['keystep', spec.step || 1], ['limit', 0]])]])],
    ['flags', flagSet(access)],
  ])];
}

/** One COMMAND INFO entry, shaped as Redis 7 shapes it. */
export function commandInfo(spec: CommandSpec): Reply {
  return [
    spec.name,
    spec.arity,
    flagSet(spec.flags),
    spec.firstKey,
    spec.lastKey,
    spec.step,
    flagSet(aclCategories(spec)),
    [],
    keySpecs(spec),
    (spec.subcommands ?? []).map(commandInfo),
  ];
}

function argDoc(arg: ArgSpec, keyIndex: { next: number }): Reply {
  const entries: Array<[Reply, Reply]> = [['name', arg.name], ['type', arg.type]];
  if (arg.displayText) entries.push(['display_text', arg.displayText]);
  else if (arg.type !== 'pure-token' && arg.type !== 'oneof' && arg.type !== 'block') entries.push(['display_text', arg.name]);
  if (arg.type === 'key') entries.push(['key_spec_index', keyIndex.next]);
  if (arg.token) entries.push(['token', arg.token]);
  if (arg.since) entries.push(['since', arg.since]);
  const flags: string[] = [];
  if (arg.optional) flags.push('optional');
  if (arg.multiple) flags.push('multiple');
  if (arg.multipleToken) flags.push('multiple_token');
  if (flags.length) entries.push(['flags', flagSet(flags)]);
  if (arg.arguments) entries.push(['arguments', arg.arguments.map((a) => argDoc(a, keyIndex))]);
  return new ReplyMap(entries);
}

/** One COMMAND DOCS entry (the value; the caller pairs it with the name). */
export function commandDocs(spec: CommandSpec): Reply {
  const entries: Array<[Reply, Reply]> = [
    ['summary', spec.summary],
    ['since', spec.since],
    ['group', spec.group],
  ];
  if (spec.complexity) entries.push(['complexity', spec.complexity]);
  if (spec.arguments) entries.push(['arguments', spec.arguments.map((a) => argDoc(a, { next: 0 }))]);
  if (spec.subcommands) entries.push(['subcommands', new ReplyMap(spec.subcommands.map((s) => [s.name, commandDocs(s)] as [Reply, Reply]))]);
  return new ReplyMap(entries);
}

/** `-ERR unknown subcommand 'X'. Try CONFIG HELP.` */
export function unknownSubcommand(parent: CommandSpec, arg: Buffer): ArgError {
  const shown = arg.toString('latin1').slice(0, 128).replace(/[\r\n]/g, ' ');
  return new ArgError(`unknown subcommand '${shown}'. Try ${parent.name.toUpperCase()} HELP.`);
}

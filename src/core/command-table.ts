/**
 * The one command table. Every command the server has is registered here with
 * its declarative spec, and the same spec drives dispatch, arity checks, flags,
 * key positions and the replies of COMMAND, COMMAND INFO|DOCS|LIST|GETKEYS
 * (redis/redis does this from commands/*.json; we keep typed TS objects).
 */
import { ReplyMap, ReplySet, SimpleString, type Reply } from '../../protocol/reply.js';
import type { ArgSpec, CommandSpec, CommandStat, Handler } from './types.js';
import type { Histogram } from './latency.js';
import { ArgError, quotedArg } from '../errors.js';

/**
 * A registered spec with what dispatch asks of it on every call worked out
 * once: its flags as booleans (no `flags.includes` per command), its
 * subcommands, and slots where the dispatcher keeps the command's counters
 * and latency histogram so as not to look them up by name each time.
 */
export class CommandEntry {
  readonly write: boolean;
  readonly noAuth: boolean;
  readonly loading: boolean;
  readonly skipMonitor: boolean;
  readonly noMulti: boolean;
  /** By lower-case subcommand name; null when the command has none. */
  readonly subcommands: Map<string, CommandEntry> | null;
  /** The dispatcher's cache of `stats.commands.get(name)`, valid while `statEpoch` is the dispatcher's. */
  stat: CommandStat | null = null;
  statEpoch = -1;
  /** The dispatcher's cache of the command's latency histogram, the same way. */
  histogram: Histogram | null = null;
  histogramEpoch = -1;

  constructor(readonly spec: CommandSpec) {
    const flags = spec.flags;
    this.write = flags.includes('write');
    this.noAuth = flags.includes('no_auth');
    this.loading = flags.includes('loading');
    this.skipMonitor = flags.includes('skip_monitor');
    this.noMulti = flags.includes('no_multi');
    this.subcommands = spec.subcommands
      ? new Map(spec.subcommands.map((s) => [s.name.slice(spec.name.length + 1), new CommandEntry(s)]))
      : null;
  }
}

/** Slots of the cache of command names as received (see `find`); a power of two. */
const NAME_CACHE_SLOTS = 64;
/** Longer names are not cached: no command name is that long. */
const NAME_CACHE_MAX = 32;

export class CommandTable {
  private readonly byName = new Map<string, CommandSpec>();
  /** Same specs keyed by the exact bytes clients usually send (upper or lower case), to skip lower-casing. */
  private readonly fast = new Map<string, CommandSpec>();
  private readonly subByParent = new Map<CommandSpec, Map<string, CommandSpec>>();
  /** Every registered spec's entry, subcommands included. */
  private readonly entries = new Map<CommandSpec, CommandEntry>();
  /**
   * Names as clients sent them (a copy of the bytes) and their entries,
   * direct-mapped by length and first and last byte: `find` compares a few
   * bytes instead of making a string of the name and hashing it per command.
   */
  private readonly cachedNames: Array<Buffer | null> = new Array<Buffer | null>(NAME_CACHE_SLOTS).fill(null);
  private readonly cachedEntries: Array<CommandEntry | null> = new Array<CommandEntry | null>(NAME_CACHE_SLOTS).fill(null);

  register(specs: readonly CommandSpec[]): void {
    for (const spec of specs) {
      const bar = spec.name.indexOf('|');
      if (bar > 0) { this.addSubcommand(spec.name.slice(0, bar), spec); continue; }
      if (this.byName.has(spec.name)) throw new Error(`command ${spec.name} registered twice`);
      if (!spec.handler && !spec.subcommands) throw new Error(`command ${spec.name} has neither a handler nor subcommands`);
      this.byName.set(spec.name, spec);
      this.fast.set(spec.name, spec);
      this.fast.set(spec.name.toUpperCase(), spec);
      const entry = new CommandEntry(spec);
      this.entries.set(spec, entry);
      if (spec.subcommands) {
        const subs = new Map<string, CommandSpec>();
        for (const s of spec.subcommands) subs.set(s.name.slice(spec.name.length + 1), s);
        this.subByParent.set(spec, subs);
        for (const sub of entry.subcommands!.values()) this.entries.set(sub.spec, sub);
      }
    }
  }

  /**
   * A subcommand a feature adds to a container another module registered
   * (CLIENT TRACKING to the core's CLIENT): the container is registered again
   * as a copy that has it, so the other module's spec is never changed.
   */
  private addSubcommand(parentName: string, spec: CommandSpec): void {
    const parent = this.byName.get(parentName);
    if (!parent?.subcommands) throw new Error(`command ${spec.name}: there is no container ${parentName} to add it to`);
    if (parent.subcommands.some((s) => s.name === spec.name)) throw new Error(`command ${spec.name} registered twice`);
    this.byName.delete(parentName);
    this.fast.delete(parentName);
    this.fast.delete(parentName.toUpperCase());
    this.subByParent.delete(parent);
    for (const s of parent.subcommands) this.entries.delete(s);
    this.entries.delete(parent);
    this.cachedNames.fill(null);
    this.cachedEntries.fill(null);
    this.register([{ ...parent, subcommands: [...parent.subcommands, spec] }]);
  }

  /** Find a command by its name argument (case-insensitive). */
  lookup(nameArg: Buffer): CommandSpec | undefined {
    const raw = nameArg.toString('latin1');
    return this.fast.get(raw) ?? this.byName.get(raw.toLowerCase());
  }

  /** `lookup`, as the entry the dispatcher works with; names seen before are matched by their bytes. */
  find(nameArg: Buffer): CommandEntry | undefined {
    const n = nameArg.length;
    if (n === 0 || n > NAME_CACHE_MAX) return this.findUncached(nameArg);
    const slot = (n * 31 + nameArg[0] * 7 + nameArg[n - 1]) & (NAME_CACHE_SLOTS - 1);
    const cached = this.cachedNames[slot];
    // The parser hands out one shared Buffer per command name (shareCommandNames), often this very one.
    if (cached === nameArg) return this.cachedEntries[slot]!;
    if (cached !== null && cached.length === n) {
      let i = 0;
      while (i < n && cached[i] === nameArg[i]) i++;
      if (i === n) return this.cachedEntries[slot]!;
    }
    const entry = this.findUncached(nameArg);
    if (entry) {
      // Only known names: random ones would just evict them. Kept as it is when it has its memory to
      // itself (the parser's shared copy); else copied: a slice would pin the chunk it came in.
      const own = nameArg.byteOffset === 0 && nameArg.buffer.byteLength === n;
      this.cachedNames[slot] = own ? nameArg : Buffer.from(nameArg);
      this.cachedEntries[slot] = entry;
    }
    return entry;
  }

  private findUncached(nameArg: Buffer): CommandEntry | undefined {
    const spec = this.lookup(nameArg);
    return spec && this.entries.get(spec);
  }

  /** The entry of a registered spec (subcommands included). */
  entryOf(spec: CommandSpec): CommandEntry | undefined {
    return this.entries.get(spec);
  }

  /** `subcommand`, as an entry. */
  findSubcommand(parent: CommandEntry, arg: Buffer | undefined): CommandEntry | undefined {
    if (!arg || !parent.subcommands) return undefined;
    return parent.subcommands.get(arg.toString('latin1').toLowerCase());
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
    if (spec.keys) return spec.keys(argv);
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

/** `-ERR unknown subcommand 'X'. Try CONFIG HELP.`; `container` is the command's name (`config`). */
export function unknownSubcommand(container: string, arg: Buffer): ArgError {
  return new ArgError(`unknown subcommand '${quotedArg(arg)}'. Try ${container.toUpperCase()} HELP.`);
}

/**
 * `-ERR wrong number of arguments for 'config|set' command`: the dispatcher's
 * arity error, for the counts a spec's arity cannot express (pairs, a maximum).
 */
export function wrongArity(name: string): ArgError {
  return new ArgError(`wrong number of arguments for '${name}' command`);
}

/** What a container's subcommands share unless one says otherwise. */
export type SubcommandDefaults = Pick<CommandSpec, 'firstKey' | 'lastKey' | 'step' | 'group' | 'since' | 'flags'>;

export type SubcommandBuilder =
  (name: string, arity: number, summary: string, handler: Handler, extra?: Partial<CommandSpec>) => CommandSpec;

/**
 * The specs of one container's subcommands: `sub('get', -3, summary, handler)`
 * is `config|get` with the container's defaults; `extra` overrides any field.
 */
export function subcommandBuilder(container: string, defaults: SubcommandDefaults): SubcommandBuilder {
  return (name, arity, summary, handler, extra = {}) =>
    ({ ...defaults, name: `${container}|${name}`, arity, summary, handler, ...extra });
}

/** A HELP reply as Redis words it: `CONFIG <subcommand> [<arg> …]. Subcommands are:`, then one status line per line. */
export function helpReply(container: string, lines: readonly string[]): Reply {
  return [`${container.toUpperCase()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`, ...lines].map((s) => new SimpleString(s));
}

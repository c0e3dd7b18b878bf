/**
 * From a parsed command line to a reply: look the command up in the table,
 * check authentication, arity, loading and disk state, queue it inside MULTI,
 * run the handler behind a fault boundary, count it, feed MONITOR, and hand
 * successful writes to the write-ahead log before their reply is released.
 */
import { ErrorReply, QUEUED, type Reply } from '../../protocol/reply.js';
import { LoadingError, NoAuthError, RespError, oneLine } from '../errors.js';
import { arityOk, unknownSubcommand, type CommandTable } from './command-table.js';
import type { ClientState, CommandSpec, CommandStat, Ctx, ServerApi } from './types.js';
import type { CommandObserver, WriteLog } from './module.js';
import type { LatencyTracker } from './latency.js';

/** Receives every command line as MONITOR shows it. */
export type MonitorFeed = (client: ClientState, spec: CommandSpec, argv: Buffer[]) => void;

/** What the server plugs into the pipeline; the dispatcher only reads it. */
export interface DispatchHooks {
  writeLog: WriteLog | null;
  monitor: MonitorFeed | null;
  observers: readonly CommandObserver[];
}

/** Commands that run even inside MULTI instead of being queued. */
const MULTI_IMMEDIATE = new Set(['exec', 'discard', 'multi', 'watch', 'unwatch', 'quit', 'reset']);

export class Dispatcher {
  constructor(
    readonly table: CommandTable,
    private readonly server: ServerApi,
    private readonly latency: LatencyTracker,
    private readonly hooks: Readonly<DispatchHooks>,
  ) {}

  /** Why writes are refused right now (MISCONF while the disk fails), or null. */
  refuseWrites(): RespError | null { return this.hooks.writeLog?.refuseWrites() ?? null; }

  /**
   * Run one command line. Returns the reply, or a promise when the command's
   * work (or its durability) completes later. Never throws.
   */
  dispatch(client: ClientState, argv: Buffer[]): Reply | Promise<Reply> {
    const stats = this.server.stats;
    stats.commandsProcessed++;
    const resolved = this.resolve(client, argv);
    if (resolved instanceof ErrorReply) {
      if (client.multi) client.multiDirty = true;
      return this.countError(resolved);
    }
    const spec = resolved;
    client.lastCommand = spec.name;
    const monitor = this.hooks.monitor;
    if (monitor && !spec.flags.includes('skip_monitor')) monitor(client, spec, argv);

    if (client.multi && !MULTI_IMMEDIATE.has(spec.name)) {
      if (spec.flags.includes('no_multi')) return this.countError(new ErrorReply(`ERR Command not allowed inside a transaction`));
      client.multi.push(argv);
      return QUEUED;
    }
    return this.execute(client, spec, argv);
  }

  /** Find the spec, enforcing the checks that come before execution; an ErrorReply when refused. */
  resolve(client: ClientState, argv: Buffer[]): CommandSpec | ErrorReply {
    let spec = this.table.lookup(argv[0]);
    const server = this.server;
    if (!spec) return new ErrorReply(unknownCommandLine(argv));
    if (!client.authenticated && !spec.flags.includes('no_auth')) {
      return new ErrorReply(new NoAuthError().line());
    }
    if (spec.subcommands && !(argv.length === 1 && spec.handler)) {
      if (argv.length < 2) return new ErrorReply(`ERR wrong number of arguments for '${spec.name}' command`);
      const sub = this.table.subcommand(spec, argv[1]);
      if (!sub) return new ErrorReply(unknownSubcommand(spec, argv[1]).line());
      spec = sub;
    }
    if (!arityOk(spec, argv.length)) {
      this.stat(spec).rejected++;
      return new ErrorReply(`ERR wrong number of arguments for '${spec.name}' command`);
    }
    if (server.loading && !spec.flags.includes('loading')) {
      this.stat(spec).rejected++;
      return new ErrorReply(new LoadingError().line());
    }
    if (spec.flags.includes('write') && this.hooks.writeLog) {
      const refusal = this.hooks.writeLog.refuseWrites();
      if (refusal) { this.stat(spec).rejected++; return new ErrorReply(refusal.line()); }
    }
    return spec;
  }

  /**
   * Run a resolved command. A write is logged as soon as its handler returns:
   * handlers validate and apply their change synchronously (only engine work
   * may finish later), so the WAL order is the execution order. The reply is
   * released once both the work and its log record are done.
   */
  execute(client: ClientState, spec: CommandSpec, argv: Buffer[]): Reply | Promise<Reply> {
    const ctx: Ctx = { client, server: this.server, db: this.server.keyspace.db(client.db) };
    const start = performance.now();
    let result: Reply | Promise<Reply>;
    try {
      result = spec.handler!(ctx, argv);
    } catch (e) {
      this.finish(spec, client, argv, start, true);
      return this.errorReply(e, spec);
    }
    const logged = result instanceof ErrorReply ? null : this.log(ctx, spec, argv);
    if (result instanceof Promise) {
      const work = result.then(
        (r) => { this.finish(spec, client, argv, start, r instanceof ErrorReply); return r; },
        (e) => { this.finish(spec, client, argv, start, true); return this.errorReply(e, spec) as Reply; },
      );
      return logged ? Promise.all([work, logged]).then(([r]) => r, (e: unknown) => this.errorReply(e, spec)) : work;
    }
    this.finish(spec, client, argv, start, result instanceof ErrorReply);
    if (!logged) return result;
    const reply = result;
    return logged.then(() => reply, (e: unknown) => this.errorReply(e, spec));
  }

  /**
   * Re-apply a logged write during recovery: no authentication, loading or
   * disk checks, not logged again. Errors are returned, never thrown.
   */
  replay(client: ClientState, argv: Buffer[]): Reply | Promise<Reply> {
    let spec = this.table.lookup(argv[0]);
    if (spec?.subcommands) spec = this.table.subcommand(spec, argv[1]);
    if (!spec?.handler) return new ErrorReply(unknownCommandLine(argv));
    const ctx: Ctx = { client, server: this.server, db: this.server.keyspace.db(client.db) };
    try {
      const r = spec.handler(ctx, argv);
      return r instanceof Promise ? r.catch((e: unknown) => this.errorReply(e, spec)) : r;
    } catch (e) {
      return this.errorReply(e, spec);
    }
  }

  /** Entries of the transaction being executed (EXEC logs them as one record). */
  private collecting: Array<[number, Buffer[]]> | null = null;

  private log(ctx: Ctx, spec: CommandSpec, argv: Buffer[]): Promise<void> | null {
    const writeLog = this.hooks.writeLog;
    if (!writeLog || !spec.flags.includes('write')) return null;
    const commands = ctx.propagate === undefined ? [argv] : ctx.propagate;
    if (!commands || commands.length === 0) return null;
    const db = ctx.client.db;
    if (this.collecting) { for (const c of commands) this.collecting.push([db, c]); return null; }
    return writeLog.append(commands.map((c) => [db, c] as [number, Buffer[]]));
  }

  /**
   * EXEC: run the queued commands back to back (nothing else runs in between:
   * handlers apply their changes synchronously) and log their writes as one
   * record, so a crash keeps all of the transaction or none of it.
   */
  runTransaction(client: ClientState, queued: Buffer[][]): Reply | Promise<Reply> {
    const replies: Array<Reply | Promise<Reply>> = [];
    this.collecting = [];
    try {
      for (const argv of queued) {
        const spec = this.resolve(client, argv);
        replies.push(spec instanceof ErrorReply ? this.countError(spec) : this.execute(client, spec, argv));
      }
    } finally {
      const entries = this.collecting;
      this.collecting = null;
      if (entries.length > 0 && this.hooks.writeLog) {
        const logged = this.hooks.writeLog.append(entries);
        if (logged) replies.push(logged.then(() => null));
      }
    }
    if (!replies.some((r) => r instanceof Promise)) return replies as Reply[];
    return Promise.all(replies).then((all) => all.slice(0, queued.length), (e: unknown) => this.errorReply(e));
  }

  private finish(spec: CommandSpec, client: ClientState, argv: Buffer[], start: number, failed: boolean): void {
    const usec = (performance.now() - start) * 1000;
    const st = this.stat(spec);
    st.calls++;
    st.usec += usec;
    if (failed) st.failed++;
    this.latency.record(spec.name, usec);
    for (const observe of this.hooks.observers) observe(client, spec, argv, usec);
  }

  stat(spec: CommandSpec): CommandStat {
    const m = this.server.stats.commands;
    let s = m.get(spec.name);
    if (!s) { s = { calls: 0, usec: 0, rejected: 0, failed: 0 }; m.set(spec.name, s); }
    return s;
  }

  /** The fault boundary: typed errors become their RESP line; anything else is a bug, logged and hidden. */
  errorReply(e: unknown, spec?: CommandSpec): ErrorReply {
    if (e instanceof RespError) return this.countError(new ErrorReply(oneLine(e.line())));
    this.server.log.error({ err: e, command: spec?.name }, 'command failed with an internal error');
    return this.countError(new ErrorReply('ERR internal error'));
  }

  private countError(r: ErrorReply): ErrorReply {
    const stats = this.server.stats;
    stats.errorReplies++;
    const code = r.line.slice(0, r.line.indexOf(' ') >>> 0);
    stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
    return r;
  }
}

/** Redis's text: `ERR unknown command 'FOO', with args beginning with: 'a' 'b' `. */
export function unknownCommandLine(argv: Buffer[]): string {
  const show = (b: Buffer) => oneLine(b.toString('latin1').slice(0, 128));
  let line = `ERR unknown command '${show(argv[0])}', with args beginning with: `;
  for (let i = 1; i < argv.length && line.length < 512; i++) line += `'${show(argv[i])}' `;
  return line;
}


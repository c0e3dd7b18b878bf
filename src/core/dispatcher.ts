/**
 * From a parsed command line to a reply: look the command up in the table,
 * check authentication, arity, loading and disk state, queue it inside MULTI,
 * run the handler behind a fault boundary, count it, feed MONITOR, and hand
 * successful writes to the write-ahead log before their reply is released.
 */
import { ErrorReply, QUEUED, type Reply } from '../../protocol/reply.js';
import { LoadingError, NoAuthError, RespError, errorCode, oneLine, quotedArg } from '../errors.js';
import { arityOk, CommandEntry, unknownSubcommand, wrongArity, type CommandTable } from './command-table.js';
import type { ClientState, CommandSpec, CommandStat, Ctx, ServerApi } from './types.js';
import type { CommandObserver, WriteLog } from './module.js';
import type { Histogram, LatencyTracker } from './latency.js';
// Imported: the global `performance` is a lazy getter, a call per access.
import { performance } from 'node:perf_hooks';
import { keyOf } from '../engine/keyspace.js';
import type { Watches } from './watch.js';
import { Slicer } from './slicer.js';

/** Receives every command line as MONITOR shows it. */
export type MonitorFeed = (client: ClientState, spec: CommandSpec, argv: Buffer[]) => void;

/** What the server plugs into the pipeline; the dispatcher only reads it. */
export interface DispatchHooks {
  writeLog: WriteLog | null;
  monitor: MonitorFeed | null;
  observers: readonly CommandObserver[];
  /** WATCH's registry: told of the keys of every write that changed something. */
  watches: Watches | null;
}

/**
 * A batch's commands are let run (engine work) a window of this many at a
 * time. Engine work completes a group at a time, and each command's
 * completion costs bookkeeping (stats, latency, the slow log) in one turn:
 * 30 000 of them held the loop for 150 ms.
 */
const BATCH_IN_FLIGHT = 1024;

/** Writes collected for one record (a transaction's), each with its database. */
type LoggedCommands = Array<[number, Buffer[]]>;

/** A batch being applied in slices (runBatch). */
interface RunningBatch {
  readonly owner: ClientState;
  readonly db: number;
  /** The keys it writes, as the keyspace holds them; null when it writes without naming keys (everything waits). */
  readonly keys: ReadonlySet<string> | null;
  /** Settles when its last command has run. */
  readonly done: Promise<void>;
}

/** The keys a command names, by its spec's key positions (Redis's firstkey, lastkey, step). */
function commandKeys(spec: CommandSpec, argv: Buffer[]): string[] {
  if (spec.firstKey <= 0) return [];
  const last = spec.lastKey < 0 ? argv.length + spec.lastKey : Math.min(spec.lastKey, argv.length - 1);
  const keys: string[] = [];
  for (let i = spec.firstKey; i <= last; i += Math.max(1, spec.step)) keys.push(keyOf(argv[i]));
  return keys;
}

/** Commands that run even inside MULTI instead of being queued (UNWATCH is queued, as in Redis). */
const MULTI_IMMEDIATE = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

export class Dispatcher {
  constructor(
    readonly table: CommandTable,
    private readonly server: ServerApi,
    private readonly latency: LatencyTracker,
    private readonly hooks: Readonly<DispatchHooks>,
  ) {}

  /** The batch being applied in slices (runBatch), if any: commands that touch its keys wait for it. */
  private batch: RunningBatch | null = null;
  /**
   * Per client held back by a batch: settles when its last held command has
   * started. The client's next commands start after it, keeping its order.
   */
  private readonly held = new WeakMap<ClientState, Promise<void>>();
  /** Commands held back and not started yet: while 0, `held` is empty and need not be asked. */
  private holding = 0;
  /**
   * Entries cache their `stats.commands` counters (and latency histograms)
   * while these match: the maps only grow through this dispatcher, so a size
   * it did not make means they were cleared (CONFIG RESETSTAT) and every
   * cached object is bumped out by a new epoch.
   */
  private statEpoch = 0;
  private statSize = 0;
  /** Writes `propagate` collects while `propagating` runs, logged as one record at its end. */
  private propagated: LoggedCommands | null = null;
  private histogramEpoch = 0;
  private histogramSize = 0;
  private histogramResets = 0;
  /**
   * While a connection runs the commands of a received chunk (`beginRun` …
   * `endRun`): when the previous command of the chunk ended, 0 before the
   * first. A pipelined command is timed from there, so it costs one clock
   * read instead of two; its time then also counts parsing it and encoding
   * the reply before it (a fraction of a µs when warm). The first command of
   * a chunk, one after a command whose work completes later, and any command
   * outside a run (-1) are timed from their own start, as Redis times them.
   */
  private clock = -1;

  /** A connection starts running the commands of a chunk, back to back and synchronously. */
  beginRun(): void { this.clock = 0; }
  /** … and is done with them: must follow `beginRun` (in a `finally`). */
  endRun(): void { this.clock = -1; }

  /** Why writes are refused right now (MISCONF while the disk fails), or null; with `commands`, a record of all of them. */
  refuseWrites(commands?: ReadonlyArray<readonly Buffer[]>): RespError | null { return this.hooks.writeLog?.refuseWrites(commands) ?? null; }

  /**
   * Run one command line. Returns the reply, or a promise when the command's
   * work (or its durability) completes later. Never throws.
   */
  dispatch(client: ClientState, argv: Buffer[]): Reply | Promise<Reply> {
    if (this.holding > 0 || this.batch !== null) {
      const held = this.holdBack(client, argv);
      if (held !== null) return held;
    }
    const stats = this.server.stats;
    stats.commandsProcessed++;
    const resolved = this.resolveEntry(client, argv);
    if (resolved instanceof ErrorReply) {
      if (client.multi) client.multiDirty = true;
      return this.countError(resolved);
    }
    const entry = resolved;
    const spec = entry.spec;
    const mode = client.mode;
    if (mode) {
      const answer = mode.answer(client, spec, argv);
      if (answer !== undefined) {
        if (!(answer instanceof ErrorReply)) return answer;
        if (client.multi) client.multiDirty = true;
        return this.countError(answer);
      }
    }
    client.lastCommand = spec.name;
    const monitor = this.hooks.monitor;
    if (monitor && !entry.skipMonitor) monitor(client, spec, argv);

    if (client.multi && !MULTI_IMMEDIATE.has(spec.name)) {
      if (entry.noMulti) return this.countError(new ErrorReply(`ERR Command not allowed inside a transaction`));
      client.multi.push(argv);
      return QUEUED;
    }
    return this.run(client, entry, argv, null);
  }

  /**
   * While a batch runs, or this client has commands held back: the promise of
   * this command's reply if it must wait too, else null (it runs now).
   */
  private holdBack(client: ClientState, argv: Buffer[]): Promise<Reply> | null {
    const tail = this.held.get(client);
    const batch = this.batch;
    if (tail === undefined && (batch === null || client === batch.owner || !this.waitsFor(batch, client, argv))) return null;
    // Runs once the batch is done (or after this client's earlier held commands),
    // as if the batch had run in one turn, and the WAL records that order.
    let started!: () => void;
    const start = new Promise<void>((resolve) => { started = resolve; });
    this.held.set(client, start);
    this.holding++;
    return (tail ?? batch!.done).then(() => {
      this.holding--;
      if (this.held.get(client) === start) this.held.delete(client);
      started();
      return this.dispatch(client, argv);
    });
  }

  /** Find the spec, enforcing the checks that come before execution; an ErrorReply when refused. */
  resolve(client: ClientState, argv: Buffer[]): CommandSpec | ErrorReply {
    const entry = this.resolveEntry(client, argv);
    return entry instanceof ErrorReply ? entry : entry.spec;
  }

  private resolveEntry(client: ClientState, argv: Buffer[]): CommandEntry | ErrorReply {
    let entry = this.table.find(argv[0]);
    const server = this.server;
    if (!entry) return new ErrorReply(unknownCommandLine(argv));
    if (!client.authenticated && !entry.noAuth) {
      return new ErrorReply(new NoAuthError().line());
    }
    if (entry.subcommands && !(argv.length === 1 && entry.spec.handler)) {
      if (argv.length < 2) return new ErrorReply(wrongArity(entry.spec.name).line());
      const sub = this.table.findSubcommand(entry, argv[1]);
      if (!sub) return new ErrorReply(unknownSubcommand(entry.spec.name, argv[1]).line());
      entry = sub;
    }
    const spec = entry.spec;
    if (!arityOk(spec, argv.length)) {
      this.statOf(entry).rejected++;
      return new ErrorReply(wrongArity(spec.name).line());
    }
    if (server.loading && !entry.loading) {
      this.statOf(entry).rejected++;
      return new ErrorReply(new LoadingError().line());
    }
    if (entry.write && this.hooks.writeLog) {
      // Before the handler: a write the log cannot take must not be applied (nothing can undo it).
      const refusal = this.hooks.writeLog.refuseWrites([argv]);
      if (refusal) { this.statOf(entry).rejected++; return new ErrorReply(refusal.line()); }
    }
    return entry;
  }

  /**
   * Run a resolved command. A write is logged as soon as its handler returns:
   * handlers validate and apply their change synchronously (only engine work
   * may finish later), so the WAL order is the execution order. The reply is
   * released once both the work and its log record are done.
   */
  execute(client: ClientState, spec: CommandSpec, argv: Buffer[], collect: LoggedCommands | null = null): Reply | Promise<Reply> {
    return this.run(client, this.table.entryOf(spec) ?? new CommandEntry(spec), argv, collect);
  }

  private run(client: ClientState, entry: CommandEntry, argv: Buffer[], collect: LoggedCommands | null): Reply | Promise<Reply> {
    const spec = entry.spec;
    const ctx: Ctx = { client, server: this.server, db: this.server.keyspace.db(client.db) };
    const start = this.clock > 0 ? this.clock : performance.now();
    let result: Reply | Promise<Reply>;
    try {
      result = spec.handler!(ctx, argv);
    } catch (e) {
      this.finish(entry, client, argv, start, true);
      return this.errorReply(e, spec);
    }
    const logged = ctx.nestedWrites ? this.record(ctx.nestedWrites, collect)
      : entry.write && !(result instanceof ErrorReply) ? this.log(ctx, argv, collect) : null;
    // Any write that changed something touches the keys it names (Redis's signalModifiedKey), in-place changes included.
    if (entry.write && ctx.propagate !== null && this.hooks.watches?.active && !(result instanceof ErrorReply) && spec.firstKey > 0) {
      for (const k of ctx.touchedKeys ?? commandKeys(spec, argv)) this.hooks.watches.touched(client.db, k);
    }
    if (result instanceof Promise) {
      // Timed when its work completes; the next command reads its own start.
      if (this.clock > 0) this.clock = 0;
      const work = result.then(
        (r) => { this.finish(entry, client, argv, start, r instanceof ErrorReply); return r; },
        (e) => { this.finish(entry, client, argv, start, true); return this.errorReply(e, spec) as Reply; },
      );
      return logged ? Promise.all([work, logged]).then(([r]) => r, (e: unknown) => this.errorReply(e, spec)) : work;
    }
    this.finish(entry, client, argv, start, result instanceof ErrorReply);
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
    const ctx: Ctx = { client, server: this.server, db: this.server.keyspace.db(client.db), replaying: true };
    try {
      const r = spec.handler(ctx, argv);
      return r instanceof Promise ? r.catch((e: unknown) => this.errorReply(e, spec)) : r;
    } catch (e) {
      return this.errorReply(e, spec);
    }
  }

  /**
   * Log a write no command made: the DEL of a key reclaimed past its deadline
   * (from a lookup inside a command, or the active cycle). Appended at once,
   * so it precedes the record of a command that found the key gone. Nobody
   * waits on it: a failed commit is reported by the commits that follow.
   */
  propagate(db: number, argv: Buffer[]): void {
    if (this.propagated !== null) { this.propagated.push([db, argv]); return; }
    this.appendUnawaited([[db, argv]]);
  }

  /**
   * Run `work` (synchronous, no command inside) and log what it propagates as
   * one record at its end: the active expire cycle's tick, which would
   * otherwise pay a frame, a checksum and a commit per reclaimed key.
   */
  propagating<T>(work: () => T): T {
    if (this.propagated !== null) return work();
    const batch: LoggedCommands = [];
    this.propagated = batch;
    try {
      return work();
    } finally {
      this.propagated = null;
      if (batch.length > 0) this.appendUnawaited(batch);
    }
  }

  private appendUnawaited(entries: LoggedCommands): void {
    const logged = this.hooks.writeLog?.append(entries);
    if (logged) logged.catch(() => {});
  }

  /** Log a write now, or into `collect`: the writes of a transaction, logged as one record at its end. */
  private log(ctx: Ctx, argv: Buffer[], collect: LoggedCommands | null): Promise<void> | null {
    if (!this.hooks.writeLog) return null;
    const commands = ctx.propagate === undefined ? [argv] : ctx.propagate;
    if (!commands || commands.length === 0) return null;
    const db = ctx.client.db;
    return this.record(commands.map((c) => [db, c] as [number, Buffer[]]), collect);
  }

  /**
   * Logged writes (a command's, or a script's `Ctx.nestedWrites`): part of the enclosing
   * EXEC's record when there is one (`collect`), else one record of their own.
   */
  private record(entries: LoggedCommands, collect: LoggedCommands | null): Promise<void> | null {
    if (entries.length === 0) return null;
    if (collect) { for (const e of entries) collect.push(e); return null; }
    return this.hooks.writeLog?.append(entries) ?? null;
  }

  /**
   * EXEC: run the queued commands back to back (nothing else runs in between:
   * handlers apply their changes synchronously) and log their writes as one
   * record, so a crash keeps all of the transaction or none of it.
   */
  runTransaction(client: ClientState, queued: Buffer[][]): Reply | Promise<Reply> {
    const refusal = this.refuseRecord(this.writesOf(queued));
    if (refusal) return this.countError(new ErrorReply(refusal.line()));
    const replies: Array<Reply | Promise<Reply>> = [];
    const entries: LoggedCommands = [];
    try {
      for (const argv of queued) {
        const entry = this.resolveEntry(client, argv);
        replies.push(entry instanceof ErrorReply ? this.countError(entry) : this.run(client, entry, argv, entries));
      }
    } finally {
      if (entries.length > 0 && this.hooks.writeLog) {
        const logged = this.hooks.writeLog.append(entries);
        if (logged) replies.push(logged.then(() => null));
      }
    }
    if (!replies.some((r) => r instanceof Promise)) return replies as Reply[];
    return Promise.all(replies).then((all) => all.slice(0, queued.length), (e: unknown) => this.errorReply(e));
  }

  /**
   * Run commands as one transaction, as EXEC does (one WAL record; nothing
   * else sees it half-applied), without holding the event loop for all of it:
   * they run in slices (src/core/slicer.ts) with a yield in between. Meanwhile
   * commands that touch the batch's keys (or read or write the data without
   * naming keys, or EXEC) wait for its end; the others run. As for a
   * transaction refused while queueing, when any command is refused up front
   * (unknown, wrong arity, -LOADING, -MISCONF) none runs and that refusal is
   * the reply. Otherwise: one reply per command.
   *
   * A snapshot taken meanwhile holds part of the batch, and recovery replays
   * the whole record over it: right for commands that set what they set
   * however often they run (VEC.ADD), not for ones that accumulate.
   */
  async runBatch(client: ClientState, queued: Buffer[][]): Promise<Reply> {
    const slicer = new Slicer();
    let keys: Set<string> | null = new Set();
    // The record's writes, found in this sliced pass: looking 100 000 names up again in one go
    // held the loop for ~40 ms (bench/stalls.ts, http-batch).
    const writes: Buffer[][] = [];
    for (const argv of queued) {
      const entry = this.resolveEntry(client, argv);
      if (entry instanceof ErrorReply) return this.countError(entry);
      if (entry.write) writes.push(argv);
      if (keys !== null) {
        if (entry.spec.firstKey > 0) for (const k of commandKeys(entry.spec, argv)) keys.add(k);
        else if (entry.write) keys = null; // FLUSHALL and the like: everything waits
      }
      if (slicer.due()) await slicer.pause();
    }
    while (this.batch !== null) await this.batch.done;
    const refusal = this.refuseRecord(writes);
    if (refusal) return this.countError(new ErrorReply(refusal.line()));
    let release!: () => void;
    const done = new Promise<void>((resolve) => { release = resolve; });
    this.batch = { owner: client, db: client.db, keys, done };
    const replies: Array<Reply | Promise<Reply>> = [];
    const entries: LoggedCommands = [];
    // The record is encoded as the writes apply, inside the slices (see WriteLog.recordWriter).
    const record = this.hooks.writeLog?.recordWriter?.(writes) ?? null;
    let encoded = 0;
    const encodeNew = () => { if (record) for (; encoded < entries.length; encoded++) record.add(entries[encoded][0], entries[encoded][1]); };
    try {
      slicer.restart();
      // Two windows of replies at most may be running: the engine works on one while the next waits.
      let older = 0, newer = 0;
      for (const argv of queued) {
        const entry = this.resolveEntry(client, argv);
        if (entry instanceof ErrorReply) replies.push(this.countError(entry));
        else {
          const monitor = this.hooks.monitor;
          if (monitor && !entry.skipMonitor) monitor(client, entry.spec, argv);
          replies.push(this.run(client, entry, argv, entries));
        }
        encodeNew();
        if (replies.length - newer >= BATCH_IN_FLIGHT) {
          await Promise.all(replies.slice(older, newer));
          older = newer;
          newer = replies.length;
          slicer.restart();
        } else if (slicer.due()) await slicer.pause();
      }
    } finally {
      this.batch = null;
      // The held commands start in a later microtask: after the record below is appended.
      release();
    }
    try {
      encodeNew();
      const logged = entries.length > 0 && this.hooks.writeLog ? this.hooks.writeLog.append(entries, record?.finish()) : null;
      const all = await Promise.all(replies);
      if (logged) await logged;
      return all;
    } catch (e) {
      return this.errorReply(e);
    }
  }

  /**
   * Must this command wait for the running batch? Those that would see it
   * half-applied or change what it works on: commands naming one of its keys,
   * keyless ones that read or write the data or the server (DBSIZE, FLUSHALL,
   * SAVE…), and EXEC (whatever MULTI queued). Commands inside MULTI are only
   * queued: they need not wait.
   */
  private waitsFor(batch: RunningBatch, client: ClientState, argv: Buffer[]): boolean {
    let spec = this.table.lookup(argv[0]);
    if (!spec) return false;
    if (spec.subcommands && argv.length > 1) spec = this.table.subcommand(spec, argv[1]) ?? spec;
    if (client.multi && !MULTI_IMMEDIATE.has(spec.name)) return false;
    if (spec.name === 'exec') return true;
    if (spec.firstKey > 0) {
      if (batch.keys === null) return true;
      return client.db === batch.db && commandKeys(spec, argv).some((k) => batch.keys!.has(k));
    }
    // may_replicate: EVAL, which may write any key, named or not.
    return spec.flags.includes('write') || spec.flags.includes('readonly') || spec.flags.includes('admin') || spec.flags.includes('may_replicate');
  }

  /**
   * EXEC and batches log all their writes as one record: the log must admit
   * that whole record before the first command runs (each command alone may
   * fit where all of them do not), or the transaction would stop half-applied.
   */
  private refuseRecord(writes: Buffer[][]): RespError | null {
    const writeLog = this.hooks.writeLog;
    return writeLog && writes.length > 0 ? writeLog.refuseWrites(writes) : null;
  }

  /** The queued commands that write (what their record will hold). */
  private writesOf(queued: Buffer[][]): Buffer[][] {
    if (!this.hooks.writeLog) return [];
    return queued.filter((argv) => {
      let entry = this.table.find(argv[0]);
      if (entry?.subcommands && argv.length > 1) entry = this.table.findSubcommand(entry, argv[1]) ?? entry;
      return entry?.write ?? false;
    });
  }

  private finish(entry: CommandEntry, client: ClientState, argv: Buffer[], start: number, failed: boolean): void {
    const end = performance.now();
    if (this.clock >= 0) this.clock = end;
    const usec = (end - start) * 1000;
    const st = this.statOf(entry);
    st.calls++;
    st.usec += usec;
    if (failed) st.failed++;
    if (this.latency.enabled) this.histogramOf(entry).record(usec);
    const observers = this.hooks.observers;
    for (let i = 0; i < observers.length; i++) observers[i](client, entry.spec, argv, usec);
  }

  stat(spec: CommandSpec): CommandStat {
    return this.statOf(this.table.entryOf(spec) ?? new CommandEntry(spec));
  }

  /** The command's `stats.commands` counters, cached on its entry. */
  private statOf(entry: CommandEntry): CommandStat {
    const m = this.server.stats.commands;
    if (entry.statEpoch === this.statEpoch && m.size === this.statSize) return entry.stat!;
    if (m.size !== this.statSize) this.statEpoch++;
    let s = m.get(entry.spec.name);
    if (!s) { s = { calls: 0, usec: 0, rejected: 0, failed: 0 }; m.set(entry.spec.name, s); }
    entry.stat = s;
    entry.statEpoch = this.statEpoch;
    this.statSize = m.size;
    return s;
  }

  /** The command's latency histogram, cached on its entry the same way (and dropped by `LatencyTracker.reset`). */
  private histogramOf(entry: CommandEntry): Histogram {
    const latency = this.latency;
    if (entry.histogramEpoch === this.histogramEpoch && latency.byCommand.size === this.histogramSize && latency.resets === this.histogramResets) {
      return entry.histogram!;
    }
    if (latency.byCommand.size !== this.histogramSize || latency.resets !== this.histogramResets) this.histogramEpoch++;
    const h = latency.histogram(entry.spec.name);
    entry.histogram = h;
    entry.histogramEpoch = this.histogramEpoch;
    this.histogramSize = latency.byCommand.size;
    this.histogramResets = latency.resets;
    return h;
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
    const code = errorCode(r.line);
    stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
    return r;
  }
}

/** Redis's text: `ERR unknown command 'FOO', with args beginning with: 'a' 'b' `. */
export function unknownCommandLine(argv: Buffer[]): string {
  let line = `ERR unknown command '${quotedArg(argv[0])}', with args beginning with: `;
  for (let i = 1; i < argv.length && line.length < 512; i++) line += `'${quotedArg(argv[i])}' `;
  return line;
}


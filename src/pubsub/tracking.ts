/**
 * CLIENT TRACKING: server-assisted client-side caching, as Redis 6+ does it.
 *
 * Default mode: the keys a tracking client reads (commands flagged
 * `readonly`, keys found by their spec's key positions) are remembered in one
 * table, key → clients, across databases as in Redis. When any client's write
 * names such a key (again by key positions), or the key expires, each of those
 * clients is sent `invalidate [key]` once and the key leaves the table: it
 * must be read again to be tracked again. OPTIN/OPTOUT with CLIENT CACHING
 * choose which reads count. BCAST mode remembers nothing: every write to a
 * key under one of the client's prefixes (any key without prefixes) is sent.
 *
 * Writes are learned from the executed commands (the `observe` hook), so
 * every write command is covered without each one reporting its keys;
 * keyless writes (FLUSHALL, FLUSHDB, SWAPDB) invalidate everything, sent as a
 * null key list as Redis does on flush.
 *
 * Where the message goes: a RESP3 client gets a push. With REDIRECT it goes to
 * that client instead: a push if it speaks RESP3, else a message on
 * `__redis__:invalidate` if it is subscribed to anything (Redis's rule), else
 * nowhere. A RESP2 client without REDIRECT may turn tracking on; it gets nothing.
 *
 * An invalidation caused by the client's own write goes out after that
 * command's reply (Redis 7.0's tracking_pending_keys): at the next command
 * anyone runs, or at the end of this turn.
 */
import { Push, type Reply } from '../../protocol/reply.js';
import { ArgError, SYNTAX } from '../errors.js';
import { isKeyword, parseInteger } from '../core/numbers.js';
import type { CommandTable } from '../core/command-table.js';
import type { ClientState, ClientView, CommandSpec, Ctx } from '../core/types.js';
import type { Hub } from './hub.js';

/** Keys remembered at most (Redis's tracking-table-max-keys default): past it the oldest are invalidated. */
const TABLE_MAX_KEYS = 1_000_000;
const INVALIDATE = Buffer.from('invalidate');
const CHANNEL = Buffer.from('__redis__:invalidate');

interface TrackingState {
  readonly client: ClientState;
  readonly bcast: boolean;
  optin: boolean;
  optout: boolean;
  noloop: boolean;
  /** The client id invalidations go to; 0 for the client itself. */
  redirect: number;
  redirectTo: ClientState | null;
  brokenRedirect: boolean;
  prefixes: string[];
  /** CLIENT CACHING for the next command: true yes, false no, null not given. */
  caching: boolean | null;
  /** Between MULTI and the end of EXEC the CACHING choice holds, as in Redis. */
  inMulti: boolean;
  /** Cleared by TRACKING OFF: a stale reference from the table is skipped. */
  on: boolean;
}

export class Tracking {
  private readonly states = new Map<ClientState, TrackingState>();
  private readonly table = new Map<string, Set<TrackingState>>();
  private readonly bcast = new Set<TrackingState>();
  /** Invalidations of a client's own writes, sent after its reply. */
  private pending: Array<[TrackingState, Buffer[] | null]> = [];
  private pendingScheduled = false;
  private prefixCount = 0;

  constructor(private readonly table_: CommandTable, private readonly hub: Hub, private readonly clients: () => Iterable<ClientView>) {}

  get clientCount(): number { return this.states.size; }
  get keyCount(): number { return this.table.size; }
  get prefixTotal(): number { return this.prefixCount; }
  /** Table entries: each key once per client tracking it. */
  get itemCount(): number { let n = 0; for (const s of this.table.values()) n += s.size; return n; }

  stateOf(client: ClientState): TrackingState | undefined { return this.states.get(client); }

  // ---- commands ----

  /** CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]. */
  command(ctx: Ctx, argv: Buffer[]): void {
    const client = ctx.client;
    let on: boolean;
    if (isKeyword(argv[2], 'ON')) on = true;
    else if (isKeyword(argv[2], 'OFF')) on = false;
    else throw new ArgError(SYNTAX);
    let redirect = 0, bcast = false, optin = false, optout = false, noloop = false;
    const prefixes: string[] = [];
    for (let i = 3; i < argv.length; i++) {
      const more = i + 1 < argv.length;
      if (isKeyword(argv[i], 'REDIRECT') && more) {
        try { redirect = parseInteger(argv[++i]); } catch { throw new ArgError('value is not an integer or out of range'); }
        // 0 would read as "no redirection": it names no client either.
        if (redirect <= 0) throw new ArgError('The client ID you want redirect to does not exist');
      } else if (isKeyword(argv[i], 'BCAST')) bcast = true;
      else if (isKeyword(argv[i], 'OPTIN')) optin = true;
      else if (isKeyword(argv[i], 'OPTOUT')) optout = true;
      else if (isKeyword(argv[i], 'NOLOOP')) noloop = true;
      else if (isKeyword(argv[i], 'PREFIX') && more) prefixes.push(argv[++i].toString('latin1'));
      else throw new ArgError(SYNTAX);
    }
    const current = this.states.get(client);
    if (!on) {
      if (current) this.off(current);
      return;
    }
    if (current && current.bcast !== bcast) {
      throw new ArgError("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if (prefixes.length > 0 && !bcast) throw new ArgError('PREFIX option requires BCAST mode to be enabled');
    if (optin && optout) throw new ArgError("You can't specify both OPTIN mode and OPTOUT mode");
    if ((optin || optout) && bcast) throw new ArgError('OPTIN and OPTOUT are not compatible with BCAST');
    if (current && ((optin && current.optout) || (optout && current.optin))) {
      throw new ArgError("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    let target: ClientState | null = null;
    if (redirect !== 0) {
      for (const c of this.clients()) if (c.id === redirect) target = c;
      if (!target) throw new ArgError('The client ID you want redirect to does not exist');
    }
    checkPrefixes(current?.prefixes ?? [], prefixes);
    if (current) {
      // Turned on again: new options replace the old, prefixes add up, and the keys read so far stay tracked (Redis's enableTracking).
      Object.assign(current, { optin, optout, noloop, redirect, redirectTo: target, brokenRedirect: false });
      current.prefixes = [...current.prefixes, ...prefixes];
      if (bcast) this.prefixCount += prefixes.length;
      return;
    }
    const state: TrackingState = {
      client, bcast, optin, optout, noloop, redirect, redirectTo: target, brokenRedirect: false,
      prefixes, caching: null, inMulti: false, on: true,
    };
    this.states.set(client, state);
    if (bcast) { this.bcast.add(state); this.prefixCount += state.prefixes.length; }
    return;
  }

  private off(state: TrackingState): void {
    state.on = false;
    this.states.delete(state.client);
    if (this.bcast.delete(state)) this.prefixCount -= state.prefixes.length;
  }

  /** CLIENT CACHING YES|NO: whether the next command's reads are tracked (OPTIN / OPTOUT). */
  caching(ctx: Ctx, argv: Buffer[]): void {
    const state = this.states.get(ctx.client);
    if (!state) {
      throw new ArgError('CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled');
    }
    if (isKeyword(argv[2], 'YES')) {
      if (!state.optin) throw new ArgError('CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.');
      state.caching = true;
    } else if (isKeyword(argv[2], 'NO')) {
      if (!state.optout) throw new ArgError('CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.');
      state.caching = false;
    } else throw new ArgError(SYNTAX);
  }

  /** CLIENT GETREDIR: -1 tracking off, 0 on without redirection, else the client id. */
  redirectOf(client: ClientState): number {
    const s = this.states.get(client);
    return s ? s.redirect : -1;
  }

  /** CLIENT TRACKINGINFO's flags. */
  flagsOf(client: ClientState): string[] {
    const s = this.states.get(client);
    if (!s) return ['off'];
    const flags = ['on'];
    if (s.bcast) flags.push('bcast');
    if (s.optin) flags.push('optin');
    if (s.optout) flags.push('optout');
    if (s.caching === true) flags.push('caching-yes');
    if (s.caching === false) flags.push('caching-no');
    if (s.noloop) flags.push('noloop');
    if (s.brokenRedirect) flags.push('broken_redirect');
    return flags;
  }

  prefixesOf(client: ClientState): Buffer[] {
    return (this.states.get(client)?.prefixes ?? []).map((p) => Buffer.from(p, 'latin1'));
  }

  release(client: ClientState): void {
    const s = this.states.get(client);
    if (s) this.off(s);
  }

  // ---- what commands did ----

  /** Every executed command: remember what a tracking client read, invalidate what a write named. */
  observe(client: ClientState, spec: CommandSpec, argv: Buffer[]): void {
    if (this.pending.length > 0) this.flushPending();
    if (this.states.size === 0) return;
    const entry = this.table_.entryOf(spec);
    if (entry?.write) {
      if (spec.firstKey > 0) for (const k of this.table_.keysOf(spec, argv)) this.invalidate(k.toString('latin1'), client);
      else this.invalidateAll(client);
    }
    const state = this.states.get(client);
    if (!state) return;
    if (!state.bcast && spec.flags.includes('readonly') && spec.firstKey > 0) {
      const wanted = state.optin ? state.caching === true : state.optout ? state.caching !== false : true;
      if (wanted) for (const k of this.table_.keysOf(spec, argv)) this.remember(state, k.toString('latin1'));
    }
    // The CACHING choice lasts one command; CLIENT's own subcommands and a transaction keep it.
    if (spec.name === 'multi') state.inMulti = true;
    else if (spec.name === 'exec' || spec.name === 'discard') { state.inMulti = false; state.caching = null; }
    else if (!state.inMulti && !spec.name.startsWith('client|')) state.caching = null;
  }

  private remember(state: TrackingState, key: string): void {
    let set = this.table.get(key);
    if (!set) {
      if (this.table.size >= TABLE_MAX_KEYS) this.evictOldest();
      set = new Set();
      this.table.set(key, set);
    }
    set.add(state);
  }

  /** Past the table's limit: the oldest key is invalidated for its clients, as if written. */
  private evictOldest(): void {
    const oldest = this.table.keys().next();
    if (!oldest.done) this.invalidate(oldest.value, null);
  }

  /** A key changed: tell those who read it, and BCAST clients with a matching prefix. `origin` wrote it (null: expiry). */
  invalidate(key: string, origin: ClientState | null): void {
    const holders = this.table.get(key);
    let keyBytes: Buffer[] | null = null;
    if (holders) {
      this.table.delete(key);
      keyBytes = [Buffer.from(key, 'latin1')];
      for (const s of holders) if (s.on && !(s.noloop && s.client === origin)) this.send(s, keyBytes, origin);
    }
    if (this.bcast.size > 0) {
      for (const s of this.bcast) {
        if (s.noloop && s.client === origin) continue;
        if (s.prefixes.length > 0 && !s.prefixes.some((p) => key.startsWith(p))) continue;
        keyBytes ??= [Buffer.from(key, 'latin1')];
        this.send(s, keyBytes, origin);
      }
    }
  }

  /** FLUSHALL and kin: every tracking client is told that everything changed (a null key list). */
  invalidateAll(origin: ClientState | null): void {
    this.table.clear();
    for (const s of this.states.values()) if (!(s.noloop && s.client === origin)) this.send(s, null, origin);
  }

  private send(s: TrackingState, keys: Buffer[] | null, origin: ClientState | null): void {
    if (s.client === origin && s.redirect === 0) {
      this.pending.push([s, keys]);
      if (!this.pendingScheduled) {
        this.pendingScheduled = true;
        queueMicrotask(() => { this.pendingScheduled = false; this.flushPending(); });
      }
      return;
    }
    this.deliver(s, keys);
  }

  private flushPending(): void {
    const list = this.pending;
    this.pending = [];
    for (const [s, keys] of list) if (s.on) this.deliver(s, keys);
  }

  /** Only asked for a RESP2 target that is not subscribed (nothing is sent to it): a scan of the clients. */
  private connected(target: ClientState): boolean {
    for (const c of this.clients()) if (c === target) return true;
    return false;
  }

  private deliver(s: TrackingState, keys: Buffer[] | null): void {
    if (s.redirect === 0) {
      if (s.client.proto === 3) s.client.deliver?.(new Push([INVALIDATE, keys]));
      return;
    }
    const target = s.redirectTo;
    if (target && !s.brokenRedirect) {
      // A RESP2 target gets a message on __redis__:invalidate if it is subscribed to anything (Redis's rule), else nothing.
      if (target.proto === 3) { if (target.deliver?.(new Push([INVALIDATE, keys]))) return; }
      else if (this.hub.isSubscribed(target)) { if (target.deliver?.(new Push(['message', CHANNEL, keys]))) return; }
      else if (this.connected(target)) return;
    }
    // The target is gone: a RESP3 client is told once, as Redis tells it.
    if (!s.brokenRedirect) {
      s.brokenRedirect = true;
      if (s.client.proto === 3) s.client.deliver?.(new Push(['tracking-redir-broken', s.redirect]));
    }
  }
}

/** PREFIX values must not overlap one another or the client's current ones (Redis's checkPrefixCollisionsOrReply). */
function checkPrefixes(existing: readonly string[], added: readonly string[]): void {
  for (let i = 0; i < added.length; i++) {
    const p = added[i];
    for (const q of existing) {
      if (p.startsWith(q) || q.startsWith(p)) {
        throw new ArgError(`Prefix '${p}' overlaps with an existing prefix '${q}'. Prefixes for a single client must not overlap.`);
      }
    }
    for (let j = i + 1; j < added.length; j++) {
      const q = added[j];
      if (p.startsWith(q) || q.startsWith(p)) {
        throw new ArgError(`Prefix '${p}' overlaps with another provided prefix '${q}'. Prefixes for a single client must not overlap.`);
      }
    }
  }
}

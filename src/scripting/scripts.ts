/**
 * The script cache and the runner: compiles scripts once into the one Lua
 * state, runs them with KEYS and ARGV, and gives them redis.call. A script
 * runs synchronously from start to end, so nothing else runs meanwhile; the
 * commands it calls run through the host as the dispatcher runs them (stats,
 * WATCH, keyspace events), and their writes are collected into the EVAL's
 * `Ctx.nestedWrites`, which the dispatcher logs as one record.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LuaWasm } from 'wasmoon';
import { ErrorReply, type Reply } from '../../protocol/index.js';
import { ArgError, oneLine } from '../errors.js';
import { arityOk } from '../core/command-table.js';
import type { ModuleHost } from '../core/module.js';
import type { CommandSpec, Ctx } from '../core/types.js';
import { REDIS_COMPAT_VERSION } from '../version.js';
import { formatLuaNumber, luaToReply, pushErrorTable, pushReply, type Resp } from './convert.js';
import { LUA_OK, LuaRaise, LuaVm, REGISTRY, T_NUMBER, T_STRING, isLongjmp } from './lua-vm.js';
import { PRELUDE } from './sandbox.js';

/** Bytes the Lua state may allocate: a runaway script meets "not enough memory" rather than taking the server's. */
export const LUA_MEMORY_LIMIT = 256 * 1024 * 1024;
/** VM instructions between two looks at the clock while a script runs. */
const HOOK_EVERY = 10_000;
/** Per cached script on top of its text, roughly (Redis counts its dict entry and robj). */
const SCRIPT_OVERHEAD = 64;

const SHEBANG_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

export const sha1hex = (b: Uint8Array | string): string => createHash('sha1').update(b).digest('hex');

export interface CachedScript {
  readonly sha: string;
  readonly body: Buffer;
  /** The compiled function, in the Lua registry. */
  readonly ref: number;
  /** `#!lua flags=no-writes`: runs as EVAL_RO does. */
  readonly readOnly: boolean;
}

/** One script being run. */
interface Run {
  readonly ctx: Ctx;
  readonly script: CachedScript;
  readonly keys: Buffer[];
  readonly args: Buffer[];
  readonly readOnly: boolean;
  readonly writes: Array<[number, Buffer[]]>;
  readonly deadline: number;
  resp: Resp;
  killed: boolean;
  result: Reply;
}

/** `#!lua flags=a,b` on the first line: the flags, and the code with that line blanked (line numbers keep). */
function parseShebang(body: Buffer): { code: Buffer; readOnly: boolean } {
  if (body[0] !== 0x23 || body[1] !== 0x21) return { code: body, readOnly: false };
  const nl = body.indexOf(0x0a);
  const line = body.toString('latin1', 0, nl < 0 ? body.length : nl).trimEnd();
  const [engine, ...options] = line.slice(2).split(' ').filter((s) => s.length > 0);
  if (engine !== 'lua') throw new ArgError(`Unexpected engine in script shebang: ${engine ?? ''}`);
  let readOnly = false;
  for (const option of options) {
    if (!option.startsWith('flags=')) throw new ArgError(`Unknown lua shebang option: ${option}`);
    for (const flag of option.slice(6).split(',').filter((f) => f.length > 0)) {
      if (!SHEBANG_FLAGS.has(flag)) throw new ArgError(`Unexpected flag in script shebang: ${flag}`);
      if (flag === 'no-writes') readOnly = true;
    }
  }
  return { code: nl < 0 ? Buffer.alloc(0) : body.subarray(nl), readOnly };
}

export class Scripts {
  private vm: LuaVm;
  private envRef = 0;
  private globalsRef = 0;
  private handlerRef = 0;
  private readonly cache = new Map<string, CachedScript>();
  private cachedBytes = 0;
  private current: Run | null = null;

  constructor(private readonly lua: LuaWasm, private readonly host: ModuleHost) {
    this.vm = this.createVm();
  }

  get size(): number { return this.cache.size; }
  /** What the cache holds: script texts and their entries. */
  get cacheBytes(): number { return this.cachedBytes + this.cache.size * SCRIPT_OVERHEAD; }
  get luaMemory(): number { return this.vm.memoryUsed; }
  has(sha: string): boolean { return this.cache.has(sha); }
  get(sha: string): CachedScript | undefined { return this.cache.get(sha); }

  /** SCRIPT FLUSH: forget every script, and start over with a fresh Lua state (its memory back). */
  flush(): void {
    this.vm.close();
    this.cache.clear();
    this.cachedBytes = 0;
    this.vm = this.createVm();
  }

  private readonly bug = (e: unknown): void => { this.host.log.error({ err: e }, 'scripting: internal error'); };

  private createVm(): LuaVm {
    const vm = new LuaVm(this.lua, LUA_MEMORY_LIMIT);
    const api = vm.api;
    const L = vm.L;
    const natives: Array<[string, (L: number) => number]> = [
      ['call', (l) => this.redisCall(l, true)],
      ['pcall', (l) => this.redisCall(l, false)],
      ['sha1hex', (l) => this.sha1hexFn(l)],
      ['log', (l) => this.logFn(l)],
      ['setresp', (l) => this.setrespFn(l)],
      ['set_repl', (l) => this.setReplFn(l)],
    ];
    const pointers = natives.map(([name, body]) => [name, vm.cfunction(body, this.bug)] as const);
    let failure: string | null = null;
    const status = vm.protectedCall((l) => {
      if (vm.load(Buffer.from(PRELUDE, 'utf8'), '=prelude') !== LUA_OK) { failure = vm.toBytes(-1, l)?.toString() ?? 'prelude'; return; }
      api.lua_createtable(l, 0, natives.length + 2);
      for (const [name, ptr] of pointers) { api.lua_pushcclosure(l, ptr, 0); api.lua_setfield(l, -2, name); }
      vm.pushString(REDIS_COMPAT_VERSION, l);
      api.lua_setfield(l, -2, 'version');
      const [major, minor, patch] = REDIS_COMPAT_VERSION.split('.').map(Number);
      api.lua_pushinteger(l, BigInt((major << 16) | (minor << 8) | patch));
      api.lua_setfield(l, -2, 'version_num');
      api.lua_callk(l, 1, 3, 0, null);
      this.handlerRef = api.luaL_ref(l, REGISTRY);
      this.globalsRef = api.luaL_ref(l, REGISTRY);
      this.envRef = api.luaL_ref(l, REGISTRY);
    }, this.bug);
    if (status !== LUA_OK || failure) {
      const message = failure ?? vm.toBytes(-1)?.toString();
      vm.close();
      throw new Error(`scripting: the Lua sandbox did not build: ${message}`);
    }
    api.lua_settop(L, 0);
    return vm;
  }

  /** Compile and cache a script (EVAL, SCRIPT LOAD); a compile error is the client's. */
  load(body: Buffer): CachedScript {
    const sha = sha1hex(body);
    const known = this.cache.get(sha);
    if (known) return known;
    const { code, readOnly } = parseShebang(body);
    const vm = this.vm;
    const api = vm.api;
    let compileError: string | null = null;
    let ref = 0;
    const status = vm.protectedCall((L) => {
      if (vm.load(code, '@user_script') !== LUA_OK) {
        compileError = vm.toBytes(-1, L)?.toString('utf8') ?? 'unknown error';
        api.lua_settop(L, -2);
        return;
      }
      // The chunk's only upvalue is _ENV: the sandbox's globals.
      vm.pushRef(this.envRef, L);
      api.lua_setupvalue(L, -2, 1);
      ref = api.luaL_ref(L, REGISTRY);
    }, this.bug);
    if (status !== LUA_OK) {
      const message = vm.toBytes(-1)?.toString('utf8') ?? 'unknown error';
      api.lua_settop(vm.L, -2);
      throw new ArgError(`Error compiling script (new function): ${oneLine(message)}`);
    }
    if (compileError !== null) throw new ArgError(`Error compiling script (new function): ${oneLine(compileError)}`);
    const script: CachedScript = { sha, body: Buffer.from(body), ref, readOnly };
    this.cache.set(sha, script);
    this.cachedBytes += body.length;
    return script;
  }

  /**
   * Run a cached script. Never throws: after its first write a script's
   * errors are replies, so that the dispatcher still logs what it wrote.
   */
  run(ctx: Ctx, script: CachedScript, keys: Buffer[], args: Buffer[], readOnly: boolean): Reply {
    const vm = this.vm;
    const api = vm.api;
    const L = vm.L;
    const client = ctx.client;
    const db = client.db;
    const writes: Array<[number, Buffer[]]> = [];
    ctx.nestedWrites = writes;
    const limit = this.host.config['busy-reply-threshold'];
    const run: Run = {
      ctx, script, keys, args, writes, readOnly: readOnly || script.readOnly,
      deadline: limit > 0 ? performance.now() + limit : Infinity, resp: 2, killed: false, result: null,
    };
    const base = api.lua_gettop(L);
    vm.pushRef(this.handlerRef);
    this.current = run;
    if (limit > 0) vm.setCountHook(this.hook, HOOK_EVERY);
    let status: number;
    try {
      status = vm.protectedCall((l) => this.enter(l, run), this.bug, base + 1);
    } finally {
      vm.setCountHook(null, 0);
      this.current = null;
      // SELECT inside a script is the script's alone.
      client.db = db;
    }
    let reply: Reply;
    if (run.killed) {
      this.host.log.warn({ script: script.sha, limitMs: limit }, 'Lua script aborted: it ran past busy-reply-threshold');
      reply = new ErrorReply(`ERR Script killed: it ran longer than busy-reply-threshold (${limit} ms) script: ${script.sha}`);
    } else if (status !== LUA_OK) {
      reply = this.failure(base + 2, script.sha);
    } else {
      reply = run.result;
    }
    api.lua_settop(L, base);
    return reply;
  }

  /** Inside the protected call: KEYS and ARGV, the script, and its result as a reply. */
  private enter(L: number, run: Run): void {
    const vm = this.vm;
    const api = vm.api;
    vm.pushRef(this.globalsRef, L);
    const globals = api.lua_gettop(L);
    for (const [name, items] of [['KEYS', run.keys], ['ARGV', run.args]] as const) {
      vm.pushString(name, L);
      api.lua_createtable(L, items.length, 0);
      for (let i = 0; i < items.length; i++) {
        vm.pushBytes(items[i], L);
        api.lua_rawseti(L, -2, BigInt(i + 1));
      }
      // Raw: the globals refuse writes from scripts, not from here.
      api.lua_rawset(L, globals);
    }
    vm.pushRef(run.script.ref, L);
    api.lua_callk(L, 0, 1, 0, null);
    run.result = luaToReply(vm, L, -1, run.resp);
  }

  /** The error a failed script answers, from the `{err, source, line}` its handler made (at stack index `at`). */
  private failure(at: number, sha: string): ErrorReply {
    const vm = this.vm;
    const api = vm.api;
    let line = 'ERR unknown error';
    const idx = 1;
    const status = vm.protectedCall((L) => {
      if (api.lua_type(L, idx) === T_STRING) { line = `ERR ${vm.toBytes(idx, L)!.toString('utf8')}`; return; }
      if (api.lua_getfield(L, idx, 'err') === T_STRING) line = vm.toBytes(-1, L)!.toString('utf8');
      const hasSource = api.lua_getfield(L, idx, 'source') === T_STRING;
      const source = hasSource ? vm.toBytes(-1, L)!.toString('utf8') : '';
      const hasLine = api.lua_getfield(L, idx, 'line') === T_NUMBER;
      const where = hasLine ? formatLuaNumber(vm, L, -1) : '';
      if (hasSource && hasLine) line += ` script: ${sha}, on ${source}:${where}.`;
    }, this.bug, 0, [at]);
    if (status !== LUA_OK) api.lua_settop(vm.L, -2);
    return new ErrorReply(oneLine(line));
  }

  /**
   * The count hook: past the deadline the script is aborted. The error is
   * raised again at every instruction from then on, so a pcall in the
   * script cannot catch it and carry on.
   */
  private readonly hook = (L: number): void => {
    const run = this.current;
    if (!run) return;
    if (!run.killed) {
      if (performance.now() < run.deadline) return;
      run.killed = true;
      this.vm.setCountHook(this.hook, 1);
    }
    try {
      pushErrorTable(this.vm, L, 'ERR Script killed: it ran longer than busy-reply-threshold');
    } catch (e) {
      if (isLongjmp(e)) throw e;
      this.bug(e);
      return;
    }
    this.vm.raiseTop(L);
  };

  /** redis.call (raise) and redis.pcall. */
  private redisCall(L: number, raise: boolean): number {
    const vm = this.vm;
    const api = vm.api;
    const run = this.current;
    const fail = (line: string): number => {
      pushErrorTable(vm, L, line);
      if (raise) vm.raiseTop(L);
      return 1;
    };
    if (!run) return fail('ERR redis.call is only available while a script runs');
    const n = api.lua_gettop(L);
    if (n === 0) return fail('ERR Please specify at least one argument for this redis lib call');
    const argv: Buffer[] = new Array<Buffer>(n);
    for (let i = 1; i <= n; i++) {
      const t = api.lua_type(L, i);
      if (t === T_STRING) argv[i - 1] = vm.toBytes(i, L)!;
      else if (t === T_NUMBER) argv[i - 1] = Buffer.from(formatLuaNumber(vm, L, i), 'latin1');
      else return fail('ERR Lua redis lib command arguments must be strings or integers');
    }
    const reply = this.execute(run, argv);
    if (reply instanceof ErrorReply) return fail(reply.line);
    pushReply(vm, L, reply, run.resp);
    return 1;
  }

  /** One command from a script: Redis's checks for scripts, then the command, synchronously. */
  private execute(run: Run, argv: Buffer[]): Reply {
    const table = this.host.table;
    let spec: CommandSpec | undefined = table.lookup(argv[0]);
    let noscript = spec?.flags.includes('noscript') ?? false;
    if (spec?.subcommands && !(argv.length === 1 && spec.handler)) {
      spec = table.subcommand(spec, argv[1]);
    }
    if (!spec?.handler) return new ErrorReply('ERR Unknown Redis command called from script');
    if (!arityOk(spec, argv.length)) return new ErrorReply('ERR Wrong number of args calling Redis command from script');
    if (noscript || spec.flags.includes('noscript')) return new ErrorReply('ERR This Redis command is not allowed from script');
    const name = spec.name.toUpperCase();
    if (spec.completesLater) {
      return new ErrorReply(`ERR ${name} is not available from scripts: its work completes on worker threads, and a script cannot wait`);
    }
    if (spec.flags.includes('write')) {
      if (run.readOnly) return new ErrorReply('ERR Write commands are not allowed from read-only scripts.');
      const refusal = this.host.refuseWrites([argv]);
      if (refusal) return new ErrorReply(oneLine(refusal.line()));
    }
    const reply = this.host.execute(run.ctx.client, spec, argv, run.writes);
    if (reply instanceof Promise) {
      // A command that answers later without saying so (DUMP of a vector set): whatever
      // it applied is applied and logged; the script gets an error instead of its reply.
      reply.catch(() => {});
      this.host.log.warn({ command: spec.name }, 'scripting: a command called from a script answered asynchronously');
      return new ErrorReply(`ERR ${name} answered asynchronously here, which a script cannot wait for`);
    }
    return reply;
  }

  private sha1hexFn(L: number): number {
    const vm = this.vm;
    if (vm.api.lua_gettop(L) !== 1) throw new LuaRaise('wrong number of arguments');
    const t = vm.api.lua_type(L, 1);
    const bytes = t === T_STRING ? vm.toBytes(1, L)! : t === T_NUMBER ? Buffer.from(formatLuaNumber(vm, L, 1)) : Buffer.alloc(0);
    vm.pushString(sha1hex(bytes), L);
    return 1;
  }

  private logFn(L: number): number {
    const vm = this.vm;
    const api = vm.api;
    const n = api.lua_gettop(L);
    if (n < 2) throw new LuaRaise('redis.log() requires two arguments or more.');
    if (api.lua_type(L, 1) !== T_NUMBER) throw new LuaRaise('First argument must be a number (log level).');
    const level = api.lua_tonumberx(L, 1, null);
    if (!(level >= 0 && level <= 3)) throw new LuaRaise('Invalid debug level.');
    const parts: string[] = [];
    for (let i = 2; i <= n; i++) {
      const t = api.lua_type(L, i);
      if (t === T_STRING) parts.push(vm.toBytes(i, L)!.toString('utf8'));
      else if (t === T_NUMBER) parts.push(formatLuaNumber(vm, L, i));
    }
    const message = parts.join(' ');
    const fields = { script: this.current?.script.sha };
    const log = this.host.log;
    if (level >= 3) log.warn(fields, message);
    else if (level >= 2) log.info(fields, message);
    else log.debug(fields, message);
    return 0;
  }

  private setrespFn(L: number): number {
    const api = this.vm.api;
    if (api.lua_gettop(L) !== 1) throw new LuaRaise('redis.setresp() requires one argument.');
    const v = api.lua_type(L, 1) === T_NUMBER ? api.lua_tonumberx(L, 1, null) : NaN;
    if (v !== 2 && v !== 3) throw new LuaRaise('RESP version must be 2 or 3.');
    if (this.current) this.current.resp = v;
    return 0;
  }

  /**
   * Accepted and checked, then ignored: every write a script makes is logged
   * (the WAL is the durability of the data, not only replication's stream).
   */
  private setReplFn(L: number): number {
    const api = this.vm.api;
    if (api.lua_gettop(L) !== 1) throw new LuaRaise('redis.set_repl() requires one argument.');
    const v = api.lua_type(L, 1) === T_NUMBER ? api.lua_tonumberx(L, 1, null) : NaN;
    if (!(Number.isInteger(v) && v >= 0 && v <= 3)) throw new LuaRaise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.');
    return 0;
  }
}

/**
 * One Lua 5.4 state (wasmoon's WebAssembly build), driven through the raw C
 * API rather than wasmoon's value conversions: those decode Lua strings as
 * UTF-8, and Redis values are bytes. Everything here is synchronous.
 *
 * Lua raises errors with longjmp, which this build implements by throwing
 * `Infinity` through the JavaScript frames in between. So a JavaScript
 * function called from Lua (`cfunction`) must let that value pass untouched,
 * and must never let anything else escape: a foreign exception unwinding the
 * interpreter would leave the state corrupt.
 */
import { LuaEngine, LUA_REGISTRYINDEX, type LuaWasm } from 'wasmoon';

export const T_NIL = 0;
export const T_BOOLEAN = 1;
export const T_NUMBER = 3;
export const T_STRING = 4;
export const T_TABLE = 5;

export const LUA_OK = 0;
export const REGISTRY = LUA_REGISTRYINDEX;
const LUA_MASKCOUNT = 8;

/** The raw exports of the wasm module this file uses (wasmoon types only its own wrappers). */
interface RawModule {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _lua_tolstring(L: number, idx: number, lenPtr: number): number;
  _lua_pushlstring(L: number, ptr: number, len: number): number;
  _luaL_loadbufferx(L: number, ptr: number, len: number, name: number, mode: number): number;
  addFunction(fn: (...args: number[]) => number | void, sig: string): number;
  removeFunction(ptr: number): void;
}

/** What a cfunction's body may throw to raise a Lua error with this value as its message. */
export class LuaRaise {
  constructor(readonly message: string) {}
}

/** The value a longjmp throws through JavaScript frames (see the file comment). */
export const isLongjmp = (e: unknown): boolean => e === Infinity;

export class LuaVm {
  readonly L: number;
  readonly api: LuaWasm;
  private readonly raw: RawModule;
  private readonly engine: LuaEngine;
  /** Function-table slots to release with the state. */
  private readonly functions: number[] = [];
  /** A scratch area in wasm memory for bytes going into Lua, grown as needed. */
  private scratch = 0;
  private scratchSize = 0;
  /** 4 bytes for lua_tolstring's length out-parameter. */
  private readonly lenPtr: number;
  private hookFn = 0;

  constructor(lua: LuaWasm, memoryLimit: number) {
    // traceAllocations: the allocator counts bytes, so a script can be held to a memory limit.
    this.engine = new LuaEngine(lua, { openStandardLibs: true, traceAllocations: true, injectObjects: false, enableProxy: false });
    this.engine.global.setMemoryMax(memoryLimit);
    this.api = lua;
    this.raw = lua.module as unknown as RawModule;
    this.L = this.engine.global.address;
    this.lenPtr = this.raw._malloc(4);
  }

  /** Bytes the state holds. */
  get memoryUsed(): number { return this.engine.global.getMemoryUsed(); }

  close(): void {
    for (const f of this.functions) this.raw.removeFunction(f);
    this.functions.length = 0;
    if (this.scratch) this.raw._free(this.scratch);
    this.raw._free(this.lenPtr);
    this.engine.global.close();
  }

  /** Copy bytes into wasm memory (the scratch area, valid until the next call). */
  private stage(bytes: Uint8Array): number {
    if (bytes.length + 1 > this.scratchSize) {
      if (this.scratch) this.raw._free(this.scratch);
      this.scratchSize = Math.max(256, bytes.length + 1, this.scratchSize * 2);
      this.scratch = this.raw._malloc(this.scratchSize);
      if (!this.scratch) { this.scratchSize = 0; throw new Error('out of wasm memory'); }
    }
    this.raw.HEAPU8.set(bytes, this.scratch);
    this.raw.HEAPU8[this.scratch + bytes.length] = 0;
    return this.scratch;
  }

  pushBytes(bytes: Uint8Array, L = this.L): void {
    this.raw._lua_pushlstring(L, this.stage(bytes), bytes.length);
  }

  pushString(s: string, L = this.L): void { this.pushBytes(Buffer.from(s, 'utf8'), L); }

  /** An int out-parameter in wasm memory (lua_tointegerx's isnum), read after the call. */
  get scratchInt(): { ptr: number; read(): number } {
    return { ptr: this.lenPtr, read: () => this.raw.HEAP32[this.lenPtr >> 2] };
  }

  /** The string (or number, converted in place) at `idx` as bytes; null for other types. */
  toBytes(idx: number, L = this.L): Buffer | null {
    const p = this.raw._lua_tolstring(L, idx, this.lenPtr);
    if (!p) return null;
    const len = this.raw.HEAP32[this.lenPtr >> 2];
    return Buffer.from(this.raw.HEAPU8.subarray(p, p + len));
  }

  /**
   * Compile a chunk: LUA_OK with the function pushed, or an error status
   * with the message pushed. Text only: precompiled bytecode could break the
   * sandbox.
   */
  load(code: Uint8Array, chunkName: string): number {
    // One block: the code, then the chunk name and the mode as C strings.
    const tail = Buffer.from(`${chunkName}\0t\0`, 'latin1');
    const block = Buffer.concat([code, Buffer.from([0]), tail]);
    const p = this.stage(block);
    const namePtr = p + code.length + 1;
    return this.raw._luaL_loadbufferx(this.L, p, code.length, namePtr, namePtr + chunkName.length + 1);
  }

  /**
   * A JavaScript function callable from Lua. `body` returns how many results
   * it pushed, or throws LuaRaise to raise a Lua error; anything else it
   * throws becomes a Lua error too (logged by `onBug`), never an exception
   * through the interpreter.
   */
  cfunction(body: (L: number) => number, onBug: (e: unknown) => void): number {
    const ptr = this.raw.addFunction((L: number) => {
      let raise: string;
      try {
        return body(L);
      } catch (e) {
        if (isLongjmp(e)) throw e;
        if (e instanceof LuaRaise) raise = e.message;
        else { onBug(e); raise = 'ERR internal error'; }
      }
      // Outside the try: lua_error unwinds by throwing through this frame.
      this.pushString(raise, L);
      return this.api.lua_error(L);
    }, 'ii');
    this.functions.push(ptr);
    return ptr;
  }

  /** Push a cfunction made by `cfunction`. */
  pushCFunction(ptr: number): void { this.api.lua_pushcclosure(this.L, ptr, 0); }

  /**
   * Call the hook every `count` VM instructions (0: no hook). The hook may
   * raise with `raiseTop` (the error value pushed first), as a timeout does.
   */
  setCountHook(hook: ((L: number) => void) | null, count: number): void {
    if (!hook || count <= 0) { this.api.lua_sethook(this.L, null, 0, 0); return; }
    if (!this.hookFn) {
      this.hookFn = this.raw.addFunction((L: number) => { this.hook?.(L); }, 'vii');
      this.functions.push(this.hookFn);
    }
    this.hook = hook;
    this.api.lua_sethook(this.L, this.hookFn, LUA_MASKCOUNT, count);
  }
  private hook: ((L: number) => void) | null = null;

  /** Raise the value on top of the stack as a Lua error (does not return). */
  raiseTop(L: number): never {
    this.api.lua_error(L);
    throw new Error('unreachable: lua_error returned');
  }

  /**
   * Run `body` inside a protected call, so that a Lua error it causes (out
   * of memory, or a script's own) unwinds to here instead of aborting the
   * interpreter. Returns LUA_OK, or an error status with the error value
   * (passed through the message handler at `handlerIdx`, 0 for none) pushed.
   * The values at the stack indices `args` are passed to `body` as its
   * arguments 1…n (a C function sees only its own stack frame).
   */
  protectedCall(body: (L: number) => void, onBug: (e: unknown) => void, handlerIdx = 0, args: readonly number[] = []): number {
    if (!this.trampoline) this.trampoline = this.cfunction((L) => { this.pending!(L); return 0; }, (e) => this.onBug!(e));
    const saved = [this.pending, this.onBug] as const;
    this.pending = body;
    this.onBug = onBug;
    try {
      const at = args.map((i) => this.api.lua_absindex(this.L, i));
      this.api.lua_pushcclosure(this.L, this.trampoline, 0);
      for (const i of at) this.api.lua_pushvalue(this.L, i);
      return this.api.lua_pcallk(this.L, at.length, 0, handlerIdx, 0, null);
    } finally {
      [this.pending, this.onBug] = saved;
    }
  }
  private trampoline = 0;
  private pending: ((L: number) => void) | null = null;
  private onBug: ((e: unknown) => void) | null = null;

  /** Store the value on top in the registry (popping it); its reference. */
  ref(): number { return this.api.luaL_ref(this.L, LUA_REGISTRYINDEX); }
  unref(ref: number): void { this.api.luaL_unref(this.L, LUA_REGISTRYINDEX, ref); }
  pushRef(ref: number, L = this.L): void { this.api.lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(ref)); }
}

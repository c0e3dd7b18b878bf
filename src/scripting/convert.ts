/**
 * Redis's conversion rules between replies and Lua values, both ways, for
 * the RESP version a script chose with redis.setresp (2 unless it says).
 * Both directions run inside a protected Lua call (a Lua error they raise,
 * out of memory say, becomes the script's error, never a crash).
 */
import {
  BigNumber, Double, ErrorReply, NullArray, Push, RawReply, ReplyMap, ReplySet, SimpleString, Verbatim, formatDouble, type Reply,
} from '../../protocol/index.js';
import { oneLine } from '../errors.js';
import { LuaRaise, T_BOOLEAN, T_NIL, T_NUMBER, T_STRING, T_TABLE, type LuaVm } from './lua-vm.js';

export type Resp = 2 | 3;

/** Past this nesting a reply is cut with Redis's error, as a Lua stack would overflow there. */
const MAX_DEPTH = 1000;
const STACK_LIMIT = 'ERR reached lua stack limit';
const INT64_MIN = -(2n ** 63n);

/**
 * The text of an error table's `err` from an error line, as Redis shapes it:
 * the first word is the code, and a message of one word gets `ERR` before it.
 */
export function errorText(line: string): string {
  return line.includes(' ') ? line : `ERR ${line}`;
}

/** Push `{ [field] = value }` where the value is already on top of the stack. */
function wrapTop(vm: LuaVm, L: number, field: string): void {
  vm.api.lua_createtable(L, 0, 1);
  vm.api.lua_rotate(L, -2, 1);
  vm.api.lua_setfield(L, -2, field);
}

export function pushErrorTable(vm: LuaVm, L: number, line: string): void {
  vm.pushString(errorText(line), L);
  wrapTop(vm, L, 'err');
}

function pushArray(vm: LuaVm, L: number, items: readonly Reply[], resp: Resp, depth: number): void {
  vm.api.lua_createtable(L, items.length, 0);
  for (let i = 0; i < items.length; i++) {
    pushReply(vm, L, items[i], resp, depth + 1);
    vm.api.lua_rawseti(L, -2, BigInt(i + 1));
  }
}

/** Push a command's reply as the Lua value redis.call returns (errors: their `{err=…}` table). */
export function pushReply(vm: LuaVm, L: number, r: Reply, resp: Resp, depth = 0): void {
  const api = vm.api;
  if (depth > MAX_DEPTH || !api.lua_checkstack(L, 4)) throw new LuaRaise(STACK_LIMIT);
  switch (typeof r) {
    case 'string': vm.pushString(r, L); return;
    case 'number': api.lua_pushinteger(L, BigInt(r)); return;
    case 'bigint': api.lua_pushinteger(L, r); return;
    case 'boolean':
      if (resp === 3) api.lua_pushboolean(L, r ? 1 : 0);
      else api.lua_pushinteger(L, r ? 1n : 0n);
      return;
    default: break;
  }
  if (r === null || r instanceof NullArray) {
    // RESP2 has no null a Lua table could hold: Redis gives false.
    if (resp === 3) api.lua_pushnil(L); else api.lua_pushboolean(L, 0);
  } else if (r instanceof Uint8Array) {
    vm.pushBytes(r, L);
  } else if (Array.isArray(r)) {
    pushArray(vm, L, r, resp, depth);
  } else if (r instanceof SimpleString) {
    vm.pushString(r.value, L);
    wrapTop(vm, L, 'ok');
  } else if (r instanceof ErrorReply) {
    pushErrorTable(vm, L, r.line);
  } else if (r instanceof Double) {
    if (resp === 3) { api.lua_pushnumber(L, r.value); wrapTop(vm, L, 'double'); } else vm.pushString(formatDouble(r.value), L);
  } else if (r instanceof ReplyMap) {
    if (resp === 2) { pushArray(vm, L, r.entries.flat(), resp, depth); return; }
    api.lua_createtable(L, 0, r.entries.length);
    for (const [k, v] of r.entries) {
      pushReply(vm, L, k, resp, depth + 1);
      pushReply(vm, L, v, resp, depth + 1);
      api.lua_rawset(L, -3);
    }
    wrapTop(vm, L, 'map');
  } else if (r instanceof ReplySet) {
    if (resp === 2) { pushArray(vm, L, r.items, resp, depth); return; }
    api.lua_createtable(L, 0, r.items.length);
    for (const item of r.items) {
      pushReply(vm, L, item, resp, depth + 1);
      api.lua_pushboolean(L, 1);
      api.lua_rawset(L, -3);
    }
    wrapTop(vm, L, 'set');
  } else if (r instanceof Push) {
    pushArray(vm, L, r.items, resp, depth);
  } else if (r instanceof Verbatim) {
    const text = typeof r.text === 'string' ? Buffer.from(r.text, 'utf8') : r.text;
    if (resp === 2) { vm.pushBytes(text, L); return; }
    api.lua_createtable(L, 0, 2);
    vm.pushString(r.format, L);
    api.lua_setfield(L, -2, 'format');
    vm.pushBytes(text, L);
    api.lua_setfield(L, -2, 'string');
    wrapTop(vm, L, 'verbatim_string');
  } else if (r instanceof BigNumber) {
    vm.pushString(r.digits, L);
    if (resp === 3) wrapTop(vm, L, 'big_number');
  } else if (r instanceof RawReply) {
    // Pre-encoded bytes (subscription confirmations): only subscriber commands make them, and scripts refuse those.
    throw new LuaRaise('ERR this command\'s reply cannot be handed to a script');
  } else {
    throw new Error(`not a reply: ${Object.prototype.toString.call(r)}`);
  }
}

/** Lua's number at `idx` as Redis returns it: an integer, a float truncated (NaN and out of range give INT64_MIN, as C's cast does on x86). */
export function luaNumberToInteger(vm: LuaVm, L: number, idx: number): number | bigint {
  const ok = vm.scratchInt;
  const i = vm.api.lua_tointegerx(L, idx, ok.ptr);
  if (ok.read() !== 0) return toReplyInt(BigInt(i));
  const d = vm.api.lua_tonumberx(L, idx, null);
  if (!Number.isFinite(d) || d >= 2 ** 63 || d < -(2 ** 63)) return INT64_MIN;
  return toReplyInt(BigInt(Math.trunc(d)));
}

const toReplyInt = (b: bigint): number | bigint => (b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);

/** A string field of the table at `idx`, or null when absent or of another type. */
function stringField(vm: LuaVm, L: number, idx: number, name: string): Buffer | null {
  vm.pushString(name, L);
  const t = vm.api.lua_rawget(L, idx);
  const v = t === T_STRING ? vm.toBytes(-1, L) : null;
  vm.api.lua_settop(L, -2);
  return v;
}

/** Is the field `name` of the table at `idx` of type `type`? If so it is left pushed. */
function fieldOfType(vm: LuaVm, L: number, idx: number, name: string, type: number): boolean {
  vm.pushString(name, L);
  if (vm.api.lua_rawget(L, idx) === type) return true;
  vm.api.lua_settop(L, -2);
  return false;
}

const DIGITS = /^-?[0-9]+$/;

/** The Lua value at `idx` as the reply a script gives (Redis's Lua-to-RESP rules). */
export function luaToReply(vm: LuaVm, L: number, idx: number, resp: Resp, depth = 0): Reply {
  const api = vm.api;
  if (depth > MAX_DEPTH || !api.lua_checkstack(L, 4)) return new ErrorReply(STACK_LIMIT);
  const at = api.lua_absindex(L, idx);
  switch (api.lua_type(L, at)) {
    case T_STRING: return vm.toBytes(at, L)!;
    case T_NUMBER: return luaNumberToInteger(vm, L, at);
    case T_BOOLEAN: {
      const b = api.lua_toboolean(L, at) !== 0;
      if (resp === 3) return b;
      return b ? 1 : null;
    }
    case T_TABLE: break;
    default: return null;
  }
  const err = stringField(vm, L, at, 'err');
  if (err !== null) return new ErrorReply(oneLine(err.toString('utf8')));
  const ok = stringField(vm, L, at, 'ok');
  if (ok !== null) return new SimpleString(oneLine(ok.toString('utf8')));
  if (fieldOfType(vm, L, at, 'double', T_NUMBER)) {
    const d = api.lua_tonumberx(L, -1, null);
    api.lua_settop(L, -2);
    return new Double(d);
  }
  const big = stringField(vm, L, at, 'big_number');
  if (big !== null) {
    const digits = big.toString('latin1');
    return DIGITS.test(digits) ? new BigNumber(digits) : big;
  }
  if (fieldOfType(vm, L, at, 'map', T_TABLE)) {
    const entries: Array<[Reply, Reply]> = [];
    const t = api.lua_gettop(L);
    api.lua_pushnil(L);
    while (api.lua_next(L, t) !== 0) {
      const v = luaToReply(vm, L, -1, resp, depth + 1);
      const k = luaToReply(vm, L, -2, resp, depth + 1);
      entries.push([k, v]);
      api.lua_settop(L, -2);
    }
    api.lua_settop(L, -2);
    return new ReplyMap(entries);
  }
  if (fieldOfType(vm, L, at, 'set', T_TABLE)) {
    const items: Reply[] = [];
    const t = api.lua_gettop(L);
    api.lua_pushnil(L);
    while (api.lua_next(L, t) !== 0) {
      items.push(luaToReply(vm, L, -2, resp, depth + 1));
      api.lua_settop(L, -2);
    }
    api.lua_settop(L, -2);
    return new ReplySet(items);
  }
  // An array: elements 1, 2, … up to the first nil.
  const items: Reply[] = [];
  for (let i = 1; ; i++) {
    if (api.lua_rawgeti(L, at, BigInt(i)) === T_NIL) { api.lua_settop(L, -2); break; }
    items.push(luaToReply(vm, L, -1, resp, depth + 1));
    api.lua_settop(L, -2);
  }
  return items;
}

/** A Lua number as Lua 5.1 (Redis's Lua) prints it: integers plainly, others with `%.14g`. */
export function formatLuaNumber(vm: LuaVm, L: number, idx: number): string {
  if (vm.api.lua_isinteger(L, idx)) return BigInt(vm.api.lua_tointegerx(L, idx, null)).toString();
  return formatG14(vm.api.lua_tonumberx(L, idx, null));
}

/** C's `%.14g`. */
export function formatG14(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, e] = x.toExponential(13).split('e');
  const exp = Number(e);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 14) return `${strip(mantissa)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return strip(x.toFixed(13 - exp));
}

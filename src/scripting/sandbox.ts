/**
 * The Lua code that builds what a script sees, run once on a fresh state
 * that still has every standard library. It receives the functions written
 * in JavaScript (`native`) and returns what the runner needs:
 *
 * - `env`: the scripts' globals. An empty, read-only proxy in front of a
 *   table of what Redis offers (base functions, string, table, math, bit,
 *   os.clock, redis…); reading a global that does not exist or creating one
 *   raises Redis 7's errors, so scripts cannot leave state for one another.
 *   No io, os (but clock), debug, package/require, dofile, loadfile, print.
 * - `globals`: the table behind it, where the runner sets KEYS and ARGV.
 * - `handler`: the message handler of every script call, which turns any
 *   error into an `{err=…}` table with the script line it came from.
 *
 * Lua 5.1 names scripts still use (unpack, table.getn, math.pow, loadstring,
 * the bit library) are provided on top of Lua 5.4.
 */
export const PRELUDE = String.raw`
local native = ...
local G = {}
local readonly = setmetatable({}, { __mode = 'k' })
local READONLY = 'Attempt to modify a readonly table'

local function deny() error(READONLY, 2) end

local function protect(t)
  local proxy = setmetatable({}, {
    __index = t, __newindex = deny, __metatable = false,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
  })
  readonly[proxy] = true
  return proxy
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

for _, name in ipairs({ 'assert', 'error', 'getmetatable', 'ipairs', 'next', 'pairs', 'rawequal', 'rawget', 'rawlen',
    'select', 'setmetatable', 'tonumber', 'tostring', 'type', 'xpcall', '_VERSION' }) do
  G[name] = _G[name]
end

local raw_rawset, raw_pcall, pack, unpack = rawset, pcall, table.pack, table.unpack
G.rawset = function(t, k, v)
  if readonly[t] then error(READONLY, 2) end
  return raw_rawset(t, k, v)
end

-- As Redis 7: an error table raised by redis.call reaches pcall's caller as its message.
G.pcall = function(...)
  local r = pack(raw_pcall(...))
  if not r[1] and type(r[2]) == 'table' then
    local e = rawget(r[2], 'err')
    if type(e) == 'string' or type(e) == 'number' then r[2] = e end
  end
  return unpack(r, 1, r.n)
end

-- Stopping the collector would outlive the script: only the harmless options.
local raw_collectgarbage = collectgarbage
G.collectgarbage = function(opt, ...)
  if opt == nil or opt == 'collect' or opt == 'count' or opt == 'step' then return raw_collectgarbage(opt, ...) end
  error("collectgarbage option '" .. tostring(opt) .. "' is not allowed in scripts", 2)
end

G.unpack = unpack
G.loadstring = function(s, name)
  if type(s) ~= 'string' then return nil, 'string expected' end
  return load(s, name, 't', G._G)
end

local tablelib = copy(table)
tablelib.getn = function(t) return #t end
local mathlib = copy(math)
mathlib.pow = function(a, b) return a ^ b end
mathlib.mod = math.fmod

-- LuaBitOp: 32-bit operations on numbers, results as signed 32-bit integers.
local function tobit(x)
  local n = math.tointeger(x)
  if not n then
    if type(x) ~= 'number' then error('bad argument (number expected, got ' .. type(x) .. ')', 3) end
    n = math.tointeger(math.fmod(math.floor(x + 0.5), 4294967296)) or 0
  end
  n = n & 0xFFFFFFFF
  if n >= 0x80000000 then n = n - 0x100000000 end
  return n
end
local function fold(op)
  return function(x, ...)
    local r = tobit(x)
    for i = 1, select('#', ...) do r = op(r, tobit((select(i, ...)))) end
    return tobit(r)
  end
end
local bit = {
  tobit = tobit,
  bnot = function(x) return tobit(~tobit(x)) end,
  band = fold(function(a, b) return a & b end),
  bor = fold(function(a, b) return a | b end),
  bxor = fold(function(a, b) return a ~ b end),
  lshift = function(x, n) return tobit((tobit(x) & 0xFFFFFFFF) << (tobit(n) & 31)) end,
  rshift = function(x, n) return tobit((tobit(x) & 0xFFFFFFFF) >> (tobit(n) & 31)) end,
  arshift = function(x, n)
    local v, s = tobit(x), tobit(n) & 31
    if v >= 0 then return v >> s end
    return tobit(~((~v) >> s))
  end,
  rol = function(x, n)
    local v, s = tobit(x) & 0xFFFFFFFF, tobit(n) & 31
    return tobit((v << s) | (v >> (32 - s)))
  end,
  ror = function(x, n)
    local v, s = tobit(x) & 0xFFFFFFFF, tobit(n) & 31
    return tobit((v >> s) | (v << (32 - s)))
  end,
  bswap = function(x)
    local v = tobit(x) & 0xFFFFFFFF
    return tobit(((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24))
  end,
  tohex = function(x, n)
    n = n or 8
    local upper = n < 0
    if upper then n = -n end
    if n > 8 then n = 8 end
    local s = string.format(upper and '%08X' or '%08x', tobit(x) & 0xFFFFFFFF)
    return string.sub(s, 9 - n)
  end,
}

local function reply_error(msg)
  if type(msg) ~= 'string' and type(msg) ~= 'number' then return { err = 'ERR wrong number or type of arguments' } end
  msg = tostring(msg)
  if string.sub(msg, 1, 1) == '-' then msg = string.sub(msg, 2) end
  if not string.find(msg, ' ', 1, true) then msg = 'ERR ' .. msg end
  return { err = msg }
end

local redis = {
  call = native.call,
  pcall = native.pcall,
  sha1hex = native.sha1hex,
  log = native.log,
  setresp = native.setresp,
  set_repl = native.set_repl,
  error_reply = reply_error,
  status_reply = function(msg)
    if type(msg) ~= 'string' and type(msg) ~= 'number' then return { err = 'ERR wrong number or type of arguments' } end
    return { ok = tostring(msg) }
  end,
  replicate_commands = function() return true end,
  breakpoint = function() return false end,
  debug = function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = native.version,
  REDIS_VERSION_NUM = native.version_num,
}

G.string = protect(copy(string))
G.table = protect(tablelib)
G.math = protect(mathlib)
G.coroutine = protect(copy(coroutine))
G.utf8 = protect(copy(utf8))
G.os = protect({ clock = os.clock })
G.bit = protect(bit)
G.redis = protect(redis)

-- The methods of strings ("x"):upper() index the real string table: keep it out of reach.
getmetatable('').__metatable = false

setmetatable(G, {
  __index = function(_, k) error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end,
  __newindex = deny,
  __metatable = false,
})
local env = setmetatable({}, { __index = G, __newindex = deny, __metatable = false })
readonly[env] = true
readonly[G] = true
raw_rawset(G, '_G', env)

local getinfo = debug.getinfo
local function handler(e)
  -- The script line that raised, past the C functions and the prelude's own frames.
  local where
  for level = 2, 20 do
    local i = getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' then where = i break end
  end
  if type(e) == 'table' then
    local m = rawget(e, 'err')
    if type(m) == 'number' then m = tostring(m) end
    e = { err = type(m) == 'string' and m or 'ERR ' .. tostring(e) }
  else
    e = { err = 'ERR ' .. tostring(e) }
  end
  if where then
    e.source = where.source
    e.line = where.currentline
  end
  return e
end

return env, G, handler
`;

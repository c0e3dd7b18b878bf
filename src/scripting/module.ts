/**
 * Lua scripting (EVAL, EVALSHA, SCRIPT) on wasmoon's WebAssembly build of
 * Lua 5.4. The wasm module is compiled once here, at start; the Lua state
 * lives as long as the script cache (SCRIPT FLUSH makes a fresh one).
 */
import { LuaFactory } from 'wasmoon';
import type { FeatureModule } from '../core/module.js';
import { human } from '../core/info.js';
import { scriptingCommands } from './commands.js';
import { Scripts } from './scripts.js';

const DEFAULT_TIME_LIMIT = 5000;

export const scriptingModule: FeatureModule = {
  name: 'scripting',
  create: async (host) => {
    const lua = await new LuaFactory().getLuaModule();
    const scripts = new Scripts(lua, host);
    const config = host.config;
    // lua-time-limit is busy-reply-threshold's older name: whichever was set at start wins.
    if (config['busy-reply-threshold'] === DEFAULT_TIME_LIMIT) config['busy-reply-threshold'] = config['lua-time-limit'];
    config['lua-time-limit'] = config['busy-reply-threshold'];
    return {
      commands: scriptingCommands(scripts),
      onConfig: {
        'busy-reply-threshold': () => { config['lua-time-limit'] = config['busy-reply-threshold']; },
        'lua-time-limit': () => { config['busy-reply-threshold'] = config['lua-time-limit']; },
      },
      infoSections: [{
        name: 'memory', inDefault: true, extend: true,
        fields: () => {
          const vm = scripts.luaMemory;
          const cached = scripts.cacheBytes;
          return [
            ['used_memory_lua', vm],
            ['used_memory_vm_eval', vm],
            ['used_memory_lua_human', human(vm)],
            ['used_memory_scripts_eval', cached],
            ['number_of_cached_scripts', scripts.size],
            ['used_memory_scripts', cached],
            ['used_memory_scripts_human', human(cached)],
          ];
        },
        metrics: [
          ['used_memory_vm_eval', 'astronaut_lua_memory_bytes', 'gauge', 'Bytes the Lua state of scripts holds'],
          ['number_of_cached_scripts', 'astronaut_cached_scripts', 'gauge', 'Scripts in the script cache (EVAL, SCRIPT LOAD)'],
        ],
      }],
    };
  },
};

/**
 * Operations: the slow log and latency events (fed from the dispatcher's hook),
 * the SLOWLOG, LATENCY, MEMORY and DEBUG commands, and INFO's per-set
 * `vectorsets` section.
 */
import type { CommandSpec } from '../core/types.js';
import { opsCommands } from './commands.js';
import { VectorSet } from '../engine/vector-set.js';
import { LatencyMonitor, SlowLog } from './slowlog.js';
import type { ServerModule } from '../core/module.js';
import type { Server } from '../core/server.js';

const REDACTED = Buffer.from('(redacted)');

/** Secrets never reach the slow log: AUTH's arguments, HELLO's password, CONFIG SET requirepass's value (as Redis redacts them). */
export function redactArgv(spec: CommandSpec | undefined, argv: Buffer[]): Buffer[] {
  switch (spec?.name) {
    case 'auth':
      return [argv[0], ...argv.slice(1).map(() => REDACTED)];
    case 'hello': {
      const out = argv.slice();
      for (let i = 1; i < out.length; i++) {
        if (out[i].toString().toUpperCase() === 'AUTH' && i + 2 < out.length) { out[i + 2] = REDACTED; i += 2; }
      }
      return out;
    }
    case 'config|set': {
      const out = argv.slice();
      for (let i = 2; i + 1 < out.length; i += 2) if (out[i].toString().toLowerCase() === 'requirepass') out[i + 1] = REDACTED;
      return out;
    }
    default:
      return argv;
  }
}

/** Key bytes as INFO can show them: printable ASCII except the separators, the rest as \xNN. */
export function infoEscape(key: string): string {
  let s = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    s += c > 0x20 && c < 0x7f && c !== 0x2c && c !== 0x3d && c !== 0x3a && c !== 0x5c ? key[i] : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

export class Ops {
  readonly slowlog = new SlowLog();
  readonly events = new LatencyMonitor();

  constructor(private readonly server: Server) {}

  /** The dispatcher's hook: every executed command with its duration. Cheap unless a threshold is crossed. */
  observe(client: { addr: string; name: string }, argv: Buffer[], usec: number): void {
    const config = this.server.config;
    const slowerThan = config['slowlog-log-slower-than'];
    const threshold = config['latency-monitor-threshold'];
    const slow = slowerThan >= 0 && usec >= slowerThan;
    const spike = threshold > 0 && usec >= threshold * 1000;
    if (!slow && !spike) return;
    const table = this.server.table;
    let spec = table.lookup(argv[0]);
    if (spec?.subcommands) spec = table.subcommand(spec, argv[1]) ?? spec;
    if (slow && !spec?.flags.includes('skip_slowlog')) {
      this.slowlog.push(redactArgv(spec, argv), usec, client, slowerThan, config['slowlog-max-len']);
    }
    if (spike) this.events.record(spec?.flags.includes('fast') ? 'fast-command' : 'command', Math.floor(usec / 1000));
  }
}

export const opsModule: ServerModule = {
  name: 'ops',
  async attach(server) {
    const ops = new Ops(server);
    const m = process.memoryUsage();
    server.table.register(opsCommands({
      slowlog: ops.slowlog, events: ops.events, histograms: server.latency, startupBytes: m.heapUsed + m.external,
    }));
    server.dispatcher.slowlog = (client, argv, usec) => ops.observe(client, argv, usec);
    server.infoSections.push({
      // One line per set, like keyspace's db lines; only on request (INFO vectorsets or everything): it grows with the sets.
      name: 'vectorsets', inDefault: false, inAll: false,
      fields: () => {
        const out: Array<[string, string]> = [];
        let i = 0;
        for (const [db, key, v] of server.keyspace.all()) {
          if (!(v instanceof VectorSet)) continue;
          const p = v.params;
          out.push([`vset${i++}`, `db=${db.index},key=${infoEscape(key)},elements=${v.card},dim=${p.dim},metric=${p.metric.toLowerCase()},quant=${p.quant.toLowerCase()},`
            + `memory_bytes=${v.memoryUsage()},index_bytes=${v.indexMemory()},deleted=${v.deleted},searches=${v.searches}`]);
        }
        return out;
      },
    });
  },
  async started(server) {
    // INFO's used_memory_peak is sampled when the memory section is computed: do so every second, not only when asked.
    const memory = server.infoSections.find((s) => s.name === 'memory');
    if (!memory) return;
    const timer = setInterval(() => memory.fields(), 1000);
    timer.unref();
    server.shutdownHooks.push(async () => clearInterval(timer));
  },
};

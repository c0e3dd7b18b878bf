/**
 * Operations: the slow log and latency events (fed by observing every executed
 * command), and the SLOWLOG, LATENCY, MEMORY and DEBUG commands.
 */
import type { FeatureModule, ModuleHost } from '../core/module.js';
import type { ClientState, CommandSpec } from '../core/types.js';
import { redactArgv } from '../core/redact.js';
import { safeInterval } from '../core/guard.js';
import { opsCommands } from './commands.js';
import { LatencyMonitor, SlowLog } from './slowlog.js';
import { MemoryReclaimer } from './reclaim.js';
import { reloadDataset } from './reload.js';
import { LoopWatch } from './loop-watch.js';

export class Ops {
  readonly slowlog = new SlowLog();
  readonly events = new LatencyMonitor();

  constructor(private readonly host: ModuleHost) {}

  /** Every executed command with its duration. Cheap unless a threshold is crossed. */
  observe(client: ClientState, spec: CommandSpec, argv: Buffer[], usec: number): void {
    const config = this.host.config;
    const slowerThan = config['slowlog-log-slower-than'];
    const threshold = config['latency-monitor-threshold'];
    const slow = slowerThan >= 0 && usec >= slowerThan;
    const spike = threshold > 0 && usec >= threshold * 1000;
    if (!slow && !spike) return;
    if (slow && !spec.flags.includes('skip_slowlog')) {
      this.slowlog.push(redactArgv(spec, argv), usec, client, slowerThan, config['slowlog-max-len']);
    }
    if (spike) this.events.record(spec.flags.includes('fast') ? 'fast-command' : 'command', Math.floor(usec / 1000));
  }
}

export const opsModule: FeatureModule = {
  name: 'ops',
  create(host) {
    const ops = new Ops(host);
    const m = process.memoryUsage();
    let timer: NodeJS.Timeout | null = null;
    const reclaimer = new MemoryReclaimer(() => host.stats.commandsProcessed, () => host.loading, () => host.dataset()?.streaming() ?? false);
    const loop = new LoopWatch(() => host.config['latency-monitor-threshold'], (ms) => ops.events.record('event-loop', ms));
    return {
      commands: opsCommands({
        slowlog: ops.slowlog, events: ops.events, histograms: host.latency, startupBytes: m.heapUsed + m.external,
        purge: () => reclaimer.reclaim(true),
        reload: () => reloadDataset(host),
      }),
      infoSections: [{
        name: 'memory', inDefault: true, extend: true,
        metrics: [['mem_reclaims', 'astronaut_memory_reclaims_total', 'counter', 'Times the server gave memory back after a busy period (or on MEMORY PURGE).']],
        fields: () => [
          ['mem_reclaims', reclaimer.reclaims],
          ['mem_reclaim_last_ms', Math.round(reclaimer.lastMs * 10) / 10],
          ['mem_reclaim_last_freed', reclaimer.lastFreedBytes],
        ],
      }],
      observe: (client, spec, argv, usec) => ops.observe(client, spec, argv, usec),
      onConfig: { 'latency-monitor-threshold': () => loop.configure() },
      start: async () => {
        loop.configure();
        // INFO's used_memory_peak is sampled when the memory section is computed: do so every second, not only when asked.
        const memory = host.infoSections.find((s) => s.name === 'memory');
        if (!memory) return;
        timer = safeInterval(host.log, 'memory sampling', 1000, () => {
          memory.fields();
          reclaimer.tick();
        });
      },
      stop: async () => { if (timer) clearInterval(timer); loop.stop(); },
    };
  },
};

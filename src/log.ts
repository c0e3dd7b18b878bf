/**
 * The one logger (pino). Redis's level names map onto pino's: debug → debug,
 * verbose → debug, notice → info, warning → warn. JSON lines by default; when
 * stdout is a terminal the lines are made readable in-process (no transport
 * thread, so a crash cannot lose the last lines).
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';

export type Logger = PinoLogger;

const LEVELS: Record<LogLevel, string> = { debug: 'debug', verbose: 'debug', notice: 'info', warning: 'warn', nothing: 'silent' };

export function pinoLevel(level: LogLevel): string { return LEVELS[level]; }

/** Human-readable lines for a terminal: `time level msg key=value…`. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'notice', 40: 'warning', 50: 'error', 60: 'fatal' };
  return {
    write(line: string) {
      try {
        const { time, level, msg, pid: _pid, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        out.write(`${new Date(Number(time)).toISOString()} ${names[Number(level)] ?? level} ${msg ?? ''}${extra ? ' ' + extra : ''}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}

export function createLogger(level: LogLevel, opts: { file?: string; pretty?: boolean } = {}): Logger {
  const options = { level: pinoLevel(level), base: { pid: process.pid } };
  if (opts.file) return pino(options, pino.destination({ dest: opts.file, sync: false, mkdir: true }));
  if (opts.pretty ?? process.stdout.isTTY) return pino(options, prettyStream(process.stdout));
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

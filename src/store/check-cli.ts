/**
 * `astronaut check <dir> [--fix]`: prints what `checkDir` found (to stdout,
 * as the CLI's output, not as logs) and returns the exit code: 0 when a
 * server would start from the directory, 1 when not, 2 on bad usage.
 */
import * as nodePath from 'node:path';
import { checkDir, formatCheckReport } from './check.js';
import { DirLockedError } from './errors.js';

export async function checkCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const fix = args.includes('--fix');
  const rest = args.filter((a) => a !== '--fix');
  if (rest.length !== 1 || rest[0]!.startsWith('-')) {
    out.write('usage: astronaut check <dir> [--fix]\n');
    return 2;
  }
  const dir = nodePath.resolve(rest[0]!);
  let report;
  try {
    report = await checkDir(dir, { fix });
  } catch (err) {
    if (!(err instanceof DirLockedError)) throw err;
    out.write(`astronaut check: not fixing anything: ${err.message}\n`);
    return 1;
  }
  out.write(formatCheckReport(report));
  return report.ok ? 0 : 1;
}

/**
 * The `astronaut` command. Like redis-server: `astronaut [config-file] [--option value …]`,
 * options named as in redis.conf, also read from ASTRONAUT_* environment
 * variables (ASTRONAUT_REQUIREPASS, ASTRONAUT_PROTO_MAX_BULK_LEN…). Precedence:
 * command line, then environment, then the config file, then defaults.
 * `astronaut check <dir> [--fix]` verifies a data directory; `--repair` starts
 * on a damaged one, keeping what is intact (what it drops is logged).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OPTIONS, OPTION_NAMES, applySettings, defaultConfig, parseConfigText, type Config } from './config.js';
import { startAstronaut } from './app.js';
import { VERSION } from './version.js';

async function main(): Promise<void> {
  const argv = hideBin(process.argv);
  if (argv[0] === 'check') {
    const { runCheck } = await import('./check-command.js');
    process.exitCode = await runCheck(argv.slice(1));
    return;
  }
  let parser = yargs(argv)
    .scriptName('astronaut')
    .usage('$0 [config-file] [--option value …] [--repair]\n$0 check <dir> [--fix]\n\nA Redis-protocol vector database. Options use redis.conf names and may also be set as ASTRONAUT_<NAME> environment variables.')
    .version(VERSION)
    .help()
    .strictOptions()
    .parserConfiguration({ 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'boolean-negation': false })
    .wrap(Math.min(110, process.stdout.columns || 100));
  for (const name of OPTION_NAMES) {
    const spec = OPTIONS[name];
    parser = parser.option(name, { type: 'string', describe: `${spec.describe} (default: ${spec.default === '' ? '""' : spec.default})`, requiresArg: false });
  }
  // A one-off start-up action, not a setting: no config-file or environment form, so it cannot stay on by accident.
  parser = parser.option('repair', {
    type: 'boolean',
    describe: 'start even though data files are damaged or missing: load what verifies, drop the rest (logged), snapshot the result. `astronaut check <dir>` shows what would be dropped',
  });
  const args = await parser.parseAsync();
  const positional = args._.map(String);
  if (positional.length > 1) throw new Error(`unexpected arguments: ${positional.slice(1).join(' ')}`);

  const config: Config = defaultConfig();
  let configFile = '';
  if (positional.length === 1) {
    configFile = path.resolve(positional[0]);
    applySettings(config, parseConfigText(readFileSync(configFile, 'utf8'), configFile), configFile);
  }
  const fromArgs: Partial<Record<keyof Config, string>> = {};
  for (const name of OPTION_NAMES) {
    const v = args[name];
    if (v === undefined) continue;
    // A repeated option (--save 900 1 --save 300 10) arrives as an array.
    fromArgs[name] = Array.isArray(v) ? v.map(String).join(' ') : String(v);
  }
  applySettings(config, fromEnvironment(process.env), 'environment');
  applySettings(config, fromArgs, 'command line');
  config.dir = path.resolve(config.dir);
  await startAstronaut(config, { configFile, handleSignals: true, repair: args.repair === true });
}

/** ASTRONAUT_<NAME> variables, named like the options with '-' as '_' (ASTRONAUT_PROTO_MAX_BULK_LEN). */
function fromEnvironment(env: NodeJS.ProcessEnv): Partial<Record<keyof Config, string>> {
  const out: Partial<Record<keyof Config, string>> = {};
  for (const name of OPTION_NAMES) {
    const v = env[`ASTRONAUT_${name.toUpperCase().replace(/-/g, '_')}`];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

main().catch((e: unknown) => {
  // Start-up failures (bad option, port in use, refused recovery) end here: say why, exit non-zero.
  process.stderr.write(`astronaut: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

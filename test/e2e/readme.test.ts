/**
 * The README is the reference: every configuration option and every command
 * the server has must appear in it, so a new one cannot land undocumented.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OPTION_NAMES } from '../../src/config.js';
import { ROOT, startInProcess } from '../helpers/server.js';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

test('README opens with the two set-up commands and npm test', (t) => {
  const head = readme.slice(0, 1500);
  for (const c of ['npm install', 'npm start', 'npm test']) t.true(head.includes(c), c);
});

test('README documents every configuration option', (t) => {
  for (const name of OPTION_NAMES) t.true(readme.includes(`\`${name}\``), name);
});

test('README documents every command the server has', async (t) => {
  const srv = await startInProcess();
  try {
    const upper = readme.toUpperCase();
    for (const spec of srv.server.table.all()) {
      t.true(upper.includes(spec.name.toUpperCase()), spec.name);
      for (const sub of spec.subcommands ?? []) {
        // `CLIENT ID|SETNAME|…` or `SLOWLOG GET [count] | LEN`: the word on the same line after its parent.
        const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const word = sub.name.split('|')[1].toUpperCase();
        t.regex(upper, new RegExp(`${esc(spec.name.toUpperCase())}[^\\n]{0,160}(^|[^A-Z-])${esc(word)}($|[^A-Z-])`, 'm'), sub.name);
      }
    }
  } finally { await srv.stop(); }
});

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { Writable } from 'node:stream';
import { checkDir, formatCheckReport } from '../../src/store/check.js';
import { checkCommand } from '../../src/store/check-cli.js';
import { segmentFileName } from '../../src/store/wal-format.js';
import { listSegments } from '../../src/store/wal-reader.js';
import { RealFs } from '../../src/store/fs.js';
import { removeDir, tempDir } from '../helpers/store.js';
import { TestDb } from '../helpers/store-crash.js';

async function populated(t: { teardown(fn: () => Promise<void>): void }): Promise<{ dir: string; snapFile: string; lastSeg: string }> {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const db = await TestDb.open(dir, { appendfsync: 'always', segmentSize: 600 });
  for (let i = 1; i <= 10; i++) await db.write(i);
  const s = await db.snapshot();
  for (let i = 11; i <= 30; i++) await db.write(i);
  await db.store.close();
  const lastSeg = (await listSegments(new RealFs(), dir)).at(-1)!.file;
  return { dir, snapFile: s.file, lastSeg };
}

function sink(): { out: Writable; text: () => string } {
  let buf = '';
  return {
    out: new Writable({
      write(chunk, _enc, cb) {
        buf += String(chunk);
        cb();
      },
    }),
    text: () => buf,
  };
}

test('a healthy directory checks OK, with every file listed', async (t) => {
  const { dir, snapFile } = await populated(t);
  const r = await checkDir(dir);
  t.true(r.ok);
  t.deepEqual(r.problems, []);
  t.is(r.manifest.status, 'ok');
  t.deepEqual(r.snapshots.map((s) => [s.file, s.role, s.status]), [[snapFile, 'current', 'ok']]);
  t.is(r.wal?.lastSeq, 30);
  const text = formatCheckReport(r);
  t.regex(text, /OK: a server would start/);
  t.regex(text, /wal wal-0+1\.log: ok/);
});

test('a torn tail is reported, still OK; --fix truncates it', async (t) => {
  const { dir, lastSeg } = await populated(t);
  const p = nodePath.join(dir, lastSeg);
  const size = (await fsp.stat(p)).size;
  await fsp.truncate(p, size - 5);
  const r = await checkDir(dir);
  t.true(r.ok);
  t.true(r.problems.some((x) => /torn-tail/.test(x)));
  t.deepEqual(r.fixed, []);
  t.is((await fsp.stat(p)).size, size - 5);
  const fixed = await checkDir(dir, { fix: true });
  t.is(fixed.fixed.length, 1);
  t.is((await fsp.stat(p)).size, size - 80);
  const after = await checkDir(dir);
  t.deepEqual(after.problems, []);
  t.is(after.wal?.lastSeq, 29);
});

test('corruption in a non-last segment and a damaged snapshot are NOT OK; --fix does not touch them', async (t) => {
  const { dir, snapFile } = await populated(t);
  const seg = nodePath.join(dir, segmentFileName(11));
  const b = await fsp.readFile(seg);
  b[40] ^= 0x80;
  await fsp.writeFile(seg, b);
  const s = await fsp.readFile(nodePath.join(dir, snapFile));
  s[s.length - 10] ^= 1;
  await fsp.writeFile(nodePath.join(dir, snapFile), s);
  const r = await checkDir(dir, { fix: true });
  t.false(r.ok);
  t.true(r.problems.some((x) => /bad-record/.test(x)));
  t.true(r.problems.some((x) => new RegExp(`snapshot ${snapFile}.*damaged`).test(x)));
  t.deepEqual(r.fixed, []);
  t.deepEqual(await fsp.readFile(seg), b);
});

test('a missing manifest with data files is NOT OK', async (t) => {
  const { dir } = await populated(t);
  await fsp.unlink(nodePath.join(dir, 'MANIFEST'));
  const r = await checkDir(dir);
  t.false(r.ok);
  t.is(r.manifest.status, 'missing');
});

test('the CLI entry prints the report and returns the exit code', async (t) => {
  const { dir, lastSeg } = await populated(t);
  const a = sink();
  t.is(await checkCommand([dir], a.out), 0);
  t.regex(a.text(), /^Checking /);
  const u = sink();
  t.is(await checkCommand([], u.out), 2);
  t.regex(u.text(), /usage: astronaut check <dir> \[--fix\]/);
  await fsp.appendFile(nodePath.join(dir, lastSeg), Buffer.alloc(10, 0xab));
  const f = sink();
  t.is(await checkCommand([dir, '--fix'], f.out), 0);
  t.regex(f.text(), /fixed: .*torn-tail/);
  const m = await fsp.readFile(nodePath.join(dir, 'MANIFEST'));
  m[25] ^= 1;
  await fsp.writeFile(nodePath.join(dir, 'MANIFEST'), m);
  const bad = sink();
  t.is(await checkCommand([dir], bad.out), 1);
  t.regex(bad.text(), /NOT OK/);
});

import test from 'ava';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { SimulatedFs } from '../../src/store/simulated-fs.js';
import { CorruptionError } from '../../src/store/errors.js';
import { MANIFEST_FILE, decodeManifest, encodeManifest, readManifest, writeManifest } from '../../src/store/manifest.js';
import type { Manifest } from '../../src/store/manifest.js';
import { crc32c } from '../../src/store/crc32c.js';
import { removeDir, tempDir } from '../helpers/store.js';

const M = (generation: number): Manifest => ({
  generation,
  appendonly: true,
  snapshot: { file: 'snap-000000000002.snap', seq: 101, size: 12345, crc: 0xdeadbeef, createdMs: 1_700_000_000_000 },
  previous: { file: 'snap-000000000001.snap', seq: 51, size: 999, crc: 7, createdMs: 1_690_000_000_000 },
  wal: [
    { file: 'wal-00000000000000000051.log', firstSeq: 51 },
    { file: 'wal-00000000000000000101.log', firstSeq: 101 },
  ],
});

test('encode/decode round trip; the text is readable', (t) => {
  const buf = encodeManifest(M(3));
  t.deepEqual(decodeManifest(buf), M(3));
  t.regex(buf.toString(), /^ASTRONAUT-MANIFEST 1\n\{.*"generation":3.*\}\ncrc32c [0-9a-f]{8}\n$/s);
});

test('every single-bit flip in a manifest is rejected', (t) => {
  const buf = encodeManifest(M(3));
  for (let bit = 0; bit < buf.length * 8; bit++) {
    const b = Buffer.from(buf);
    b[bit >> 3] ^= 1 << (bit & 7);
    t.throws(() => decodeManifest(b), { instanceOf: CorruptionError }, `bit ${bit}`);
  }
});

/** Frame an arbitrary body exactly as encodeManifest does, with a valid checksum. */
function frame(body: string): Buffer {
  const text = `ASTRONAUT-MANIFEST 1\n${body}\n`;
  return Buffer.from(text + `crc32c ${crc32c(Buffer.from(text)).toString(16).padStart(8, '0')}\n`);
}

test('well-formed but invalid bodies are rejected', (t) => {
  t.deepEqual(decodeManifest(frame(JSON.stringify(M(4)))), M(4));
  t.throws(() => decodeManifest(frame('{"generation":-1,"appendonly":true,"snapshot":null,"previous":null,"wal":[]}')), { instanceOf: CorruptionError });
  t.throws(() => decodeManifest(frame('{"generation":1,"appendonly":true,"snapshot":{"file":"../x","seq":1,"size":1,"crc":1,"createdMs":1},"previous":null,"wal":[]}')), { instanceOf: CorruptionError });
  t.throws(() => decodeManifest(frame('{"generation":1,"appendonly":true,"snapshot":null,"previous":null,"wal":[{"file":"w","firstSeq":"1"}]}')), { instanceOf: CorruptionError });
  t.throws(() => decodeManifest(frame('[]')), { instanceOf: CorruptionError });
  t.throws(() => decodeManifest(frame('not json')), { instanceOf: CorruptionError });
});

test('readManifest: null when absent', async (t) => {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const sim = await SimulatedFs.create(dir);
  t.is(await readManifest(sim, dir), null);
});

test('writeManifest is atomic across power loss: old or new, never neither or a mix', async (t) => {
  const dir = await tempDir();
  t.teardown(() => removeDir(dir));
  const sim = await SimulatedFs.create(dir);
  await writeManifest(sim, dir, M(1));
  for (const step of ['manifest:tmp-written', 'manifest:renamed', null] as const) {
    await t.throwsAsync(
      writeManifest(sim, dir, M(2), async (s) => {
        if (s === step) {
          await sim.powerLoss();
          throw new Error('power loss');
        }
      }).then(async () => {
        if (step === null) {
          await sim.powerLoss();
          throw new Error('power loss after commit');
        }
      }),
    );
    const m = await readManifest(sim, dir);
    t.is(m?.generation, step === null ? 2 : 1, `power loss at ${step ?? 'after commit'}`);
    await writeManifest(sim, dir, M(1));
  }
  t.deepEqual((await fsp.readdir(dir)).filter((f) => f !== MANIFEST_FILE && f !== MANIFEST_FILE + '.tmp'), []);
  t.truthy(await fsp.stat(nodePath.join(dir, MANIFEST_FILE)));
});

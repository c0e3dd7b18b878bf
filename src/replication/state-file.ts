/**
 * `REPLICATION` in the data directory (docs/formats.md, "Replication state
 * file"): the replication id and stream offset the dataset corresponds to,
 * and the WAL position that dataset ends at. A restart may take them back
 * only when recovery ends at exactly that position: the records below it are
 * then exactly the data the offset described. Any other ending (records
 * after it, a torn tail, a repair) proves nothing about the offset: the file
 * is removed before anything is written (a later life could reuse those
 * sequence numbers for other records), the server starts a new history and
 * a replica takes a full sync rather than risk resuming at a wrong place.
 *
 * Its own small file rather than a snapshot field: the position it names may
 * lie past the last snapshot (a clean shutdown logs the WAL, it need not
 * snapshot), and a file written whole with a rename cannot be half old.
 */
import * as nodePath from 'node:path';
import { crc32c, isNotFound, readWholeFile, replaceFile, type Fs } from '../store/index.js';

export const STATE_FILE = 'REPLICATION';
const MAGIC = 'astronaut-replication 1';

export interface SavedState {
  replid: string;
  offset: number;
  /** Dataset.position() the replid and offset describe. */
  position: number;
  /**
   * Written by a clean stop, after the stream stopped moving: nothing was sent
   * past `offset` under `replid`. Otherwise frames (pings) may have gone out
   * after it was written, and a primary must not reuse those offsets.
   */
  clean: boolean;
}

export function encodeState(s: SavedState): Buffer {
  const body = `${MAGIC}\nreplid ${s.replid}\noffset ${s.offset}\nposition ${s.position}\nclean ${s.clean ? 1 : 0}\n`;
  return Buffer.from(`${body}crc32c ${crc32c(Buffer.from(body))}\n`);
}

/** The state the bytes hold, or null when they are not a whole, intact file of this version. */
export function decodeState(buf: Buffer): SavedState | null {
  const text = buf.toString('latin1');
  const at = text.lastIndexOf('crc32c ');
  if (at < 0) return null;
  const body = text.slice(0, at);
  const crcLine = /^crc32c (\d+)\n$/.exec(text.slice(at));
  if (!crcLine || Number(crcLine[1]) !== crc32c(Buffer.from(body, 'latin1'))) return null;
  const m = /^astronaut-replication 1\nreplid ([0-9a-f]{40})\noffset (\d+)\nposition (\d+)\nclean ([01])\n$/.exec(body);
  if (!m) return null;
  const offset = Number(m[2]);
  const position = Number(m[3]);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(position)) return null;
  return { replid: m[1], offset, position, clean: m[4] === '1' };
}

export async function readState(fs: Fs, dir: string): Promise<SavedState | null | 'absent'> {
  let buf: Buffer;
  try {
    buf = await readWholeFile(fs, nodePath.join(dir, STATE_FILE));
  } catch (e) {
    if (isNotFound(e)) return 'absent';
    throw e;
  }
  return decodeState(buf);
}

/** Replace the file durably: after a power loss it is the old content or the new one, never a mix. */
export function writeState(fs: Fs, dir: string, s: SavedState): Promise<void> {
  return replaceFile(fs, dir, STATE_FILE, encodeState(s));
}

/** Remove the file durably: a claim that no longer holds must not survive a crash. */
export async function removeState(fs: Fs, dir: string): Promise<void> {
  try {
    await fs.unlink(nodePath.join(dir, STATE_FILE));
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  await fs.syncDir(dir);
}

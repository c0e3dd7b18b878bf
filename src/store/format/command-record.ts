/**
 * The WAL record of a write: the commands as received, each with its
 * database, so replaying them through the same handlers rebuilds exactly the
 * same state (handlers are deterministic given the same sequence). A MULTI/EXEC
 * is one record holding all of its writes.
 *
 *   u32 count, then per command: u32 db, u32 argc, then per argument u32 length + bytes
 */
export type LoggedCommand = [db: number, argv: Buffer[]];

/** The size `encodeCommands` gives these commands (whatever their databases): asked before they are applied. */
export function encodedCommandsSize(commands: ReadonlyArray<readonly Buffer[]>): number {
  let size = 4;
  for (const argv of commands) {
    size += 8;
    for (const a of argv) size += 4 + a.length;
  }
  return size;
}

export function encodeCommands(entries: readonly LoggedCommand[]): Buffer {
  let size = 4;
  for (const [, argv] of entries) {
    size += 8;
    for (const a of argv) size += 4 + a.length;
  }
  const w = new CommandRecordWriter(size);
  for (const [db, argv] of entries) w.add(db, argv);
  return w.finish();
}

/**
 * A record encoded a command at a time, into one buffer sized up front (grown
 * if the estimate falls short). A batch of 100 000 VEC.ADDs is a 55 MB record:
 * encoded at once after the batch it held the event loop for ~160 ms; a batch
 * adds each write as it applies it, inside the slices it already runs in.
 */
export class CommandRecordWriter {
  private out: Buffer;
  private at = 4;
  private n = 0;

  constructor(capacity: number) { this.out = Buffer.allocUnsafe(Math.max(4, capacity)); }

  get count(): number { return this.n; }

  add(db: number, argv: readonly Buffer[]): void {
    let need = 8;
    for (const a of argv) need += 4 + a.length;
    if (this.at + need > this.out.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + need));
      this.out.copy(grown, 0, 0, this.at);
      this.out = grown;
    }
    // One copy: the argument slices point into socket buffers that will be reused.
    const out = this.out;
    let o = out.writeUInt32LE(db, this.at);
    o = out.writeUInt32LE(argv.length, o);
    for (const a of argv) {
      o = out.writeUInt32LE(a.length, o);
      o += a.copy(out, o);
    }
    this.at = o;
    this.n++;
  }

  /** The record's bytes (a view of the writer's buffer; add nothing after). */
  finish(): Buffer {
    this.out.writeUInt32LE(this.n, 0);
    return this.out.subarray(0, this.at);
  }
}

export function decodeCommands(buf: Uint8Array): LoggedCommand[] {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (): never => { throw new Error('malformed command record'); };
  if (b.length < 4) fail();
  const n = b.readUInt32LE(0);
  let o = 4;
  const out: LoggedCommand[] = [];
  for (let i = 0; i < n; i++) {
    if (o + 8 > b.length) fail();
    const db = b.readUInt32LE(o);
    const argc = b.readUInt32LE(o + 4);
    o += 8;
    const argv: Buffer[] = [];
    for (let j = 0; j < argc; j++) {
      if (o + 4 > b.length) fail();
      const len = b.readUInt32LE(o);
      o += 4;
      if (o + len > b.length) fail();
      argv.push(b.subarray(o, o + len));
      o += len;
    }
    out.push([db, argv]);
  }
  if (o !== b.length) fail();
  return out;
}

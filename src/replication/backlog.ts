/**
 * The last `repl-backlog-size` bytes of the replication stream, so a replica
 * that lost its link for a moment resumes from its offset (+CONTINUE) instead
 * of taking a full sync. Kept as the frames themselves: appending is a push,
 * trimming drops whole frames from the front (the size may be exceeded by at
 * most one frame, which is what the replica needs to resume anyway).
 */
export class Backlog {
  private frames: Buffer[] = [];
  private head = 0;
  private bytes = 0;
  /** Stream offset of the first byte held. */
  start: number;

  constructor(public limit: number, offset: number) { this.start = offset; }

  /** Stream offset just past the last byte held. */
  get end(): number { return this.start + this.bytes; }
  get length(): number { return this.bytes; }

  append(frame: Buffer): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    while (this.bytes - this.frames[this.head].length >= this.limit && this.head < this.frames.length - 1) {
      const f = this.frames[this.head++];
      this.bytes -= f.length;
      this.start += f.length;
    }
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The bytes from `offset` to the end, or null when they are not all held
   * (or `offset` falls inside a frame: a replica only ever stops between frames).
   */
  from(offset: number): Buffer[] | null {
    if (offset < this.start || offset > this.end) return null;
    const out: Buffer[] = [];
    let at = this.start;
    for (let i = this.head; i < this.frames.length; i++) {
      const f = this.frames[i];
      if (at >= offset) out.push(f);
      else if (at + f.length > offset) return null;
      at += f.length;
    }
    return out;
  }
}

/**
 * The few buffers a full sync copies a graph into, piece by piece: each goes
 * back to the ring once the replica's connection has written it, and the next
 * piece waits for one while all are queued in the socket.
 *
 * A fresh 1 MiB buffer per piece (about 600 of them for 1 M × 128) is new
 * external memory to V8 at the rate the socket drains, and V8 answered it with
 * a full mark-compact every 50–80 ms of the sync, 2–15 ms each (--trace-gc):
 * the primary's longest event-loop stalls.
 */
export class PieceRing {
  private readonly all: Buffer[] = [];
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  private closed: Error | null = null;

  /** `count` buffers of `bytes` each at most, made as first needed. */
  constructor(private readonly count: number, private readonly bytes: number) {}

  /** A buffer of at least `bytes` that nothing else reads, once one is. */
  take(bytes: number): Buffer | Promise<Buffer> {
    if (this.closed) return Promise.reject(this.closed);
    // Larger than a ring buffer: a piece size this ring was not made for, so a buffer of its own.
    if (bytes > this.bytes) return Buffer.allocUnsafeSlow(bytes);
    const b = this.free.pop();
    if (b) return b;
    if (this.all.length < this.count) {
      const made = Buffer.allocUnsafeSlow(this.bytes);
      this.all.push(made);
      return made;
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** The bytes of `view` were sent: its buffer is free again if it is one of the ring's (else nothing). */
  give(view: ArrayBufferView): void {
    const b = this.all.find((x) => x.buffer === view.buffer);
    if (!b || this.closed) return;
    const w = this.waiting.shift();
    if (w) w.resolve(b);
    else this.free.push(b);
  }

  /** No more pieces (the sync ended or its replica is gone): whoever waits for a buffer gets `reason`. */
  close(reason: Error): void {
    if (this.closed) return;
    this.closed = reason;
    for (const w of this.waiting.splice(0)) w.reject(reason);
    this.free.length = 0;
  }
}

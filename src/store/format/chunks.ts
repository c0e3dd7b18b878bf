/**
 * Sections too big to build in one go (a million keys or elements) are encoded
 * record by record into fixed-size chunks that the snapshot writer pulls one at
 * a time between its awaited writes, so encoding never holds the event loop for
 * long and no Buffer is allocated per record.
 */

/** Bytes per chunk: a few thousand small records, about a millisecond to fill. */
export const CHUNK_BYTES = 64 * 1024;

export class ChunkBuffer {
  out = Buffer.allocUnsafe(CHUNK_BYTES);
  /** Write position in `out`. */
  o = 0;

  /**
   * Make room for a record of `need` bytes. Returns the chunk filled so far when
   * it had to be closed (the caller yields it), else null.
   */
  room(need: number): Buffer | null {
    if (this.o + need <= this.out.length) return null;
    const full = this.o > 0 ? this.out.subarray(0, this.o) : null;
    this.out = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, need));
    this.o = 0;
    return full;
  }

  /** The last, partly filled chunk, or null. */
  rest(): Buffer | null { return this.o > 0 ? this.out.subarray(0, this.o) : null; }
}

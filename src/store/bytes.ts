/**
 * Little-endian u64 helpers for integers that fit a JS number (< 2^53):
 * sequence numbers, offsets and lengths. Avoids BigInt on the hot path.
 */
const TWO_32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

/** Reads a u64; returns -1 when it does not fit in 53 bits (always a corruption for us). */
export function readU64(buf: Buffer, offset: number): number {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi > 0x1fffff) return -1;
  return hi * TWO_32 + lo;
}

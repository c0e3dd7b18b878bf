/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * WAL record, snapshot section and manifest.
 *
 * The JS implementation is table-driven slicing-by-8 (eight bytes per step,
 * eight 256-entry tables). A faster native implementation can replace it at
 * run time with `setCrc32cImplementation`; the replacement is checked against
 * known vectors before it is accepted, because a wrong checksum function would
 * silently turn every file on disk into "corrupt".
 *
 * Chaining: `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`, so large inputs can
 * be checksummed piecewise.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';

const POLY = 0x82f63b78;

/** 8 × 256 tables: T[k*256 + b] is the CRC contribution of byte b followed by k zero bytes. */
const T = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let k = 1; k < 8; k++) {
      c = (c >>> 8) ^ t[c & 0xff]!;
      t[k * 256 + i] = c >>> 0;
    }
  }
  return t;
}

/** The pure-JS slicing-by-8 CRC32C. Always available, also as the reference the native one is checked against. */
export function crc32cJs(buf: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  let i = 0;
  const n = buf.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    crc =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!;
    i += 8;
  }
  while (i < n) {
    crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}

/** What a pluggable implementation provides. `crc32cAsync` is optional: without it, large inputs are chunked with event-loop yields. */
export interface Crc32cImplementation {
  readonly name: string;
  crc32c(buf: Uint8Array, seed?: number): number;
  /** Off-thread checksum of a large buffer; must give the same result as `crc32c`. */
  crc32cAsync?(buf: Uint8Array, seed?: number): Promise<number>;
}

const JS_IMPLEMENTATION: Crc32cImplementation = { name: 'js-slicing-by-8', crc32c: crc32cJs };
let current: Crc32cImplementation = JS_IMPLEMENTATION;

/** Bytes checksummed between event-loop yields by the JS fallback of `crc32cAsync` (~1 ms of work). */
const ASYNC_CHUNK = 1 << 20;

/** CRC32C of `buf`, continuing from `seed` (the CRC of the bytes before it). */
export function crc32c(buf: Uint8Array, seed = 0): number {
  return current.crc32c(buf, seed);
}

/**
 * CRC32C of a possibly huge buffer without blocking the event loop: the native
 * implementation's async variant when there is one, else 1 MiB chunks with a
 * yield between them.
 */
export async function crc32cAsync(buf: Uint8Array, seed = 0): Promise<number> {
  const impl = current;
  if (impl.crc32cAsync) return impl.crc32cAsync(buf, seed);
  let crc = seed;
  for (let off = 0; off < buf.length; off += ASYNC_CHUNK) {
    if (off > 0) await yieldToLoop();
    crc = impl.crc32c(buf.subarray(off, Math.min(buf.length, off + ASYNC_CHUNK)), crc);
  }
  return crc >>> 0;
}

/** Name of the implementation in use (for logs and INFO). */
export function crc32cImplementationName(): string {
  return current.name;
}

/**
 * Replace the CRC32C implementation (e.g. the engine team's native one), or
 * pass `null` to return to the JS one. The candidate must reproduce the JS
 * results on a set of vectors (including chaining through `seed`), else this
 * throws and the current implementation stays.
 */
export function setCrc32cImplementation(impl: Crc32cImplementation | null): void {
  if (impl === null) {
    current = JS_IMPLEMENTATION;
    return;
  }
  const vectors: Uint8Array[] = [
    new Uint8Array(0),
    Buffer.from('123456789'),
    new Uint8Array(32),
    Uint8Array.from({ length: 1031 }, (_, i) => (i * 131 + 7) & 0xff),
  ];
  if (impl.crc32c(Buffer.from('123456789')) >>> 0 !== 0xe3069283) {
    throw new Error(`CRC32C implementation ${impl.name} fails the check value for "123456789"`);
  }
  for (const v of vectors) {
    for (const seed of [0, 0xdeadbeef]) {
      if (impl.crc32c(v, seed) >>> 0 !== crc32cJs(v, seed)) {
        throw new Error(`CRC32C implementation ${impl.name} disagrees with the reference (length ${v.length}, seed ${seed})`);
      }
    }
  }
  current = impl;
}

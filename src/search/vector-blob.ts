/**
 * Vectors as RediSearch takes them: a hash field or a PARAMS value holding
 * the raw little-endian bytes of TYPE FLOAT32, FLOAT64, FLOAT16 or BFLOAT16,
 * or a JSON array of numbers. Everything becomes a Float32Array here, checked
 * (length, NaN, ±Inf) before it can reach usearch.
 */
import type { Quant } from '../engine/vector-set.js';

export type VectorType = 'FLOAT32' | 'FLOAT64' | 'FLOAT16' | 'BFLOAT16';
export const VECTOR_TYPES: readonly VectorType[] = ['FLOAT32', 'FLOAT64', 'FLOAT16', 'BFLOAT16'];

export function elementBytes(t: VectorType): number {
  return t === 'FLOAT64' ? 8 : t === 'FLOAT32' ? 4 : 2;
}

/** How the engine stores each type: the half types stay half (less memory), FLOAT64 is narrowed. */
export function quantOf(t: VectorType): Quant {
  return t === 'FLOAT16' ? 'F16' : t === 'BFLOAT16' ? 'BF16' : 'F32';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function finite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) { const x = v[i]; if (x !== x || x === Infinity || x === -Infinity) return false; }
  return true;
}

/**
 * The vector in `bytes`, or the reason it is not one (wrong size, not
 * finite). The reason never quotes the bytes: a vector echoed into an error
 * line is unreadable and leaks data into logs.
 */
export function decodeBlob(bytes: Buffer, type: VectorType, dim: number): Float32Array | string {
  const size = elementBytes(type);
  if (bytes.length !== dim * size) return `blob size (${bytes.length}) does not match the expected size (${dim * size})`;
  const out = new Float32Array(dim);
  switch (type) {
    case 'FLOAT32': new Uint8Array(out.buffer).set(bytes); break;
    case 'FLOAT64': for (let i = 0; i < dim; i++) out[i] = bytes.readDoubleLE(i * 8); break;
    case 'FLOAT16': for (let i = 0; i < dim; i++) out[i] = half(bytes.readUInt16LE(i * 2)); break;
    case 'BFLOAT16': for (let i = 0; i < dim; i++) { u32[0] = bytes.readUInt16LE(i * 2) << 16; out[i] = f32[0]; } break;
  }
  return finite(out) ? out : 'the vector holds NaN or infinite values';
}

/** A JSON array of numbers (already extracted as numbers, or null where an element was not one). */
export function fromNumbers(values: ReadonlyArray<number | null>, dim: number): Float32Array | string {
  if (values.length !== dim) return `vector has ${values.length} elements, the index expects ${dim}`;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const x = values[i];
    if (x === null) return `vector element ${i} is not a number`;
    out[i] = x;
  }
  return finite(out) ? out : 'the vector holds NaN or infinite values (or values out of float32 range)';
}

/** A cheap content fingerprint: an unchanged vector is not re-inserted when its document is rewritten. */
export function fingerprint(v: Float32Array): number {
  const w = new Uint32Array(v.buffer, v.byteOffset, v.length);
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ v.length;
  for (let i = 0; i < w.length; i++) {
    h1 = Math.imul(h1 ^ w[i], 0x01000193);
    h2 = Math.imul(h2 + w[i], 0x85ebca6b) ^ (h2 >>> 13);
  }
  // 53 bits of the two hashes: a collision needs both to collide.
  return (h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) & 0x1fffff);
}

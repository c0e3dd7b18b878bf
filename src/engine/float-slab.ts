/**
 * Short-lived float vectors (a parsed command's vector, its scaled copy, a prepared query)
 * carved from shared slabs instead of allocated one by one.
 *
 * Why: a Float32Array past 64 bytes gets a malloc'd backing store of its own. A burst of
 * 100 k VEC.ADDs of 128-d I8 vectors made two such 512-byte chunks per command, freed in
 * bulk by the garbage collector, and their holes stayed scattered through malloc's heap where
 * no trim reaches them: 16-18 MB free inside malloc after the burst in process (2.7 MB for
 * F32, which is not rescaled), 7.7-8.5 MB with slabs. A slab is one 64 KB chunk for 128 such
 * vectors.
 *
 * Only for vectors that are dropped soon (queued adds and searches are copied into their
 * batch): a view kept for long pins its whole slab.
 */
const SLAB_FLOATS = 16384;
/** Larger vectors get an array of their own: a slab holds at least four. */
const LARGEST = SLAB_FLOATS / 4;

let slab = new Float32Array(0);
let used = 0;

/** A zero-filled array of `n` floats, a view into the current slab when small. */
export function slabFloats(n: number): Float32Array {
  if (n > LARGEST) return new Float32Array(n);
  if (used + n > slab.length) {
    slab = new Float32Array(SLAB_FLOATS);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  used += n;
  return out;
}

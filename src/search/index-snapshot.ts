/**
 * One FT index's VECTOR field in a snapshot (docs/formats.md, SEARCH_SET and
 * SEARCH_GRAPH): its vector set as of the cut, so that a restart loads the
 * HNSW graph instead of rebuilding it from the documents.
 *
 *   u32 headerLength, header JSON {version, db, index, attribute, slots}
 *   slots × f64   the fingerprint (vector-blob.ts) of the document vector in each
 *                 slot, NaN for a free slot
 *   the set body (src/store/format/set-body.ts); ids are the document keys
 *
 * The fingerprints are what lets the load trust a stored vector: a document
 * whose vector no longer hashes the same is inserted again instead.
 */
import type { VectorSetState } from '../engine/vector-set.js';
import { decodeSetState, encodeSetState } from '../store/format/set-body.js';

/**
 * Bump when this layout changes: a build refuses another version and rebuilds the index from the
 * documents. 2: the set body's layout 2 (an older build must not read it); version 1 still loads.
 * 3: a small field's graph may be a flat vector store (docs/formats.md); 1 and 2 still load.
 */
export const INDEX_SET_VERSION = 3;
const READS = [1, 2, 3];

export interface IndexSetHeader { db: number; index: string; attribute: string; slots: number }

export const indexSetName = (i: number) => `ft-set:${i}`;
export const indexGraphName = (i: number) => `ft-graph:${i}`;
/** The SEARCH_SET section a SEARCH_GRAPH section belongs to. */
export const setOfIndexGraph = (graphName: string) => graphName.replace(/^ft-graph:/, 'ft-set:');

export function* encodeIndexSet(header: IndexSetHeader, prints: Float64Array, state: VectorSetState): Generator<Buffer> {
  const json = Buffer.from(JSON.stringify({ version: INDEX_SET_VERSION, ...header }));
  const head = Buffer.alloc(4 + json.length);
  head.writeUInt32LE(json.length, 0);
  json.copy(head, 4);
  yield head;
  const out = Buffer.alloc(header.slots * 8);
  for (let i = 0; i < header.slots; i++) out.writeDoubleLE(prints[i]!, i * 8);
  yield out;
  yield* encodeSetState(state);
}

/** The section back; throws (the caller then rebuilds the index) on another version or any inconsistency. */
export function decodeIndexSet(buf: Buffer): { header: IndexSetHeader; prints: Float64Array; state: VectorSetState } {
  if (buf.length < 4) throw new Error('FT vector section is too short');
  const length = buf.readUInt32LE(0);
  if (4 + length > buf.length) throw new Error('FT vector section header runs past the end');
  const h = JSON.parse(buf.toString('utf8', 4, 4 + length)) as Partial<IndexSetHeader> & { version?: unknown };
  if (!READS.includes(h.version as number)) throw new Error(`FT vector section is version ${String(h.version)}, this build reads ${INDEX_SET_VERSION}`);
  if (typeof h.db !== 'number' || typeof h.index !== 'string' || typeof h.attribute !== 'string' || typeof h.slots !== 'number') {
    throw new Error('FT vector section header is malformed');
  }
  const from = 4 + length;
  if (from + h.slots * 8 > buf.length) throw new Error('FT vector section fingerprints run past the end');
  const prints = new Float64Array(h.slots);
  for (let i = 0; i < h.slots; i++) prints[i] = buf.readDoubleLE(from + i * 8);
  const state = decodeSetState(buf.subarray(from + h.slots * 8));
  if (state.nextSlot !== h.slots) throw new Error('FT vector section fingerprints do not cover the set');
  return { header: { db: h.db, index: h.index, attribute: h.attribute, slots: h.slots }, prints, state };
}

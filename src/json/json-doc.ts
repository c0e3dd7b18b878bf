/**
 * A JSON document under a key (TYPE answers `ReJSON-RL`, as RedisJSON's).
 *
 * Commands change the tree in place, so, as for hashes, a writer first asks
 * `Database.shared(stamp)`: while a snapshot reads a document made before its
 * freeze, the writer changes a deep copy and stores that (json/commands.ts).
 * In a snapshot a document is its compact JSON text, which parses back to
 * the same tree (integers and floats stay apart: `1.0` prints as `1.0`).
 */
import type { SerializableValue } from '../engine/keyspace.js';
import { SECTION } from '../store/format/snapshot-schema.js';
import { cloneNode, nodeBytes, parseJson, stringify, type JsonNode } from './json-value.js';

export class JsonDoc implements SerializableValue {
  readonly type = 'ReJSON-RL';
  readonly sectionKind = SECTION.JSON;
  /** Module values are `raw` to OBJECT ENCODING in Redis. */
  readonly encoding = 'raw';
  stamp: number;
  root: JsonNode;
  /** Heap estimate, recomputed on the next usedBytes() after a change (INFO samples every value each second). */
  private bytes = -1;

  constructor(root: JsonNode, stamp: number) {
    this.root = root;
    this.stamp = stamp;
  }

  changed(): void { this.bytes = -1; }

  usedBytes(): number {
    if (this.bytes < 0) this.bytes = nodeBytes(this.root);
    return 64 + 28 + this.bytes;
  }

  dispose(): void {
    // Nothing outside the heap; a snapshot may still be reading it.
  }

  clone(stamp = -1): JsonDoc { return new JsonDoc(cloneNode(this.root), stamp); }

  serialize(): Buffer { return Buffer.from(stringify(this.root), 'utf8'); }

  static decode(bytes: Buffer): JsonDoc { return new JsonDoc(parseJson(bytes), -1); }
}

/**
 * DUMP and RESTORE: a key's value as opaque bytes and back, for moving keys
 * between servers (`redis-cli --pipe` migrations, client libraries' copy
 * helpers). The payload is our own, not Redis's RDB encoding:
 *
 *   "ASTD"  magic
 *   u16     payload version (DUMP_VERSION); a newer one is refused
 *   u8      kind: 1 string, 2 vector set, otherwise the snapshot section kind
 *           of a serializable type (hashes, JSON documents)
 *   u8      0
 *   body    the string's bytes; for a vector set u32 metadata length, the
 *           snapshot's set metadata (store/format/set-body.ts), usearch's graph;
 *           otherwise the type's own serialization (its snapshot form)
 *   u32     CRC32C of everything before it
 *
 * A payload from real Redis, a damaged one, or one from a newer version gets
 * Redis's own refusal, `ERR DUMP payload version or checksum are wrong`.
 */
import type { Reply } from '../../protocol/reply.js';
import { OK } from '../../protocol/reply.js';
import { ArgError, RespError, SYNTAX } from '../errors.js';
import type { CommandSpec, Ctx } from '../core/types.js';
import { isKeyword, parseInteger } from '../core/numbers.js';
import { StringValue, isSerializable, keyOf, type StoredValue } from '../engine/keyspace.js';
import { VectorSet } from '../engine/vector-set.js';
import { encodeSetState, decodeSetState } from '../store/format/set-body.js';
import { crc32c } from '../store/crc32c.js';

const MAGIC = Buffer.from('ASTD');
/** 3: a small set's graph may be a flat vector store (docs/formats.md); 1 and 2 still load. */
export const DUMP_VERSION = 3;
const KIND_STRING = 1;
const KIND_VECTOR_SET = 2;
const HEADER = 8;
const BAD_PAYLOAD = 'DUMP payload version or checksum are wrong';

function frame(kind: number, body: Buffer[]): Buffer {
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt16LE(DUMP_VERSION, 4);
  head.writeUInt8(kind, 6);
  const out = Buffer.concat([head, ...body, Buffer.alloc(4)]);
  out.writeUInt32LE(crc32c(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** DUMP key: the payload, or a null reply for a missing key. */
function dump(ctx: Ctx, argv: Buffer[]): Reply | Promise<Reply> {
  const value = ctx.db.get(keyOf(argv[1]));
  if (value === undefined) return null;
  if (value instanceof StringValue) return frame(KIND_STRING, [value.value]);
  if (value instanceof VectorSet) {
    // The set as of this command: later writes queue after its graph is serialized.
    const { state, graph } = value.snapshot();
    const meta = Buffer.concat([...encodeSetState(state)]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(meta.length);
    return graph.then((g) => frame(KIND_VECTOR_SET, [len, meta, g]));
  }
  if (isSerializable(value)) return frame(value.sectionKind, [value.serialize()]);
  throw new ArgError(`DUMP is not supported for ${value.type} values`);
}

/** The value a payload holds, or Redis's refusal when it is not one of ours, damaged or newer. */
function decode(ctx: Ctx, payload: Buffer): StoredValue {
  if (payload.length < HEADER + 4 || !payload.subarray(0, 4).equals(MAGIC)) throw new ArgError(BAD_PAYLOAD);
  if (payload.readUInt16LE(4) > DUMP_VERSION) throw new ArgError(BAD_PAYLOAD);
  const end = payload.length - 4;
  if (crc32c(payload.subarray(0, end)) !== payload.readUInt32LE(end)) throw new ArgError(BAD_PAYLOAD);
  const kind = payload.readUInt8(6);
  // A copy: argv slices the connection's read buffer, which is reused.
  const body = Buffer.from(payload.subarray(HEADER, end));
  try {
    if (kind === KIND_STRING) return new StringValue(body);
    if (kind === KIND_VECTOR_SET) {
      const metaLength = body.readUInt32LE(0);
      if (4 + metaLength > body.length) throw new Error('truncated');
      const state = decodeSetState(body.subarray(4, 4 + metaLength));
      return VectorSet.fromState(state, body.subarray(4 + metaLength));
    }
    const codec = ctx.server.keyspace.codec(kind);
    if (codec) return codec.decode(body);
  } catch {
    // The checksum matched, so this is a payload we wrote and cannot read: refused like any other.
  }
  throw new ArgError(BAD_PAYLOAD);
}

/** RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] */
function restore(ctx: Ctx, argv: Buffer[]): Reply {
  const key = keyOf(argv[1]);
  let replace = false, absolute = false;
  for (let i = 4; i < argv.length; i++) {
    if (isKeyword(argv[i], 'REPLACE')) replace = true;
    else if (isKeyword(argv[i], 'ABSTTL')) absolute = true;
    else if ((isKeyword(argv[i], 'IDLETIME') || isKeyword(argv[i], 'FREQ')) && i + 1 < argv.length) {
      // Accepted as Redis does; access times and LFU counters are not kept here.
      const n = parseIntegerOr(argv[++i]);
      if (n < 0) throw new ArgError(isKeyword(argv[i - 1], 'IDLETIME') ? 'Invalid IDLETIME value, must be >= 0' : 'Invalid FREQ value, must be >= 0 and <= 255');
      if (isKeyword(argv[i - 1], 'FREQ') && n > 255) throw new ArgError('Invalid FREQ value, must be >= 0 and <= 255');
    } else throw new ArgError(SYNTAX);
  }
  const ttl = parseIntegerOr(argv[2]);
  if (ttl < 0) throw new ArgError('Invalid TTL value, must be >= 0');
  if (!replace && ctx.db.get(key) !== undefined) throw new RespError('BUSYKEY', 'Target key name already exists.');
  const value = decode(ctx, argv[3]);
  const deadline = ttl === 0 ? 0 : absolute ? ttl : Date.now() + ttl;
  if (deadline !== 0 && deadline <= Date.now()) {
    // Already past its deadline: Redis answers OK and leaves no key (a REPLACE still deletes).
    if (replace && ctx.db.delete(key)) ctx.server.keyspaceEvent(ctx.db.index, 'g', 'del', key);
    ctx.propagate = replace ? [[Buffer.from('DEL'), argv[1]]] : null;
    void value.dispose();
    return OK;
  }
  ctx.db.set(key, value);
  if (deadline !== 0) ctx.db.setDeadline(key, deadline);
  ctx.server.keyspaceEvent(ctx.db.index, 'g', 'restore', key);
  // Logged with an absolute deadline, so a replay (or a replica) sets the same one.
  ctx.propagate = [[Buffer.from('RESTORE'), argv[1], Buffer.from(String(deadline)), argv[3], Buffer.from('REPLACE'), ...(deadline ? [Buffer.from('ABSTTL')] : [])]];
  return OK;
}

function parseIntegerOr(b: Buffer): number {
  try { return parseInteger(b); } catch { throw new ArgError('value is not an integer or out of range'); }
}

const oneKey = { group: 'generic', since: '2.6.0', firstKey: 1, lastKey: 1, step: 1 } as const;

export const dumpCommands: CommandSpec[] = [
  {
    ...oneKey, name: 'dump', arity: 2, flags: ['readonly'],
    summary: 'Returns a serialized representation of the value stored at a key (Astronaut\'s own format, checksummed).',
    arguments: [{ name: 'key', type: 'key' }],
    handler: dump,
  },
  {
    ...oneKey, name: 'restore', arity: -4, flags: ['write', 'denyoom'],
    summary: 'Creates a key from the serialized representation of a value (a DUMP payload of this server\'s format).',
    arguments: [{ name: 'key', type: 'key' }, { name: 'ttl', type: 'integer' }, { name: 'serialized-value', type: 'string' },
      { name: 'replace', type: 'pure-token', token: 'REPLACE', optional: true }, { name: 'absttl', type: 'pure-token', token: 'ABSTTL', optional: true },
      { name: 'seconds', type: 'integer', token: 'IDLETIME', optional: true }, { name: 'frequency', type: 'integer', token: 'FREQ', optional: true }],
    handler: restore,
  },
];

/**
 * A command's Reply as JSON, for the HTTP API. Commands run with RESP3
 * semantics, so maps arrive as maps and become objects; bulk strings are read
 * as UTF-8 (ids, keys and payloads over HTTP are text).
 */
import {
  BigNumber, Double, ErrorReply, NullArray, Push, RawReply, ReplyMap, ReplySet, SimpleString, Verbatim, type Reply,
} from '../../protocol/reply.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Map keys as object keys. */
function keyText(r: Reply): string {
  const v = replyToJson(r);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function replyToJson(r: Reply): Json {
  if (r === null) return null;
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  switch (typeof r) {
    case 'string': case 'number': case 'boolean': return r;
    case 'bigint': return Number.isSafeInteger(Number(r)) ? Number(r) : r.toString();
    default: break;
  }
  if (Array.isArray(r)) return r.map(replyToJson);
  if (r instanceof ReplyMap) {
    const o: { [k: string]: Json } = {};
    for (const [k, v] of r.entries) o[keyText(k)] = replyToJson(v);
    return o;
  }
  if (r instanceof SimpleString) return r.value;
  if (r instanceof Double) return Number.isFinite(r.value) ? r.value : String(r.value);
  if (r instanceof ReplySet) return r.items.map(replyToJson);
  if (r instanceof Push) return r.items.map(replyToJson);
  if (r instanceof Verbatim) return typeof r.text === 'string' ? r.text : r.text.toString('utf8');
  if (r instanceof BigNumber) return r.digits;
  if (r instanceof NullArray) return null;
  if (r instanceof ErrorReply) return { error: r.line };
  if (r instanceof RawReply) return rawToJson(r.bytes);
  return null;
}

/** Prebuilt replies are simple one-line RESP values (+OK, :1, $-1…). */
function rawToJson(bytes: Buffer): Json {
  const text = bytes.toString('utf8');
  const body = text.slice(1).replace(/\r\n$/, '');
  switch (text[0]) {
    case '+': return body;
    case ':': return Number(body);
    case '_': return null;
    case '#': return body === 't';
    case '$': {
      if (body === '-1') return null;
      const nl = body.indexOf('\r\n');
      return nl < 0 ? body : body.slice(nl + 2);
    }
    default: return text;
  }
}

/**
 * A command's Reply as JSON, for the HTTP API. Commands run with RESP3
 * semantics, so maps arrive as maps and become objects; bulk strings are read
 * as UTF-8 (ids, keys and payloads over HTTP are text).
 */
import {
  BigNumber, Double, ErrorReply, NullArray, Push, RawReply, ReplyMap, ReplySet, SimpleString, Verbatim, type Reply,
} from '../../protocol/reply.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Both walks below keep their own stack instead of recursing: a reply holds
 * stored payloads, and a payload nested 6 000 levels deep (12 KB) overflows
 * the call stack of any recursive walk, JSON.stringify included.
 */

/** Marks an aggregate in `leafToJson`'s result. */
const AGGREGATE = Symbol('aggregate');

/** A non-aggregate reply as JSON, or AGGREGATE for arrays, maps, sets and pushes. */
function leafToJson(r: Reply): Json | typeof AGGREGATE {
  if (r === null) return null;
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  switch (typeof r) {
    case 'string': case 'number': case 'boolean': return r;
    case 'bigint': return Number.isSafeInteger(Number(r)) ? Number(r) : r.toString();
    default: break;
  }
  if (Array.isArray(r) || r instanceof ReplyMap || r instanceof ReplySet || r instanceof Push) return AGGREGATE;
  if (r instanceof SimpleString) return r.value;
  if (r instanceof Double) return Number.isFinite(r.value) ? r.value : String(r.value);
  if (r instanceof Verbatim) return typeof r.text === 'string' ? r.text : r.text.toString('utf8');
  if (r instanceof BigNumber) return r.digits;
  if (r instanceof NullArray) return null;
  if (r instanceof ErrorReply) return { error: r.line };
  if (r instanceof RawReply) return rawToJson(r.bytes);
  return null;
}

/** An aggregate being converted: its children in order (a map's as key, value, key, value…). */
interface Frame { readonly items: readonly Reply[]; i: number; readonly out: Json[]; readonly map: boolean }

function open(r: Reply): Frame {
  if (r instanceof ReplyMap) return { items: r.entries.flat(), i: 0, out: [], map: true };
  const items = Array.isArray(r) ? (r as readonly Reply[]) : (r as ReplySet | Push).items;
  return { items, i: 0, out: [], map: false };
}

/** Set a property even when it is named `__proto__` (which `o[k] = v` would not). */
function setProperty(o: { [k: string]: Json }, k: string, v: Json): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function close(f: Frame): Json {
  if (!f.map) return f.out;
  const o: { [k: string]: Json } = {};
  for (let j = 0; j + 1 < f.out.length; j += 2) {
    const k = f.out[j];
    // Map keys as object keys.
    setProperty(o, typeof k === 'string' ? k : toJsonText(k), f.out[j + 1]);
  }
  return o;
}

export function replyToJson(r: Reply): Json {
  const leaf = leafToJson(r);
  if (leaf !== AGGREGATE) return leaf;
  const stack: Frame[] = [open(r)];
  for (;;) {
    const f = stack[stack.length - 1];
    if (f.i === f.items.length) {
      stack.pop();
      const done = close(f);
      if (stack.length === 0) return done;
      stack[stack.length - 1].out.push(done);
      continue;
    }
    const child = f.items[f.i++];
    const v = leafToJson(child);
    if (v === AGGREGATE) stack.push(open(child));
    else f.out.push(v);
  }
}

/** Text written between values (brackets, commas, `"key":`), told apart from JSON strings on the stack. */
class Literal {
  constructor(readonly text: string) {}
}
const CLOSE_ARRAY = new Literal(']');
const CLOSE_OBJECT = new Literal('}');
const COMMA = new Literal(',');

/**
 * JSON.stringify for Json values, at any depth. The stack holds what is still
 * to be written, last first: a container pushes its closing bracket, then its
 * members in reverse with the commas between them.
 */
export function toJsonText(root: Json): string {
  let out = '';
  const stack: Array<Json | Literal | undefined> = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Literal) { out += v.text; continue; }
    if (v === null || v === undefined) { out += 'null'; continue; }
    switch (typeof v) {
      case 'string': out += JSON.stringify(v); continue;
      case 'number': out += Number.isFinite(v) ? String(v) : 'null'; continue;
      case 'boolean': out += v ? 'true' : 'false'; continue;
      default: break;
    }
    if (Array.isArray(v)) {
      out += '[';
      stack.push(CLOSE_ARRAY);
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push(COMMA);
      }
      continue;
    }
    out += '{';
    stack.push(CLOSE_OBJECT);
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    for (let i = keys.length - 1; i >= 0; i--) {
      stack.push(v[keys[i]]);
      stack.push(new Literal(`${JSON.stringify(keys[i])}:`));
      if (i > 0) stack.push(COMMA);
    }
  }
  return out;
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

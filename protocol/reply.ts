/**
 * The values a command can reply with, independent of the protocol version.
 * The encoder (`encoder.ts`) writes them as RESP3, or downgrades them to RESP2
 * the way Redis does (map → flat array, double → bulk string, boolean → 0/1,
 * null → `$-1`, or `*-1` for a null array).
 *
 * Plain JS values map as:
 *   Buffer → bulk string          string → bulk string (UTF-8)
 *   number → integer (must be an integer; use `Double` for floats)
 *   bigint → integer              boolean → boolean
 *   null   → null                 Array  → array
 */
export type Reply =
  | Buffer
  | string
  | number
  | bigint
  | boolean
  | null
  | readonly Reply[]
  | SimpleString
  | ErrorReply
  | Double
  | ReplyMap
  | ReplySet
  | Verbatim
  | Push
  | BigNumber
  | NullArray
  | RawReply;

/** `+text` — never contains CR or LF. */
export class SimpleString {
  constructor(readonly value: string) {}
}

/** `-CODE message` — `line` excludes the '-' and CRLF. */
export class ErrorReply {
  constructor(readonly line: string) {}
}

/** RESP3 `,1.5`; RESP2 a bulk string (integers print without a fraction, `inf`, `-inf`, `nan`). */
export class Double {
  constructor(readonly value: number) {}
}

/** RESP3 `%n` map; RESP2 a flat array of key, value, key, value… */
export class ReplyMap {
  constructor(readonly entries: ReadonlyArray<readonly [Reply, Reply]>) {}
}

/** RESP3 `~n` set; RESP2 an array. */
export class ReplySet {
  constructor(readonly items: readonly Reply[]) {}
}

/** RESP3 `=len\r\ntxt:…`; RESP2 a bulk string of the text alone. */
export class Verbatim {
  constructor(readonly format: string, readonly text: string | Buffer) {}
}

/** RESP3 `>n` push (out-of-band); RESP2 an array. */
export class Push {
  constructor(readonly items: readonly Reply[]) {}
}

/** RESP3 `(digits`; RESP2 a bulk string. */
export class BigNumber {
  constructor(readonly digits: string) {}
}

/** A null where an array was expected: RESP3 `_`, RESP2 `*-1`. */
export class NullArray {
  private constructor() {}
  static readonly INSTANCE = new NullArray();
}

/** Bytes already encoded, valid in both protocol versions (prebuilt constant replies). */
export class RawReply {
  constructor(readonly bytes: Buffer) {}
}

export const NULL_ARRAY = NullArray.INSTANCE;
export const OK = new SimpleString('OK');
export const QUEUED = new SimpleString('QUEUED');
export const PONG = new SimpleString('PONG');

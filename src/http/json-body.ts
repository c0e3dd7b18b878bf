/**
 * JSON.parse for request bodies without holding the event loop. A 13 MB batch
 * of 100 000 points takes V8's JSON.parse about 300 ms in one call, during
 * which no other client is served. A large body is therefore read in slices:
 * one pass over the text (itself sliced) finds where each array or object
 * starts, ends and separates its members; a container longer than groupChars
 * is built from JSON.parse calls on groups of its members (each at most
 * groupChars long) and from its large members, built the same way before it.
 * Every byte still goes through JSON.parse, so what is accepted, and the
 * values built, are JSON.parse's. Nothing recurses: the open containers are
 * an explicit stack, so nesting depth costs nothing.
 *
 * A large body is read as the pieces it arrived in (JsonPieces), never joined:
 * joining the 93 MB of a 100 000-point batch into one string held the loop for
 * ~70 ms before the first slice (bench/stalls.ts, http-batch).
 */
import { SLICE_MS, Slicer } from '../core/slicer.js';

export interface SliceOptions {
  /** Work between two yields to the event loop, ms. */
  sliceMs: number;
  /** Texts up to this many characters are parsed in one call (a few ms). */
  oneGoChars: number;
  /** The most characters handed to one JSON.parse call inside a large container (about 1 ms of work). */
  groupChars: number;
}

const DEFAULTS: SliceOptions = { sliceMs: SLICE_MS, oneGoChars: 256 * 1024, groupChars: 64 * 1024 };
/** The scan checks the clock every this many characters (a power of two). */
const SCAN_STEP = 64 * 1024;

/** What the parser reads: a string, or a text kept in the pieces it arrived in. */
export interface JsonText {
  readonly length: number;
  /** NaN outside the text, as a string's. */
  charCodeAt(i: number): number;
  slice(from: number, to: number): string;
}

/**
 * A text made of pieces, read in place: a character by its position (the
 * piece of the last read is tried first, so a scan costs no search), and a
 * slice joined from the pieces it spans (JSON.parse's groups are small).
 */
export class JsonPieces implements JsonText {
  readonly length: number;
  private readonly parts: string[];
  /** Where each part starts in the whole text. */
  private readonly starts: number[];
  /** The part the last read fell in, and its bounds. */
  private part = 0;
  private from = 0;
  private to = 0;

  constructor(parts: readonly string[]) {
    this.parts = parts.filter((p) => p.length > 0);
    if (this.parts.length === 0) this.parts.push('');
    this.starts = new Array<number>(this.parts.length);
    let at = 0;
    for (let i = 0; i < this.parts.length; i++) { this.starts[i] = at; at += this.parts[i].length; }
    this.length = at;
    this.to = this.parts[0].length;
  }

  charCodeAt(i: number): number {
    if (i < this.from || i >= this.to) this.seek(i);
    return this.parts[this.part].charCodeAt(i - this.from);
  }

  slice(from: number, to: number): string {
    if (to <= from) return '';
    this.seek(from);
    let p = this.part;
    const start = this.starts[p];
    if (to <= start + this.parts[p].length) return this.parts[p].slice(from - start, to - start);
    let text = this.parts[p].slice(from - start);
    for (p++; p < this.parts.length; p++) {
      const at = this.starts[p];
      if (to <= at + this.parts[p].length) return text + this.parts[p].slice(0, to - at);
      text += this.parts[p];
    }
    return text;
  }

  /** Makes the part holding position i (or the nearest, outside the text) the current one. */
  private seek(i: number): void {
    let lo = 0, hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= i) lo = mid; else hi = mid - 1;
    }
    this.part = lo;
    this.from = this.starts[lo];
    this.to = this.from + this.parts[lo].length;
  }
}

/** The text is not JSON; the message is JSON.parse's where it had one, with positions in the whole text. */
export class JsonBodyError extends Error {}

/** A large member already built: its value and where its brackets are. */
interface Built { value: unknown; open: number; close: number }

/** A container the scan is inside of. */
interface Open {
  /** '[' or '{' */
  readonly kind: number;
  readonly open: number;
  /** Offsets of the commas between its members. */
  readonly commas: number[];
  /** Members (by index) too large to be parsed with their neighbours, built already. */
  built: Map<number, Built> | null;
}

function isWhite(c: number): boolean { return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; }

function blank(text: JsonText, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isWhite(text.charCodeAt(i))) return false;
  return true;
}

/** Whether the text is empty or only JSON whitespace. */
export function blankText(text: JsonText): boolean { return blank(text, 0, text.length); }

/** JSON.parse of text[from, to), optionally inside `wrap` brackets; errors give positions in the whole text. */
function parseAt(text: JsonText, from: number, to: number, wrap = ''): unknown {
  const piece = wrap ? wrap[0] + text.slice(from, to) + wrap[1] : text.slice(from, to);
  try {
    return JSON.parse(piece);
  } catch (e) {
    const shift = from - (wrap ? 1 : 0);
    const message = (e as Error).message;
    // V8 names a position in some messages only; the piece's own start is the next best thing.
    throw new JsonBodyError(/position \d+/.test(message)
      ? message.replace(/position (\d+)/, (_, p: string) => `position ${Number(p) + shift}`)
      : `${message} (in the text from position ${from})`);
  }
}

/** Set a property even when it is named `__proto__`, as JSON.parse does. */
function define(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/**
 * The value of a JSON text, as JSON.parse gives it, with about `sliceMs` of
 * work at most between two yields to the event loop.
 * @throws JsonBodyError when the text is not JSON.
 */
export async function parseJsonInSlices(text: JsonText, options: Partial<SliceOptions> = {}): Promise<unknown> {
  const { sliceMs, oneGoChars, groupChars } = { ...DEFAULTS, ...options };
  let first = 0;
  while (first < text.length && isWhite(text.charCodeAt(first))) first++;
  const c0 = text.charCodeAt(first);
  // Small texts, and a lone string or number however long, in one call.
  if (text.length <= oneGoChars || (c0 !== 0x5b && c0 !== 0x7b)) return parseAt(text, 0, text.length);
  const slicer = new Slicer(sliceMs);
  const n = text.length;
  const stack: Open[] = [];
  let root: Built | null = null;
  let end = -1;
  for (let i = first; i < n; i++) {
    if ((i & (SCAN_STEP - 1)) === 0) await slicer.maybeYield();
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x2c /* , */) {
      if (stack.length > 0) stack[stack.length - 1].commas.push(i);
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (stack.length === 0 && i !== first) throw new JsonBodyError(`unexpected text after the JSON value at position ${i}`);
      stack.push({ kind: c, open: i, commas: [], built: null });
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      const top = stack.pop();
      if (!top || top.kind !== c - 2) throw new JsonBodyError(`unexpected '${String.fromCharCode(c)}' at position ${i}`);
      // A small container is left as text, parsed with its neighbours by whoever holds it.
      const built = i - top.open >= groupChars ? { value: await build(text, top, i, slicer, groupChars), open: top.open, close: i } : null;
      if (stack.length === 0) { root = built; end = i; break; }
      if (built) {
        const parent = stack[stack.length - 1];
        (parent.built ??= new Map()).set(parent.commas.length, built);
      }
    }
  }
  if (end < 0) throw new JsonBodyError('unexpected end of JSON input');
  if (!blank(text, end + 1, n)) throw new JsonBodyError(`unexpected text after the JSON value at position ${end + 1}`);
  return root ? root.value : parseAt(text, first, end + 1);
}

/** A large container from its members: groups of small ones through JSON.parse, large ones as built. */
async function build(text: JsonText, c: Open, close: number, slicer: Slicer, groupChars: number): Promise<unknown> {
  // Member k lies between bounds[k] and bounds[k + 1] (exclusive).
  const bounds = [c.open, ...c.commas, close];
  const count = bounds.length - 1;
  const isArray = c.kind === 0x5b;
  const array: unknown[] = [];
  const object: Record<string, unknown> = {};
  if (count === 1 && !c.built && blank(text, c.open + 1, close)) return isArray ? array : object;
  for (let k = 0; k < count;) {
    const from = bounds[k] + 1;
    const big = c.built?.get(k);
    if (big) {
      const to = bounds[k + 1];
      if (!blank(text, big.close + 1, to)) throw new JsonBodyError(`unexpected text after the value at position ${big.close + 1}`);
      if (isArray) {
        if (!blank(text, from, big.open)) throw new JsonBodyError(`unexpected text before the value at position ${from}`);
        array.push(big.value);
      } else {
        // `"key" :` before the value: the last colon before it ends the key (a key may hold colons).
        let colon = big.open - 1;
        while (colon >= from && isWhite(text.charCodeAt(colon))) colon--;
        if (colon < from || text.charCodeAt(colon) !== 0x3a) throw new JsonBodyError(`expected ':' before position ${big.open}`);
        const key = parseAt(text, from, colon);
        if (typeof key !== 'string') throw new JsonBodyError(`expected a property name at position ${from}`);
        define(object, key, big.value);
      }
      k++;
      await slicer.maybeYield();
      continue;
    }
    // Members k..j-1: as many small ones as fit in one JSON.parse call.
    let j = k + 1;
    while (j < count && !c.built?.has(j) && bounds[j + 1] - bounds[k] <= groupChars) j++;
    const to = bounds[j];
    if (isArray) {
      const values = parseAt(text, from, to, '[]') as unknown[];
      // An empty member ("[1,,2]", "[,big]") parses as fewer elements: JSON.parse itself refuses those.
      if (values.length !== j - k) throw new JsonBodyError(`missing array element near position ${from}`);
      for (const v of values) array.push(v);
    } else {
      if (blank(text, from, to)) throw new JsonBodyError(`missing property near position ${from}`);
      const members = parseAt(text, from, to, '{}') as Record<string, unknown>;
      for (const key of Object.keys(members)) define(object, key, members[key]);
    }
    k = j;
    await slicer.maybeYield();
  }
  return isArray ? array : object;
}

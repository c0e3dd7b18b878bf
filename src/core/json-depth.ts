/**
 * How deeply JSON nests, measured without recursion. Payloads and attributes
 * are refused past MAX_PAYLOAD_DEPTH when written, because anything that later
 * walks them recursively (JSON.stringify on the HTTP path, a client's own
 * parser) overflows its stack on a 12 KB document of 6 000 brackets.
 */

/** Deepest payload or attribute accepted: RedisJSON's limit. `{}` is 1 level, `{"a":[1]}` 2. */
export const MAX_PAYLOAD_DEPTH = 128;

/**
 * The nesting depth of JSON text: arrays and objects opened and not yet
 * closed, outside strings. Stops counting once past `stopAfter` (returns a
 * value > stopAfter), so a hostile document costs no more than its prefix.
 * Text that is not JSON still gets a depth: its unquoted brackets.
 */
export function jsonTextDepth(text: string, stopAfter = Infinity): number {
  let depth = 0, max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string: a bracket inside it is not structure.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) { max = depth; if (max > stopAfter) return max; }
    } else if ((c === 0x5d /* ] */ || c === 0x7d /* } */) && depth > 0) {
      depth--;
    }
  }
  return max;
}

/**
 * The nesting depth of a parsed JSON value (arrays and objects), walked with
 * an explicit stack. Stops once past `stopAfter`.
 */
export function jsonValueDepth(value: unknown, stopAfter = Infinity): number {
  if (value === null || typeof value !== 'object') return 0;
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (d > max) { max = d; if (max > stopAfter) return max; }
    const children = Array.isArray(v) ? v : Object.values(v as object);
    for (const c of children) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return max;
}

/** The error for a payload or attribute nested too deeply (`what`: 'payload' or 'attribute'). */
export function tooDeepMessage(what: string): string {
  return `${what} nests more than ${MAX_PAYLOAD_DEPTH} levels of arrays and objects (the payload nesting limit is ${MAX_PAYLOAD_DEPTH})`;
}

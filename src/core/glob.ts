/**
 * Redis's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET, COMMAND LIST
 * FILTERBY PATTERN): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\x` escapes.
 * Works on byte strings (latin1-decoded keys), so binary keys match byte by byte.
 */
export function globMatch(pattern: string, text: string, nocase = false): boolean {
  return matchAt(pattern, 0, text, 0, nocase, 0) === MATCH;
}

const NO_MATCH = 0;
const MATCH = 1;
/**
 * No match, and the text ran out before the pattern did: starting the rest
 * of the pattern later in the text (a shorter text) cannot match either, so
 * every enclosing `*` stops trying. Without this, `*a*a*a*a*a*a*a*a*a*a*b`
 * against forty `a`s takes minutes (CVE-2022-36021, Redis's skipLongerMatches);
 * with it, a PSUBSCRIBE or KEYS pattern costs polynomial time.
 */
const TEXT_EXHAUSTED = 2;
type Outcome = typeof NO_MATCH | typeof MATCH | typeof TEXT_EXHAUSTED;

function eq(a: string, b: string, nocase: boolean): boolean {
  return nocase ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function matchAt(p: string, pi: number, s: string, si: number, nocase: boolean, depth: number): Outcome {
  // Redis caps recursion to stop pathological patterns (e.g. many stars) from blowing the stack.
  if (depth > 1000) return NO_MATCH;
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      while (pi + 1 < p.length && p[pi + 1] === '*') pi++;
      if (pi + 1 === p.length) return MATCH;
      for (let k = si; k <= s.length; k++) {
        const r = matchAt(p, pi + 1, s, k, nocase, depth + 1);
        if (r !== NO_MATCH) return r;
      }
      return TEXT_EXHAUSTED;
    }
    if (si >= s.length) return TEXT_EXHAUSTED;
    if (c === '?') { pi++; si++; continue; }
    if (c === '[') {
      let i = pi + 1;
      const negate = p[i] === '^';
      if (negate) i++;
      let matched = false;
      while (i < p.length && p[i] !== ']') {
        if (p[i] === '\\' && i + 1 < p.length) { if (eq(p[i + 1], s[si], nocase)) matched = true; i += 2; continue; }
        if (i + 2 < p.length && p[i + 1] === '-' && p[i + 2] !== ']') {
          let lo = p.charCodeAt(i), hi = p.charCodeAt(i + 2);
          if (lo > hi) [lo, hi] = [hi, lo];
          let ch = s.charCodeAt(si);
          if (nocase) { lo = String.fromCharCode(lo).toLowerCase().charCodeAt(0); hi = String.fromCharCode(hi).toLowerCase().charCodeAt(0); ch = s[si].toLowerCase().charCodeAt(0); }
          if (ch >= lo && ch <= hi) matched = true;
          i += 3; continue;
        }
        if (eq(p[i], s[si], nocase)) matched = true;
        i++;
      }
      if (negate) matched = !matched;
      if (!matched) return NO_MATCH;
      pi = i < p.length ? i + 1 : i;
      si++;
      continue;
    }
    if (c === '\\' && pi + 1 < p.length) {
      if (!eq(p[pi + 1], s[si], nocase)) return NO_MATCH;
      pi += 2; si++; continue;
    }
    if (!eq(c, s[si], nocase)) return NO_MATCH;
    pi++; si++;
  }
  return si === s.length ? MATCH : NO_MATCH;
}

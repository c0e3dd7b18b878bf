/**
 * Redis's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET, COMMAND LIST
 * FILTERBY PATTERN): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\x` escapes.
 * Works on byte strings (latin1-decoded keys), so binary keys match byte by byte.
 */
export function globMatch(pattern: string, text: string, nocase = false): boolean {
  return matchAt(pattern, 0, text, 0, nocase, 0);
}

function eq(a: string, b: string, nocase: boolean): boolean {
  return nocase ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function matchAt(p: string, pi: number, s: string, si: number, nocase: boolean, depth: number): boolean {
  // Redis caps recursion to stop pathological patterns (e.g. many stars) from blowing the stack.
  if (depth > 1000) return false;
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      while (pi + 1 < p.length && p[pi + 1] === '*') pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k <= s.length; k++) if (matchAt(p, pi + 1, s, k, nocase, depth + 1)) return true;
      return false;
    }
    if (si >= s.length) return false;
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
      if (!matched) return false;
      pi = i < p.length ? i + 1 : i;
      si++;
      continue;
    }
    if (c === '\\' && pi + 1 < p.length) {
      if (!eq(p[pi + 1], s[si], nocase)) return false;
      pi += 2; si++; continue;
    }
    if (!eq(c, s[si], nocase)) return false;
    pi++; si++;
  }
  return si === s.length;
}

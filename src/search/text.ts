/**
 * TEXT tokenizing as RediSearch does it by default: split on whitespace and
 * punctuation, fold case, drop the default stop words. No stemming (see
 * README: `running` does not find `run`). Documents and query terms go
 * through the same rules, so a term written in a query meets the tokens the
 * document was indexed under.
 */

/** RediSearch's default separators (toksep.h). */
const SEPARATORS = new Set(' \t\n\r\v\f,./(){}[]:;\\~!@#$%^&*-=+|\'`"<>?');

/** RediSearch's default stop word list. */
export const DEFAULT_STOPWORDS: readonly string[] = [
  'a', 'is', 'the', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'it', 'no', 'not',
  'of', 'on', 'or', 'such', 'that', 'their', 'then', 'there', 'these', 'they', 'this', 'to', 'was', 'will', 'with',
];

/** Document text into its tokens, in order (stop words included: phrase checks skip them themselves). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) { cur += text[++i]; continue; }
    if (SEPARATORS.has(c)) {
      if (cur) { out.push(cur.toLowerCase()); cur = ''; }
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur.toLowerCase());
  return out;
}

/** Levenshtein distance, stopping early past `max` (fuzzy `%term%` matches within 1). */
export function withinEdits(a: string, b: string, max: number): boolean {
  if (Math.abs(a.length - b.length) > max) return false;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < best) best = v;
    }
    if (best > max) return false;
    prev = cur;
  }
  return prev[b.length] <= max;
}

/**
 * What the benchmarks print and record: aligned tables, the bar checks
 * (measured ÷ bar), and the JSON written to bench/results/latest.json.
 */

export type Cell = string | number;

/** Print a table with a title; numbers right-aligned, text left-aligned. */
export function printTable(title: string, headers: string[], rows: Cell[][], note?: string): void {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  // A column of figures (digits, or '–' for none) is right-aligned so magnitudes line up.
  const numeric = headers.map((_, i) => rows.length > 0 && text.every((r) => /^[-–<>=≤≥ ]*[\d–]/.test(r[i] ?? '')));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(`\n## ${title}`);
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of text) console.log(line(r));
  if (note) for (const l of note.split('\n')) console.log(`   ${l}`);
}

export interface Bar {
  question: string;
  what: string;
  measured: number;
  bar: number;
  /** '>=' : higher is better (goal measured ≥ bar); '<=' : lower is better. */
  sense: '>=' | '<=';
  unit: string;
  /** measured ÷ bar. */
  ratio: number;
  pass: boolean;
  note?: string;
}

export class Bars {
  readonly list: Bar[] = [];
  add(question: string, what: string, measured: number, sense: '>=' | '<=', bar: number, unit = '', note?: string): Bar {
    const ratio = measured / bar;
    // A bar of zero (none late, none lost) has no ratio, but is met by a measured zero.
    const pass = Number.isFinite(measured) && (sense === '>=' ? measured >= bar : measured <= bar);
    const b: Bar = { question, what, measured, bar, sense, unit, ratio, pass, note };
    this.list.push(b);
    return b;
  }
  skip(question: string, what: string, note: string): void {
    this.list.push({ question, what, measured: NaN, bar: NaN, sense: '>=', unit: '', ratio: NaN, pass: false, note: `skipped: ${note}` });
  }
}

function fmtValue(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '–';
  if (unit === 'µs') return `${x.toFixed(0)} µs`;
  if (unit === 'ms') return `${x.toFixed(2)} ms`;
  if (unit === '×') return `${x.toFixed(3)}×`;
  if (unit === 'B') return `${x.toFixed(0)} B`;
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3);
}

export function printBars(bars: Bars): void {
  printTable('Bars: measured ÷ bar (≥ bars pass at ≥ 1, ≤ bars pass at ≤ 1)', ['question', 'what', 'measured', 'bar', 'measured ÷ bar', 'result'],
    bars.list.map((b) => [b.question, b.what, fmtValue(b.measured, b.unit), Number.isFinite(b.bar) ? `${b.sense} ${fmtValue(b.bar, b.unit)}` : '–',
      Number.isFinite(b.ratio) ? b.ratio.toFixed(2) : '–', b.note?.startsWith('skipped') ? b.note : b.pass ? 'pass' : 'MISSED']));
}

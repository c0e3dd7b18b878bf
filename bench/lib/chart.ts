/**
 * The recall–QPS chart as a hand-written SVG: recall@k on x, queries per
 * second on a log y axis, one line per contender, points labelled with EF.
 * Up and to the right is better.
 */

export interface Series { name: string; color: string; points: Array<{ ef: number; qps: number; recall: number }> }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function recallQpsSvg(title: string, subtitle: string, series: Series[], footer: string): string {
  const W = 900, H = 580;
  const m = { left: 80, right: 250, top: 70, bottom: 100 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.qps) && p.qps > 0 && Number.isFinite(p.recall));
  const minR = all.length ? Math.min(...all.map((p) => p.recall)) : 0.9;
  // x: recall from a round step below the lowest point to 1.
  const step = minR > 0.95 ? 0.01 : minR > 0.8 ? 0.05 : 0.1;
  const x0 = Math.max(0, Math.floor((minR - step / 2) / step + 1e-9) * step);
  // A little room right of recall 1, so points there are not drawn on the frame.
  const x1 = 1 + (1 - x0) * 0.03;
  const lo = all.length ? Math.min(...all.map((p) => p.qps)) : 100, hi = all.length ? Math.max(...all.map((p) => p.qps)) : 10000;
  // y: the nearest 1-2-5 steps outside the data, with a little air.
  const steps = (v: number) => { const d = 10 ** Math.floor(Math.log10(v)); return [d, 2 * d, 5 * d, 10 * d]; };
  const y0 = Math.max(...steps(lo / 1.15).filter((t) => t <= lo / 1.15));
  const y1 = Math.min(...steps(hi * 1.15).filter((t) => t >= hi * 1.15));
  const X = (r: number) => m.left + ((r - x0) / (x1 - x0)) * pw;
  const Y = (q: number) => m.top + ph - ((Math.log10(q) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${m.left}" y="28" font-size="17" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${m.left}" y="48" fill="#555">${esc(subtitle)}</text>`);
  // Grid and ticks.
  for (let i = 0, r = x0; r <= 1 + 1e-9; i++, r = x0 + i * step) {
    const x = X(r).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" fill="#333">${r.toFixed(step < 0.05 ? 2 : step < 0.1 ? 2 : 1)}</text>`);
  }
  for (let d = 10 ** Math.floor(Math.log10(y0)); d <= y1 * 1.0001; d *= 10) {
    for (const mult of [1, 2, 5]) {
      const q = d * mult;
      if (q < y0 || q > y1 * 1.0001) continue;
      const y = Y(q).toFixed(1);
      out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="${mult === 1 ? '#d0d0d0' : '#efefef'}"/>`);
      out.push(`<text x="${m.left - 8}" y="${(Number(y) + 4).toFixed(1)}" text-anchor="end" fill="#333">${q >= 1000 ? `${q / 1000}k` : q}</text>`);
    }
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 40}" text-anchor="middle" font-size="13">recall@10 (vs exact)</text>`);
  out.push(`<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">queries per second (log)</text>`);
  // Series.
  series.forEach((s, si) => {
    const pts = s.points.filter((p) => Number.isFinite(p.qps) && p.qps > 0 && Number.isFinite(p.recall)).sort((a, b) => a.ef - b.ef);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${X(p.recall).toFixed(1)},${Y(p.qps).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) {
      const x = X(p.recall), y = Y(p.qps);
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="${s.color}"><title>${esc(`${s.name}: EF ${p.ef}, ${p.qps.toFixed(0)} QPS, recall ${p.recall.toFixed(4)}`)}</title></circle>`);
      out.push(`<text x="${(x + 6).toFixed(1)}" y="${(y - 6 - si * 2).toFixed(1)}" fill="${s.color}" font-size="10">ef ${p.ef}</text>`);
    }
    const ly = m.top + 10 + si * 22;
    out.push(`<line x1="${m.left + pw + 16}" y1="${ly}" x2="${m.left + pw + 40}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<circle cx="${m.left + pw + 28}" cy="${ly}" r="4" fill="${s.color}"/>`);
    out.push(`<text x="${m.left + pw + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  footer.split('\n').forEach((line, i) => out.push(`<text x="${m.left}" y="${H - 30 + i * 15}" fill="#777" font-size="10">${esc(line)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

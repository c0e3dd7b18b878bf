/**
 * Q7, VEC.GET on F32 sets returns the stored vector bit for bit: a seeded
 * sample of elements of the main set, every component parsed back from the
 * reply and compared with the float32 that was sent. Bar: all exact.
 */
import type { Context } from './lib/context.js';
import { connect } from './lib/client.js';
import { Rng } from './lib/data.js';
import { printTable } from './lib/report.js';

export async function run(ctx: Context): Promise<void> {
  const o = ctx.opts;
  const f = await ctx.fixture();
  const c = await connect(f.server.port);
  const rng = new Rng(o.seed ^ 0x5EED);
  const sample = Math.min(f.ds.n, o.quick ? 200 : 1000);
  let exact = 0, components = 0, wrong = 0;
  let firstWrong = '';
  try {
    const p = c.pipeline();
    const ids: number[] = [];
    for (let s = 0; s < sample; s++) { const id = rng.int(f.ds.n); ids.push(id); p.call('VEC.GET', f.key, String(id)); }
    const replies = (await p.exec()) ?? [];
    replies.forEach(([err, reply], s) => {
      if (err) throw err;
      const flat = reply as unknown[];
      const at = flat.indexOf('vector');
      const values = (at >= 0 ? flat[at + 1] : null) as string[] | null;
      if (!values) throw new Error(`VEC.GET ${ids[s]}: no vector in ${JSON.stringify(reply).slice(0, 200)}`);
      let same = values.length === f.ds.dim;
      for (let j = 0; j < values.length; j++) {
        const sent = f.ds.vectors[ids[s] * f.ds.dim + j];
        const got = Number(values[j]);
        components++;
        // A float32 widened to double is exact; the reply must parse back to that very double.
        if (got !== sent || Math.fround(got) !== sent) {
          wrong++; same = false;
          firstWrong ||= `element ${ids[s]} component ${j}: sent ${sent}, got "${values[j]}"`;
        }
      }
      if (same) exact++;
    });
  } finally { c.disconnect(); }
  printTable('Q7 VEC.GET bit-exactness (F32)', ['elements sampled', 'exact', 'components compared', 'components differing', 'first difference'],
    [[sample, exact, components, wrong, firstWrong || '–']]);
  ctx.results.get = { sample, exact, components, wrong, firstWrong };
  ctx.bars.add('Q7 VEC.GET', 'share of sampled F32 vectors returned bit-exact', exact / sample, '>=', 1);
}

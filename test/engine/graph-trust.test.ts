import test from 'ava';
import { GraphTrust, MIN_GAIN, PROBE_EVERY_DISTRUSTED, PROBE_EVERY_TRUSTED, STEEP_GAIN, WINDOW, trustedProbeEvery } from '../../src/engine/graph-trust.js';

/** A planner state whose first window is full of probes that all found `recall`. */
function sampled(recall: number, canScan: boolean, n: number, ef: number): GraphTrust {
  const t = new GraphTrust();
  for (let i = 0; i < WINDOW; i++) {
    if (t.route(canScan, n, ef) !== 'probe') throw new Error('the first window is all probes');
    t.record(recall);
  }
  return t;
}

/** Queries routed until the next probe, and how the others went. */
function gapToProbe(t: GraphTrust, canScan: boolean, n: number, ef: number): { gap: number; others: Set<string> } {
  const others = new Set<string>();
  for (let gap = 1; gap < 1e6; gap++) {
    const r = t.route(canScan, n, ef);
    if (r === 'probe') return { gap, others };
    others.add(r);
  }
  throw new Error('no probe in a million queries');
}

test('a trusted walk is re-sampled as rarely as keeps the scans near 1 % of the work, never more often than 1 in 256', (t) => {
  t.is(trustedProbeEvery(512, 64), PROBE_EVERY_TRUSTED, 'a scan of a small set is cheap: the floor');
  // sqrt(20 000) / 15 ≈ 9.4 walks per scan → one probe in ~943; at 100 k, 21 walks → ~2 109.
  t.is(trustedProbeEvery(20_000, 64), Math.ceil(Math.sqrt(20_000) / 15 / 0.01));
  t.true(trustedProbeEvery(100_000, 64) > trustedProbeEvery(20_000, 64));
  t.true(trustedProbeEvery(100_000, 256) < trustedProbeEvery(100_000, 64), 'a wider beam makes the walk dearer, so a scan is relatively cheaper');

  for (const n of [1_000, 20_000, 100_000]) {
    const trust = sampled(1, true, n, 64);
    t.true(trust.trusted());
    // The first gap starts from the window's last probe; every later one is exact.
    gapToProbe(trust, true, n, 64);
    for (let i = 0; i < 3; i++) {
      const { gap, others } = gapToProbe(trust, true, n, 64);
      t.is(gap, trustedProbeEvery(n, 64), `n ${n}`);
      t.deepEqual([...others], ['graph']);
    }
  }
});

test('a walk that misses is re-sampled often while its set is scanned instead', (t) => {
  const trust = sampled(0.5, true, 20_000, 64);
  t.false(trust.trusted());
  gapToProbe(trust, true, 20_000, 64);
  const { gap, others } = gapToProbe(trust, true, 20_000, 64);
  t.is(gap, PROBE_EVERY_DISTRUSTED);
  t.deepEqual([...others], ['exact']);
});

test('a set too large to scan is probed at the trusted pace of its widened beam', (t) => {
  const n = 500_000;
  const trust = sampled(0.5, false, n, 64); // misses: the beam is doubled and a new window starts
  t.is(trust.widened, 1);
  // Trusted, and the doubling gained less than STEEP_GAIN: the beam stays.
  for (let i = 0; i < WINDOW; i++) { t.is(trust.route(false, n, 64), 'probe'); trust.record(1, 1 - STEEP_GAIN / 2); }
  t.is(trust.beam(64), 128);
  gapToProbe(trust, false, n, 64);
  const { gap, others } = gapToProbe(trust, false, n, 64);
  t.is(gap, trustedProbeEvery(n, 128));
  t.deepEqual([...others], ['graph']);
});

/** A window of probes at the current beam, each also walked at the previous beam. */
function window(trust: GraphTrust, n: number, recall: number, previous: number): void {
  for (let i = 0; i < WINDOW; i++) {
    if (trust.route(false, n, 64) !== 'probe') throw new Error('a new beam starts with a window of probes');
    trust.record(recall, previous);
  }
}

test('a trusted doubling that gained much tries one more; the next is kept only if it gains', (t) => {
  const n = 100_000;
  // 64 misses → 128 finds everything on its window, but gained 0.3: the curve is steep, try 256.
  const lucky = sampled(0.7, false, n, 64);
  window(lucky, n, 1, 0.7);
  t.is(lucky.beam(64), 256, 'a perfect window after a steep doubling is not the last word');
  // 256 adds nothing over 128 on fresh queries: undone, and the beam stays at 128 for good.
  window(lucky, n, 1, 1 - MIN_GAIN / 2);
  t.is(lucky.beam(64), 128);
  t.is(lucky.previousBeam(64), null, 'settled');
  t.true(lucky.walks());

  // The same start where 128 only looked perfect: 256 gains 0.06 on fresh queries and is kept;
  // it gained more than STEEP_GAIN, so 512 is tried, adds nothing and is undone.
  const fooled = sampled(0.7, false, n, 64);
  window(fooled, n, 1, 0.7);
  window(fooled, n, 1, 0.94);
  t.is(fooled.beam(64), 512);
  window(fooled, n, 1, 1);
  t.is(fooled.beam(64), 256);
  t.is(fooled.previousBeam(64), null);
});

test('a doubling is undone when the narrower beam, over both windows, is confidently on target after all', (t) => {
  const n = 100_000;
  // Queries like the data: EF 64 finds everything but on two probes, enough to miss the bound.
  const trust = new GraphTrust();
  for (let i = 0; i < WINDOW; i++) { trust.route(false, n, 64); trust.record(i < 2 ? 0.8 : 1); }
  t.false(trust.trusted());
  t.is(trust.beam(64), 128);
  // 128 gains 0.2 on one fresh probe (0.0125 on the window): more than MIN_GAIN, but over 32
  // probes EF 64 averages 0.98 with a bound above 0.95. The doubling is not worth its cost.
  for (let i = 0; i < WINDOW; i++) { t.is(trust.route(false, n, 64), 'probe'); trust.record(1, i === 0 ? 0.8 : 1); }
  t.is(trust.beam(64), 64);
  t.is(trust.previousBeam(64), null, 'settled');
});

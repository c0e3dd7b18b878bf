import test from 'ava';
import { GraphTrust, PROBE_EVERY_DISTRUSTED, PROBE_EVERY_TRUSTED, WINDOW, trustedProbeEvery } from '../../src/engine/graph-trust.js';

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
  for (let i = 0; i < WINDOW; i++) { t.is(trust.route(false, n, 64), 'probe'); trust.record(1, 0.5); }
  t.is(trust.beam(64), 128);
  gapToProbe(trust, false, n, 64);
  const { gap, others } = gapToProbe(trust, false, n, 64);
  t.is(gap, trustedProbeEvery(n, 128));
  t.deepEqual([...others], ['graph']);
});

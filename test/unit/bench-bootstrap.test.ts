import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignRounds, bootstrapDifference, weightedPercentiles } from '../../bench/load/bootstrap.ts';
import { createRandom } from '../../src/load/schedule.ts';

/** A round of `n` samples (µs → count) around `centreUs`, spread by a round-wide factor `weather`. */
function round(next: () => number, n: number, centreUs: number, weather: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    // Exponential-ish tail: most samples near the centre, a few far above it.
    const value = Math.round(centreUs * weather * (0.5 - Math.log(1 - next()) * 0.5));
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

test('weightedPercentiles ranks merged rounds as wrk does, and a weight counts a round that many times', () => {
  const samples = alignRounds([new Map([[1, 1], [2, 1]]), new Map([[3, 2]])]);
  assert.deepEqual([...samples.values], [1, 2, 3]);
  // All four samples: 1, 2, 3, 3. rank(50) = round(2.5) = 3 → 3; rank(25) = round(1.5) = 2 → 2.
  assert.deepEqual(weightedPercentiles(samples, [1, 1], [25, 50]), [2, 3]);
  // The first round twice, the second not at all: 1, 1, 2, 2.
  assert.deepEqual(weightedPercentiles(samples, [2, 0], [25, 99]), [1, 2]);
});

test('the bootstrap interval holds the true difference and tells 0 % from 20 % with enough rounds', () => {
  const next = createRandom(7);
  const weather = Array.from({ length: 12 }, () => 0.8 + next() * 0.4);
  const base = weather.map((w) => round(next, 4000, 300, w));
  const same = weather.map((w) => round(next, 4000, 300, w));
  const slower = weather.map((w) => round(next, 4000, 360, w));
  const percentiles = [50, 99];
  const equal = bootstrapDifference(alignRounds(same), alignRounds(base), percentiles);
  for (const interval of equal) {
    assert.ok(interval.low <= 0 && interval.high >= 0, `same distribution: ${JSON.stringify(interval)}`);
    assert.ok(interval.high - interval.low < 20, `the interval is informative: ${JSON.stringify(interval)}`);
  }
  const shifted = bootstrapDifference(alignRounds(slower), alignRounds(base), percentiles);
  for (const interval of shifted) {
    assert.ok(interval.low > 10 && interval.low <= 20 && interval.high >= 20, `20 % slower: ${JSON.stringify(interval)}`);
  }
  // Seeded: the same input gives the same interval.
  assert.deepEqual(bootstrapDifference(alignRounds(slower), alignRounds(base), percentiles), shifted);
});

test('the bootstrap refuses rounds that do not pair up', () => {
  assert.throws(() => bootstrapDifference(alignRounds([new Map([[1, 1]])]), alignRounds([]), [50]), /1 rounds against 0/);
});

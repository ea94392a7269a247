// How sure is "ballast agrees with wrk within 10 %"? On a shared 2-core VM one round's p99 moves by
// ±30 % between two runs of the same tool, so the merged percentiles of a few rounds are one draw
// from a wide distribution. The bootstrap answers from the rounds themselves: resample whole rounds
// with replacement (the round is the unit: its server, its minute of host weather), merge each
// tool's samples over the drawn rounds, and take the relative difference at each percentile; the
// spread of that difference over many resamples is its confidence interval. The tools are paired
// by round (the same draw picks round r for both), so a stall that hit one round's runs is drawn
// for both tools together.

import { createRandom } from '../../src/load/schedule.ts';

/** One tool's samples of every round, as counts over the union of their values (µs). */
export interface RoundSamples {
  values: Float64Array;
  /** rows[round][i]: samples of value `values[i]` in that round. */
  rows: Float64Array[];
}

export function alignRounds(rounds: ReadonlyArray<ReadonlyMap<number, number>>): RoundSamples {
  const union = new Set<number>();
  for (const round of rounds) for (const value of round.keys()) union.add(value);
  const values = Float64Array.from([...union].sort((a, b) => a - b));
  const index = new Map<number, number>();
  values.forEach((value, i) => index.set(value, i));
  const rows = rounds.map((round) => {
    const row = new Float64Array(values.length);
    for (const [value, count] of round) row[index.get(value)!] += count;
    return row;
  });
  return { values, rows };
}

/**
 * Percentiles (in the samples' unit) of the rounds merged with these weights (how many times each
 * round was drawn), ranked as wrk ranks them: the sample at round(p/100 × n + 0.5).
 */
export function weightedPercentiles(samples: RoundSamples, weights: ArrayLike<number>, percentiles: readonly number[]): number[] {
  const merged = new Float64Array(samples.values.length);
  let total = 0;
  samples.rows.forEach((row, round) => {
    const weight = weights[round];
    if (weight === 0) return;
    for (let i = 0; i < row.length; i++) merged[i] += row[i] * weight;
  });
  for (let i = 0; i < merged.length; i++) total += merged[i];
  const ranks = percentiles.map((percentile) => Math.round((percentile / 100) * total + 0.5));
  const out = percentiles.map(() => samples.values[samples.values.length - 1] ?? 0);
  let seen = 0;
  let next = 0;
  const order = ranks.map((rank, i) => ({ rank, i })).sort((a, b) => a.rank - b.rank);
  for (let i = 0; i < merged.length && next < order.length; i++) {
    seen += merged[i];
    while (next < order.length && seen >= order[next].rank) out[order[next++].i] = samples.values[i];
  }
  return out;
}

export interface Interval {
  /** The statistic over all rounds, each drawn once (for bootstrapDifference: (a − b) / b × 100). */
  estimate: number;
  low: number;
  high: number;
}

/**
 * `statistic` over all rounds (each drawn once), with its `confidence` interval from `resamples`
 * draws of `rounds` whole rounds with replacement; the statistic gets each round's multiplicity.
 */
export function bootstrapIntervals(rounds: number, statistic: (weights: Float64Array) => number[], options: { resamples?: number; confidence?: number; seed?: number } = {}): Interval[] {
  if (rounds === 0) throw new Error('bootstrap: no rounds');
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const next = createRandom(options.seed ?? 1); // seeded: a report's intervals can be recomputed
  const estimate = statistic(new Float64Array(rounds).fill(1));
  const draws: number[][] = estimate.map(() => []);
  const weights = new Float64Array(rounds);
  for (let s = 0; s < resamples; s++) {
    weights.fill(0);
    for (let k = 0; k < rounds; k++) weights[Math.floor(next() * rounds)]++;
    statistic(weights).forEach((value, i) => draws[i].push(value));
  }
  const tail = (1 - confidence) / 2;
  return draws.map((values, i) => {
    values.sort((x, y) => x - y);
    const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))];
    return { estimate: estimate[i], low: at(tail), high: at(1 - tail) };
  });
}

/**
 * The relative difference (%) of `a` over `b` at each percentile, with its interval from paired
 * draws of whole rounds. `a` and `b` must hold the same rounds in order.
 */
export function bootstrapDifference(a: RoundSamples, b: RoundSamples, percentiles: readonly number[], options: { resamples?: number; confidence?: number; seed?: number } = {}): Interval[] {
  if (b.rows.length !== a.rows.length || a.rows.length === 0) throw new Error(`bootstrap: ${a.rows.length} rounds against ${b.rows.length}`);
  return bootstrapIntervals(a.rows.length, (weights) => {
    const pa = weightedPercentiles(a, weights, percentiles);
    const pb = weightedPercentiles(b, weights, percentiles);
    return pa.map((value, i) => ((value - pb[i]) / pb[i]) * 100);
  }, options);
}

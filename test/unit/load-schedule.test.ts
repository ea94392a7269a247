import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createArrivalSchedule, parseStages, TargetCurve } from '../../src/load/schedule.ts';

function arrivals(curve: TargetCurve, kind: 'constant' | 'poisson', seed = 1, phase = 0): number[] {
  const schedule = createArrivalSchedule(curve, kind, seed, phase);
  const times: number[] = [];
  for (let at = schedule.next(); at < 30_000 && Number.isFinite(at); at = schedule.next()) times.push(at);
  return times;
}

test('constant arrivals at 500/s for 30 s are exactly 15,000, evenly spaced 2 ms apart', () => {
  const times = arrivals(new TargetCurve(500, [], 30_000), 'constant');
  assert.equal(times.length, 15_000);
  assert.equal(times[0], 0);
  for (let i = 1; i < times.length; i++) assert.ok(Math.abs(times[i] - times[i - 1] - 2) < 1e-9);
});

test('a ramp from 0 to 500/s over 30 s sends the area under the ramp: 7,500 arrivals, denser at the end', () => {
  const curve = new TargetCurve(0, parseStages(['30s:500']), 30_000);
  const times = arrivals(curve, 'constant');
  assert.ok(Math.abs(times.length - 7_500) <= 1, `${times.length}`);
  const firstHalf = times.filter((t) => t < 15_000).length;
  assert.ok(Math.abs(firstHalf - 1_875) <= 1, `first half ${firstHalf}: a quarter of the area`);
});

test('stages ramp then hold: 10s:100,10s:100 gives 500 + 1000 arrivals', () => {
  const curve = new TargetCurve(0, parseStages(['10s:100', '10s:100']), 20_000);
  assert.equal(curve.at(5_000), 50);
  assert.equal(curve.at(15_000), 100);
  assert.ok(Math.abs(curve.total - 1_500) < 1e-9);
});

test('Poisson arrivals have the target mean rate, exponential gaps, and repeat exactly for a seed', () => {
  const curve = new TargetCurve(1000, [], 30_000);
  const a = arrivals(curve, 'poisson', 42);
  const b = arrivals(curve, 'poisson', 42);
  const c = arrivals(curve, 'poisson', 43);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(Math.abs(a.length - 30_000) < 600, `${a.length} arrivals (expected 30,000 ± 3.5 σ)`);
  const gaps = a.slice(1).map((t, i) => t - a[i]);
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
  const variance = gaps.reduce((sum, gap) => sum + (gap - mean) ** 2, 0) / gaps.length;
  assert.ok(Math.abs(mean - 1) < 0.03, `mean gap ${mean} ms`);
  assert.ok(Math.abs(Math.sqrt(variance) / mean - 1) < 0.05, 'coefficient of variation ≈ 1, as for exponential gaps');
});

test('threads with phases interleave constant arrivals evenly', () => {
  const curve = new TargetCurve(250, [], 30_000);
  const merged = [...arrivals(curve, 'constant', 1, 0), ...arrivals(curve, 'constant', 1, 0.5)].sort((x, y) => x - y);
  for (let i = 1; i < 100; i++) assert.ok(Math.abs(merged[i] - merged[i - 1] - 2) < 1e-9);
});

test('bad stages are rejected with the option, the expected form and the given text', () => {
  assert.throws(() => parseStages(['30s-500']), /expected `stages` \(--stages\) items to be DURATION:TARGET such as 30s:500, got `30s-500`/);
  assert.throws(() => parseStages(['abc:5']), /got `abc:5`/);
});

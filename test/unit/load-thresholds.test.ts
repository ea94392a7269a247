import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateThresholds, parseThreshold } from '../../src/load/thresholds.ts';
import { GroupRecorder } from '../../src/load/recorder.ts';
import { buildResult } from '../../src/load/result.ts';
import type { IntervalData } from '../../src/load/types.ts';

function result() {
  const intervals: IntervalData[] = [];
  const recorder = new GroupRecorder('api', 0, 0, (interval) => intervals.push(interval));
  for (let i = 1; i <= 1000; i++) recorder.recordResponse(10, i <= 20 ? 500 : 200, undefined, i * 1000, -1);
  recorder.finish();
  return buildResult({ startedAt: '', durationMs: 1000, runs: 1, groups: [{ meta: { name: 'api', kind: 'closed', description: '', urls: [] }, intervals }], generator: [] });
}

test('parses latency, error-rate, count and rate rules with units', () => {
  assert.deepEqual(parseThreshold('p99<250ms'), { rule: 'p99<250ms', group: undefined, metric: 'p99', operator: '<', value: 250, isPercent: false });
  assert.equal(parseThreshold('max<2s').value, 2000);
  assert.equal(parseThreshold('p99.9 <= 500us').value, 0.5);
  assert.equal(parseThreshold('errors<1%').value, 0.01);
  assert.equal(parseThreshold('api:rps>=400').group, 'api');
});

test('rejects rules it cannot evaluate, naming the option and the given text', () => {
  assert.throws(() => parseThreshold('p99 fast'), /expected `threshold` \(--threshold\) to be METRIC<VALUE .*got `p99 fast`/);
  assert.throws(() => parseThreshold('latency<5ms'), /unknown metric `latency`/);
  assert.throws(() => parseThreshold('p99<5%'), /a latency needs a time unit/);
});

test('evaluates rules against the exact histogram: p99 of 1..1000 ms is 990 ms', () => {
  const outcomes = evaluateThresholds(result(), ['p99<1s', 'p99<900ms', 'p999<=1000ms', 'errors<1%', 'errors<=2%', 'errors=20', 'mean<501ms', 'api:requests=1000'].map(parseThreshold));
  assert.deepEqual(outcomes.map((outcome) => outcome.ok), [true, false, true, false, true, true, true, true]);
  assert.ok(Math.abs(outcomes[0].actual - 990) <= 1);
  assert.equal(outcomes[3].actual, 2);
  assert.equal(outcomes[3].unit, '%');
});

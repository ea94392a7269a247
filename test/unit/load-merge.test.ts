import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupRecorder } from '../../src/load/recorder.ts';
import { buildResult } from '../../src/load/result.ts';
import { mergeResults } from '../../src/load/merge.ts';
import { createRandom } from '../../src/load/schedule.ts';
import type { IntervalData, RunResult } from '../../src/load/types.ts';

interface Sample { atMs: number; status: number; latencyUs: number }

function samples(seed: number, count: number): Sample[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => {
    const slow = random() < 0.05;
    return {
      atMs: random() * 5_000,
      status: random() < 0.02 ? 503 : 200,
      latencyUs: Math.round(slow ? 200_000 + random() * 800_000 : 500 + random() * 20_000),
    };
  }).sort((a, b) => a.atMs - b.atMs);
}

function record(list: readonly Sample[]): RunResult {
  const intervals: IntervalData[] = [];
  const recorder = new GroupRecorder('default', 0, 4, (interval) => intervals.push(interval));
  for (const sample of list) recorder.recordResponse(sample.atMs, sample.status, undefined, sample.latencyUs, sample.latencyUs);
  recorder.finish();
  return buildResult({
    startedAt: '2025-01-01T00:00:00.000Z',
    durationMs: 5_000,
    runs: 1,
    groups: [{ meta: { name: 'default', kind: 'open', description: 'test', urls: ['http://127.0.0.1/'] }, intervals }],
    generator: [],
  });
}

test('merging two runs equals one run over the union of their samples, exactly', () => {
  const a = samples(1, 20_000);
  const b = samples(2, 30_000);
  const union = [...a, ...b].sort((x, y) => x.atMs - y.atMs);
  const merged = mergeResults([record(a), record(b)]);
  const single = record(union);
  assert.deepEqual(merged.summary, single.summary);
  assert.deepEqual(merged.series, single.series);
  assert.equal(merged.summary.requests, 50_000);
  assert.equal(merged.runs, 2);
  // The merged file merges again (associativity): three-way equals the union of three.
  const c = samples(3, 10_000);
  const again = mergeResults([merged, record(c)]);
  assert.deepEqual(again.summary, record([...union, ...c].sort((x, y) => x.atMs - y.atMs)).summary);
});

test('a merged group says which runs it holds: "2 × (…)" for the same settings, "A + B" for different ones', () => {
  const describe = (result: RunResult, description: string): RunResult => ({ ...result, groups: result.groups.map((group) => ({ ...group, description })) });
  const run = record(samples(4, 100));
  const same = mergeResults([describe(run, 'open model, 250 req/s'), describe(run, 'open model, 250 req/s')]);
  assert.equal(same.groups[0].description, '2 × (open model, 250 req/s)');
  const different = mergeResults([describe(run, 'open model, 500 req/s'), describe(run, 'open model, 300 req/s'), describe(run, 'open model, 500 req/s')]);
  assert.equal(different.groups[0].description, '2 × (open model, 500 req/s) + open model, 300 req/s');
  assert.equal(mergeResults([describe(run, 'closed model, 8 users')]).groups[0].description, 'closed model, 8 users');
});

test('the mean is exact and percentiles are within HDR precision (0.1%) of the sorted samples', () => {
  const list = samples(7, 40_000);
  const result = record(list);
  const sorted = list.map((sample) => sample.latencyUs).sort((x, y) => x - y);
  const exactMean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length / 1000;
  assert.ok(Math.abs(result.summary.latencyMs.mean - exactMean) < 0.001);
  for (const [key, p] of [['p50', 50], ['p90', 90], ['p99', 99], ['p999', 99.9]] as const) {
    const truth = sorted[Math.ceil((p / 100) * sorted.length) - 1] / 1000;
    const reported = result.summary.latencyMs[key];
    assert.ok(Math.abs(reported - truth) <= truth * 0.001 + 0.001, `${key}: ${reported} vs ${truth}`);
  }
  assert.equal(result.summary.statusCounts['503'], result.summary.errors);
  assert.equal(result.series.length, 5);
  assert.equal(result.series.reduce((sum, point) => sum + point.requests, 0), 40_000);
});

test('merge refuses a group that is closed in one file and open in another', () => {
  const a = record(samples(1, 100));
  const b = structuredClone(a);
  b.groups[0].kind = 'closed';
  assert.throws(() => mergeResults([a, b]), /cannot merge group `default`/);
});

test('failed stream attempts count as attempts: the error rate of a stream group is at most 100%', async () => {
  const { summarize } = await import('../../src/load/result.ts');
  const intervals: IntervalData[] = [];
  const recorder = new GroupRecorder('streams', 0, 1, (interval) => intervals.push(interval));
  recorder.recordStreamOpened(100, 1_000);
  recorder.recordStreamError(200, 504, undefined);
  recorder.recordStreamError(300, 0, 'refused');
  recorder.recordStreamError(400, 502, undefined);
  recorder.finish();
  const { summary } = summarize(intervals, { durationMs: 2_000, kinds: ['stream'] });
  assert.equal(summary.errors, 3);
  assert.equal(summary.errorRate, 0.75);
  assert.deepEqual(summary.statusCounts, { 502: 1, 504: 1 });
});

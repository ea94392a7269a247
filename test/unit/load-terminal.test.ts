import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummaryBlock } from '../../src/load/report/terminal.ts';
import type { Stats, Summary } from '../../src/load/types.ts';

const stats = (p50: number): Stats => ({ count: 1000, mean: p50, min: p50 / 2, p50, p90: p50 * 2, p99: p50 * 4, p999: p50 * 8, max: p50 * 10 });

function openSummary(lagP50: number, serviceP50: number): Summary {
  return {
    durationMs: 1000, requests: 1000, requestsPerSecond: 1000, requestsPerMinute: 60_000, errors: 0, errorRate: 0,
    statusCounts: { 200: 1000 }, errorKinds: {}, dropped: 0, interrupted: 0, concurrencyMax: 3, users: 0,
    latencyMs: stats(lagP50 + serviceP50), serviceMs: stats(serviceP50), scheduleLagMs: stats(lagP50),
  };
}

test('the open-model summary shows the schedule lag p50, and says when the lag outweighs the service time', () => {
  const timerBound = formatSummaryBlock(openSummary(0.66, 0.28), ['open']).join('\n');
  assert.match(timerBound, /schedule lag\s+p50 0\.660 ms\s+p99 2\.64 ms/);
  assert.match(timerBound, /mostly the generator's own lag; --pacing precise/);
  // Precise pacing, or a slow server: the lag is small next to the service time.
  assert.doesNotMatch(formatSummaryBlock(openSummary(0.05, 0.13), ['open']).join('\n'), /generator's own lag/);
  assert.doesNotMatch(formatSummaryBlock(openSummary(0.7, 20), ['open']).join('\n'), /generator's own lag/);
  // Mixed models leave service time and lag to the per-group blocks.
  assert.doesNotMatch(formatSummaryBlock(openSummary(0.66, 0.28), ['open', 'closed']).join('\n'), /schedule lag/);
});

// Seed 000, /check_feed: ~10 requests a second to a route that calls a slow (~2 s) feed service.
// Naive: three sync workers (`--worker-connections 1`, gunicorn's sync worker) with a plain call:
// capacity is 3 / 2 s = 1.5 req/s against 10 arriving, so the queue grows until clients time out.
// Tuned: one event loop per worker holds many calls at once, and the app bounds the call (2.5 s),
// coalesces concurrent calls and serves stale-while-revalidate, so almost nothing waits on it.

import { formatMs, formatPercent, formatRate } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, failedFraction, findRun, forEachVariant, timeGet } from './common.ts';

const naiveWorkers = 3;

export const checkFeed: Scenario = {
  name: 'check-feed',
  title: '/check_feed at 10 req/s against a 2 s upstream',
  seeds: '000',
  summary: 'A steady ~10 requests a second to a route that calls a slow external feed (2 s). The seed: "a lot of users are ending up with 502 backend errors".',
  estimateSeconds: (quick) => (quick ? 25 : 140),
  async run(ctx) {
    const rate = 10;
    const durationMs = ctx.pick(60_000, 8_000);
    const clientTimeoutMs = ctx.pick(30_000, 5_000);
    const feed = await ctx.startFeedService({ delayMs: 2000, jitterMs: 100 });
    const upstreamMs = await timeGet(`${feed.url}/feed`, ctx.quick ? 1 : 3);
    ctx.note(`Feed service: 2,000 ms ± 100 ms per call (measured ${formatMs(upstreamMs)}).`);
    ctx.note(`Load: open model, ${rate} req/s constant arrivals for ${durationMs / 1000} s; a client gives up after ${clientTimeoutMs / 1000} s (gunicorn's default worker timeout is 30 s).`);
    const phase = { name: `${rate} req/s`, description: `${rate} requests/s to /check_feed for ${durationMs / 1000} s (open model), client timeout ${clientTimeoutMs / 1000} s` };
    const upstreamCalls: Record<string, number> = {};
    await forEachVariant(ctx, {
      naive: {
        args: ['--workers', String(naiveWorkers), '--worker-connections', '1', '--queue', '100000', '--queue-timeout', '1h', '--timeout', '30s'],
        env: { DEMO_MODE: 'naive', FEED_URL: feed.url },
      },
      tuned: {
        args: ['--workers', String(ctx.workers)],
        env: { DEMO_MODE: 'tuned', FEED_URL: feed.url },
        config: { routes: [{ path: '/check_feed', timeout: '3s', concurrency: 200, queue: 400 }] },
      },
    }, async (target) => {
      const before = feed.requests ?? 0;
      await ctx.load(phase, target.variant, target.server, target.url, {
        durationMs,
        gracefulStopMs: 5000,
        groups: [{ name: 'check_feed', paths: ['/check_feed'], settings: { rate, requestTimeout: clientTimeoutMs, connections: 256 } }],
      });
      upstreamCalls[target.variant] = (feed.requests ?? 0) - before;
    });

    const findings: string[] = [];
    const checks: Check[] = [];
    const naive = findRun(ctx.phases, phase.name, 'naive');
    const tuned = findRun(ctx.phases, phase.name, 'tuned');
    const target = findRun(ctx.phases, phase.name, 'target');
    const upstreamS = upstreamMs / 1000;
    if (naive) {
      const s = naive.result.summary;
      const capacity = naiveWorkers / upstreamS;
      const expectedFail = Math.max(0, 1 - capacity / rate);
      const timeouts = (s.errorKinds.timeout ?? 0) + s.interrupted;
      findings.push(`Naive: ${naiveWorkers} workers × 1 request each / ${upstreamS.toFixed(2)} s per upstream call = ${formatRate(capacity)} req/s of capacity against ${rate} req/s arriving (Little's law), so ${formatPercent(expectedFail)} of requests cannot be served and the line in front of the workers grows by ${formatRate(rate - capacity)} requests every second. Measured: ${formatPercent(failedFraction(s))} of ${s.requests + s.interrupted} requests failed (${describeErrors(s)}; ${timeouts} timed out or were still waiting at the end), average response ${formatMs(s.latencyMs.mean)}, max ${formatMs(s.latencyMs.max)}. Behind nginx each of those timeouts is the seed's 502/504.`);
      checks.push(check('naive reproduces the seed: most requests time out or fail', failedFraction(s) > 0.5, `${formatPercent(failedFraction(s))} failed`));
    }
    if (tuned) {
      const s = tuned.result.summary;
      const calls = upstreamCalls.tuned;
      findings.push(`Tuned: one event loop per worker keeps every call in flight at once (capacity is no longer workers / service time), and the app bounds the upstream call at 2.5 s, coalesces concurrent calls and serves the last good answer while it refreshes, so ${s.requests} requests made ${calls ?? 'an unknown number of'} upstream calls${calls ? ` (${formatRate(s.requests / Math.max(1, calls))} requests per call)` : ''}. Measured: ${formatPercent(s.errorRate)} errors, average ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}, max ${formatMs(s.latencyMs.max)}.`);
      checks.push(check('tuned: 0 errors and p99 < 2.5 s', s.errors === 0 && s.interrupted === 0 && s.latencyMs.p99 < 2500, `${s.errors} errors, p99 ${formatMs(s.latencyMs.p99)}`));
    }
    if (target) {
      const s = target.result.summary;
      const inFlight = s.requestsPerSecond * (s.latencyMs.mean / 1000);
      findings.push(`Your server answered ${formatRate(s.requestsPerSecond)} req/s with an average of ${formatMs(s.latencyMs.mean)}, so about ${formatRate(inFlight)} requests were in flight at once (Little's law: L = λ × W). ${formatPercent(failedFraction(s))} failed (${describeErrors(s)}); p99 ${formatMs(s.latencyMs.p99)}.`);
      checks.push(check('target: 0 errors and p99 < 2.5 s', s.errors === 0 && s.latencyMs.p99 < 2500, `${s.errors} errors, p99 ${formatMs(s.latencyMs.p99)}`));
    }
    return { findings, checks };
  },
};

// Seed 000, /stream_feed: Server-Sent Events that poll the slow feed service and stream updates.
// "We regularly saw 50-100 attempted connections … they nearly all fail. Our entire application
// also becomes quickly unavailable." Naive: sync workers (`--worker-connections 1`): each stream
// holds a worker for as long as it is open, so three streams take the whole app. Tuned: streams are
// a route class of their own (no request slot, their own limit) and each worker runs one shared
// poller that fans out to all its clients, so 10,000 streams cost one upstream call per worker.

import { formatCount, formatMs, formatPercent, formatRate } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant, groupSummary } from './common.ts';

const naiveWorkers = 3;

export const streamFeed: Scenario = {
  name: 'stream-feed',
  title: '/stream_feed with 100, then 10,000 streams while /hello is used',
  seeds: '000',
  summary: 'SSE clients of /stream_feed (which polls the slow feed) while other users load /hello. The seed: "they nearly all fail … our entire application also becomes quickly unavailable".',
  estimateSeconds: (quick) => (quick ? 30 : 110),
  async run(ctx) {
    const levels = ctx.pick([100, 10_000], [50, 1000]);
    const durations = ctx.pick([15_000, 30_000], [5000, 6000]);
    const helloRate = 20;
    // /hello starts once the streams are connected: the lab measures the app *while* N streams
    // are open, not the connection storm of opening them all in the same millisecond.
    // 10,000 streams take several seconds to connect on a 2-core machine shared with the generator.
    const settleMsFor = (streams: number) => (streams > 2000 ? ctx.pick(10_000, 3000) : ctx.pick(5000, 2000));
    // /hello stops 2 s before the streams close (all at once) at the end of the phase.
    const tailMs = 2000;
    const helloTimeoutMs = ctx.pick(5000, 2000);
    const feed = await ctx.startFeedService({ delayMs: 1000, jitterMs: 100 });
    ctx.note(`Feed service: 1,000 ms ± 100 ms per call. All streams open at the start of a phase; once they are connected (from ${settleMsFor(levels[0]!) / 1000} s, or ${settleMsFor(levels[levels.length - 1]!) / 1000} s with ${formatCount(levels[levels.length - 1]!)} streams) until ${tailMs / 1000} s before they close, the phase also sends ${helloRate} req/s to /hello (open model, client timeout ${helloTimeoutMs / 1000} s).`);
    const phases = levels.map((streams, i) => ({
      streams,
      durationMs: durations[i]!,
      phase: { name: `${formatCount(streams)} streams`, description: `${formatCount(streams)} SSE streams on /stream_feed held ${durations[i]! / 1000} s, plus ${helloRate} req/s to /hello` },
    }));
    const upstreamCalls: Record<string, number[]> = {};
    await forEachVariant(ctx, {
      naive: {
        args: ['--workers', String(naiveWorkers), '--worker-connections', '1', '--queue', '100000', '--queue-timeout', '1h'],
        env: { DEMO_MODE: 'naive', FEED_URL: feed.url },
      },
      tuned: {
        args: ['--workers', String(ctx.workers)],
        env: { DEMO_MODE: 'tuned', FEED_URL: feed.url },
        config: { routes: [{ path: '/stream_feed', class: 'stream', concurrency: 20_000 }] },
      },
    }, async (target) => {
      upstreamCalls[target.variant] = [];
      for (const { streams, durationMs, phase } of phases) {
        const before = feed.requests ?? 0;
        await ctx.load(phase, target.variant, target.server, target.url, {
          durationMs,
          gracefulStopMs: 3000,
          threads: streams > 2000 ? 2 : 1,
          groups: [
            { name: 'stream_feed', paths: ['/stream_feed'], settings: { streams, hold: durationMs, requestTimeout: durationMs + 10_000 } },
            { name: 'hello', paths: ['/hello'], settings: { model: 'open', stages: [`${settleMsFor(streams)}ms:0`, `1ms:${helloRate}`, `${durationMs - settleMsFor(streams) - tailMs - 2}ms:${helloRate}`, `1ms:0`], requestTimeout: helloTimeoutMs, connections: 64 } },
          ],
        });
        upstreamCalls[target.variant]!.push((feed.requests ?? 0) - before);
      }
    });

    const findings: string[] = [];
    const checks: Check[] = [];
    for (const [i, { streams, durationMs, phase }] of phases.entries()) {
      for (const variant of ['naive', 'tuned', 'target'] as const) {
        const run = findRun(ctx.phases, phase.name, variant);
        if (!run) continue;
        const st = groupSummary(run.result, 'stream_feed').streams;
        const hello = groupSummary(run.result, 'hello');
        const gotEvents = st?.firstEventMs.count ?? 0;
        const calls = upstreamCalls[variant]?.[i];
        const who = variant === 'naive' ? `Naive (${naiveWorkers} sync workers)` : variant === 'tuned' ? `Tuned (${ctx.workers} workers, stream route class, one shared poller per worker)` : 'Your server';
        let text = `${phase.name}, ${who}: ${formatCount(gotEvents)} of ${formatCount(streams)} streams received an event (${formatPercent(gotEvents / streams)}), ${formatCount(st?.events ?? 0)} events in all, ${st?.drops ?? 0} dropped; /hello: ${formatPercent(hello.errorRate)} errors (${describeErrors(hello)}), p99 ${formatMs(hello.latencyMs.p99)}.`;
        if (variant === 'naive') text += ` Each open stream holds one of ${naiveWorkers} slots for its whole life (Little's law with W = the stream's ${durationMs / 1000} s: ${naiveWorkers} slots / ${durationMs / 1000} s = ${formatRate(naiveWorkers / (durationMs / 1000))} streams or requests per second of capacity), so the first ${naiveWorkers} streams take every worker and everything else, /hello included, waits in line until a client gives up (${helloTimeoutMs / 1000} s) or the streams close at the end of the phase (the /hello answers that did come came then).`;
        if (variant === 'tuned' && calls !== undefined) text += ` The feed service saw ${formatCount(calls)} calls in ${durationMs / 1000} s for ${formatCount(streams)} streams (${formatRate(calls / (durationMs / 1000))} calls/s): the pollers are per worker, not per client.`;
        if (variant === 'naive' && calls !== undefined) text += ` The feed service saw ${formatCount(calls)} calls (each served stream polls it itself).`;
        findings.push(text);
        if (variant === 'naive' && i === phases.length - 1) {
          checks.push(check('naive reproduces the seed: streams fail and the app (/hello) is unavailable', gotEvents < streams * 0.5 && (hello.errorRate > 0.3 || hello.latencyMs.p50 > 1000), `${formatPercent(gotEvents / streams)} of streams got an event; /hello ${formatPercent(hello.errorRate)} errors, p50 ${formatMs(hello.latencyMs.p50)}`));
        }
        if (variant !== 'naive' && i === phases.length - 1) {
          checks.push(check(`${variant}: all ${formatCount(streams)} streams receive events while /hello p99 < 100 ms`, gotEvents >= streams && (st?.drops ?? 0) === 0 && hello.errors === 0 && hello.latencyMs.p99 < 100, `${formatCount(gotEvents)} streams got events, ${st?.drops ?? 0} drops; /hello p99 ${formatMs(hello.latencyMs.p99)}, ${hello.errors} errors`));
        }
      }
    }
    return { findings, checks };
  },
};

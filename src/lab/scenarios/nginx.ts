// Seed 000 for real: nginx in front (the lab writes its nginx.conf), one upstream per route, the
// default proxy timeouts, and the seed's mix of traffic: /check_feed at 10 req/s, a few
// /stream_feed clients, and /hello. Naive: every upstream is the sync-worker server (the seed's
// starting point: three gunicorn sync workers). Tuned: every upstream is one tuned ballast server
// whose route classes do what the seed asks nginx.conf to do.

import { startNginx } from '../nginx.ts';
import { formatMs, formatPercent } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, groupSummary } from './common.ts';
import { freePort } from '../loopback.ts';


export const nginx: Scenario = {
  name: 'nginx',
  title: 'seed 000 behind nginx: 502/504s, and their absence',
  seeds: '000',
  summary: 'The seed\'s topology: nginx in front of the app server, one upstream per route, default proxy timeouts; /check_feed at 10 req/s with /stream_feed clients and other pages. The seed: "a lot of users are ending up with 502 backend errors".',
  estimateSeconds: (quick) => (quick ? 25 : 125),
  unavailable: ({ target, nginxPath }) => (target ? 'runs its own servers behind nginx' : nginxPath ? undefined : 'nginx is not installed (apt-get install nginx)'),
  async run(ctx) {
    // The naive run lasts past nginx's 60 s proxy_read_timeout, so the requests stuck behind the
    // sync workers meet it (504); the tuned one needs no such length.
    const durationFor = (variant: string) => (variant === 'naive' ? ctx.pick(75_000, 8000) : ctx.pick(30_000, 8000));
    const streams = 20;
    const feed = await ctx.startFeedService({ delayMs: 2000, jitterMs: 100 });
    const nginxPath = ctx.nginxPath!;
    ctx.note(`nginx: ${nginxPath}, config written by the lab (shown below), proxy timeouts at nginx's defaults (60 s). Load through nginx for ${durationFor('naive') / 1000} s (naive: past nginx's 60 s timeout) and ${durationFor('tuned') / 1000} s (tuned): 10 req/s to /check_feed, ${streams} /stream_feed clients, 5 req/s to /hello; clients give up after 65 s. Feed service: 2,000 ms ± 100 ms.`);
    const phase = { name: 'through nginx', description: `10 req/s /check_feed + ${streams} streams + 5 req/s /hello through nginx (naive ${durationFor('naive') / 1000} s, tuned ${durationFor('tuned') / 1000} s)` };
    for (const variant of ctx.variants()) {
      if (variant === 'target') continue;
      const durationMs = durationFor(variant);
      const server = await ctx.startServer(variant, variant === 'naive'
        ? { args: ['--workers', '3', '--worker-connections', '1', '--queue', '100000', '--queue-timeout', '1h', '--timeout', '30s'], env: { DEMO_MODE: 'naive', FEED_URL: feed.url } }
        : { args: ['--workers', String(ctx.workers)], env: { DEMO_MODE: 'tuned', FEED_URL: feed.url }, config: { routes: [{ path: '/check_feed', timeout: '3s', concurrency: 200, queue: 400 }, { path: '/stream_feed', class: 'stream', concurrency: 10_000 }] } });
      const port = await freePort();
      const proxy = await startNginx(nginxPath, `${ctx.tempDir}/nginx-${variant}`, port, { checkFeed: server.url, streamFeed: server.url, other: server.url });
      try {
        if (variant === 'naive') ctx.note(`nginx.conf:\n\n\`\`\`nginx\n${proxy.conf.replaceAll(ctx.tempDir, '$LAB_DIR')}\`\`\``);
        await ctx.load(phase, variant, `nginx (one upstream per route) → ${server.commandLine}`, proxy.url, {
          durationMs,
          gracefulStopMs: 5000,
          groups: [
            { name: 'check_feed', paths: ['/check_feed'], settings: { rate: 10, requestTimeout: 65_000, connections: 256 } },
            { name: 'stream_feed', paths: ['/stream_feed'], settings: { streams, hold: durationMs, requestTimeout: durationMs + 10_000 } },
            { name: 'hello', paths: ['/hello'], settings: { rate: 5, requestTimeout: 65_000, connections: 64 } },
          ],
        });
      } finally {
        await proxy.stop();
        await server.stop();
      }
    }
    const findings: string[] = [];
    const checks: Check[] = [];
    for (const variant of ['naive', 'tuned'] as const) {
      const run = findRun(ctx.phases, phase.name, variant);
      if (!run) continue;
      const feedGroup = groupSummary(run.result, 'check_feed');
      const hello = groupSummary(run.result, 'hello');
      const st = groupSummary(run.result, 'stream_feed').streams;
      const gateway = (feedGroup.statusCounts['502'] ?? 0) + (feedGroup.statusCounts['504'] ?? 0) + (hello.statusCounts['502'] ?? 0) + (hello.statusCounts['504'] ?? 0);
      findings.push(`${variant === 'naive' ? 'Naive (nginx → 3 sync workers)' : 'Tuned (nginx → one ballast server with route classes)'}: /check_feed ${formatPercent(feedGroup.errorRate)} errors (${describeErrors(feedGroup)}), average ${formatMs(feedGroup.latencyMs.mean)}, max ${formatMs(feedGroup.latencyMs.max)}; /hello ${formatPercent(hello.errorRate)} errors (${describeErrors(hello)}), p99 ${formatMs(hello.latencyMs.p99)}; ${st?.firstEventMs.count ?? 0} of ${streams} streams got events. 502/504 answers: ${gateway}.${variant === 'naive' ? ' The streams hold the three sync workers, so /check_feed and /hello wait in line behind them until the app server\'s 30 s deadline (504) or nginx\'s 60 s read timeout (504) or the client gives up: the seed\'s "502 backend errors" are these gateway errors.' : ''}`);
      if (variant === 'naive') checks.push(check('naive behind nginx: gateway errors (502/504) or requests never answered', gateway > 0 || feedGroup.errorRate + feedGroup.interrupted / Math.max(1, feedGroup.requests) > 0.5, `${gateway} 502/504, ${describeErrors(feedGroup)}`));
      else checks.push(check('tuned behind nginx: no 502/504 and 0 errors', gateway === 0 && feedGroup.errors === 0 && hello.errors === 0, `${gateway} 502/504, /check_feed ${describeErrors(feedGroup)}, /hello ${describeErrors(hello)}`));
    }
    return { findings, checks };
  },
};

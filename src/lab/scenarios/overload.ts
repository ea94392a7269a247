// 3× overload, and slow clients (seed 003).
//
// overload: first measure what the server can do (closed loop on /cpu?ms=N), then send three times
// that rate. Naive: gunicorn's sync workers with an unbounded backlog and no deadline: the line
// grows by 2× capacity every second and every request is late. Tuned: adaptive concurrency and a
// bounded queue: what cannot be served is refused at once with 503 + Retry-After, and what is
// served is served on time.
//
// slow-clients: 1,000 clients dribbling their request heads (slowloris) beside normal /hello
// traffic. gunicorn's sync worker hands each connection to a worker before it has read the
// request, so a slow client holds a worker; ballast reads heads on the event loop without a slot,
// so the naive configuration (sync-like, --worker-connections 1) shows what is left of the problem.

import { formatCount, formatMs, formatPercent, formatRate } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant, groupSummary, okCount, warmUp } from './common.ts';

export const overload: Scenario = {
  name: 'overload',
  title: '3× overload: queue forever vs shed early',
  seeds: '001, 003',
  summary: 'Requests arrive at three times what the server can serve (a CPU-bound route). Seed 001: "we probably hit peak concurrency … response time spiked to about 9 seconds"; seed 004: "503 - worker pools full".',
  estimateSeconds: (quick) => (quick ? 25 : 60),
  async run(ctx) {
    const cpuMs = 20;
    const durationMs = ctx.pick(20_000, 6000);
    // One worker: the CPU-bound route then uses one core and the load generator keeps the other;
    // with every core burning, the generator itself would be starved and the numbers its own.
    const workers = 1;
    const path = `/cpu?ms=${cpuMs}`;
    const phaseName = '3× capacity';
    let capacity = 0;
    let arrival = 0;
    await forEachVariant(ctx, {
      naive: { args: ['--workers', String(workers), '--worker-connections', '1', '--queue', '100000', '--queue-timeout', '1h', '--timeout', '0'], env: { DEMO_MODE: 'naive' } },
      // The thread class: the main thread parses requests while the handler burns CPU in its
      // thread, so admission sees the line and can refuse it. (With the process class a CPU-bound
      // handler holds the loop that would read the next requests: the backlog sits unread in socket
      // buffers where no limit can see it.)
      tuned: { args: ['--workers', String(workers), '--worker-class', 'thread', '--threads', '1', '--worker-connections', '1', '--queue', '8', '--queue-timeout', '250ms', '--timeout', '2s'], env: { DEMO_MODE: 'tuned' } },
    }, async (target) => {
      await warmUp(target.url, 20, path);
      if (capacity === 0) {
        // Capacity, measured once on the first server with a closed loop of one user per worker.
        const probe = await ctx.load({ name: 'capacity probe', description: `closed loop, ${workers * 2} users on ${path} for ${ctx.pick(5, 3)} s: what the server can serve` }, target.variant, target.server, target.url, {
          durationMs: ctx.pick(5000, 3000),
          groups: [{ name: 'probe', paths: [path], settings: { users: workers * 2, requestTimeout: 10_000 } }],
        });
        capacity = okCount(probe.result.summary) / (probe.result.summary.durationMs / 1000);
        arrival = Math.max(3, Math.round(capacity * 3));
        ctx.note(`Measured capacity: ${formatRate(capacity)} req/s on ${path} (${workers} worker, so the load generator keeps a core of its own; ${workers} / ${cpuMs} ms = ${formatRate(workers / (cpuMs / 1000))} req/s if the CPU were theirs alone). Overload: ${arrival} req/s (open model, client timeout 10 s) for ${durationMs / 1000} s.`);
      }
      await ctx.load({ name: phaseName, description: `${arrival} req/s to ${path} (3 × the measured ${formatRate(capacity)} req/s) for ${durationMs / 1000} s` }, target.variant, target.server, target.url, {
        durationMs,
        gracefulStopMs: 5000,
        groups: [{ name: 'cpu', paths: [path], settings: { rate: arrival, requestTimeout: 10_000, connections: 256 } }],
      });
    });
    const findings: string[] = [];
    const checks: Check[] = [];
    for (const variant of ['naive', 'tuned', 'target'] as const) {
      const run = findRun(ctx.phases, phaseName, variant);
      if (!run) continue;
      const s = run.result.summary;
      const good = okCount(s);
      const goodput = good / (s.durationMs / 1000);
      const ok200 = s.statusCounts['200'] ?? 0;
      if (variant === 'naive') {
        findings.push(`Naive (sync-like workers, unbounded backlog, no deadline): ${arrival} req/s arriving − ${formatRate(capacity)} req/s served = the line grows by ${formatRate(arrival - capacity)} requests a second, so each second of the run adds ${formatMs(((arrival - capacity) / capacity) * 1000)} of waiting (Little's law: W = L / λ). Measured: goodput ${formatRate(goodput)} req/s, average ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}, ${formatPercent(s.errorRate)} errors (${describeErrors(s)}): everyone waits, most give up.`);
        checks.push(check('naive reproduces the seed: responses take seconds and requests time out', s.latencyMs.p50 > 1000, `p50 ${formatMs(s.latencyMs.p50)}, ${describeErrors(s)}`));
      } else {
        const shed = s.statusCounts['503'] ?? 0;
        findings.push(`${variant === 'tuned' ? 'Tuned (thread worker class, 1 request at a time, queue 8, queue timeout 250 ms)' : 'Your server'}: ${formatCount(ok200)} requests served (goodput ${formatRate(goodput)} req/s), ${formatCount(shed)} refused at once with 503 + Retry-After (${formatPercent(shed / Math.max(1, s.requests))}, about the ${formatPercent(Math.max(0, 1 - capacity / arrival))} that cannot fit), average ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}; other errors: ${describeErrors({ ...s, statusCounts: Object.fromEntries(Object.entries(s.statusCounts).filter(([k]) => k !== '503')) })}.`);
        checks.push(check(`${variant}: overload is refused fast (503) and what is served is on time (p99 < 1 s)`, s.latencyMs.p99 < 1000 && (s.errorKinds.timeout ?? 0) === 0 && goodput > capacity * 0.5, `goodput ${formatRate(goodput)} req/s, p99 ${formatMs(s.latencyMs.p99)}, ${describeErrors(s)}`));
      }
    }
    return { findings, checks };
  },
};

export const slowClients: Scenario = {
  name: 'slow-clients',
  title: '1,000 slow clients beside normal traffic',
  seeds: '003',
  summary: 'A thousand clients send their request heads a few bytes at a time (slowloris, or a phone on a bad network) while others load /hello. Seed 003: "Slow HTTP clients … put nginx in front".',
  estimateSeconds: (quick) => (quick ? 20 : 50),
  async run(ctx) {
    const durationMs = ctx.pick(20_000, 6000);
    const slowUsers = ctx.pick(1000, 200);
    const slowHeadersMs = ctx.pick(15_000, 4000);
    const phase = { name: `${formatCount(slowUsers)} slow clients`, description: `${formatCount(slowUsers)} clients spreading each request head over ${slowHeadersMs / 1000} s + 50 req/s to /hello for ${durationMs / 1000} s` };
    ctx.note(`Load: ${formatCount(slowUsers)} closed-model users whose heads take ${slowHeadersMs / 1000} s each (a few bytes every 100 ms), and 50 req/s to /hello (open model, client timeout 5 s), for ${durationMs / 1000} s.`);
    await forEachVariant(ctx, {
      naive: { args: ['--workers', '3', '--worker-connections', '1', '--headers-timeout', '60s', '--request-timeout', '60s'], env: { DEMO_MODE: 'naive' } },
      tuned: { args: ['--workers', String(ctx.workers), '--headers-timeout', '10s'], env: { DEMO_MODE: 'tuned' } },
    }, async (target) => {
      await ctx.load(phase, target.variant, target.server, target.url, {
        durationMs,
        gracefulStopMs: 3000,
        // Dribbling 1,000 heads is timer-heavy for the generator: two threads share it.
        threads: 2,
        groups: [
          { name: 'slow', paths: ['/hello'], settings: { users: slowUsers, slowHeaders: slowHeadersMs, requestTimeout: slowHeadersMs + 20_000 } },
          { name: 'hello', paths: ['/hello'], settings: { rate: 50, requestTimeout: 5000, connections: 64 } },
        ],
      });
    });
    const findings: string[] = [];
    const checks: Check[] = [];
    for (const variant of ['naive', 'tuned', 'target'] as const) {
      const run = findRun(ctx.phases, phase.name, variant);
      if (!run) continue;
      const hello = groupSummary(run.result, 'hello');
      const slow = groupSummary(run.result, 'slow');
      // Little's law: slots a thread-per-connection server would need = arrival × time each holds one.
      const held = slowUsers;
      const label = variant === 'naive' ? 'Naive (3 workers, 1 request each, 60 s header timeout)' : variant === 'tuned' ? `Tuned (${ctx.workers} workers, 10 s header timeout)` : 'Your server';
      let text = `${label}: /hello p50 ${formatMs(hello.latencyMs.p50)}, p99 ${formatMs(hello.latencyMs.p99)}, ${formatPercent(hello.errorRate)} errors (${describeErrors(hello)}); slow clients: ${formatCount(slow.requests)} requests finished, their heads taking ${formatMs(slow.latencyMs.mean)} on average, errors: ${describeErrors(slow)}.`;
      if (variant === 'naive') text += ` A server that gives each connection a worker thread while it reads the head (gunicorn's sync worker) would need ${formatCount(held)} workers here (${formatCount(slowUsers)} clients each holding one for ${slowHeadersMs / 1000} s); ballast reads heads on the event loop and takes a request slot only once the head is complete, so even this sync-like configuration keeps serving /hello.`;
      if (variant === 'tuned') text += ` Heads slower than the 10 s header timeout are answered 408 and closed, so a slow client cannot hold a socket forever.`;
      findings.push(text);
      if (variant !== 'naive') checks.push(check(`${variant}: /hello p99 < 100 ms with ${formatCount(slowUsers)} slow clients`, hello.latencyMs.p99 < 100 && hello.errors === 0, `/hello p99 ${formatMs(hello.latencyMs.p99)}, ${hello.errors} errors`));
    }
    return { findings, checks };
  },
};

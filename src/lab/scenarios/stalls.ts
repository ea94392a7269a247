// Seed 004 ("evil regex: r'^(a+)+$'", "503 - worker pools full"): a request that holds the CPU
// stalls everything else its worker serves. Two phases, each with steady /hello traffic beside
// the attack: an evil input for /^(a+)+$/ once a second, then /cpu?ms=N (a CPU-heavy handler)
// once a second. Naive: process workers with V8's backtracking regexp engine only. Tuned: V8's
// linear-time fallback (--linear-regex, ballast's default) and the thread worker class, so a
// CPU-heavy handler runs in a thread and never holds the event loop that serves /hello.

import { formatMs, formatPercent, formatRate } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant, groupSummary, warmUp } from './common.ts';

export const stalls: Scenario = {
  name: 'stalls',
  title: 'evil regex and CPU stalls beside normal traffic',
  seeds: '004',
  summary: 'One request a second runs a catastrophic regex (`/^(a+)+$/` on "aaa…a!"), then a CPU-heavy handler, while other users load /hello. Seed 004: slow requests, full worker pools, 503s; the watchdog of "interruptingcow".',
  estimateSeconds: (quick) => (quick ? 30 : 75),
  async run(ctx) {
    const workers = ctx.workers;
    const durationMs = ctx.pick(15_000, 5000);
    // The backtracking time doubles with each "a" and depends on the CPU: calibrated here so that
    // one evil request holds a worker for about as long as one /cpu request (a fixed length of 25
    // took ~400 ms on one machine and ~100 ms on a faster one, too little to show the failure).
    const evilLength = calibrateEvilLength(ctx.pick(500, 100));
    const cpuMs = ctx.pick(500, 300);
    const helloRate = 50;
    const evilInput = `${'a'.repeat(evilLength)}!`;
    ctx.note(`Each server first answers 40 /hello requests (warm-up, not measured). Each phase: ${helloRate} req/s to /hello and 1 req/s to the attack route for ${durationMs / 1000} s (open model, client timeout 10 s, a new connection per /hello request as arriving browsers would open). Evil input: ${evilLength} × "a" then "!" (backtracking: ~2^${evilLength} steps).`);
    const phases = [
      { name: 'evil regex', path: `/evil?input=${evilInput}`, group: 'evil' },
      { name: 'CPU stalls', path: `/cpu?ms=${cpuMs}`, group: 'cpu' },
    ];
    for (const phase of phases) {
      // The fix differs per attack: V8's linear-time fallback (ballast's default) for the regex,
      // the thread worker class (plus a bulkhead of 1 per worker) for a CPU-heavy handler.
      const tuned = phase.group === 'evil'
        ? { args: ['--workers', String(workers), '--linear-regex'], env: { DEMO_MODE: 'tuned' } }
        : { args: ['--workers', String(workers), '--worker-class', 'thread', '--threads', '4'], env: { DEMO_MODE: 'tuned' }, config: { routes: [{ path: '/cpu', concurrency: 1, queue: 20, timeout: '5s' }] } };
      await forEachVariant(ctx, {
        naive: { args: ['--workers', String(workers), '--no-linear-regex'], env: { DEMO_MODE: 'naive' } },
        tuned,
      }, async (target) => {
        await warmUp(target.url, 40);
        await ctx.load({ name: phase.name, description: `${helloRate} req/s to /hello + 1 req/s to ${phase.path.length > 40 ? `${phase.path.slice(0, 40)}…` : phase.path} for ${durationMs / 1000} s` }, target.variant, target.server, target.url, {
          durationMs,
          gracefulStopMs: 5000,
          groups: [
            // A new connection per request, as browsers arriving over time do: a keep-alive pool would
            // steer around the stalled worker (its connections are busy) and hide the stall.
            { name: 'hello', paths: ['/hello'], settings: { rate: helloRate, requestTimeout: 10_000, connections: 64, header: ['connection: close'] } },
            { name: phase.group, paths: [phase.path], settings: { rate: 1, requestTimeout: 10_000, connections: 16 } },
          ],
        });
      });
    }
    const findings: string[] = [];
    const checks: Check[] = [];
    for (const phase of phases) {
      for (const variant of ['naive', 'tuned', 'target'] as const) {
        const run = findRun(ctx.phases, phase.name, variant);
        if (!run) continue;
        const hello = groupSummary(run.result, 'hello');
        const attack = groupSummary(run.result, phase.group);
        // Utilisation of the event loops by the attack: arrivals × time each holds a loop / loops.
        const busy = attack.requestsPerSecond * (attack.latencyMs.mean / 1000);
        const label = variant === 'naive' ? `Naive (${workers} process workers${phase.group === 'evil' ? ', backtracking regexp engine' : ''})` : variant === 'tuned' ? `Tuned (${phase.group === 'evil' ? 'linear-time regexp fallback' : `thread workers, /cpu limited to 1 at a time per worker`})` : 'Your server';
        let text = `${phase.name}, ${label}: each ${phase.group} request took ${formatMs(attack.latencyMs.mean)} on average (${formatRate(attack.requestsPerSecond)}/s × ${formatMs(attack.latencyMs.mean)} = ${busy.toFixed(2)} of ${workers} workers busy with it, Little's law); /hello p50 ${formatMs(hello.latencyMs.p50)}, p99 ${formatMs(hello.latencyMs.p99)}, max ${formatMs(hello.latencyMs.max)}, ${formatPercent(hello.errorRate)} errors (${describeErrors(hello)}).`;
        if (variant === 'naive') text += ` A ${phase.group} request holds its worker's event loop, so every /hello that lands on that worker meanwhile waits for it.`;
        findings.push(text);
        if (variant === 'naive') checks.push(check(`naive (${phase.name}) reproduces the seed: /hello p99 > 250 ms`, hello.latencyMs.p99 > 250, `/hello p99 ${formatMs(hello.latencyMs.p99)}`));
        else if (phase.group === 'evil') checks.push(check(`${variant}: the evil regex does not raise /hello p99 above 100 ms`, hello.latencyMs.p99 < 100 && hello.errors === 0, `/hello p99 ${formatMs(hello.latencyMs.p99)}, ${hello.errors} errors; /evil mean ${formatMs(attack.latencyMs.mean)}`));
        else checks.push(check(`${variant}: CPU stalls do not raise /hello p99 above 100 ms`, hello.latencyMs.p99 < 100 && hello.errors === 0, `/hello p99 ${formatMs(hello.latencyMs.p99)}, ${hello.errors} errors`));
      }
    }
    return { findings, checks };
  },
};

/** How many "a"s make `/^(a+)+$/` take about `targetMs` on this machine (22 to 30). */
export function calibrateEvilLength(targetMs: number): number {
  const base = 20;
  const evil = /^(a+)+$/;
  evil.test(`${'a'.repeat(16)}!`); // compile and warm up first: a cold first run is slower
  let baseMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    evil.test(`${'a'.repeat(base)}!`);
    baseMs = Math.min(baseMs, Math.max(0.01, performance.now() - started));
  }
  return Math.min(30, Math.max(22, base + Math.round(Math.log2(targetMs / baseMs))));
}


// Seed 002: "open two tabs and load /csv_test at the same time. Both requests with delay = 10 s
// return in 10 s (not 20 s)." Naive: one worker serving one request at a time (Flask's built-in
// server, or gunicorn's sync worker with one worker): the second request waits for the first.
// Tuned: one worker whose event loop holds both waits (and the object store download overlaps
// the wait): both return after the delay.

import { formatMs } from '../report/format.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant } from './common.ts';

export const csvPair: Scenario = {
  name: 'csv-pair',
  title: 'two concurrent /csv_test?delay=10',
  seeds: '002',
  summary: 'Two tabs load /csv_test?delay=10 at the same time; the CSV comes from a slow object store. The seed asks for both to return in 10 s, not 20 s.',
  estimateSeconds: (quick) => (quick ? 12 : 40),
  async run(ctx) {
    const delayS = ctx.pick(10, 2);
    const latencyMs = 500;
    const store = ctx.target ? undefined : await ctx.startObjectStore({ latencyMs, jitterMs: 50 });
    ctx.note(`${store ? `Object store: ${latencyMs} ms ± 50 ms per download. ` : ''}Load: 2 closed-model users, one request each, at the same instant.`);
    const phase = { name: `2 × delay=${delayS}`, description: `two concurrent GET /csv_test?delay=${delayS}` };
    await forEachVariant(ctx, {
      naive: { args: ['--workers', '1', '--worker-connections', '1', '--queue-timeout', '1h'], env: { DEMO_MODE: 'naive', OBJECT_STORE_URL: store?.url } },
      tuned: { args: ['--workers', '1'], env: { DEMO_MODE: 'tuned', OBJECT_STORE_URL: store?.url } },
    }, async (target) => {
      // Each user sends one request at t=0; the 1 ms "duration" ends before either answer, and the
      // graceful stop lets both finish and be counted.
      await ctx.load(phase, target.variant, target.server, target.url, {
        durationMs: 1,
        gracefulStopMs: delayS * 3000 + 10_000,
        groups: [{ name: 'csv_test', paths: [`/csv_test?delay=${delayS}`], settings: { users: 2, connections: 2, requestTimeout: delayS * 3000 + 5000 } }],
      });
    });
    const findings: string[] = [];
    const checks: Check[] = [];
    for (const variant of ['naive', 'tuned', 'target'] as const) {
      const run = findRun(ctx.phases, phase.name, variant);
      if (!run) continue;
      const s = run.result.summary;
      const pairMs = s.latencyMs.max;
      const concurrency = pairMs > 0 ? (s.requests * delayS * 1000) / pairMs : 0;
      const verb = variant === 'naive' ? 'Naive (1 worker, 1 request at a time)' : variant === 'tuned' ? 'Tuned (1 worker, many requests at a time)' : 'Your server';
      findings.push(`${verb}: the pair finished in ${formatMs(pairMs)} (first ${formatMs(s.latencyMs.min)}, second ${formatMs(s.latencyMs.max)}). ${s.requests} requests × ${delayS} s of waiting each / ${formatMs(pairMs)} = ${concurrency.toFixed(2)} requests served at once on average${variant === 'naive' ? ': the second request queued behind the first, as in the seed' : ''}. Errors: ${describeErrors(s)}.`);
      if (variant === 'naive') checks.push(check(`naive reproduces the seed: the pair takes ~${2 * delayS} s`, pairMs >= 2 * delayS * 1000 * 0.95, formatMs(pairMs)));
      else checks.push(check(`${variant}: the pair finishes in < ${delayS + 1} s`, s.errors === 0 && s.requests === 2 && pairMs < (delayS + 1) * 1000, `${formatMs(pairMs)}, ${s.errors} errors`));
    }
    return { findings, checks };
  },
};

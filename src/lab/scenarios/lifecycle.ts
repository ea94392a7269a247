// Seed 003 ("Restarts to fix issues … requests continue to backload"; memory grows with every
// process): two lifecycle scenarios. `leak`: a handler that keeps memory for good, beside normal
// traffic; naive lets the workers grow, tuned recycles them by drain at --max-memory. `reload`:
// new code deployed under load; naive restarts the server (stop, start), tuned sends SIGHUP.

import { formatCount, formatMs, formatPercent } from '../report/format.ts';
import { treeRssBytes } from '../processes.ts';
import type { Check, Scenario } from '../types.ts';
import { check, describeErrors, findRun, forEachVariant, groupSummary } from './common.ts';
import { freePort } from '../loopback.ts';


export const leak: Scenario = {
  name: 'leak',
  title: 'a leaking handler, with and without --max-memory',
  seeds: '003',
  summary: 'Every request to /leak keeps 512 KiB for good while other users load /hello. Seed 003: memory per process adds up ("restarts to fix issues"); the fix is recycling workers by drain before they hurt, with no request lost.',
  estimateSeconds: (quick) => (quick ? 20 : 70),
  async run(ctx) {
    const durationMs = ctx.pick(30_000, 8000);
    const leakRate = 20;
    const leakKb = 512;
    const maxMemoryMb = ctx.pick(200, 120);
    ctx.note(`Load: ${leakRate} req/s to /leak?kb=${leakKb} (${(leakRate * leakKb) / 1024} MiB/s kept across the workers) and 50 req/s to /hello for ${durationMs / 1000} s. Tuned: --max-memory ${maxMemoryMb}mb per worker. Resident memory of the whole server (supervisor + workers) sampled from /proc every 250 ms.`);
    const phase = { name: `${leakRate} leaks/s`, description: `${leakRate} req/s to /leak?kb=${leakKb} + 50 req/s to /hello for ${durationMs / 1000} s` };
    const recycles: Record<string, number> = {};
    await forEachVariant(ctx, {
      naive: { args: ['--workers', String(ctx.workers)], env: { DEMO_MODE: 'naive' } },
      tuned: { args: ['--workers', String(ctx.workers), '--max-memory', `${maxMemoryMb}mb`, '--no-heap-snapshot-on-max-memory'], env: { DEMO_MODE: 'tuned' } },
    }, async (target) => {
      let peak = 0;
      const sampler = target.pid ? setInterval(() => { peak = Math.max(peak, treeRssBytes(target.pid!)); }, 250) : undefined;
      try {
        const run = await ctx.load(phase, target.variant, target.server, target.url, {
          durationMs,
          gracefulStopMs: 5000,
          groups: [
            { name: 'leak', paths: [`/leak?kb=${leakKb}`], settings: { rate: leakRate, requestTimeout: 10_000 } },
            { name: 'hello', paths: ['/hello'], settings: { rate: 50, requestTimeout: 10_000 } },
          ],
        });
        if (target.pid) {
          run.extras.peakRssMb = Math.round(peak / 2 ** 20);
          run.extras.endRssMb = Math.round(treeRssBytes(target.pid) / 2 ** 20);
        }
      } finally {
        if (sampler) clearInterval(sampler);
      }
      // Recycles are read from the supervisor's log (a `recycling worker N (max-memory)` line each).
      const server = ctx.servers().find((s) => s.process.pid === target.pid);
      if (server) {
        recycles[target.variant] = server.process.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('recycling worker')).length;
        findRun(ctx.phases, phase.name, target.variant)!.extras.recycles = recycles[target.variant]!;
      }
    });
    const findings: string[] = [];
    const checks: Check[] = [];
    const naive = findRun(ctx.phases, phase.name, 'naive');
    const tuned = findRun(ctx.phases, phase.name, 'tuned');
    const keptMb = (leakRate * leakKb * (durationMs / 1000)) / 1024;
    if (naive) {
      const s = naive.result.summary;
      findings.push(`Naive: ${formatCount(groupSummary(naive.result, 'leak').requests)} leaking requests kept ~${Math.round(keptMb)} MiB in ${durationMs / 1000} s (${leakRate} req/s × ${leakKb} KiB); the server's resident memory peaked at ${naive.extras.peakRssMb ?? '?'} MiB and ended at ${naive.extras.endRssMb ?? '?'} MiB, still growing ${(leakRate * leakKb) / 1024} MiB/s: left alone it ends in the OOM killer or a manual restart. Errors: ${describeErrors(s)}.`);
      checks.push(check('naive reproduces the seed: memory grows without bound', Number(naive.extras.endRssMb ?? 0) > maxMemoryMb * ctx.workers * 0.8, `ended at ${naive.extras.endRssMb} MiB`));
    }
    if (tuned) {
      const s = tuned.result.summary;
      findings.push(`Tuned (--max-memory ${maxMemoryMb}mb): ${tuned.extras.recycles ?? '?'} workers were recycled (a replacement boots first, then the old worker drains), memory peaked at ${tuned.extras.peakRssMb ?? '?'} MiB for ${ctx.workers} workers + supervisor (+ a replacement while one drains), and ${formatPercent(s.errorRate)} of ${formatCount(s.requests)} requests failed (${describeErrors(s)}); /hello p99 ${formatMs(groupSummary(tuned.result, 'hello').latencyMs.p99)}.`);
      checks.push(check('tuned: workers recycled at --max-memory with no failed request', s.errors === 0 && s.interrupted === 0 && Number(tuned.extras.recycles ?? 0) > 0, `${tuned.extras.recycles} recycles, ${s.errors} errors`));
    }
    const target = findRun(ctx.phases, phase.name, 'target');
    if (target) findings.push(`Your server: ${describeErrors(target.result.summary)}; /hello p99 ${formatMs(groupSummary(target.result, 'hello').latencyMs.p99)}. (Memory is not visible to the lab for a --target server.)`);
    return { findings, checks };
  },
};

export const reload: Scenario = {
  name: 'reload',
  title: 'deploying new code under load: restart vs SIGHUP',
  seeds: '003',
  summary: 'Users load /hello at a steady rate while new code is deployed three times. Seed 003: "reloading of the application … requests continue to backload". Naive: stop the server and start it again (what a restart-to-deploy does); tuned: SIGHUP, a zero-downtime reload.',
  estimateSeconds: (quick) => (quick ? 20 : 45),
  unavailable: ({ target }) => (target ? 'a reload needs a server the lab starts itself' : undefined),
  async run(ctx) {
    const durationMs = ctx.pick(20_000, 8000);
    const rate = 200;
    const deploys = 3;
    const deployAt = Array.from({ length: deploys }, (_, i) => Math.round((durationMs * (i + 1)) / (deploys + 1)));
    ctx.note(`Load: ${rate} req/s to /hello (open model, keep-alive, client timeout 5 s) for ${durationMs / 1000} s; deploys at ${deployAt.map((ms) => `${ms / 1000} s`).join(', ')}.`);
    const phase = { name: `${deploys} deploys`, description: `${rate} req/s to /hello for ${durationMs / 1000} s, ${deploys} deploys` };
    for (const variant of ctx.variants()) {
      if (variant === 'target') continue;
      const port = await freePort();
      const config = { args: ['--workers', String(ctx.workers), '--bind', `127.0.0.1:${port}`], env: { DEMO_MODE: variant } };
      let server = await ctx.startServer(variant, config);
      const url = server.url;
      const description = variant === 'naive' ? `${server.commandLine}; each deploy = SIGTERM, wait for exit, start again` : `${server.commandLine}; each deploy = kill -HUP`;
      const deployMs: number[] = [];
      const timers = deployAt.map((at) => setTimeout(async () => {
        const started = performance.now();
        try {
          if (variant === 'naive') {
            await server.stop();
            server = await ctx.startServer(variant, config);
          } else {
            const generation = server.process.logs.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('reloaded:')).length;
            process.kill(server.process.pid, 'SIGHUP');
            await server.process.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('reloaded:') && server.process.logs.filter((x) => typeof x.msg === 'string' && x.msg.startsWith('reloaded:')).length > generation, 20_000);
          }
          deployMs.push(Math.round(performance.now() - started));
        } catch (error) {
          deployMs.push(-1);
          ctx.note(`${variant}: a deploy failed: ${(error as Error).message.split('\n')[0]}`);
        }
      }, at));
      try {
        const run = await ctx.load(phase, variant, description, url, {
          durationMs,
          gracefulStopMs: 5000,
          groups: [{ name: 'hello', paths: ['/hello'], settings: { rate, requestTimeout: 5000, connections: 32 } }],
        });
        run.extras.deploys = deployMs.length;
        run.extras.deployMs = deployMs.join(', ');
      } finally {
        timers.forEach(clearTimeout);
        await server.stop();
      }
    }
    const findings: string[] = [];
    const checks: Check[] = [];
    const naive = findRun(ctx.phases, phase.name, 'naive');
    const tuned = findRun(ctx.phases, phase.name, 'tuned');
    if (naive) {
      const s = naive.result.summary;
      const downMs = String(naive.extras.deployMs).split(', ').map(Number).filter((n) => n > 0);
      const meanDown = downMs.length ? downMs.reduce((a, b) => a + b, 0) / downMs.length : 0;
      findings.push(`Naive (restart): each deploy took the server away for ~${formatMs(meanDown)} (drain, exit, boot); at ${rate} req/s that is ~${formatCount((rate * meanDown) / 1000)} requests per deploy arriving to nothing (Little's law: arrivals × downtime). Measured: ${formatCount(s.errors)} of ${formatCount(s.requests)} requests failed (${describeErrors(s)}), max response ${formatMs(s.latencyMs.max)}.`);
      checks.push(check('naive reproduces the seed: a restart loses requests', s.errors > 0, `${s.errors} failed (${describeErrors(s)})`));
    }
    if (tuned) {
      const s = tuned.result.summary;
      findings.push(`Tuned (SIGHUP): each reload booted a new generation of workers before draining the old (${tuned.extras.deployMs} ms per reload), so the listening socket never closed and in-flight requests finished: ${formatCount(s.errors)} of ${formatCount(s.requests)} requests failed (${describeErrors(s)}), p99 ${formatMs(s.latencyMs.p99)}, max ${formatMs(s.latencyMs.max)}.`);
      checks.push(check('tuned: reload loses no request', s.errors === 0 && s.interrupted === 0 && Number(tuned.extras.deploys) === deploys, `${s.errors} errors over ${tuned.extras.deploys} reloads`));
    }
    return { findings, checks };
  },
};

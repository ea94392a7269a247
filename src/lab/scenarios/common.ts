// Helpers the scenarios share: reading outcomes out of a load result, and acceptance checks.

import type { RunResult, Summary } from '../../load/index.ts';
import { formatMs, formatPercent } from '../report/format.ts';
import type { Check, PhaseResult, VariantName, VariantRun } from '../types.ts';

export function findRun(phases: PhaseResult[], phase: string, variant: VariantName): VariantRun | undefined {
  return phases.find((p) => p.name === phase)?.runs.find((run) => run.variant === variant);
}

export function groupSummary(result: RunResult, name: string): Summary {
  return result.groups.find((group) => group.name === name)?.summary ?? result.summary;
}

/** Error counts by label: `HTTP 503`, `timeout`, `reset`, `refused`, `interrupted`. */
export function errorBreakdown(summary: Summary): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [status, count] of Object.entries(summary.statusCounts)) if (Number(status) >= 400 && count > 0) out[`HTTP ${status}`] = count;
  for (const [kind, count] of Object.entries(summary.errorKinds)) if (count > 0) out[kind] = count;
  if (summary.interrupted > 0) out.interrupted = summary.interrupted;
  return out;
}

export function describeErrors(summary: Summary): string {
  const parts = Object.entries(errorBreakdown(summary)).sort((a, b) => b[1] - a[1]).map(([label, count]) => `${count} ${label}`);
  return parts.length ? parts.join(', ') : 'none';
}

/** Requests that got no useful answer: errors plus those still unanswered when the run ended. */
export function failedFraction(summary: Summary): number {
  const total = summary.requests + summary.interrupted;
  return total === 0 ? 0 : (summary.errors + summary.interrupted) / total;
}

export function okCount(summary: Summary): number {
  return Object.entries(summary.statusCounts).filter(([status]) => Number(status) < 400).reduce((sum, [, count]) => sum + count, 0);
}

export function check(text: string, ok: boolean, measured: string): Check {
  return { text, ok, measured };
}

export function latencyLine(summary: Summary): string {
  return `p50 ${formatMs(summary.latencyMs.p50)}, p99 ${formatMs(summary.latencyMs.p99)}, max ${formatMs(summary.latencyMs.max)}, errors ${formatPercent(summary.errorRate)}`;
}

/** Time one GET (ms), e.g. to measure an upstream's service time before applying Little's law. */
export async function timeGet(url: string, samples = 3): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const response = await fetch(url);
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  return times.reduce((a, b) => a + b, 0) / times.length;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

export interface Target {
  variant: VariantName;
  url: string;
  /** How it was run, for the report. */
  server: string;
  pid?: number;
}

/**
 * Runs `body` once per variant: against a freshly started naive server, then a tuned one (each
 * stopped before the next starts, so they never compete for the CPU), or against --target.
 */
export async function forEachVariant(
  ctx: import('../types.ts').ScenarioContext,
  configs: Record<'naive' | 'tuned', import('../types.ts').ServerConfig>,
  body: (target: Target) => Promise<void>,
): Promise<void> {
  for (const variant of ctx.variants()) {
    if (ctx.signal.aborted) throw new Error('interrupted');
    if (variant === 'target') {
      await body({ variant, url: ctx.target!.replace(/\/$/, ''), server: `your server at ${ctx.target}` });
      continue;
    }
    const server = await ctx.startServer(variant, configs[variant]);
    try {
      await body({ variant, url: server.url, server: server.commandLine, pid: server.process.pid });
    } finally {
      await server.stop();
    }
  }
}

/** Sends `count` sequential GETs of /hello on fresh connections (JIT, threads, pools warm), unmeasured. */
export async function warmUp(baseUrl: string, count: number, path = '/hello'): Promise<void> {
  for (let i = 0; i < count; i++) {
    try {
      const response = await fetch(`${baseUrl}${path}`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
    } catch {
      // a server that fails to warm up shows it in the measured run
    }
  }
}

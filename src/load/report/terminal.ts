// The terminal summary, in the words the seeds use for their load tests ("5000 users, about 9k
// requests per minute, average response 14 seconds, error rate of almost 90%"), plus the
// percentiles that averages hide. Plain text, no colours, so it reads the same in a CI log.

import type { GeneratorReport, RunResult, Stats, Summary, ThresholdOutcome } from '../types.ts';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export function formatCount(value: number): string {
  return integer.format(value);
}

/** Milliseconds with a precision that suits the magnitude: 0.431 ms, 4.21 ms, 123 ms, 14.2 s. */
export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${decimal.format(ms / 1000)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

function percentOf(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(2)}%` : '0.00%';
}

function percentiles(stats: Stats): string {
  return `p50 ${formatMs(stats.p50)}   p90 ${formatMs(stats.p90)}   p99 ${formatMs(stats.p99)}   p99.9 ${formatMs(stats.p999)}`;
}

function row(label: string, text: string): string {
  return `  ${label.padEnd(19)}${text}`;
}

export function formatSummaryBlock(summary: Summary, kinds: readonly string[]): string[] {
  const lines: string[] = [];
  const hasRequests = kinds.some((kind) => kind !== 'stream') || summary.requests > 0;
  // Service time and schedule lag belong to open groups; a block over mixed groups leaves them to
  // the per-group blocks rather than print them next to latencies of other models.
  const isOpenOnly = kinds.length > 0 && kinds.every((kind) => kind === 'open');
  const seconds = summary.durationMs / 1000;
  if (hasRequests) {
    if (summary.users > 0) lines.push(row('users', formatCount(summary.users)));
    if (kinds.includes('open')) lines.push(row(kinds.length === 1 ? 'in flight (peak)' : 'concurrency (peak)', formatCount(summary.concurrencyMax)));
    lines.push(row('requests', `${formatCount(summary.requests)} in ${decimal.format(seconds)} s: ${decimal.format(summary.requestsPerSecond)} req/s, ${formatCount(summary.requestsPerMinute)} per minute`));
    lines.push(row('response time', `avg ${formatMs(summary.latencyMs.mean)}   max ${formatMs(summary.latencyMs.max)}${isOpenOnly ? '   (from the intended send time)' : ''}`));
    lines.push(row('percentiles', percentiles(summary.latencyMs)));
    if (summary.serviceMs && isOpenOnly) lines.push(row('service time', `${percentiles(summary.serviceMs)}   (from the actual send)`));
    if (summary.scheduleLagMs && isOpenOnly) {
      const lag = summary.scheduleLagMs;
      lines.push(row('schedule lag', `p50 ${formatMs(lag.p50)}   p99 ${formatMs(lag.p99)}   max ${formatMs(lag.max)}   dropped ${formatCount(summary.dropped)}`));
      const hint = lagHint(lag, summary.serviceMs);
      if (hint) lines.push(row('', hint));
    }
    lines.push(row('errors', `${percentOf(summary.errors, summary.requests)} (${formatCount(summary.errors)} of ${formatCount(summary.requests)})`));
    const statuses = Object.entries(summary.statusCounts).sort(([a], [b]) => Number(a) - Number(b));
    if (statuses.length > 0) lines.push(row('by status', statuses.map(([status, count]) => `${status}: ${formatCount(count)} (${percentOf(count, summary.requests)})`).join('   ')));
    const kindsOfErrors = Object.entries(summary.errorKinds);
    if (kindsOfErrors.length > 0) lines.push(row('no response', kindsOfErrors.map(([kind, count]) => `${kind}: ${formatCount(count)}`).join('   ')));
    if (summary.interrupted > 0) lines.push(row('interrupted', `${formatCount(summary.interrupted)} still in flight after the graceful stop`));
  }
  const streams = summary.streams;
  if (streams) {
    lines.push(row('streams', `${formatCount(streams.opened)} opened, ${formatCount(streams.completed)} held to the end, ${formatCount(streams.drops)} dropped by the server${hasRequests ? '' : `; peak ${formatCount(summary.concurrencyMax)} open`}`));
    if (!hasRequests && summary.errors > 0) {
      const failures = [...Object.entries(summary.statusCounts), ...Object.entries(summary.errorKinds)].map(([key, count]) => `${key}: ${formatCount(count)}`).join('   ');
      lines.push(row('failed to open', `${formatCount(summary.errors)} (${failures})`));
    }
    lines.push(row('connect', percentiles(streams.connectMs)));
    lines.push(row('first event', percentiles(streams.firstEventMs)));
    lines.push(row('event gaps', `${percentiles(streams.gapMs)}   max ${formatMs(streams.gapMs.max)}`));
    lines.push(row('events', `${formatCount(streams.events)} (${decimal.format(streams.eventsPerSecond)}/s); per stream min ${formatCount(streams.eventsPerStream.min)}, mean ${decimal.format(streams.eventsPerStream.mean)}, max ${formatCount(streams.eventsPerStream.max)}`));
  }
  return lines;
}

/**
 * The open model's latency counts the generator's own lateness. Against a server that answers in
 * well under a millisecond, the event loop's millisecond timers can be most of it: say so, where
 * the numbers are read, rather than in the docs only.
 */
function lagHint(lag: Stats, service: Stats | undefined): string | undefined {
  if (!service || lag.count === 0 || lag.p50 < 0.3 || lag.p50 < service.p50) return undefined;
  return `(above the median service time: the latency above is mostly the generator's own lag; --pacing precise cuts it to ~0.1 ms)`;
}

export function formatGenerator(reports: readonly GeneratorReport[]): string[] {
  return reports.map((report, index) => {
    const prefix = reports.length > 1 ? `run ${index + 1}: ` : '';
    const usage = `${prefix}${report.threads} thread${report.threads > 1 ? 's' : ''}, CPU ${report.cpuPercentPerThread}% of a core each, event-loop lag p99 ${report.eventLoopLagP99Ms} ms`;
    const verdict = report.verdict === 'ok'
      ? 'ok (the numbers measure the server)'
      : `GENERATOR-BOUND: ${report.reasons.join('; ')}. The generator, not the server, limited this run; add --threads or another machine.`;
    return row('generator', `${usage}: ${verdict}`);
  });
}

export function formatThresholds(outcomes: readonly ThresholdOutcome[]): string[] {
  if (outcomes.length === 0) return [];
  return ['', 'thresholds:', ...outcomes.map((outcome) => `  ${outcome.ok ? 'ok    ' : 'BROKEN'}  ${outcome.rule.padEnd(20)} actual ${outcome.actual}${outcome.unit}`)];
}

export function formatSummary(result: RunResult): string {
  const kinds = result.groups.map((group) => group.kind);
  const targets = [...new Set(result.groups.flatMap((group) => group.urls))];
  const lines = [
    `ballast load: ${decimal.format(result.durationMs / 1000)} s against ${targets.slice(0, 3).join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''}${result.runs > 1 ? ` (${result.runs} runs merged)` : ''}`,
  ];
  for (const group of result.groups) lines.push(`  ${result.groups.length > 1 ? `${group.name}: ` : ''}${group.description}`);
  lines.push('');
  lines.push(...formatSummaryBlock(result.summary, kinds));
  if (result.groups.length > 1) {
    for (const group of result.groups) {
      lines.push('', `group ${group.name} (${group.kind})`);
      lines.push(...formatSummaryBlock(group.summary, [group.kind]));
    }
    lines.push('');
  }
  lines.push(...formatGenerator(result.generator));
  lines.push(...formatThresholds(result.thresholds ?? []));
  return lines.join('\n');
}

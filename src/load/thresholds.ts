// Pass/fail rules for CI: `p99<250ms`, `mean<=50ms`, `max<2s`, `errors<1%`, `errors=0`,
// `rps>=400`, `dropped<0.1%`, `drops=0` (streams), optionally scoped to a group: `api:p99<100ms`.
// Latency rules read the exact merged HDR histogram (any percentile, e.g. `p99.99`), from the
// intended send time in the open model. A broken rule makes `ballast load` exit with 99 (as k6
// does), so CI can tell "the server was too slow" from "the tool failed" (1) and "bad usage" (2).

import { createError } from '../errors.ts';
import { addEncoded, type Histogram } from './histogram.ts';
import type { IntervalData, RunResult, Summary, ThresholdOutcome } from './types.ts';

export const thresholdsBrokenExitCode = 99;

export interface Threshold {
  rule: string;
  group?: string;
  metric: string;
  operator: '<' | '<=' | '>' | '>=' | '=';
  /** In ms for latency, a fraction for `%` rules, a plain number otherwise. */
  value: number;
  isPercent: boolean;
}

const latencyMetrics = /^(p\d+(?:\.\d+)?|mean|avg|max|min)$/;
const countMetrics = /^(errors|dropped|drops|requests|rps|interrupted)$/;

export function parseThreshold(rule: string): Threshold {
  const match = /^\s*(?:([\w.-]+):)?\s*([a-z][\w.]*)\s*(<=|>=|==|<|>|=)\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|%)?\s*$/i.exec(rule);
  const fail = (why: string): never => {
    throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`threshold\` (--threshold) to be METRIC<VALUE such as p99<250ms, errors<1% or rps>=400 (${why}), got \`${rule}\``);
  };
  if (!match) return fail('not of that form');
  const metric = match[2].toLowerCase();
  const unit = (match[5] ?? '').toLowerCase();
  let value = Number(match[4]);
  const operator = (match[3] === '==' ? '=' : match[3]) as Threshold['operator'];
  if (latencyMetrics.test(metric)) {
    if (unit === '%') fail('a latency needs a time unit');
    if (metric.startsWith('p')) {
      const percentile = percentileOf(metric);
      if (!(percentile > 0 && percentile <= 100)) fail('a percentile between 0 and 100');
    }
    value = unit === 's' ? value * 1000 : unit === 'm' ? value * 60_000 : unit === 'us' || unit === 'µs' ? value / 1000 : value;
    return { rule: rule.trim(), group: match[1], metric, operator, value, isPercent: false };
  }
  if (!countMetrics.test(metric)) fail(`unknown metric \`${metric}\`; use p50, p99, p99.9, mean, max, errors, dropped, drops, requests or rps`);
  if (unit === '%') {
    if (metric === 'rps' || metric === 'requests') fail(`\`${metric}\` is not a percentage`);
    value /= 100;
  } else if (unit !== '') {
    fail(`\`${metric}\` takes a number or a percentage`);
  }
  return { rule: rule.trim(), group: match[1], metric, operator, value, isPercent: unit === '%' };
}

/** `p999` means p99.9 and `p9999` p99.99 (wrk's and k6's spelling); `p99.9` is read as written. */
function percentileOf(metric: string): number {
  const digits = metric.slice(1);
  if (digits.includes('.')) return Number(digits);
  if (/^99\d+$/.test(digits)) return Number(`99.${digits.slice(2)}`);
  return Number(digits);
}

function compare(actual: number, operator: Threshold['operator'], expected: number): boolean {
  switch (operator) {
    case '<': return actual < expected;
    case '<=': return actual <= expected;
    case '>': return actual > expected;
    case '>=': return actual >= expected;
    case '=': return Math.abs(actual - expected) < 1e-9;
  }
}

function latencyHistogram(intervals: readonly IntervalData[]): Histogram | undefined {
  let histogram: Histogram | undefined;
  for (const interval of intervals) histogram = addEncoded(histogram, interval.histograms.latency);
  return histogram;
}

export function evaluateThresholds(result: RunResult, thresholds: readonly Threshold[]): ThresholdOutcome[] {
  return thresholds.map((threshold) => {
    let summary: Summary = result.summary;
    let intervals: IntervalData[] = result.groups.flatMap((group) => group.intervals);
    if (threshold.group !== undefined) {
      const group = result.groups.find((candidate) => candidate.name === threshold.group);
      if (!group) {
        throw createError('BALLAST_ERR_INVALID_SETTING', `expected the group of threshold \`${threshold.rule}\` to be one of ${result.groups.map((g) => `\`${g.name}\``).join(', ')}, got \`${threshold.group}\``);
      }
      summary = group.summary;
      intervals = group.intervals;
    }
    let actual: number;
    let unit = '';
    switch (threshold.metric) {
      case 'mean':
      case 'avg': actual = summary.latencyMs.mean; unit = 'ms'; break;
      case 'max': actual = summary.latencyMs.max; unit = 'ms'; break;
      case 'min': actual = summary.latencyMs.min; unit = 'ms'; break;
      case 'errors': actual = threshold.isPercent ? summary.errorRate : summary.errors; break;
      case 'dropped': {
        const arrivals = summary.requests + summary.dropped;
        actual = threshold.isPercent ? (arrivals > 0 ? summary.dropped / arrivals : 0) : summary.dropped;
        break;
      }
      case 'drops': {
        const opened = summary.streams?.opened ?? 0;
        const drops = summary.streams?.drops ?? 0;
        actual = threshold.isPercent ? (opened > 0 ? drops / opened : 0) : drops;
        break;
      }
      case 'interrupted': actual = summary.interrupted; break;
      case 'requests': actual = summary.requests; break;
      case 'rps': actual = summary.requestsPerSecond; break;
      default: {
        const histogram = latencyHistogram(intervals);
        actual = histogram ? histogram.getValueAtPercentile(percentileOf(threshold.metric)) / 1000 : 0;
        unit = 'ms';
      }
    }
    const ok = compare(actual, threshold.operator, threshold.value);
    const shown = threshold.isPercent ? Math.round(actual * 1e6) / 1e4 : Math.round(actual * 1000) / 1000;
    return { rule: threshold.rule, actual: shown, unit: threshold.isPercent ? '%' : unit, ok };
  });
}

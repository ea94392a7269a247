// From per-second intervals to a RunResult. Everything here is computed from IntervalData alone,
// so a run in one thread, a run in eight threads and `merge` of several files all go through the
// same arithmetic: counts add, exact sums add, HDR histograms add, and percentiles are read off the
// added histograms (never averaged).

import { addEncoded, decodeHistogram, encodeHistogram, statsOf, type Histogram } from './histogram.ts';
import type { GeneratorReport, GroupKind, GroupResult, HistogramName, IntervalData, RunResult, SeriesPoint, Stats, Summary } from './types.ts';

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

/** Several intervals of the same second (threads, processes, hosts) → one. */
export function mergeIntervals(list: readonly IntervalData[]): IntervalData {
  if (list.length === 1) return list[0];
  const merged: IntervalData = {
    t: list[0].t, requests: 0, errors: 0, statusCounts: {}, errorKinds: {}, dropped: 0, interrupted: 0,
    latencySumUs: 0, serviceSumUs: 0, concurrency: 0, target: 0,
    streamsOpened: 0, streamsCompleted: 0, streamDrops: 0, streamErrors: 0, events: 0, histograms: {},
  };
  const histograms: Partial<Record<HistogramName, Histogram>> = {};
  for (const interval of list) {
    merged.requests += interval.requests;
    merged.errors += interval.errors;
    addCounts(merged.statusCounts, interval.statusCounts);
    addCounts(merged.errorKinds, interval.errorKinds);
    merged.dropped += interval.dropped;
    merged.interrupted += interval.interrupted;
    merged.latencySumUs += interval.latencySumUs;
    merged.serviceSumUs += interval.serviceSumUs;
    // Peaks of different threads need not coincide: the sum is an upper bound, exact for steady load.
    merged.concurrency += interval.concurrency;
    merged.target += interval.target;
    merged.streamsOpened += interval.streamsOpened;
    merged.streamsCompleted += interval.streamsCompleted;
    merged.streamDrops += interval.streamDrops;
    merged.streamErrors = (merged.streamErrors ?? 0) + (interval.streamErrors ?? 0);
    merged.events += interval.events;
    for (const [name, encoded] of Object.entries(interval.histograms) as [HistogramName, string][]) {
      histograms[name] = addEncoded(histograms[name], encoded);
    }
  }
  for (const [name, histogram] of Object.entries(histograms) as [HistogramName, Histogram][]) {
    merged.histograms[name] = encodeHistogram(histogram);
  }
  return merged;
}

/** Groups intervals by second, merging duplicates; returns them sorted by t. */
export function collapseIntervals(intervals: readonly IntervalData[]): IntervalData[] {
  const bySecond = new Map<number, IntervalData[]>();
  for (const interval of intervals) {
    const list = bySecond.get(interval.t);
    if (list) list.push(interval);
    else bySecond.set(interval.t, [interval]);
  }
  return [...bySecond.keys()].sort((a, b) => a - b).map((t) => mergeIntervals(bySecond.get(t)!));
}

function totalHistograms(intervals: readonly IntervalData[]): Partial<Record<HistogramName, Histogram>> {
  const totals: Partial<Record<HistogramName, Histogram>> = {};
  for (const interval of intervals) {
    for (const [name, encoded] of Object.entries(interval.histograms) as [HistogramName, string][]) {
      totals[name] = addEncoded(totals[name], encoded);
    }
  }
  return totals;
}

export interface SummaryOptions {
  durationMs: number;
  kinds: readonly GroupKind[];
}

/**
 * `intervals` may mix seconds and groups; concurrency peaks are summed per second (over groups)
 * before taking the maximum.
 */
export function summarize(intervals: readonly IntervalData[], options: SummaryOptions): { summary: Summary; histograms: Partial<Record<HistogramName, Histogram>> } {
  const histograms = totalHistograms(intervals);
  const statusCounts: Record<string, number> = {};
  const errorKinds: Record<string, number> = {};
  let requests = 0;
  let errors = 0;
  let dropped = 0;
  let interrupted = 0;
  let latencySumUs = 0;
  let serviceSumUs = 0;
  let opened = 0;
  let completed = 0;
  let drops = 0;
  let streamErrors = 0;
  let events = 0;
  const concurrencyBySecond = new Map<number, number>();
  for (const interval of intervals) {
    requests += interval.requests;
    errors += interval.errors;
    dropped += interval.dropped;
    interrupted += interval.interrupted;
    latencySumUs += interval.latencySumUs;
    serviceSumUs += interval.serviceSumUs;
    addCounts(statusCounts, interval.statusCounts);
    addCounts(errorKinds, interval.errorKinds);
    opened += interval.streamsOpened;
    completed += interval.streamsCompleted;
    drops += interval.streamDrops;
    streamErrors += interval.streamErrors ?? 0;
    events += interval.events;
    concurrencyBySecond.set(interval.t, (concurrencyBySecond.get(interval.t) ?? 0) + interval.concurrency);
  }
  const seconds = options.durationMs / 1000;
  // Errors include failed stream attempts, so the attempts do too (and opened streams), or a run
  // whose streams all got 504 would report more errors than attempts.
  const attempts = requests + opened + streamErrors;
  const summary: Summary = {
    durationMs: options.durationMs,
    requests,
    requestsPerSecond: round(seconds > 0 ? requests / seconds : 0, 2),
    requestsPerMinute: round(seconds > 0 ? (requests / seconds) * 60 : 0, 1),
    errors,
    errorRate: attempts > 0 ? round(errors / attempts, 6) : 0,
    statusCounts,
    errorKinds,
    dropped,
    interrupted,
    concurrencyMax: Math.max(0, ...concurrencyBySecond.values()),
    users: 0,
    latencyMs: statsOf(histograms.latency, latencySumUs),
  };
  if (options.kinds.includes('open')) {
    summary.serviceMs = statsOf(histograms.service, histograms.service ? serviceSumUs : undefined);
    summary.scheduleLagMs = statsOf(histograms.lag);
  }
  if (options.kinds.includes('stream')) {
    summary.streams = {
      opened,
      completed,
      drops,
      events,
      eventsPerSecond: round(seconds > 0 ? events / seconds : 0, 2),
      connectMs: statsOf(histograms.connect),
      firstEventMs: statsOf(histograms.firstEvent),
      gapMs: statsOf(histograms.gap),
      eventsPerStream: statsOf(histograms.eventsPerStream, undefined, 1),
    };
  }
  return { summary, histograms };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function pointStats(stats: Stats): SeriesPoint['latencyMs'] {
  return { mean: stats.mean, p50: stats.p50, p90: stats.p90, p99: stats.p99, p999: stats.p999, max: stats.max };
}

/** One point per second from `lastSecond + 1` seconds of (collapsed or not) intervals. */
export function seriesOf(intervals: readonly IntervalData[], lastSecond: number): SeriesPoint[] {
  const bySecond = new Map<number, IntervalData[]>();
  for (const interval of intervals) {
    const list = bySecond.get(interval.t);
    if (list) list.push(interval);
    else bySecond.set(interval.t, [interval]);
  }
  const points: SeriesPoint[] = [];
  for (let t = 0; t <= lastSecond; t++) {
    const list = bySecond.get(t) ?? [];
    const merged = list.length > 0 ? mergeIntervals(list) : undefined;
    const latency = merged?.histograms.latency ? decodeHistogram(merged.histograms.latency) : undefined;
    const service = merged?.histograms.service ? decodeHistogram(merged.histograms.service) : undefined;
    const point: SeriesPoint = {
      t,
      requests: merged?.requests ?? 0,
      errors: merged?.errors ?? 0,
      dropped: merged?.dropped ?? 0,
      statusCounts: merged?.statusCounts ?? {},
      concurrency: merged?.concurrency ?? 0,
      target: merged?.target ?? 0,
      events: merged?.events ?? 0,
      streamDrops: merged?.streamDrops ?? 0,
      latencyMs: pointStats(statsOf(latency, merged?.latencySumUs)),
    };
    if (service) point.serviceMs = pointStats(statsOf(service, merged?.serviceSumUs));
    points.push(point);
  }
  return points;
}

export interface GroupMeta {
  name: string;
  kind: GroupKind;
  description: string;
  urls: string[];
}

export function buildResult(input: {
  startedAt: string;
  durationMs: number;
  runs: number;
  groups: readonly { meta: GroupMeta; intervals: readonly IntervalData[] }[];
  generator: GeneratorReport[];
}): RunResult {
  const lastSecond = Math.max(0, Math.ceil(input.durationMs / 1000) - 1);
  const groups: GroupResult[] = input.groups.map(({ meta, intervals }) => {
    const collapsed = collapseIntervals(intervals);
    const { summary } = summarize(collapsed, { durationMs: input.durationMs, kinds: [meta.kind] });
    if (meta.kind === 'closed') summary.users = summary.concurrencyMax;
    return {
      ...meta,
      summary,
      series: seriesOf(collapsed, lastSecond),
      intervals: collapsed,
    };
  });
  const all = groups.flatMap((group) => group.intervals);
  const { summary } = summarize(all, { durationMs: input.durationMs, kinds: groups.map((group) => group.kind) });
  summary.users = groups.reduce((sum, group) => sum + group.summary.users, 0);
  return {
    format: 'ballast-load/1',
    startedAt: input.startedAt,
    durationMs: input.durationMs,
    runs: input.runs,
    summary,
    series: seriesOf(all, lastSecond),
    groups,
    generator: input.generator,
  };
}

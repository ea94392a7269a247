// Worker-side metrics (prom-client). Each worker keeps its own registry and pushes a snapshot to
// the supervisor every second, so /metrics is served by the supervisor from the last snapshots
// and answers even while every worker is stalled. Counters and histograms are summed across
// workers; per-worker gauges carry a `worker` label.

import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Buckets in seconds: sub-millisecond to a minute, dense where web requests live. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface WorkerMetrics {
  registry: Registry;
  observeRequest(status: number, durationMs: number, queueWaitMs: number): void;
  shed(reason: string): void;
  deadline(): void;
  stall(): void;
  setGauges(values: { inFlight: number; queued: number; limit: number; rss: number; heapUsed: number; loopUtilisation: number; loopDelayP99Ms: number; openStreams: number }): void;
}

const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'];

export function createWorkerMetrics(workerId: number): WorkerMetrics {
  const registry = new Registry();
  const worker = String(workerId);
  const requests = new Counter({ name: 'ballast_requests_total', help: 'Responses sent, by status class.', labelNames: ['status_class'] as const, registers: [registry] });
  const duration = new Histogram({ name: 'ballast_request_duration_seconds', help: 'Time from request arrival to response end (queue wait included).', buckets: latencyBuckets, registers: [registry] });
  const queueWait = new Histogram({ name: 'ballast_queue_wait_seconds', help: 'Time requests waited for an admission slot.', buckets: latencyBuckets, registers: [registry] });
  const shed = new Counter({ name: 'ballast_shed_total', help: 'Requests refused with 503, by reason.', labelNames: ['reason'] as const, registers: [registry] });
  const deadlines = new Counter({ name: 'ballast_deadlines_total', help: 'Requests answered 504 at their deadline.', registers: [registry] });
  const stalls = new Counter({ name: 'ballast_stalls_total', help: 'Event-loop stalls longer than --stall-ms.', registers: [registry] });
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['worker'] as const, registers: [registry] });
  const inFlight = gauge('ballast_in_flight', 'Requests in the app now.');
  const queued = gauge('ballast_queue_depth', 'Requests waiting for a slot now.');
  const limit = gauge('ballast_concurrency_limit', 'The current concurrency limit (changes in adaptive mode).');
  const rss = gauge('ballast_worker_rss_bytes', 'Resident set size of the worker process.');
  const heap = gauge('ballast_worker_heap_used_bytes', 'V8 heap in use in the worker process.');
  const utilisation = gauge('ballast_event_loop_utilization', 'Share of the last second the event loop was busy (0..1).');
  const lag = gauge('ballast_event_loop_delay_p99_seconds', 'p99 event-loop delay over the last second.');
  const streams = gauge('ballast_open_streams', 'Open responses of stream routes.');
  // Pre-create label sets so the first scrape shows zeros instead of nothing.
  for (const statusClass of statusClasses) requests.labels(statusClass).inc(0);
  const statusCounters = statusClasses.map((c) => requests.labels(c));

  return {
    registry,
    observeRequest(status, durationMs, queueWaitMs) {
      statusCounters[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!.inc();
      duration.observe(durationMs / 1000);
      queueWait.observe(queueWaitMs / 1000);
    },
    shed(reason) { shed.labels(reason).inc(); },
    deadline() { deadlines.inc(); },
    stall() { stalls.inc(); },
    setGauges(v) {
      inFlight.labels(worker).set(v.inFlight);
      queued.labels(worker).set(v.queued);
      limit.labels(worker).set(v.limit);
      rss.labels(worker).set(v.rss);
      heap.labels(worker).set(v.heapUsed);
      utilisation.labels(worker).set(v.loopUtilisation);
      lag.labels(worker).set(v.loopDelayP99Ms / 1000);
      streams.labels(worker).set(v.openStreams);
    },
  };
}

/** Keeps only what outlives a worker (counters, histograms), for the supervisor's running totals. */
export function cumulativeOnly(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((metric) => String(metric.type) === 'counter' || String(metric.type) === 'histogram');
}

export type { MetricObjectWithValues, MetricValue };

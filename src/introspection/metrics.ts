// Worker-side metrics (prom-client). Each worker keeps its own registry and pushes a snapshot to
// the supervisor every second, so /metrics is served by the supervisor from the last snapshots
// and answers even while every worker is stalled. Counters and histograms are summed across
// workers; per-worker gauges carry a `worker` label.

import { Counter, Gauge, Registry, type Metric, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Buckets in seconds: sub-millisecond to a minute, dense where web requests live. */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * A label-less histogram that counts into a typed array and builds, when the registry is read,
 * exactly what prom-client's Histogram#get() returns for the same observations (same bucket rule,
 * same floating-point sum), so the supervisor's aggregation and /metrics cannot tell them apart.
 * prom-client's observe() hashes the (empty) label set and validates on every call: with two per
 * request that was most of the metrics' per-request cost in bench/hello.
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly #bounds: Float64Array;
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(options: { name: string; help: string; buckets: readonly number[]; registers?: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = Float64Array.from([...options.buckets].sort((a, b) => a - b));
    this.#counts = new Float64Array(this.#bounds.length);
    for (const registry of options.registers ?? []) registry.registerMetric(this as unknown as Metric);
  }

  /** A value in the metric's unit (seconds here), as Histogram#observe(value). */
  observe(value: number): void {
    const bounds = this.#bounds;
    // The first bucket whose upper bound holds the value; past the last one only +Inf counts it.
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.#counts[i]!++;
        break;
      }
    }
    this.#sum += value;
    this.#count++;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  async get(): Promise<MetricsSnapshot[number]> {
    const bucket = `${this.name}_bucket`;
    const values: Array<MetricValue<string> & { metricName: string; exemplar?: null }> = [];
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ value: cumulative, metricName: bucket, exemplar: null, labels: { le: this.#bounds[i]! } });
    }
    values.push(
      { value: this.#count, metricName: bucket, exemplar: null, labels: { le: '+Inf' } },
      { value: this.#sum, metricName: `${this.name}_sum`, exemplar: undefined, labels: {} },
      { value: this.#count, metricName: `${this.name}_count`, exemplar: undefined, labels: {} },
    );
    // prom-client's typings say `type` is an enum; at run time it is the string, as here.
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator } as unknown as MetricsSnapshot[number];
  }
}

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
  // Counted in a plain array per request and added to the counter when the registry is read
  // (collect): a labelled inc() hashes its labels on every call.
  const pendingByClass = new Float64Array(statusClasses.length);
  const requests = new Counter({
    name: 'ballast_requests_total',
    help: 'Responses sent, by status class.',
    labelNames: ['status_class'] as const,
    registers: [registry],
    collect() {
      for (let i = 0; i < statusCounters.length; i++) {
        if (pendingByClass[i]! > 0) statusCounters[i]!.inc(pendingByClass[i]!);
        pendingByClass[i] = 0;
      }
    },
  });
  const duration = new BucketHistogram({ name: 'ballast_request_duration_seconds', help: 'Time from request arrival to response end (queue wait included).', buckets: latencyBuckets, registers: [registry] });
  const queueWait = new BucketHistogram({ name: 'ballast_queue_wait_seconds', help: 'Time requests waited for an admission slot.', buckets: latencyBuckets, registers: [registry] });
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
      pendingByClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!++;
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

// The shapes shared by the plan, the engine, the threads and the reports. Everything that crosses a
// thread or a file boundary (GroupSpec, IntervalData, RunResult) is plain JSON-serialisable data.

export type GroupKind = 'closed' | 'open' | 'stream';

export interface RequestSpec {
  method: string;
  /** Absolute URL. */
  url: string;
  /** `scheme://host:port`: one connection pool per origin. */
  origin: string;
  /** Path and query. */
  path: string;
  /** Flat `[name, value, name, value…]`, the form undici takes without copying. */
  headers: string[];
  /** Base64 so the spec survives postMessage and JSON unchanged; decoded once per thread. */
  bodyBase64: string;
  weight: number;
}

export interface Stage {
  durationMs: number;
  target: number;
}

export interface SlowSpec {
  headersMs: number;
  uploadBytesPerSecond: number;
  readBytesPerSecond: number;
}

export interface GroupSpec {
  name: string;
  kind: GroupKind;
  requests: RequestSpec[];
  /** Closed: users; open: arrivals per second; stream: concurrent streams. The level before stages. */
  users: number;
  thinkMs: number;
  rate: number;
  arrival: 'constant' | 'poisson';
  /** Open model: event-loop timers (whole ms) or the pacer thread (sub-ms). */
  pacing: 'timer' | 'precise';
  seed: number;
  stages: Stage[];
  streams: number;
  holdMs: number;
  slow: SlowSpec;
  connections: number;
  /** `auto`: the raw transport for requests it can carry, undici for the rest; `raw`; `undici`. */
  transport: 'auto' | 'raw' | 'undici';
  maxInFlight: number;
  requestTimeoutMs: number;
}

export interface RunSpec {
  durationMs: number;
  gracefulStopMs: number;
  threads: number;
  /** The generator's own warm-up against a local server before the clock starts (engine/warm-up.ts); 0: none. */
  warmUpMs?: number;
  groups: GroupSpec[];
  /** Wall-clock start (epoch ms, --start-at); undefined: as soon as the generator is warm. */
  startEpochMs?: number;
  /** Length of the recorders' intervals, ms; 1000 (seconds) but in the warm-up's own run (engine/warm-up.ts). */
  intervalMs?: number;
}

/** Outcome kinds that are not an HTTP status. */
export type ErrorKind = 'timeout' | 'reset' | 'refused' | 'other';

/**
 * One second of one group, the unit of measurement, transport and merge. Histograms are HDR
 * histograms of integer microseconds (events per stream for `eventsPerStream`) in
 * hdr-histogram-js's compressed base64 encoding; adding two decoded histograms is exact, so any
 * number of intervals from threads, processes or hosts merge into the same result as one recorder.
 */
export interface IntervalData {
  /** Second index from the start of the run. */
  t: number;
  /** Completed requests, including failed ones (not dropped arrivals). */
  requests: number;
  /** Requests answered with status >= 400 or failed without an answer. */
  errors: number;
  statusCounts: Record<string, number>;
  errorKinds: Record<string, number>;
  /** Open model: arrivals not sent because --max-in-flight requests were already in flight. */
  dropped: number;
  /** Requests aborted by the end of the run (graceful stop exceeded). */
  interrupted: number;
  /** Exact sums (µs) so the mean is exact, not histogram-rounded. */
  latencySumUs: number;
  serviceSumUs: number;
  /** Peak users (closed), in-flight requests (open) or open streams during this second. */
  concurrency: number;
  /** Target users or rate at the end of this second (stages). */
  target: number;
  streamsOpened: number;
  streamsCompleted: number;
  streamDrops: number;
  /** Stream attempts that got no 2xx response (counted in `errors`); absent in older files. */
  streamErrors?: number;
  events: number;
  histograms: Partial<Record<HistogramName, string>>;
}

export type HistogramName = 'latency' | 'service' | 'lag' | 'connect' | 'firstEvent' | 'gap' | 'eventsPerStream';

export interface Stats {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface StreamSummary {
  opened: number;
  completed: number;
  drops: number;
  events: number;
  eventsPerSecond: number;
  connectMs: Stats;
  firstEventMs: Stats;
  gapMs: Stats;
  /** Distribution of events received per closed stream. */
  eventsPerStream: Stats;
}

export interface Summary {
  durationMs: number;
  requests: number;
  requestsPerSecond: number;
  requestsPerMinute: number;
  errors: number;
  errorRate: number;
  statusCounts: Record<string, number>;
  errorKinds: Record<string, number>;
  dropped: number;
  interrupted: number;
  /** Peak concurrency over the run (users, in flight, or streams). */
  concurrencyMax: number;
  /** Closed model: peak users (summed over closed groups). 0 when no group is closed. */
  users: number;
  latencyMs: Stats;
  /** Open model only: from the actual send, so it leaves out waiting caused by the generator's schedule. */
  serviceMs?: Stats;
  /** Open model only: how late the generator sent each request relative to its schedule. */
  scheduleLagMs?: Stats;
  streams?: StreamSummary;
}

export interface SeriesPoint {
  t: number;
  requests: number;
  errors: number;
  dropped: number;
  statusCounts: Record<string, number>;
  concurrency: number;
  target: number;
  events: number;
  streamDrops: number;
  latencyMs: Omit<Stats, 'count' | 'min'>;
  serviceMs?: Omit<Stats, 'count' | 'min'>;
}

export interface GeneratorReport {
  threads: number;
  cpuPercent: number;
  /** Per thread, as a percentage of one core. */
  cpuPercentPerThread: number;
  eventLoopLagP99Ms: number;
  eventLoopLagMaxMs: number;
  scheduleLagP99Ms?: number;
  verdict: 'ok' | 'generator-bound';
  reasons: string[];
}

export interface GroupResult {
  name: string;
  kind: GroupKind;
  description: string;
  urls: string[];
  summary: Summary;
  series: SeriesPoint[];
  intervals: IntervalData[];
}

export interface RunResult {
  format: 'ballast-load/1';
  startedAt: string;
  durationMs: number;
  /** How many runs were merged into this one (1 for a plain run). */
  runs: number;
  summary: Summary;
  series: SeriesPoint[];
  groups: GroupResult[];
  generator: GeneratorReport[];
  thresholds?: ThresholdOutcome[];
}

export interface ThresholdOutcome {
  rule: string;
  actual: number;
  unit: string;
  ok: boolean;
}

// Per-second recording for one group in one thread. Values are recorded at the moment they are
// observed (completion, arrival, event), so seconds close in order: the recorder keeps only the
// current second's live histograms and hands each finished second to `emit` already encoded, which
// bounds memory to one second of histograms whatever the run's length.

import { createHistogram, encodeHistogram, type Histogram } from './histogram.ts';
import type { ErrorKind, HistogramName, IntervalData } from './types.ts';

/** Status codes as object keys, made once instead of once per response. */
const statusKeys: string[] = [];
function statusKey(status: number): string {
  return statusKeys[status] ?? (statusKeys[status] = String(status));
}

const histogramNames: readonly HistogramName[] = ['latency', 'service', 'lag', 'connect', 'firstEvent', 'gap', 'eventsPerStream'];

function createInterval(t: number): IntervalData {
  return {
    t, requests: 0, errors: 0, statusCounts: {}, errorKinds: {}, dropped: 0, interrupted: 0,
    latencySumUs: 0, serviceSumUs: 0, concurrency: 0, target: 0,
    streamsOpened: 0, streamsCompleted: 0, streamDrops: 0, streamErrors: 0, events: 0, histograms: {},
  };
}

export class GroupRecorder {
  readonly group: string;
  #startMs: number;
  #lastSecond: number;
  #current: IntervalData;
  #live: Partial<Record<HistogramName, Histogram>> = {};
  #emit: (interval: IntervalData) => void;
  /** Live concurrency (users, in flight, open streams); the peak per second is reported. */
  #concurrency = 0;
  #peak = 0;
  #target = 0;
  #intervalMs: number;

  /**
   * @param startMs performance.now() of the run's start in this thread.
   * @param lastSecond values observed later (graceful stop) are folded into this second, so the
   * series covers exactly the run's duration.
   * @param intervalMs the length of a "second": 1000 but in the generator's warm-up, whose shorter
   * ones make it close intervals mid-run, as the real run will (see engine/warm-up.ts).
   */
  constructor(group: string, startMs: number, lastSecond: number, emit: (interval: IntervalData) => void, intervalMs = 1000) {
    this.group = group;
    this.#startMs = startMs;
    this.#lastSecond = lastSecond;
    this.#emit = emit;
    this.#intervalMs = intervalMs;
    this.#current = createInterval(0);
  }

  /** The interval for `nowMs`, closing earlier seconds (including empty ones) on the way. */
  #at(nowMs: number): IntervalData {
    let second = Math.floor((nowMs - this.#startMs) / this.#intervalMs);
    if (second > this.#lastSecond) second = this.#lastSecond;
    if (second > this.#current.t) this.#rollTo(second);
    return this.#current;
  }

  #rollTo(second: number): void {
    while (this.#current.t < second) {
      this.#close();
      this.#current = createInterval(this.#current.t + 1);
    }
  }

  #close(): void {
    const interval = this.#current;
    interval.target = this.#target;
    interval.concurrency = Math.max(this.#peak, this.#concurrency);
    this.#peak = this.#concurrency;
    for (const name of histogramNames) {
      const histogram = this.#live[name];
      if (histogram !== undefined && histogram.totalCount > 0) {
        interval.histograms[name] = encodeHistogram(histogram);
        histogram.reset();
      }
    }
    this.#emit(interval);
  }

  #histogram(name: HistogramName): Histogram {
    let histogram = this.#live[name];
    if (histogram === undefined) {
      histogram = createHistogram();
      this.#live[name] = histogram;
    }
    return histogram;
  }

  /** Closes seconds up to `nowMs` even when nothing happened (called by a 1 s tick). */
  tick(nowMs: number): void {
    this.#at(nowMs);
  }

  /**
   * A finished request. `status` 0 means no response: `errorKind` says why.
   * @param latencyUs from the intended send (open) or the user's send (closed).
   * @param serviceUs from the moment the request was written to a connection; -1 when not measured.
   */
  recordResponse(nowMs: number, status: number, errorKind: ErrorKind | undefined, latencyUs: number, serviceUs: number): void {
    const interval = this.#at(nowMs);
    interval.requests++;
    if (status === 0) {
      interval.errors++;
      const kind = errorKind ?? 'other';
      interval.errorKinds[kind] = (interval.errorKinds[kind] ?? 0) + 1;
    } else {
      if (status >= 400) interval.errors++;
      const key = statusKey(status);
      interval.statusCounts[key] = (interval.statusCounts[key] ?? 0) + 1;
    }
    const latency = latencyUs < 0 ? 0 : Math.round(latencyUs);
    interval.latencySumUs += latency;
    this.#histogram('latency').recordValue(latency);
    if (serviceUs >= 0) {
      const service = Math.round(serviceUs);
      interval.serviceSumUs += service;
      this.#histogram('service').recordValue(service);
    }
  }

  recordLag(nowMs: number, lagUs: number): void {
    this.#at(nowMs);
    this.#histogram('lag').recordValue(lagUs < 0 ? 0 : Math.round(lagUs));
  }

  recordDropped(nowMs: number): void {
    this.#at(nowMs).dropped++;
  }

  recordInterrupted(nowMs: number, count: number): void {
    this.#at(nowMs).interrupted += count;
  }

  recordStreamOpened(nowMs: number, connectUs: number): void {
    this.#at(nowMs).streamsOpened++;
    this.#histogram('connect').recordValue(Math.max(0, Math.round(connectUs)));
  }

  recordEvent(nowMs: number, isFirst: boolean, sinceUs: number): void {
    this.#at(nowMs).events++;
    this.#histogram(isFirst ? 'firstEvent' : 'gap').recordValue(Math.max(0, Math.round(sinceUs)));
  }

  /** A stream ended: held to the end (completed) or ended early by the server or an error (drop). */
  recordStreamClosed(nowMs: number, isDrop: boolean, events: number): void {
    const interval = this.#at(nowMs);
    if (isDrop) interval.streamDrops++;
    else interval.streamsCompleted++;
    this.#histogram('eventsPerStream').recordValue(events);
  }

  /** Failed stream attempt (no 2xx response): an error, counted like a request error. */
  recordStreamError(nowMs: number, status: number, errorKind: ErrorKind | undefined): void {
    const interval = this.#at(nowMs);
    interval.errors++;
    interval.streamErrors = (interval.streamErrors ?? 0) + 1;
    if (status === 0) {
      const kind = errorKind ?? 'other';
      interval.errorKinds[kind] = (interval.errorKinds[kind] ?? 0) + 1;
    } else {
      const key = String(status);
      interval.statusCounts[key] = (interval.statusCounts[key] ?? 0) + 1;
    }
  }

  /** Cheap enough for every request: no clock read; the peak is attributed when the second closes. */
  noteConcurrency(value: number): void {
    this.#concurrency = value;
    if (value > this.#peak) this.#peak = value;
  }

  setTarget(value: number): void {
    this.#target = value;
  }

  /** Emits every second up to the last one and stops. */
  finish(): void {
    this.#rollTo(this.#lastSecond);
    this.#close();
  }
}

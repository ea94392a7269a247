// The live progress line on a terminal: elapsed, requests per second and p99 of the last complete
// second, errors so far, and a bar toward the duration. Redrawn in place four times a second; off
// when stderr is not a TTY, so logs and CI stay clean.

import { addEncoded, type Histogram } from '../histogram.ts';
import type { IntervalData } from '../types.ts';
import { formatCount, formatMs } from './terminal.ts';

interface SecondView {
  reports: number;
  requests: number;
  events: number;
  latency: Histogram | undefined;
}

export class ProgressLine {
  #stream: NodeJS.WriteStream;
  #durationMs: number;
  #expectedReports: number;
  #startMs = performance.now();
  #seconds = new Map<number, SecondView>();
  #totalRequests = 0;
  #totalErrors = 0;
  #latest: { t: number; requests: number; events: number; p99Ms: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** @param expectedReports intervals per second (groups × threads): a second is complete when all arrived. */
  constructor(stream: NodeJS.WriteStream, durationMs: number, expectedReports: number) {
    this.#stream = stream;
    this.#durationMs = durationMs;
    this.#expectedReports = expectedReports;
  }

  /** @param startMs performance.now() at which the load starts (it may be a little ahead). */
  start(startMs = performance.now()): void {
    this.#startMs = startMs;
    this.#timer = setInterval(() => this.#draw(), 250);
    this.#timer.unref();
  }

  add(interval: IntervalData): void {
    this.#totalRequests += interval.requests;
    this.#totalErrors += interval.errors;
    let view = this.#seconds.get(interval.t);
    if (!view) {
      view = { reports: 0, requests: 0, events: 0, latency: undefined };
      this.#seconds.set(interval.t, view);
    }
    view.reports++;
    view.requests += interval.requests;
    view.events += interval.events;
    view.latency = addEncoded(view.latency, interval.histograms.latency);
    if (view.reports >= this.#expectedReports) {
      this.#latest = { t: interval.t, requests: view.requests, events: view.events, p99Ms: view.latency ? view.latency.getValueAtPercentile(99) / 1000 : 0 };
      this.#seconds.delete(interval.t);
    }
  }

  #draw(): void {
    const elapsedMs = Math.max(0, Math.min(performance.now() - this.#startMs, this.#durationMs));
    const fraction = this.#durationMs > 0 ? elapsedMs / this.#durationMs : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const latest = this.#latest;
    const rate = latest ? `${formatCount(latest.requests)} req/s` : '… req/s';
    const events = latest && latest.events > 0 ? `  ${formatCount(latest.events)} events/s` : '';
    const p99 = latest ? `p99 ${formatMs(latest.p99Ms)}` : 'p99 …';
    const errors = `errors ${formatCount(this.#totalErrors)}${this.#totalRequests > 0 ? ` (${((this.#totalErrors / this.#totalRequests) * 100).toFixed(2)}%)` : ''}`;
    const line = `${(elapsedMs / 1000).toFixed(0).padStart(4)}s / ${(this.#durationMs / 1000).toFixed(0)}s ${bar} ${rate}${events}  ${p99}  ${errors}`;
    this.#stream.write(`\r${line.slice(0, (this.#stream.columns || 120) - 1)}\x1b[K`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#stream.write('\r\x1b[K');
  }
}

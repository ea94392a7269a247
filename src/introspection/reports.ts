// Stall (and, later, slow-request) reports, kept by the supervisor: a ring buffer for the admin
// API and dashboard, plus subscribers (the dashboard's live stream).

import type { InFlightSnapshot } from './watchdog-thread.ts';

import type { Span } from './request-context.ts';

export interface StallReport {
  kind: 'stall';
  workerId: number;
  pid: number;
  /** epoch ms when the evidence was captured */
  time: number;
  blockedMs: number;
  /** `function (url:line:column)`, innermost first */
  stack: string[];
  inFlight: InFlightSnapshot[];
}

/** A request slower than --slow-ms that did not block the loop: where did its time go? */
export interface SlowReport {
  kind: 'slow';
  workerId: number;
  pid: number;
  time: number;
  reqId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  queueWaitMs: number;
  /** Time covered by outbound calls and app spans (overlaps counted once). */
  waitingMs: number;
  /** The rest: the handler's own code and the event loop. */
  ownMs: number;
  spans: Span[];
}

export type Report = StallReport | SlowReport;

export class ReportStore {
  #items: Report[] = [];
  #capacity: number;
  #subscribers = new Set<(report: Report) => void>();

  constructor(capacity = 200) {
    this.#capacity = capacity;
  }

  add(report: Report): void {
    this.#items.push(report);
    if (this.#items.length > this.#capacity) this.#items.splice(0, this.#items.length - this.#capacity);
    for (const subscriber of this.#subscribers) subscriber(report);
  }

  /** Newest first. */
  list(limit = this.#capacity): Report[] {
    return this.#items.slice(-limit).reverse();
  }

  subscribe(subscriber: (report: Report) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }
}

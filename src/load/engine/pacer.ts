// Sub-millisecond pacing for the open model. The event loop's timers fire on whole milliseconds
// (libuv's clock and epoll timeouts are in ms), so a schedule driven by setTimeout sends each
// millisecond's arrivals together, on average ~0.7 ms after they were due: at 5,000 req/s that
// lag is larger than a hello-world server's whole response time, and the bursts queue at the
// server. The pacer runs a thread that sleeps to each arrival's intended time with Atomics.wait
// (fractional milliseconds) and wakes the event loop through Atomics.waitAsync. The thread walks
// its own copy of the (deterministic) schedule, so the main thread never has to arm it: one
// wake-up of each thread per arrival, or per group of arrivals closer together than the wake-up
// itself takes.
//
// Timer slack: Linux lets a sleeping thread's timer fire up to its slack late (50 µs by default)
// to batch wake-ups. The pacer's thread inherits the slack of the thread that creates it, so the
// main thread lowers its own to 1 µs around the thread's creation (/proc/self/timerslack_ns; where
// that file cannot be written the pacer works with the default, ~50 µs less precise).

import { readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Stage } from '../types.ts';

export interface PacerData {
  control: SharedArrayBuffer;
  rate: number;
  stages: Stage[];
  durationMs: number;
  arrival: 'constant' | 'poisson';
  seed: number;
  phase: number;
  /** Shortest time between two wake-ups (ms). */
  quantumMs: number;
}

/** At most 10,000 wake-ups a second: above that rate, arrivals go out in groups of ≥ 0.1 ms. */
export const pacerQuantumMs = 0.1;

const slackPath = '/proc/self/timerslack_ns';

function withLowTimerSlack<T>(create: () => T): T {
  let previous: string | undefined;
  try {
    previous = readFileSync(slackPath, 'utf8').trim();
    writeFileSync(slackPath, '1000');
  } catch {
    previous = undefined;
  }
  try {
    return create();
  } finally {
    if (previous !== undefined) {
      try {
        writeFileSync(slackPath, previous);
      } catch {
        // Left at 1 µs: only the precision of the main thread's own (millisecond) timers changes.
      }
    }
  }
}

export interface PacerEvents {
  /** The thread is in its loop (its start-up takes ~20-40 ms, which must not count as lag). */
  onOnline: () => void;
  /** On the main thread, at (a few tens of µs after) each arrival's intended time. */
  onWake: () => void;
  /** The thread could not start or died; no more wake-ups will come. */
  onFailure: (error: Error) => void;
}

export class Pacer {
  #control = new SharedArrayBuffer(24);
  // [0]: wake-ups sent by the pacer's thread; [1]: 0 before the start, 1 running, 2 stopped.
  #state = new Int32Array(this.#control);
  #times = new Float64Array(this.#control, 16, 1);
  #worker: Worker;
  #seen = 0;
  #isStopped = false;
  #events: PacerEvents;
  #resume = () => this.#wake();

  /** Throws only if the thread cannot be created at all; later failures go to `onFailure`. */
  constructor(schedule: Omit<PacerData, 'control' | 'quantumMs'>, events: PacerEvents) {
    this.#events = events;
    const workerData: PacerData = { ...schedule, quantumMs: pacerQuantumMs, control: this.#control };
    this.#worker = withLowTimerSlack(() => new Worker(new URL('./pacer-thread.ts', import.meta.url), { workerData, stdout: false, stderr: false }));
    this.#worker.unref();
    this.#worker.once('message', () => {
      if (!this.#isStopped) events.onOnline();
    });
    this.#worker.once('error', (error: Error) => this.#fail(error));
    this.#worker.once('exit', (code: number) => this.#fail(new Error(`the pacer thread exited (code ${code})`)));
  }

  #fail(error: Error): void {
    if (this.#isStopped) return;
    this.#isStopped = true;
    this.#events.onFailure(error);
  }

  /** Starts the schedule at `startMs` (the main thread's performance.now() clock). */
  start(startMs: number): void {
    // performance.now() and process.hrtime() read the same monotonic clock from different origins.
    const [seconds, nanoseconds] = process.hrtime();
    this.#times[0] = startMs + (seconds * 1000 + nanoseconds / 1e6 - performance.now());
    Atomics.store(this.#state, 1, 1);
    Atomics.notify(this.#state, 1);
    this.#wait();
  }

  #wait(): void {
    if (this.#isStopped) return;
    const result = Atomics.waitAsync(this.#state, 0, this.#seen);
    if (result.async) void result.value.then(this.#resume);
    else queueMicrotask(this.#resume);
  }

  #wake(): void {
    if (this.#isStopped) return;
    this.#seen = Atomics.load(this.#state, 0);
    this.#events.onWake();
    this.#wait();
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    Atomics.store(this.#state, 1, 2);
    Atomics.notify(this.#state, 1);
    // A waitAsync still pending keeps nothing alive (the worker is unref'd, the promise is not a
    // handle); the thread ends its loop on the state change.
    await this.#worker.terminate();
  }
}

// The open model: requests arrive on a schedule (constant or Poisson, optionally ramped) whether or
// not earlier ones have been answered, as users on the internet do. Every request carries its
// intended send time, and its latency is measured from that time (wrk2's fix for coordinated
// omission): if the server freezes for a second, the requests that should have gone out during the
// freeze report the time they waited. Service time is measured from the moment undici wrote the
// request to a connection, which is what a closed-loop tool would report. Schedule lag (how late
// the generator itself sent each request) is recorded separately, so a slow generator is visible.
//
// Arrivals never wait in the generator: they are handed to the pool at once (waiting there for a
// free connection counts in latency, not in service time). Only when --max-in-flight requests are
// already outstanding is an arrival dropped, and counted, instead of growing memory without bound.

import type { GroupRecorder } from '../recorder.ts';
import { createArrivalSchedule, TargetCurve, type ArrivalSchedule } from '../schedule.ts';
import type { GroupSpec, Stage } from '../types.ts';
import { classifyError, TimedRequestHandler, type GroupTransport } from './transport.ts';
import type { Executor, ExecutorClock } from './executor.ts';
import { Pacer } from './pacer.ts';
import { defaultMessage } from '../../errors.ts';

class Arrival extends TimedRequestHandler {
  intendedMs = 0;
  #executor: OpenExecutor;

  constructor(executor: OpenExecutor) {
    super();
    this.#executor = executor;
  }
  protected finish(status: number, error: Error | undefined): void {
    this.#executor.complete(this, status, error);
  }
}

export class OpenExecutor implements Executor {
  #group: GroupSpec;
  #transport: GroupTransport;
  #recorder: GroupRecorder;
  #clock: ExecutorClock;
  #curve: TargetCurve;
  #schedule: ArrivalSchedule;
  #nextAtMs: number;
  #free: Arrival[] = [];
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #isStopping = false;
  #isInterrupting = false;
  #idle: (() => void) | undefined;
  #tick = () => this.#run();
  #pacer: Pacer | undefined;
  #isPaced = false;
  #isStarted = false;

  constructor(group: GroupSpec, share: { rate: number; stages: Stage[]; seed: number; phase: number }, transport: GroupTransport, recorder: GroupRecorder, clock: ExecutorClock) {
    this.#group = group;
    this.#transport = transport;
    this.#recorder = recorder;
    this.#clock = clock;
    this.#curve = new TargetCurve(share.rate, share.stages, clock.durationMs);
    this.#schedule = createArrivalSchedule(this.#curve, group.arrival, share.seed, share.phase);
    this.#nextAtMs = this.#schedule.next();
    if (group.pacing === 'precise') this.#startPacer(share);
  }

  /** Until the pacer's thread is up (~20-40 ms), or if it fails, the event loop's timers pace. */
  #startPacer(share: { rate: number; stages: Stage[]; seed: number; phase: number }): void {
    const fallBack = (error: unknown) => {
      this.#pacer = undefined;
      this.#isPaced = false;
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`ballast load: BALLAST_ERR_LOAD_PACER: ${defaultMessage('BALLAST_ERR_LOAD_PACER')} (${reason})\n`);
      if (this.#isStarted && !this.#isStopping) this.#run();
    };
    try {
      this.#pacer = new Pacer({ rate: share.rate, stages: share.stages, durationMs: this.#clock.durationMs, arrival: this.#group.arrival, seed: share.seed, phase: share.phase }, {
        onOnline: () => {
          if (this.#isStopping) return;
          this.#isPaced = true;
          if (this.#isStarted) this.#pacer?.start(this.#clock.startMs);
        },
        onWake: this.#tick,
        onFailure: fallBack,
      });
    } catch (error) {
      fallBack(error);
    }
  }

  start(): void {
    this.#isStarted = true;
    if (this.#isPaced) this.#pacer?.start(this.#clock.startMs);
    this.#run();
  }

  #run(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#isStopping) return;
    const start = this.#clock.startMs;
    const now = performance.now();
    const elapsed = now - start;
    const durationMs = this.#clock.durationMs;
    const maxInFlight = this.#group.maxInFlight;
    this.#recorder.setTarget(Math.round(this.#curve.at(Math.min(elapsed, durationMs))));
    while (this.#nextAtMs <= elapsed && this.#nextAtMs < durationMs) {
      if (this.#inFlight >= maxInFlight) {
        this.#recorder.recordDropped(now);
      } else {
        const arrival = this.#free.pop() ?? new Arrival(this);
        arrival.intendedMs = start + this.#nextAtMs;
        arrival.sentMs = 0;
        arrival.status = 0;
        this.#inFlight++;
        this.#recorder.recordLag(now, (now - arrival.intendedMs) * 1000);
        this.#transport.send(this.#transport.pick(), arrival);
      }
      this.#nextAtMs = this.#schedule.next();
    }
    this.#recorder.noteConcurrency(this.#inFlight);
    if (this.#nextAtMs >= durationMs) return;
    if (this.#isPaced) {
      // The pacer's thread wakes this loop at the next arrival's time.
      return;
    }
    // Timers have ~1 ms granularity; arrivals due within it go out together on the next tick, and
    // their lateness is recorded as schedule lag (and counted in their latency).
    this.#timer = setTimeout(this.#tick, Math.max(0, this.#nextAtMs - (performance.now() - start)));
  }

  complete(arrival: Arrival, status: number, error: Error | undefined): void {
    this.#inFlight--;
    const now = arrival.doneMs;
    if (this.#isInterrupting) {
      this.#recorder.recordInterrupted(now, 1);
    } else {
      const serviceUs = arrival.sentMs > 0 ? (now - arrival.sentMs) * 1000 : -1;
      this.#recorder.recordResponse(now, status, error ? classifyError(error) : undefined, (now - arrival.intendedMs) * 1000, serviceUs);
    }
    this.#free.push(arrival);
    if (this.#isStopping && this.#inFlight === 0) this.#idle?.();
  }

  async stop(gracefulStopMs: number): Promise<void> {
    this.#isStopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    const pacer = this.#pacer;
    this.#pacer = undefined;
    this.#isPaced = false;
    await pacer?.stop();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, gracefulStopMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.#inFlight > 0) this.#isInterrupting = true;
    await this.#transport.destroy();
  }
}

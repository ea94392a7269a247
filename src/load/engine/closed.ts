// The closed model: N users, each with one request in flight at a time (send, wait for the whole
// response, think, repeat). Throughput is whatever the server allows, which is why a closed test
// hides server stalls (a stalled server also stalls the senders: coordinated omission); use the
// open model to measure latency honestly at a given rate. Each user object is its own undici
// handler, so a request allocates nothing here. With stages, the target number of users follows
// the curve; users above the target finish their request and stop.
//
// Latency is timed from the moment undici writes the request to its connection (as wrk and
// autocannon time it), not from the dispatch call: before reusing an idle keep-alive socket undici
// deliberately yields one event-loop turn (GHSA-35p6-xmwp-9g52), and with several users that turn
// includes handling the other users' responses, ~0.5–1 ms on a busy 2-core VM: the generator's
// time, not the server's. A request that never reached a connection is timed from the dispatch.

import type { GroupRecorder } from '../recorder.ts';
import { TargetCurve } from '../schedule.ts';
import type { GroupSpec } from '../types.ts';
import { classifyError, TimedRequestHandler, type GroupTransport, type PreparedRequest } from './transport.ts';
import type { Executor, ExecutorClock } from './executor.ts';

class User extends TimedRequestHandler {
  readonly index: number;
  isRunning = false;
  startMs = 0;
  #executor: ClosedExecutor;
  #thinkTimer: NodeJS.Timeout | undefined;
  #boundNext = () => {
    this.#thinkTimer = undefined;
    this.next();
  };

  constructor(executor: ClosedExecutor, index: number) {
    super();
    this.#executor = executor;
    this.index = index;
  }

  next(): void {
    if (!this.#executor.shouldContinue(this)) return;
    const request: PreparedRequest = this.#executor.transport.pick();
    this.status = 0;
    this.sentMs = 0;
    this.startMs = performance.now();
    this.#executor.inFlight++;
    this.#executor.transport.send(request, this);
  }

  think(ms: number): void {
    this.#thinkTimer = setTimeout(this.#boundNext, ms);
  }

  cancelThink(): void {
    if (this.#thinkTimer !== undefined) clearTimeout(this.#thinkTimer);
    this.#thinkTimer = undefined;
  }

  protected finish(status: number, error: Error | undefined): void {
    this.#executor.complete(this, status, error);
  }
}

export class ClosedExecutor implements Executor {
  readonly transport: GroupTransport;
  inFlight = 0;
  #group: GroupSpec;
  #recorder: GroupRecorder;
  #clock: ExecutorClock;
  #curve: TargetCurve;
  #users: User[] = [];
  #target = 0;
  #active = 0;
  #isStopping = false;
  #isInterrupting = false;
  #controlTimer: NodeJS.Timeout | undefined;
  #idle: (() => void) | undefined;

  constructor(group: GroupSpec, share: { users: number; stages: GroupSpec['stages'] }, transport: GroupTransport, recorder: GroupRecorder, clock: ExecutorClock) {
    this.#group = group;
    this.transport = transport;
    this.#recorder = recorder;
    this.#clock = clock;
    this.#curve = new TargetCurve(share.users, share.stages, clock.durationMs);
  }

  start(): void {
    this.#adjust();
    // Ramps change the target continuously; 10 adjustments a second follow them closely enough.
    if (this.#group.stages.length > 0) this.#controlTimer = setInterval(() => this.#adjust(), 100);
  }

  #adjust(): void {
    const elapsed = performance.now() - this.#clock.startMs;
    const target = Math.round(this.#curve.at(Math.min(elapsed, this.#clock.durationMs)));
    this.#target = target;
    this.#recorder.setTarget(target);
    while (this.#users.length < target) this.#users.push(new User(this, this.#users.length));
    for (let i = 0; i < target; i++) {
      const user = this.#users[i];
      if (!user.isRunning) {
        user.isRunning = true;
        this.#active++;
        user.next();
      }
    }
    this.#recorder.noteConcurrency(this.#active);
  }

  /** Called before each request: stops users above the target or after the duration. */
  shouldContinue(user: User): boolean {
    if (this.#isStopping || user.index >= this.#target) {
      user.isRunning = false;
      this.#active--;
      this.#recorder.noteConcurrency(this.#active);
      if (this.#isStopping && this.#active === 0 && this.inFlight === 0) this.#idle?.();
      return false;
    }
    return true;
  }

  complete(user: User, status: number, error: Error | undefined): void {
    this.inFlight--;
    const now = user.doneMs;
    if (this.#isInterrupting) {
      this.#recorder.recordInterrupted(now, 1);
    } else {
      const fromMs = user.sentMs > 0 ? user.sentMs : user.startMs;
      this.#recorder.recordResponse(now, status, error ? classifyError(error) : undefined, (now - fromMs) * 1000, -1);
    }
    if (this.#isStopping) {
      user.isRunning = false;
      this.#active--;
      if (this.inFlight === 0) this.#idle?.();
      return;
    }
    if (this.#group.thinkMs > 0) user.think(this.#group.thinkMs);
    else user.next();
  }

  async stop(gracefulStopMs: number): Promise<void> {
    this.#isStopping = true;
    if (this.#controlTimer) clearInterval(this.#controlTimer);
    for (const user of this.#users) {
      user.cancelThink();
    }
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, gracefulStopMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.inFlight > 0) this.#isInterrupting = true;
    await this.transport.destroy();
  }
}

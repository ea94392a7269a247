// Admission in front of the app: at most `limit` requests run at once (`workerConnections`;
// `1` is gunicorn's sync worker), up to `queue` more wait, and the rest are refused at once.
// A request refused here costs microseconds and gets an honest 503, instead of a client
// timeout or a proxy 502 minutes later.
//
// Two modes:
// - static: a fixed limit, FIFO queue, a waiter older than `queueTimeoutMs` is refused.
// - adaptive: the limit follows measured latency (Gradient2, see gradient-limit.ts) and the
//   queue is CoDel with adaptive LIFO (Facebook, "Fail at Scale"): while the queue has been
//   standing for a whole interval, waiters older than a short target are refused and the newest
//   are served first (their clients are still there); when the queue drains, FIFO again. Each
//   event-loop turn may start handlers synchronously for at most a small time budget; past it,
//   and under sampled event-loop pressure, requests are queued and granted from the next turns
//   (again within the budget), so the backlog that a CPU-bound handler leaves in the sockets
//   becomes a queue that CoDel can see and shed.
// The fast path (a free slot) allocates nothing and stays synchronous.

import { createGradientLimit, type GradientLimit } from './gradient-limit.ts';

export type ShedReason = 'queue-full' | 'queue-timeout' | 'overload';

export type Admitted = { ok: true; queueWaitMs: number } | { ok: false; reason: ShedReason; queueWaitMs: number };

export interface Waiter {
  readonly promise: Promise<Admitted>;
}

export interface AdmissionOptions {
  /** The most requests in the app at once (the cap, in adaptive mode). */
  limit: number;
  /** The most requests waiting for a slot. */
  queue: number;
  /** The longest a request may wait for a slot (ms). */
  queueTimeoutMs: number;
  mode: 'static' | 'adaptive';
  /** Extra pressure (event-loop delay/utilisation), 0 = none … 1 = saturated; adaptive only. */
  pressure?: () => number;
  /**
   * Adaptive only: whether a connection arrived since the last call (read and clear). The event
   * loop takes in at most one new connection per turn (libuv accepts once per poll; cluster's
   * round-robin hands one over per acknowledgement), so while connections pour in, the pump gives
   * turns to accepting before it starts the next handler (see `acceptTurns`).
   */
  takeNewConnection?: () => boolean;
  now?: () => number;
}

export interface Admission {
  /** Takes a slot now if one is free and nobody is waiting. */
  tryAcquire(): boolean;
  /** Queues for a slot, or refuses at once (returns the reason) when the queue is full. */
  enqueue(): Waiter | ShedReason;
  /** Drops a waiter whose client went away. Returns whether it was still queued. */
  cancel(waiter: Waiter): boolean;
  /** Gives a slot back, with the time it was held (ms) for the adaptive limit. */
  release(heldMs?: number): void;
  readonly inFlight: number;
  readonly queued: number;
  /** The current limit (changes in adaptive mode). */
  readonly limit: number;
  readonly mode: 'static' | 'adaptive';
}

interface Entry {
  waiter: Waiter;
  enqueuedAt: number;
  resolve: (admitted: Admitted) => void;
}

/** CoDel parameters (Facebook's "Fail at Scale" values, scaled up for slow handlers). */
export const codel = {
  /** While overloaded, a waiter older than this is refused: max(5 ms, half the no-load latency). */
  minTargetMs: 5,
  /** The queue must have been standing this long to count as overload: max(100 ms, 10 × target). */
  minIntervalMs: 100,
};

/**
 * Adaptive mode: how long one event-loop turn may spend starting handlers synchronously (ms)
 * before the rest are queued for the next turn. A synchronous handler runs inside the poll phase
 * that parsed its request, so without a bound a burst of N parsed requests runs N handlers back to
 * back while every later arrival waits unread in its socket, and the 100 ms pressure sample cannot
 * fire in between (its timer waits for the poll phase to end). bench/overload measured that
 * start-of-overload burst as the 2xx p99 (~0.5-0.7 s at 3x, for 5 ms handlers).
 */
export const turnBudgetMs = 2;

/**
 * Accept turns: a worker whose every turn runs a 5 ms handler takes in at most ~200 connections a
 * second, so a burst of new connections (clients opening one per request in flight as latency
 * rises) waits unaccepted in the kernel, unseen by admission, for seconds: bench/overload measured
 * the start of 3x-5x overload with 300-400 connections queued in the listen backlog and 2xx p99 of
 * 0.8-1.9 s. While connections keep arriving, the pump runs handler-free turns (tens of
 * microseconds each: accept, read, parse, queue or shed) for at most as long as the last handler
 * held its slot (so handlers keep at least half of the loop), between 1 and 50 ms, and only while
 * the last connection came less than `gapMs` ago (cluster's hand-off needs a round trip through
 * the supervisor per connection, so turns in between may see none; a lone connection costs at
 * most `gapMs` of handler time).
 */
export const acceptTurns = { minMs: 1, maxMs: 50, gapMs: 1 };

export function createAdmission(options: AdmissionOptions): Admission {
  const now = options.now ?? (() => performance.now());
  const adaptive = options.mode === 'adaptive';
  const gradient: GradientLimit | undefined = adaptive ? createGradientLimit({ maxLimit: options.limit, now }) : undefined;
  let inFlight = 0;
  // A deque: waiters enter at the back; FIFO serves the front, LIFO the back. Timeouts always
  // hit the front (the oldest), so one timer, aimed at the front, is enough.
  let entries: Entry[] = [];
  let head = 0;
  /** When the queue was last empty (CoDel: a queue that never empties is a standing queue). */
  let lastEmptyAt = now();
  let timer: NodeJS.Timeout | undefined;
  let timerDueAt = Infinity;
  // While the event loop is under pressure, a CPU-bound handler's real queue is in front of the
  // loop (in the sockets), invisible here: a synchronous handler holds its slot only while it runs.
  // Deferring admission makes that queue visible: requests are queued as they are parsed and
  // granted from the check phase (setImmediate) within a time budget per turn, so each turn
  // parses, and queues or sheds, everything that arrived before the next handlers run; CoDel and
  // adaptive LIFO then work on it.
  // (Measured by bench/overload: client timeouts at 2x-5x went from 36-100% to 0-1.4%.)
  // The turn budget: the first synchronous grant of a turn stamps the turn's start; a
  // setImmediate (the check phase, after the poll phase that parsed the requests) closes it.
  let turnStartedAt = -1;
  const closeTurn = () => { turnStartedAt = -1; };
  /** Adaptive only: whether this turn has spent its budget (opens a turn if none is open). */
  function isTurnSpent(): boolean {
    const at = now();
    if (turnStartedAt < 0) {
      turnStartedAt = at;
      setImmediate(closeTurn);
      return false;
    }
    return at - turnStartedAt > turnBudgetMs;
  }
  let pumpScheduled = false;
  const deferred = () => adaptive && ((options.pressure?.() ?? 0) > 0 || isTurnSpent());
  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(pump);
  }
  // The pump grants one waiter, then (from a microtask queued behind the granted request's own
  // continuation, so after its handler's synchronous part) the next, while the turn's budget
  // lasts; then it yields to the next turn, whose poll phase reads what arrived meanwhile.
  let pumpStartedAt = 0;
  /** When the current run of accept turns began (-1: none), and how long the last slot was held. */
  let acceptingSince = -1;
  let lastHeldMs = 0;
  let lastConnectionAt = -Infinity;
  function pump(): void {
    pumpScheduled = false;
    const at = now();
    if (options.takeNewConnection?.()) {
      lastConnectionAt = at;
      if (acceptingSince < 0) acceptingSince = at;
    }
    if (acceptingSince >= 0 && queued() > 0 && at - lastConnectionAt < acceptTurns.gapMs) {
      const budgetMs = Math.min(acceptTurns.maxMs, Math.max(acceptTurns.minMs, lastHeldMs));
      if (at - acceptingSince < budgetMs) {
        schedulePump();
        return;
      }
    }
    acceptingSince = -1;
    pumpStartedAt = at;
    pumpStep();
  }
  /** Grants the next waiter while a slot is free and the turn's budget lasts (see pump). */
  function pumpStep(): void {
    if (inFlight >= currentLimit() || queued() === 0) return;
    if (now() - pumpStartedAt >= turnBudgetMs) {
      schedulePump();
      return;
    }
    if (grantNext() && queued() > 0) queueMicrotask(pumpStep);
  }

  const queued = () => entries.length - head;
  const currentLimit = () => (gradient ? Math.max(1, Math.floor(gradient.limit * (1 - 0.5 * (options.pressure?.() ?? 0)))) : options.limit);

  function targetMs(): number {
    return Math.max(codel.minTargetMs, (gradient?.minLatencyMs ?? 0) / 2);
  }
  const intervalMs = () => Math.max(codel.minIntervalMs, 10 * targetMs());
  /**
   * Overload ends one interval after the last waiter refused for it, not the moment the queue
   * empties: at 3x load the short target empties the queue between arrivals, and forgetting the
   * overload then let a new FIFO queue stand for a whole interval before the next refusal, which
   * is what set the served requests' latency (bench/overload: 2xx p50 ~50 ms at 3x).
   */
  let overloadedUntil = -Infinity;
  function isOverloaded(at: number): boolean {
    return adaptive && queued() > 0 && (at < overloadedUntil || at - lastEmptyAt > intervalMs());
  }
  /**
   * Adaptive LIFO starts as soon as a queue starts to form (the oldest waiter is past the target),
   * before CoDel calls it overload: while the interval runs, the newest are served while their
   * clients are fresh, and the oldest are the ones refused once it is overload.
   */
  function isLifo(at: number): boolean {
    return adaptive && queued() > 0 && (isOverloaded(at) || at - entries[head]!.enqueuedAt > targetMs());
  }
  /** How long the oldest waiter may wait: the short CoDel target under overload, else the timeout. */
  function maxWaitMs(at: number): number {
    return isOverloaded(at) ? Math.min(targetMs(), options.queueTimeoutMs) : options.queueTimeoutMs;
  }

  function compact(): void {
    if (head > 1024 && head * 2 > entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
  }

  function shedExpired(): void {
    const at = now();
    while (queued() > 0) {
      const oldest = entries[head]!;
      const waited = at - oldest.enqueuedAt;
      const limit = maxWaitMs(at);
      if (waited < limit) break;
      entries[head++] = undefined as unknown as Entry;
      const isOverload = limit < options.queueTimeoutMs;
      if (isOverload) overloadedUntil = at + intervalMs();
      oldest.resolve({ ok: false, reason: isOverload ? 'overload' : 'queue-timeout', queueWaitMs: waited });
    }
    if (queued() === 0) {
      lastEmptyAt = at;
      entries = [];
      head = 0;
    }
    compact();
    armTimer();
  }

  function armTimer(): void {
    if (queued() === 0) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      timerDueAt = Infinity;
      return;
    }
    const at = now();
    const dueAt = entries[head]!.enqueuedAt + maxWaitMs(at);
    if (timer && dueAt >= timerDueAt - 1) return;
    if (timer) clearTimeout(timer);
    timerDueAt = dueAt;
    timer = setTimeout(() => {
      timer = undefined;
      timerDueAt = Infinity;
      shedExpired();
    }, Math.max(0, dueAt - at));
    timer.unref?.();
  }

  function grantNext(): boolean {
    shedExpired();
    if (queued() === 0) return false;
    const at = now();
    // Adaptive LIFO: once a queue forms, the newest waiter is served first.
    let entry: Entry;
    if (isLifo(at)) {
      entry = entries.pop()!;
    } else {
      entry = entries[head]!;
      entries[head++] = undefined as unknown as Entry;
    }
    if (queued() === 0) {
      lastEmptyAt = at;
      entries = [];
      head = 0;
    }
    entry.resolve({ ok: true, queueWaitMs: at - entry.enqueuedAt });
    armTimer();
    return true;
  }

  return {
    get inFlight() { return inFlight; },
    get queued() { return queued(); },
    get limit() { return currentLimit(); },
    mode: options.mode,

    tryAcquire() {
      if (inFlight < currentLimit() && queued() === 0 && !deferred()) {
        inFlight++;
        gradient?.onStart(inFlight);
        return true;
      }
      return false;
    },

    enqueue() {
      if (queued() >= options.queue) {
        gradient?.onDrop();
        return isOverloaded(now()) ? 'overload' : 'queue-full';
      }
      const { promise, resolve } = Promise.withResolvers<Admitted>();
      const waiter: Waiter = { promise };
      if (queued() === 0) lastEmptyAt = now();
      entries.push({
        waiter,
        enqueuedAt: now(),
        resolve: (admitted) => {
          if (admitted.ok) {
            inFlight++;
            gradient?.onStart(inFlight);
          } else {
            gradient?.onDrop();
          }
          resolve(admitted);
        },
      });
      armTimer();
      // A slot may be free while others wait (the adaptive limit grew): hand it out now.
      if (deferred()) schedulePump();
      else while (inFlight < currentLimit() && grantNext()) { /* granted one */ }
      return waiter;
    },

    cancel(waiter) {
      for (let i = head; i < entries.length; i++) {
        if (entries[i]?.waiter === waiter) {
          entries.splice(i, 1);
          if (queued() === 0) lastEmptyAt = now();
          armTimer();
          return true;
        }
      }
      return false;
    },

    release(heldMs) {
      inFlight--;
      if (heldMs !== undefined) {
        lastHeldMs = heldMs;
        gradient?.onSample(heldMs);
      }
      // Fill every free slot (the adaptive limit may have grown meanwhile).
      if (deferred()) schedulePump();
      else while (inFlight < currentLimit() && grantNext()) { /* granted one */ }
    },
  };
}

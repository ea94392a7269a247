import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptTurns, createAdmission, turnBudgetMs, type Admitted, type Waiter } from '../../src/worker/admission.ts';
import { createGradientLimit } from '../../src/worker/gradient-limit.ts';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('at most `limit` hold a slot; the rest wait in FIFO order', async () => {
  const admission = createAdmission({ limit: 2, queue: 10, queueTimeoutMs: 60_000, mode: 'static' });
  assert.ok(admission.tryAcquire());
  assert.ok(admission.tryAcquire());
  assert.equal(admission.tryAcquire(), false);
  const first = admission.enqueue() as Waiter;
  const second = admission.enqueue() as Waiter;
  assert.equal(admission.queued, 2);
  const order: number[] = [];
  void first.promise.then(() => order.push(1));
  void second.promise.then(() => order.push(2));
  admission.release();
  assert.deepEqual(await first.promise, { ok: true, queueWaitMs: (await first.promise).queueWaitMs });
  assert.equal(admission.inFlight, 2);
  admission.release();
  await second.promise;
  assert.deepEqual(order, [1, 2]);
  admission.release();
  admission.release();
  assert.equal(admission.inFlight, 0);
});

test('a full queue refuses at once with queue-full', () => {
  const admission = createAdmission({ limit: 1, queue: 1, queueTimeoutMs: 60_000, mode: 'static' });
  assert.ok(admission.tryAcquire());
  assert.equal(typeof admission.enqueue(), 'object');
  assert.equal(admission.enqueue(), 'queue-full');
});

test('a waiter past the queue timeout is refused with queue-timeout', async () => {
  const admission = createAdmission({ limit: 1, queue: 5, queueTimeoutMs: 30, mode: 'static' });
  assert.ok(admission.tryAcquire());
  const waiter = admission.enqueue() as Waiter;
  const result: Admitted = await waiter.promise;
  assert.equal(result.ok, false);
  assert.equal(result.ok === false && result.reason, 'queue-timeout');
  assert.ok(result.queueWaitMs >= 29, `waited ${result.queueWaitMs}`);
  assert.equal(admission.queued, 0);
});

test('a cancelled waiter gives its place up', async () => {
  const admission = createAdmission({ limit: 1, queue: 5, queueTimeoutMs: 60_000, mode: 'static' });
  assert.ok(admission.tryAcquire());
  const gone = admission.enqueue() as Waiter;
  const stays = admission.enqueue() as Waiter;
  assert.ok(admission.cancel(gone));
  assert.equal(admission.queued, 1);
  admission.release();
  assert.equal((await stays.promise).ok, true);
  assert.equal(admission.cancel(gone), false);
});

test('adaptive: a standing queue switches to LIFO and refuses waiters older than the CoDel target', async () => {
  const clock = manualClock();
  const admission = createAdmission({ limit: 1, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', now: clock.now });
  assert.ok(admission.tryAcquire());
  const old = admission.enqueue() as Waiter;
  clock.advance(150); // the queue has stood for more than the 100 ms interval
  const fresh = admission.enqueue() as Waiter;
  admission.release();
  // The oldest waited 150 ms > 5 ms target under overload: refused; the newest is served.
  const [oldResult, freshResult] = await Promise.all([old.promise, fresh.promise]);
  assert.deepEqual(oldResult, { ok: false, reason: 'overload', queueWaitMs: 150 });
  assert.deepEqual(freshResult, { ok: true, queueWaitMs: 0 });
});

test('Gradient2 shrinks the limit when latency rises and grows it back when latency recovers', () => {
  const clock = manualClock();
  const limit = createGradientLimit({ maxLimit: 1000, initialLimit: 50, now: clock.now });
  const feed = (latencyMs: number, windows: number) => {
    for (let w = 0; w < windows; w++) {
      limit.onStart(Math.ceil(limit.limit)); // the app uses its whole limit
      for (let i = 0; i < 10; i++) limit.onSample(latencyMs);
      clock.advance(100);
      limit.onSample(latencyMs); // closes the window (10 samples and 100 ms)
    }
  };
  feed(10, 50);
  const steady = limit.limit;
  assert.ok(steady > 50, `grows while latency holds: ${steady}`);
  feed(40, 20);
  const congested = limit.limit;
  assert.ok(congested < steady / 2, `shrinks under 4x latency: ${steady} -> ${congested}`);
  feed(10, 60);
  assert.ok(limit.limit > congested * 2, `recovers: ${congested} -> ${limit.limit}`);
  assert.ok(Math.abs(limit.minLatencyMs - 10) < 0.01);
});

/** Burns `ms` of CPU synchronously, like a CPU-bound handler. */
function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test('adaptive: under event-loop pressure, slots are handed out within a time budget per loop turn', async () => {
  let pressure = 0.5;
  const admission = createAdmission({ limit: 100, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', pressure: () => pressure });
  // No fast path while the loop is under pressure: everything is queued where CoDel can see it.
  assert.equal(admission.tryAcquire(), false);
  const slow = [admission.enqueue(), admission.enqueue(), admission.enqueue()] as Waiter[];
  const granted: number[] = [];
  // Each granted request burns 3 ms synchronously (more than the turn budget): one per turn.
  slow.forEach((w, i) => void w.promise.then((a) => { if (a.ok) { granted.push(i); burn(turnBudgetMs + 1); } }));
  await nextTurn();
  assert.equal(granted.length, 1, 'one after the first turn');
  await nextTurn();
  assert.equal(granted.length, 2, 'one more after the second (newest first once past the target)');
  // Requests that take no time are all granted in one turn.
  const quick = Array.from({ length: 5 }, () => admission.enqueue()) as Waiter[];
  const quickGranted: number[] = [];
  quick.forEach((w, i) => void w.promise.then((a) => { if (a.ok) quickGranted.push(i); }));
  await nextTurn();
  await nextTurn();
  assert.equal(granted.length, 3);
  assert.equal(quickGranted.length, 5, `quick requests granted after two turns: ${quickGranted.length}`);
  pressure = 0;
  for (let i = 0; i < 8; i++) admission.release(1);
  assert.equal(admission.inFlight, 0);
});

test('adaptive: one loop turn starts handlers synchronously only within its budget, then queues', async () => {
  const admission = createAdmission({ limit: 100, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive' });
  // A burst parsed in one poll phase, each handler synchronous and slower than the budget.
  assert.ok(admission.tryAcquire(), 'the first request of a turn runs at once');
  burn(turnBudgetMs + 1);
  admission.release(turnBudgetMs + 1);
  assert.equal(admission.tryAcquire(), false, 'past the budget, the rest of the turn is queued');
  const waiter = admission.enqueue() as Waiter;
  assert.equal(admission.queued, 1);
  assert.equal((await waiter.promise).ok, true, 'and granted from the next turn');
  admission.release(0);
  await nextTurn();
  assert.ok(admission.tryAcquire(), 'a new turn has a new budget');
  admission.release(0);
});

test('adaptive: a forming queue is served newest first before CoDel calls it overload', async () => {
  const clock = manualClock();
  const admission = createAdmission({ limit: 1, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', now: clock.now });
  assert.ok(admission.tryAcquire());
  const older = admission.enqueue() as Waiter;
  clock.advance(20); // past the 5 ms target, well inside the 100 ms interval
  const newer = admission.enqueue() as Waiter;
  admission.release();
  assert.deepEqual(await newer.promise, { ok: true, queueWaitMs: 0 });
  // Not overload yet: the older one is not refused, it waits for the next slot.
  assert.equal(admission.queued, 1);
  admission.release();
  assert.deepEqual(await older.promise, { ok: true, queueWaitMs: 20 });
  admission.release();
});

test('adaptive: overload outlasts a queue that empties, until an interval passes without refusals', async () => {
  const clock = manualClock();
  const admission = createAdmission({ limit: 1, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', now: clock.now });
  assert.ok(admission.tryAcquire());
  const old = admission.enqueue() as Waiter;
  clock.advance(150);
  const fresh = admission.enqueue() as Waiter;
  admission.release();
  assert.equal((await old.promise).ok, false);
  assert.equal((await fresh.promise).ok, true);
  // The queue is empty now. A waiter arriving 50 ms later still gets the short target: refused
  // once it has waited 6 ms, instead of waiting in a FIFO queue for a whole new interval.
  clock.advance(50);
  const next = admission.enqueue() as Waiter;
  clock.advance(6);
  const newest = admission.enqueue() as Waiter;
  admission.release();
  assert.deepEqual(await next.promise, { ok: false, reason: 'overload', queueWaitMs: 6 });
  assert.deepEqual(await newest.promise, { ok: true, queueWaitMs: 0 });
  // An interval after the last refusal, the queue is FIFO with the long timeout again (a waiter
  // still within the target is served first; past it, adaptive LIFO would start).
  clock.advance(200);
  const calm = admission.enqueue() as Waiter;
  clock.advance(3);
  const after = admission.enqueue() as Waiter;
  admission.release();
  assert.deepEqual(await calm.promise, { ok: true, queueWaitMs: 3 });
  admission.release();
  assert.deepEqual(await after.promise, { ok: true, queueWaitMs: 0 });
});

test('adaptive: while connections keep arriving, handler-free turns accept them, for at most as long as a handler runs', async () => {
  let arriving = true;
  let asked = 0;
  let pressure = 0;
  const admission = createAdmission({
    limit: 100, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', pressure: () => pressure,
    takeNewConnection: () => { asked++; return arriving; },
  });
  // The last handler held its slot 5 ms: accept turns may take up to 5 ms before the next grant.
  assert.ok(admission.tryAcquire());
  admission.release(5);
  pressure = 1;
  assert.equal(admission.tryAcquire(), false);
  const first = admission.enqueue() as Waiter;
  let granted = false;
  void first.promise.then(() => { granted = true; });
  const startedAt = performance.now();
  let turns = 0;
  while (!granted && performance.now() - startedAt < 1000) {
    await nextTurn();
    turns++;
  }
  const waitedMs = performance.now() - startedAt;
  assert.ok(granted, 'granted once the accept budget was spent, even though connections kept coming');
  assert.ok(turns > 1 && asked > 1, `several accept turns first (${turns} turns, asked ${asked} times)`);
  assert.ok(waitedMs >= 5 - 1, `the accept turns lasted about one handler's time: ${waitedMs.toFixed(2)} ms`);
  assert.ok(waitedMs < acceptTurns.maxMs + 50, `and no longer than the cap: ${waitedMs.toFixed(2)} ms`);
  // With no new connection, the next waiter is granted on the next turn.
  arriving = false;
  const second = admission.enqueue() as Waiter;
  let secondGranted = false;
  void second.promise.then(() => { secondGranted = true; });
  await nextTurn();
  await nextTurn();
  assert.ok(secondGranted, 'no accept turns when no connection arrived');
  admission.release(0);
  admission.release(0);
  assert.equal(admission.inFlight, 0);
});

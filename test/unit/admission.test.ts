import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmission, type Admitted, type Waiter } from '../../src/worker/admission.ts';
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

test('adaptive: under event-loop pressure, slots are handed out one per loop turn', async () => {
  let pressure = 0.5;
  const admission = createAdmission({ limit: 100, queue: 100, queueTimeoutMs: 10_000, mode: 'adaptive', pressure: () => pressure });
  // No fast path while the loop is under pressure: everything is queued where CoDel can see it.
  assert.equal(admission.tryAcquire(), false);
  const waiters = [admission.enqueue(), admission.enqueue(), admission.enqueue()] as Waiter[];
  const granted: number[] = [];
  waiters.forEach((w, i) => void w.promise.then((a) => { if (a.ok) granted.push(i); }));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(granted, [0], 'one after the first turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(granted, [0, 1], 'one more after the second');
  pressure = 0;
  admission.release(5);
  await Promise.all(waiters.slice(1).map((w) => w.promise));
  assert.equal(granted.length, 3);
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
  // An interval after the last refusal, the queue is FIFO with the long timeout again.
  clock.advance(200);
  const calm = admission.enqueue() as Waiter;
  clock.advance(50);
  const after = admission.enqueue() as Waiter;
  admission.release();
  assert.deepEqual(await calm.promise, { ok: true, queueWaitMs: 50 });
  admission.release();
  assert.deepEqual(await after.promise, { ok: true, queueWaitMs: 0 });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/load/engine/pacer.ts';
import { createArrivalSchedule, TargetCurve } from '../../src/load/schedule.ts';

// The pacer's thread walks its own copy of the schedule; the main thread must be woken at or after
// each arrival's intended time (never before it: an early wake would send nothing, a missing one
// would leave an arrival waiting for the next), and the thread finishing its schedule is not a
// failure.
test('the pacer wakes the loop once each arrival is due, never before, and stops cleanly', async () => {
  const rate = 1000;
  const durationMs = 300;
  const schedule = createArrivalSchedule(new TargetCurve(rate, [], durationMs), 'constant', 1, 0);
  const due: number[] = [];
  for (let at = schedule.next(); at < durationMs; at = schedule.next()) due.push(at);

  const failures: Error[] = [];
  const { promise: online, resolve: isOnline } = Promise.withResolvers<void>();
  let startMs = 0;
  let delivered = 0;
  let earlyWakes = 0;
  const lateMs: number[] = [];
  const { promise: allDue, resolve: allDelivered } = Promise.withResolvers<void>();
  const pacer = new Pacer({ rate, stages: [], durationMs, arrival: 'constant', seed: 1, phase: 0 }, {
    onOnline: isOnline,
    onFailure: (error) => failures.push(error),
    onWake: () => {
      const elapsed = performance.now() - startMs;
      if (delivered < due.length && due[delivered]! > elapsed) earlyWakes++;
      while (delivered < due.length && due[delivered]! <= elapsed) lateMs.push(elapsed - due[delivered++]!);
      if (delivered === due.length) allDelivered();
    },
  });
  await online;
  startMs = performance.now() + 5;
  pacer.start(startMs);
  await allDue;
  // Past the schedule's end the thread waits for the stop instead of exiting on its own.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await pacer.stop();

  assert.equal(delivered, due.length);
  // A wake-up with nothing due happens only after the loop itself was late by a whole gap and
  // sent two arrivals in one turn (the thread then still wakes it for the second).
  const caughtUp = lateMs.filter((late) => late > 1000 / rate).length;
  assert.ok(earlyWakes <= caughtUp, `${earlyWakes} wake-ups before their arrival, ${caughtUp} catch-ups`);
  assert.deepEqual(failures, []);
  lateMs.sort((a, b) => a - b);
  const median = lateMs[Math.floor(lateMs.length / 2)]!;
  process.stdout.write(`# ${due.length} arrivals at ${rate}/s: wake-up late by p50 ${(median * 1000).toFixed(0)} µs, max ${(lateMs.at(-1)! * 1000).toFixed(0)} µs\n`);
  // Millisecond timers would put the median near 0.5 ms; the bound leaves room for a busy host.
  assert.ok(median < 0.4, `median lateness ${median.toFixed(3)} ms`);
});

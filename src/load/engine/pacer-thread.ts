// The pacer's thread: it walks the same arrival schedule as the open executor on the main thread
// and, at each arrival's intended time, bumps a shared counter the main thread waits on. It does
// nothing else, so its sleeps can be short: Atomics.wait takes fractional milliseconds, where the
// event loop's timers take whole ones (see pacer.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { createArrivalSchedule, TargetCurve } from '../schedule.ts';
import type { PacerData } from './pacer.ts';

const data = workerData as PacerData;
const control = new Int32Array(data.control);
const times = new Float64Array(data.control, 16, 1);
const schedule = createArrivalSchedule(new TargetCurve(data.rate, data.stages, data.durationMs), data.arrival, data.seed, data.phase);

const nowMs = () => {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1000 + nanoseconds / 1e6;
};

// The main thread publishes the run's start on the monotonic clock once this module has loaded
// ('online' fires before that: loading takes ~20 ms, which would make the first arrivals late).
parentPort!.postMessage('ready');
while (Atomics.load(control, 1) === 0) Atomics.wait(control, 1, 0);
const startMs = times[0]!;
let nextAtMs = schedule.next();
// At high rates one wake-up per arrival would cost more than it buys: the thread wakes the loop
// at most once per quantum, and arrivals closer together go out together.
const quantumMs = data.quantumMs;
let earliestMs = 0;

while (Atomics.load(control, 1) === 1 && nextAtMs < data.durationMs) {
  const dueMs = Math.max(startMs + nextAtMs, earliestMs);
  for (let leftMs = dueMs - nowMs(); leftMs > 0; leftMs = dueMs - nowMs()) {
    // control[1] turns 2 when the main thread stops the run, which ends the wait at once.
    if (Atomics.wait(control, 1, 1, leftMs) === 'not-equal') break;
  }
  if (Atomics.load(control, 1) !== 1) break;
  Atomics.add(control, 0, 1);
  Atomics.notify(control, 0);
  // Arrivals already due go out with this wake-up; the next wait is for the first one still ahead.
  const firedMs = nowMs();
  earliestMs = firedMs + quantumMs;
  const elapsedMs = firedMs - startMs;
  do nextAtMs = schedule.next();
  while (nextAtMs <= elapsedMs);
}
// The schedule is over: wait for the stop, so that the thread ending on its own always means a
// failure to the main thread.
while (Atomics.load(control, 1) === 1) Atomics.wait(control, 1, 1);

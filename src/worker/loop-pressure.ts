// Event-loop pressure for adaptive admission: 0 when the loop is responsive, rising to 1 as
// its utilisation nears 100% or its delay grows. Sampled every 100 ms from perf_hooks (the
// histogram is reset each time, so the p99 is of the last interval).

import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopPressure {
  readonly value: number;
  readonly utilisation: number;
  readonly delayP99Ms: number;
  stop(): void;
}

const clamp01 = (x: number) => Math.max(0, Math.min(1, x));

export function startLoopPressure(intervalMs = 100): LoopPressure {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let value = 0;
  let utilisation = 0;
  let delayP99Ms = 0;
  const timer = setInterval(() => {
    const current = performance.eventLoopUtilization();
    utilisation = performance.eventLoopUtilization(current, last).utilization;
    last = current;
    delayP99Ms = delay.percentile(99) / 1e6;
    delay.reset();
    // Utilisation above 85% and delay above 20 ms start to count; 100% or 100 ms is saturation.
    value = Math.max(clamp01((utilisation - 0.85) / 0.15), clamp01((delayP99Ms - 20) / 80));
  }, intervalMs);
  timer.unref();
  return {
    get value() { return value; },
    get utilisation() { return utilisation; },
    get delayP99Ms() { return delayP99Ms; },
    stop() {
      clearInterval(timer);
      delay.disable();
    },
  };
}

// The generator watches itself. A load generator that runs out of CPU, or whose event loop is
// late, sends late and measures late, and a naive report blames the server for it. Each generator
// thread measures its own CPU time (process.threadCpuUsage where available, else the process's)
// and its event-loop delay (perf_hooks.monitorEventLoopDelay); the run then says plainly when the
// generator, not the server, was the bottleneck.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { GeneratorReport } from './types.ts';

export interface ThreadUsage {
  /** Share of one core used by this thread over the run, in percent. */
  cpuPercent: number;
  eventLoopLagP99Ms: number;
  eventLoopLagMaxMs: number;
}

const cpuBoundPercent = 90;
const lagBoundMs = 20;
const scheduleLagBoundMs = 10;

function readCpuMicros(): number {
  const usage = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage();
  return usage.user + usage.system;
}

export class SelfMonitor {
  #histogram = monitorEventLoopDelay({ resolution: 10 });
  #startCpuUs = 0;
  #startMs = 0;

  #timer: NodeJS.Timeout | undefined;

  #start(): void {
    this.#timer = undefined;
    this.#histogram.enable();
    this.#startCpuUs = readCpuMicros();
    this.#startMs = performance.now();
  }

  /** Starts measuring when the load starts (epoch ms), so a wait for --start-at does not dilute the CPU share. */
  startAt(epochMs: number): void {
    const delayMs = epochMs - (performance.timeOrigin + performance.now());
    if (delayMs <= 0) this.#start();
    else this.#timer = setTimeout(() => this.#start(), delayMs);
  }

  stop(): ThreadUsage {
    if (this.#timer) {
      // Stopped before the load started: nothing was measured.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return { cpuPercent: 0, eventLoopLagP99Ms: 0, eventLoopLagMaxMs: 0 };
    }
    this.#histogram.disable();
    const wallMs = performance.now() - this.#startMs;
    const cpuMs = (readCpuMicros() - this.#startCpuUs) / 1000;
    // monitorEventLoopDelay reports delay including its own resolution; subtract it.
    const lag = (ns: number) => Math.max(0, Math.round((ns / 1e6 - 10) * 100) / 100);
    return {
      cpuPercent: wallMs > 0 ? Math.round((cpuMs / wallMs) * 1000) / 10 : 0,
      eventLoopLagP99Ms: this.#histogram.count > 0 ? lag(this.#histogram.percentile(99)) : 0,
      eventLoopLagMaxMs: this.#histogram.count > 0 ? lag(this.#histogram.max) : 0,
    };
  }
}

/** The verdict over all threads; `scheduleLagP99Ms` comes from the open groups' lag histograms. */
export function judgeGenerator(threads: readonly ThreadUsage[], scheduleLagP99Ms: number | undefined): GeneratorReport {
  const reasons: string[] = [];
  const busiest = threads.reduce((a, b) => (b.cpuPercent > a.cpuPercent ? b : a), threads[0]);
  const laggiest = threads.reduce((a, b) => (b.eventLoopLagP99Ms > a.eventLoopLagP99Ms ? b : a), threads[0]);
  if (busiest.cpuPercent >= cpuBoundPercent) reasons.push(`a generator thread used ${busiest.cpuPercent}% of a core`);
  if (laggiest.eventLoopLagP99Ms >= lagBoundMs) reasons.push(`the generator's event loop was late by ${laggiest.eventLoopLagP99Ms} ms (p99)`);
  if (scheduleLagP99Ms !== undefined && scheduleLagP99Ms >= scheduleLagBoundMs) reasons.push(`open-model requests went out ${scheduleLagP99Ms} ms behind schedule (p99)`);
  const total = threads.reduce((sum, usage) => sum + usage.cpuPercent, 0);
  return {
    threads: threads.length,
    cpuPercent: Math.round(total * 10) / 10,
    cpuPercentPerThread: Math.round((total / threads.length) * 10) / 10,
    eventLoopLagP99Ms: laggiest.eventLoopLagP99Ms,
    eventLoopLagMaxMs: Math.max(...threads.map((usage) => usage.eventLoopLagMaxMs)),
    ...(scheduleLagP99Ms === undefined ? {} : { scheduleLagP99Ms }),
    verdict: reasons.length > 0 ? 'generator-bound' : 'ok',
    reasons,
  };
}

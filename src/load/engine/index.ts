// Runs every group of a plan in this thread, for its share of the load: with N threads, thread i
// gets 1/N of each group's users, rate, stage targets, streams and connections (remainders go to
// the first threads), its own Poisson seed, and a phase that interleaves constant arrivals.

import { GroupRecorder } from '../recorder.ts';
import type { GroupSpec, IntervalData, RunSpec, Stage } from '../types.ts';
import { ClosedExecutor } from './closed.ts';
import type { Executor } from './executor.ts';
import { OpenExecutor } from './open.ts';
import { StreamExecutor } from './stream.ts';
import { GroupTransport } from './transport.ts';

export type { Executor, ExecutorClock } from './executor.ts';

/** This thread's integer part of `total` when split over `count` threads. */
export function shareOf(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}

function shareStages(stages: readonly Stage[], index: number, count: number, isRate: boolean): Stage[] {
  return stages.map((stage) => ({ durationMs: stage.durationMs, target: isRate ? stage.target / count : shareOf(Math.round(stage.target), index, count) }));
}

export interface EngineRun {
  /** Resolves when the load is over and every interval has been emitted. */
  done: Promise<void>;
  /** Ends the run early (Ctrl-C): stops like the end of the duration. */
  stop(): void;
}

/**
 * @param startMs performance.now() at which load starts (may be slightly in the future).
 * @param emit receives each finished second of each group, in order per group.
 */
export function runEngine(run: RunSpec, threadIndex: number, threadCount: number, startMs: number, emit: (group: string, interval: IntervalData) => void): EngineRun {
  const clock = { startMs, durationMs: run.durationMs };
  const lastSecond = Math.max(0, Math.ceil(run.durationMs / 1000) - 1);
  const recorders: GroupRecorder[] = [];
  const executors: Executor[] = [];
  for (const group of run.groups) {
    const recorder = new GroupRecorder(group.name, startMs, lastSecond, (interval) => emit(group.name, interval));
    recorders.push(recorder);
    const executor = createExecutor(group, threadIndex, threadCount, recorder, clock);
    if (executor) executors.push(executor);
  }
  let isStopped = false;
  let resolveStop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    resolveStop = resolve;
  });
  const startTimer = setTimeout(() => {
    for (const executor of executors) executor.start();
  }, Math.max(0, startMs - performance.now()));
  // Close idle seconds on time, so the live view and the series never wait for traffic.
  const secondTimer = setInterval(() => {
    const now = performance.now();
    for (const recorder of recorders) recorder.tick(now);
  }, 250);
  const endTimer = setTimeout(() => stop(), Math.max(0, startMs + run.durationMs - performance.now()));
  function stop(): void {
    if (isStopped) return;
    isStopped = true;
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    resolveStop();
  }
  const done = (async () => {
    await stopped;
    await Promise.all(executors.map((executor) => executor.stop(run.gracefulStopMs)));
    clearInterval(secondTimer);
    for (const recorder of recorders) recorder.finish();
  })();
  return { done, stop };
}

function createExecutor(group: GroupSpec, index: number, count: number, recorder: GroupRecorder, clock: { startMs: number; durationMs: number }): Executor | undefined {
  const connections = Math.max(1, shareOf(group.connections, index, count));
  switch (group.kind) {
    case 'closed': {
      const users = shareOf(group.users, index, count);
      const stages = shareStages(group.stages, index, count, false);
      if (users === 0 && stages.every((stage) => stage.target === 0)) return undefined;
      return new ClosedExecutor(group, { users, stages }, new GroupTransport(group, connections), recorder, clock);
    }
    case 'open': {
      const share = { rate: group.rate / count, stages: shareStages(group.stages, index, count, true), seed: group.seed + index * 7919, phase: index / count };
      return new OpenExecutor(group, share, new GroupTransport(group, connections), recorder, clock);
    }
    case 'stream': {
      const streams = shareOf(group.streams, index, count);
      if (streams === 0) return undefined;
      return new StreamExecutor(group, { streams }, new GroupTransport(group, Math.max(connections, streams), { isStream: true }), recorder, clock);
    }
  }
}

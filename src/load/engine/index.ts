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

export interface PreparedEngine {
  /** Opens the groups' connections ahead of the load (see RawPool.preconnect); resolves when each connected or failed. */
  preconnect(): Promise<void>;
  /**
   * @param startMs performance.now() at which load starts (may be slightly in the future).
   * @param emit receives each finished second of each group, in order per group.
   */
  start(startMs: number, emit: (group: string, interval: IntervalData) => void): EngineRun;
}

/** This thread's share of `run`, with its transports made (no connection yet) but no clock. */
export function prepareEngine(run: RunSpec, threadIndex: number, threadCount: number): PreparedEngine {
  const transports = run.groups.map((group) => createTransport(group, threadIndex, threadCount));
  return {
    // Not for ramps of users: their connections open as the users arrive, which is the point of a ramp.
    preconnect: () => Promise.all(transports.map((transport, index) => (isPreconnected(run.groups[index]) ? transport?.preconnect() : undefined))).then(() => undefined),
    start: (startMs, emit) => startEngine(run, threadIndex, threadCount, transports, startMs, emit),
  };
}

/**
 * @param startMs performance.now() at which load starts (may be slightly in the future).
 * @param emit receives each finished second of each group, in order per group.
 */
export function runEngine(run: RunSpec, threadIndex: number, threadCount: number, startMs: number, emit: (group: string, interval: IntervalData) => void): EngineRun {
  return prepareEngine(run, threadIndex, threadCount).start(startMs, emit);
}

function startEngine(run: RunSpec, threadIndex: number, threadCount: number, transports: readonly (GroupTransport | undefined)[], startMs: number, emit: (group: string, interval: IntervalData) => void): EngineRun {
  const clock = { startMs, durationMs: run.durationMs };
  const intervalMs = run.intervalMs ?? 1000;
  const lastSecond = Math.max(0, Math.ceil(run.durationMs / intervalMs) - 1);
  const recorders: GroupRecorder[] = [];
  const executors: Executor[] = [];
  run.groups.forEach((group, index) => {
    const recorder = new GroupRecorder(group.name, startMs, lastSecond, (interval) => emit(group.name, interval), intervalMs);
    recorders.push(recorder);
    const transport = transports[index];
    const executor = transport ? createExecutor(group, threadIndex, threadCount, transport, recorder, clock) : undefined;
    if (executor) executors.push(executor);
  });
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

function isPreconnected(group: GroupSpec): boolean {
  return group.kind === 'open' || (group.kind === 'closed' && group.stages.length === 0);
}

/** The group's connections for this thread; undefined when its share of the load is nothing. */
function createTransport(group: GroupSpec, index: number, count: number): GroupTransport | undefined {
  const connections = Math.max(1, shareOf(group.connections, index, count));
  switch (group.kind) {
    case 'closed': {
      const users = shareOf(group.users, index, count);
      if (users === 0 && shareStages(group.stages, index, count, false).every((stage) => stage.target === 0)) return undefined;
      return new GroupTransport(group, connections);
    }
    case 'open':
      return new GroupTransport(group, connections);
    case 'stream': {
      const streams = shareOf(group.streams, index, count);
      if (streams === 0) return undefined;
      return new GroupTransport(group, Math.max(connections, streams), { isStream: true });
    }
  }
}

function createExecutor(group: GroupSpec, index: number, count: number, transport: GroupTransport, recorder: GroupRecorder, clock: { startMs: number; durationMs: number }): Executor {
  switch (group.kind) {
    case 'closed':
      return new ClosedExecutor(group, { users: shareOf(group.users, index, count), stages: shareStages(group.stages, index, count, false) }, transport, recorder, clock);
    case 'open': {
      const share = { rate: group.rate / count, stages: shareStages(group.stages, index, count, true), seed: group.seed + index * 7919, phase: index / count };
      return new OpenExecutor(group, share, transport, recorder, clock);
    }
    case 'stream':
      return new StreamExecutor(group, { streams: shareOf(group.streams, index, count) }, transport, recorder, clock);
  }
}

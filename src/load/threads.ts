// Fan-out over worker threads. One generator thread saturates one core; past that, --threads N
// runs N independent engines (each with its share of the load and its own connections), and
// their per-second intervals are merged exactly, as files from several hosts are. The main thread
// only aggregates and draws the progress line. Thread 1 of a one-thread run is the main thread
// itself: no worker, no message passing.

import { Worker } from 'node:worker_threads';
import type { EngineRun } from './engine/index.ts';
import { prepareThread } from './engine/warm-up.ts';
import { createError } from '../errors.ts';
import { SelfMonitor, type ThreadUsage } from './self-monitor.ts';
import type { IntervalData, RunSpec } from './types.ts';

export interface ThreadWorkerData {
  run: RunSpec;
  index: number;
  count: number;
}

export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'interval'; group: string; interval: IntervalData }
  | { type: 'done'; usage: ThreadUsage }
  | { type: 'error'; message: string };

export interface ThreadedRun {
  done: Promise<ThreadUsage[]>;
  stop(): void;
}

/** Lead time between "go" and the first request, so every thread starts on the same schedule. */
const startLeadMs = 50;

/**
 * When the load starts (epoch ms): --start-at if given, else `soonest`. A --start-at that the
 * warm-up has already overrun is refused rather than started late: the point of it is that several
 * generators share one schedule.
 */
function startTime(run: RunSpec, soonest: number): number {
  if (run.startEpochMs === undefined) return soonest;
  if (run.startEpochMs < soonest) throw createError('BALLAST_ERR_INVALID_SETTING', `--start-at: ${new Date(run.startEpochMs).toISOString()} passed ${Math.round(soonest - run.startEpochMs)} ms before the generator was ready (warm-up included); give a later time`);
  return run.startEpochMs;
}

/** @param onStart called once, with the epoch ms at which the load starts (after the warm-up). */
export function runThreads(run: RunSpec, emit: (group: string, interval: IntervalData) => void, onStart: (startEpochMs: number) => void = () => undefined): ThreadedRun {
  if (run.threads <= 1) {
    let engine: EngineRun | undefined;
    /** Aborted by stop(): ends the warm-up early, and the run stops as soon as it starts. */
    const stopping = new AbortController();
    const done = (async () => {
      const prepared = await prepareThread(run, 0, 1, stopping.signal);
      const startEpochMs = startTime(run, performance.timeOrigin + performance.now() + 1);
      const monitor = new SelfMonitor();
      monitor.startAt(startEpochMs);
      onStart(startEpochMs);
      engine = prepared.start(startEpochMs - performance.timeOrigin, emit);
      if (stopping.signal.aborted) engine.stop();
      await engine.done;
      return [monitor.stop()];
    })();
    return {
      done,
      stop() {
        stopping.abort();
        engine?.stop();
      },
    };
  }
  const workers: Worker[] = [];
  let isStopRequested = false;
  const done = new Promise<ThreadUsage[]>((resolve, reject) => {
    const usages: ThreadUsage[] = [];
    let ready = 0;
    let finished = 0;
    for (let index = 0; index < run.threads; index++) {
      const worker = new Worker(new URL('./thread-worker.ts', import.meta.url), { workerData: { run, index, count: run.threads } satisfies ThreadWorkerData });
      workers.push(worker);
      worker.on('message', (message: ThreadMessage) => {
        switch (message.type) {
          case 'ready':
            if (++ready === run.threads) {
              let startEpochMs: number;
              try {
                startEpochMs = startTime(run, performance.timeOrigin + performance.now() + startLeadMs);
              } catch (error) {
                for (const each of workers) void each.terminate();
                reject(error);
                return;
              }
              onStart(startEpochMs);
              for (const each of workers) each.postMessage({ type: 'start', startEpochMs });
              if (isStopRequested) for (const each of workers) each.postMessage({ type: 'stop' });
            }
            break;
          case 'interval':
            emit(message.group, message.interval);
            break;
          case 'done':
            usages.push(message.usage);
            if (++finished === run.threads) {
              for (const each of workers) void each.terminate();
              resolve(usages);
            }
            break;
          case 'error':
            for (const each of workers) void each.terminate();
            reject(new Error(`generator thread ${index + 1} failed: ${message.message}`));
            break;
        }
      });
      worker.on('error', (error) => {
        for (const each of workers) void each.terminate();
        reject(error);
      });
    }
  });
  return {
    done,
    stop() {
      isStopRequested = true;
      for (const worker of workers) worker.postMessage({ type: 'stop' });
    },
  };
}

// Entry point of a generator worker thread (see threads.ts): runs this thread's share of the plan
// and posts each finished second back, then its CPU and event-loop usage.

import { parentPort, workerData } from 'node:worker_threads';
import type { EngineRun } from './engine/index.ts';
import { SelfMonitor } from './self-monitor.ts';
import { prepareThread } from './engine/warm-up.ts';
import type { ThreadMessage, ThreadWorkerData } from './threads.ts';

const data = workerData as ThreadWorkerData;
const port = parentPort!;
let engine: EngineRun | undefined;
const preparing = new AbortController();

port.on('message', (message: { type: 'start'; startEpochMs: number } | { type: 'stop' }) => {
  if (message.type === 'stop') {
    preparing.abort();
    engine?.stop();
    return;
  }
  const monitor = new SelfMonitor();
  monitor.startAt(message.startEpochMs);
  const startMs = message.startEpochMs - performance.timeOrigin;
  engine = prepared.start(startMs, (group, interval) => {
    port.postMessage({ type: 'interval', group, interval } satisfies ThreadMessage);
  });
  engine.done.then(
    () => port.postMessage({ type: 'done', usage: monitor.stop() } satisfies ThreadMessage),
    (error: unknown) => port.postMessage({ type: 'error', message: (error as Error)?.stack ?? String(error) } satisfies ThreadMessage),
  );
});
const prepared = await prepareThread(data.run, data.index, data.count, preparing.signal);
port.postMessage({ type: 'ready' } satisfies ThreadMessage);

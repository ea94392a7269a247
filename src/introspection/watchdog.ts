// The main-thread side of the stall watchdog: a heartbeat in shared memory, and the reports the
// watchdog thread sends back (they arrive once the event loop is free again).

import { Worker } from 'node:worker_threads';
import type { InFlightSnapshot, StackFrame, WatchdogMessage } from './watchdog-thread.ts';

export type { InFlightSnapshot, StackFrame, WatchdogMessage };

/** Must match inFlightHook in watchdog-thread.ts (not imported: that module runs the thread). */
const inFlightHook = 'ballast.inFlight';

export interface WatchdogOptions {
  /** Report when the event loop is blocked longer than this (ms). */
  stallMs: number;
  /** Terminate the running JavaScript when blocked this long (ms); 0 = never. */
  escalateMs: number;
  workerId: number;
  onMessage: (message: WatchdogMessage) => void;
  /** What is being served right now; read by the watchdog while the main thread is paused. */
  inFlight: () => InFlightSnapshot[];
}

export interface Watchdog {
  stop(): Promise<void>;
}

export function startWatchdog(options: WatchdogOptions): Watchdog {
  (globalThis as Record<symbol, unknown>)[Symbol.for(inFlightHook)] = () => JSON.stringify(options.inFlight());
  const buffer = new SharedArrayBuffer(8);
  const heartbeat = new BigInt64Array(buffer);
  Atomics.store(heartbeat, 0, BigInt(Date.now()));
  // Beat several times per stall period, so a stall is seen within ~stallMs + a quarter.
  const beatMs = Math.max(10, Math.min(250, Math.floor(options.stallMs / 4)));
  const beat = setInterval(() => Atomics.store(heartbeat, 0, BigInt(Date.now())), beatMs);
  beat.unref();
  const thread = new Worker(new URL('./watchdog-thread.ts', import.meta.url), {
    workerData: { heartbeat: buffer, stallMs: options.stallMs, escalateMs: options.escalateMs, checkMs: Math.max(10, Math.floor(options.stallMs / 10)), workerId: options.workerId },
    stdout: false,
    stderr: false,
  });
  thread.unref();
  thread.on('message', (message: WatchdogMessage) => {
    // The loop is free again: refresh the heartbeat before anything else reads it.
    Atomics.store(heartbeat, 0, BigInt(Date.now()));
    options.onMessage(message);
  });
  thread.on('error', () => { /* the watchdog is best-effort; its failure must not take the worker down */ });
  return {
    async stop() {
      clearInterval(beat);
      await thread.terminate();
    },
  };
}

export function formatStack(stack: StackFrame[]): string[] {
  return stack.map((frame) => `${frame.functionName} (${frame.url}:${frame.line}:${frame.column})`);
}

// What every workload executor (closed, open, stream) offers the engine.

export interface ExecutorClock {
  /** performance.now() at the run's start in this thread. */
  startMs: number;
  durationMs: number;
}

export interface Executor {
  start(): void;
  /** Stop starting work; give what is in flight `gracefulStopMs` to finish, then abort the rest. */
  stop(gracefulStopMs: number): Promise<void>;
}

// One load run, start to finish: fan the plan out over threads, collect every second of every
// group, judge the generator, and build the result. Reporting (terminal, files, thresholds) is the
// caller's; this returns data only, so tests and the lab can run load without a CLI.

import { createError } from '../errors.ts';
import { describeGroup } from './plan.ts';
import { ProgressLine } from './report/progress.ts';
import { buildResult } from './result.ts';
import { judgeGenerator } from './self-monitor.ts';
import { runThreads } from './threads.ts';
import type { IntervalData, RunResult, RunSpec } from './types.ts';

export interface RunOptions {
  /** Draw a live progress line on this stream (callers pass stderr only when it is a TTY). */
  progress?: NodeJS.WriteStream;
  /** Aborting ends the run early, like the end of the duration. */
  signal?: AbortSignal;
}

export async function runLoadTest(run: RunSpec, options: RunOptions = {}): Promise<RunResult> {
  // The load starts after the generator's warm-up (or at --start-at); until then these say "now",
  // so a run stopped during the warm-up lasted 1 ms, not the warm-up's length.
  let startedAt = new Date().toISOString();
  let startMs = Infinity;
  const intervals = new Map<string, IntervalData[]>(run.groups.map((group) => [group.name, []]));
  const progress = options.progress ? new ProgressLine(options.progress, run.durationMs, run.groups.length * run.threads) : undefined;
  const threaded = runThreads(run, (group, interval) => {
    intervals.get(group)!.push(interval);
    progress?.add(interval);
  }, (startEpochMs) => {
    startedAt = new Date(startEpochMs).toISOString();
    startMs = startEpochMs - performance.timeOrigin;
    progress?.start(startMs);
  });
  let durationMs = run.durationMs;
  let stoppedBefore: string | undefined;
  const onAbort = () => {
    if (performance.now() < startMs) stoppedBefore = startMs === Infinity ? 'during the generator\'s warm-up' : `while waiting for --start-at ${startedAt}`;
    durationMs = Math.max(1, Math.min(run.durationMs, Math.round(performance.now() - startMs)));
    threaded.stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let usages;
  try {
    usages = await threaded.done;
  } finally {
    progress?.stop();
    options.signal?.removeEventListener('abort', onAbort);
  }
  const result = buildResult({
    startedAt,
    durationMs,
    runs: 1,
    groups: run.groups.map((group) => ({
      meta: { name: group.name, kind: group.kind, description: describeGroup(group, run.durationMs), urls: [...new Set(group.requests.map((request) => request.url))] },
      // After an early stop, what came later (in-flight requests finishing, empty seconds) is
      // folded into the last second kept; its concurrency is already counted there.
      intervals: intervals.get(group.name)!.map((interval) => (interval.t * 1000 < durationMs ? interval : { ...interval, t: Math.ceil(durationMs / 1000) - 1, concurrency: 0, target: 0 })),
    })),
    generator: [],
  });
  // Stopped before the clock, the threads start no executor: an empty report ("0 requests in
  // 0.0 s", files, thresholds judged on nothing) would read like a run, so it is an error instead.
  if (stoppedBefore !== undefined && result.summary.requests === 0 && (result.summary.streams?.opened ?? 0) === 0) {
    throw createError('BALLAST_ERR_LOAD_STOPPED', `stopped ${stoppedBefore}, before the load started; nothing was sent to the target`);
  }
  const hasOpen = run.groups.some((group) => group.kind === 'open');
  result.generator.push(judgeGenerator(usages, hasOpen ? result.summary.scheduleLagMs?.p99 : undefined));
  return result;
}

// The lab's data: what a scenario is, and what running it produced. Results are plain JSON
// (written to results.json beside the report) so a report can be re-rendered or compared later.

import type { RunResult } from '../load/index.ts';
import type { LoadSettings } from '../load/index.ts';
import type { ServeHandle } from './processes.ts';

/** `naive`: ballast set up like the seeds' servers; `tuned`: the fix; `target`: the user's own server (--target). */
export type VariantName = 'naive' | 'tuned' | 'target';

export interface VariantRun {
  variant: VariantName;
  /** How the server was run (command line and environment), or the target URL. */
  server: string;
  result: RunResult;
  /** Scenario-specific measurements, e.g. `pairSeconds`, `peakRssMb`, `recycles`. */
  extras: Record<string, number | string>;
}

export interface PhaseResult {
  name: string;
  /** What load ran, in words (users, rate, duration, think time). */
  description: string;
  runs: VariantRun[];
}

export interface Check {
  /** The acceptance criterion, e.g. `tuned: 0 errors and p99 < 2.5 s`. */
  text: string;
  ok: boolean;
  /** The measured value(s) behind the verdict. */
  measured: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  seeds: string;
  summary: string;
  /** Services and settings of this run (sizes scaled for the machine, quick mode…). */
  setup: string[];
  phases: PhaseResult[];
  findings: string[];
  checks: Check[];
  elapsedMs: number;
  skipped?: string;
  error?: string;
}

export interface LabRunResult {
  format: 'ballast-lab/1';
  startedAt: string;
  elapsedMs: number;
  quick: boolean;
  target?: string;
  machine: { cpus: number; node: string; platform: string; memoryGb: number };
  scenarios: ScenarioResult[];
}

export interface LoadGroupInput {
  name: string;
  /** Paths (or absolute URLs) with optional weights; resolved against the phase's base URL. */
  paths: Array<string | { path: string; weight?: number; method?: string }>;
  settings: Partial<LoadSettings>;
}

export interface LoadInput {
  durationMs: number;
  gracefulStopMs?: number;
  threads?: number;
  groups: LoadGroupInput[];
}

export interface ServerConfig {
  /** ballast serve arguments after the app (workers, worker-connections, -c …). */
  args: string[];
  env?: Record<string, string | undefined>;
  /** Written to a temp file and passed as `-c FILE`. */
  config?: Record<string, unknown>;
  app?: string;
}

export interface ScenarioContext {
  quick: boolean;
  target?: string;
  workers: number;
  databaseUrl?: string;
  redisUrl?: string;
  nginxPath?: string;
  signal: AbortSignal;
  tempDir: string;
  /** `full` normally, `quick` with --quick. */
  pick<T>(full: T, quick: T): T;
  note(text: string): void;
  setup: string[];
  startServer(variant: VariantName, config: ServerConfig): Promise<ServeHandle>;
  startFeedService(options: { delayMs: number; jitterMs?: number; errorRate?: number }): Promise<{ url: string; close(): Promise<void> | void; requests?: number }>;
  startObjectStore(options: { latencyMs: number; jitterMs?: number }): Promise<{ url: string; close(): Promise<void> | void }>;
  /** Runs load against baseUrl and records it under phase/variant. */
  load(phase: { name: string; description?: string }, variant: VariantName, server: string, baseUrl: string, input: LoadInput, extras?: Record<string, number | string>): Promise<VariantRun>;
  /** The variants to run: naive then tuned, or just `target` with --target. */
  variants(): VariantName[];
  phases: PhaseResult[];
  /** The servers started so far in this scenario (their logs, pids). */
  servers(): ServeHandle[];
}

export interface Scenario {
  name: string;
  title: string;
  seeds: string;
  summary: string;
  /** Rough wall time of a run, for the plan shown before starting. */
  estimateSeconds(quick: boolean): number;
  /** Returns why the scenario cannot run here (missing nginx…), or undefined. */
  unavailable?(ctx: { target?: string; nginxPath?: string }): string | undefined;
  run(ctx: ScenarioContext): Promise<{ findings: string[]; checks: Check[] }>;
}

// Runs lab scenarios one after another: for each, the services it needs, the naive and the tuned
// server (or the user's --target), the load of each phase, and the findings computed from what was
// measured. Everything a scenario starts is stopped when it ends, fails, or the run is interrupted.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildGroup, loadSettings, runLoadTest, type LoadSettings, type RunResult, type RunSpec } from '../load/index.ts';
import { repoRoot, startServe, stopAll, type ServeHandle } from './processes.ts';
import { formatMs, formatPercent } from './report/format.ts';
import type { LabRunResult, LoadInput, PhaseResult, Scenario, ScenarioContext, ScenarioResult, VariantName, VariantRun } from './types.ts';

export interface LabRunOptions {
  scenarios: Scenario[];
  quick: boolean;
  target?: string;
  workers: number;
  databaseUrl?: string;
  redisUrl?: string;
  nginxPath?: string;
  /** Progress output (stderr); the load's live line is drawn only when it is a TTY and progress is on. */
  out: NodeJS.WriteStream;
  progress: boolean;
  signal: AbortSignal;
  /** Called after each scenario (the CLI rewrites the report so a long run leaves partial results). */
  onScenario?: (result: LabRunResult) => Promise<void>;
}

export const demoApp = 'lab/demo-app/app.ts';

const defaultLoadSettings = Object.fromEntries(loadSettings.map((spec) => [spec.name, Array.isArray(spec.default) ? [...spec.default] : spec.default])) as unknown as LoadSettings;

interface FeedServiceModule {
  startFeedService(options: { delayMs: number; jitterMs?: number; errorRate?: number; port?: number; host?: string }): Promise<{ url: string; close(): Promise<void> | void; requests?: number }>;
}
interface ObjectStoreModule {
  startObjectStore(options: { latencyMs: number; jitterMs?: number; port?: number }): Promise<{ url: string; close(): Promise<void> | void }>;
}

// Imported by path at run time: the services are the demo app's, loaded only by scenarios using them.
async function importModule<T>(relativePath: string): Promise<T> {
  return (await import(pathToFileURL(join(repoRoot, relativePath)).href)) as T;
}

export function buildRunSpec(baseUrl: string, input: LoadInput): RunSpec {
  const groups = input.groups.map((group) => {
    const settings: LoadSettings = { ...defaultLoadSettings, ...group.settings, target: `${baseUrl}/` };
    const requests = group.paths.map((item) => {
      const entry = typeof item === 'string' ? { path: item } : item;
      return { url: new URL(entry.path.replace(/^\//, ''), `${baseUrl}/`).href, weight: entry.weight, method: entry.method };
    });
    const spec = buildGroup(group.name, settings, requests, `group \`${group.name}\``);
    if (spec.holdMs === 0) spec.holdMs = input.durationMs;
    return spec;
  });
  return { durationMs: input.durationMs, gracefulStopMs: input.gracefulStopMs ?? 5000, threads: input.threads ?? 1, groups };
}

function shortSummary(result: RunResult): string {
  const s = result.summary;
  const streams = s.streams ? `, streams ${s.streams.opened} opened, ${s.streams.drops} dropped, ${s.streams.events} events` : '';
  return `${s.requests} requests, ${formatPercent(s.errorRate)} errors, mean ${formatMs(s.latencyMs.mean)}, p99 ${formatMs(s.latencyMs.p99)}${streams}`;
}

export async function runLab(options: LabRunOptions): Promise<LabRunResult> {
  const startedMs = performance.now();
  const lab: LabRunResult = {
    format: 'ballast-lab/1',
    startedAt: new Date().toISOString(),
    elapsedMs: 0,
    quick: options.quick,
    target: options.target,
    machine: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, memoryGb: Math.round(totalmem() / 2 ** 30) },
    scenarios: [],
  };
  const out = options.out;
  const live = options.progress && out.isTTY === true;
  const total = options.scenarios.length;
  for (const [index, scenario] of options.scenarios.entries()) {
    if (options.signal.aborted) break;
    const began = performance.now();
    const result: ScenarioResult = {
      name: scenario.name, title: scenario.title, seeds: scenario.seeds, summary: scenario.summary,
      setup: [], phases: [], findings: [], checks: [], elapsedMs: 0,
    };
    lab.scenarios.push(result);
    const why = scenario.unavailable?.({ target: options.target, nginxPath: options.nginxPath });
    out.write(`\n[${index + 1}/${total}] ${scenario.name}: ${scenario.title}${why ? ` (skipped: ${why})` : ''}\n`);
    if (why) {
      result.skipped = why;
      continue;
    }
    const tempDir = mkdtempSync(join(tmpdir(), `ballast-lab-${scenario.name}-`));
    const servers: ServeHandle[] = [];
    const closers: Array<() => Promise<void> | void> = [];
    const ctx: ScenarioContext = {
      quick: options.quick,
      target: options.target,
      workers: options.workers,
      databaseUrl: options.databaseUrl,
      redisUrl: options.redisUrl,
      nginxPath: options.nginxPath,
      signal: options.signal,
      tempDir,
      setup: result.setup,
      phases: result.phases,
      pick: (full, quick) => (options.quick ? quick : full),
      note: (text) => { result.setup.push(text); },
      servers: () => servers,
      variants: (): VariantName[] => (options.target ? ['target'] : ['naive', 'tuned']),
      async startServer(variant, config) {
        const args = [...config.args];
        if (config.config) {
          const file = join(tempDir, `${variant}.config.json`);
          writeFileSync(file, `${JSON.stringify(config.config, null, 2)}\n`);
          args.push('-c', file);
        }
        const server = await startServe({ name: `${scenario.name}/${variant}`, app: config.app ?? demoApp, args, env: config.env });
        servers.push(server);
        // The report shows the config inline rather than a temp path.
        if (config.config) server.commandLine = server.commandLine.replace(/-c \S+/, `-c ${variant}.config.json`) + `  # ${variant}.config.json: ${JSON.stringify(config.config)}`;
        return server;
      },
      async startFeedService(serviceOptions) {
        const module = await importModule<FeedServiceModule>('src/lab/feed-service.ts');
        const service = await module.startFeedService({ ...serviceOptions, host: '127.0.0.1', port: 0 });
        closers.push(() => service.close());
        return service;
      },
      async startObjectStore(storeOptions) {
        const module = await importModule<ObjectStoreModule>('lab/demo-app/object-store.ts');
        const store = await module.startObjectStore({ ...storeOptions, port: 0 });
        closers.push(() => store.close());
        return store;
      },
      async load(phase, variant, server, baseUrl, input, extras = {}) {
        // --quick: in-flight requests get 2 s after the end instead of 5 s (a smoke test, not a
        // measurement); scenarios that need longer on purpose (the csv pair) ask for more than 5 s.
        const gracefulStopMs = input.gracefulStopMs ?? 5000;
        const spec = buildRunSpec(baseUrl, { ...input, gracefulStopMs: options.quick && gracefulStopMs <= 5000 ? Math.min(gracefulStopMs, 2000) : gracefulStopMs });
        const label = `${phase.name} · ${variant}`;
        if (!live) out.write(`  ${label}: ${Math.round(input.durationMs / 1000)} s of load …\n`);
        else out.write(`  ${label}\n`);
        const loadResult = await runLoadTest(spec, { signal: options.signal, progress: live ? out : undefined });
        out.write(`    ${variant}: ${shortSummary(loadResult)}\n`);
        let phaseResult = result.phases.find((p) => p.name === phase.name);
        if (!phaseResult) {
          phaseResult = { name: phase.name, description: phase.description ?? loadResult.groups.map((g) => `${g.name}: ${g.description}, ${Math.round(input.durationMs / 1000)} s`).join('; '), runs: [] };
          result.phases.push(phaseResult);
        }
        const run: VariantRun = { variant, server, result: loadResult, extras };
        phaseResult.runs.push(run);
        return run;
      },
    };
    try {
      const { findings, checks } = await scenario.run(ctx);
      result.findings = findings;
      result.checks = checks;
      for (const check of checks) out.write(`    ${check.ok ? 'PASS' : 'FAIL'} ${check.text} (${check.measured})\n`);
    } catch (error) {
      result.error = options.signal.aborted ? 'interrupted' : (error as Error)?.stack ?? String(error);
      out.write(`    error: ${(error as Error)?.message ?? String(error)}\n`);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch {
          // a service that fails to close is gone anyway; keep stopping the rest
        }
      }
      rmSync(tempDir, { recursive: true, force: true });
      result.elapsedMs = Math.round(performance.now() - began);
      lab.elapsedMs = Math.round(performance.now() - startedMs);
    }
    await options.onScenario?.(lab);
  }
  await stopAll();
  lab.elapsedMs = Math.round(performance.now() - startedMs);
  return lab;
}

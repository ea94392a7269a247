// `ballast load URL… [options]`, `ballast load PLAN.ts|json [options]` and
// `ballast load merge a.json b.json… [--json out.json] [--html out.html] [--threshold …]`.
// Exit codes: 0 ok, 1 failure, 2 bad usage, 99 a --threshold was broken.

import { formatHelp, resolveSettings } from '../config/schema.ts';
import { exitCodes, isBallastError } from '../errors.ts';
import { parseLoadCommand } from '../load/plan.ts';
import { loadSettings, type LoadSettings } from '../load/settings.ts';
import { runLoadTest } from '../load/run.ts';
import { readJsonResult, writeJsonResult } from '../load/report/json.ts';
import { writeHtmlReport } from '../load/report/html.ts';
import { formatSummary } from '../load/report/terminal.ts';
import { mergeResults } from '../load/merge.ts';
import { evaluateThresholds, parseThreshold, thresholdsBrokenExitCode } from '../load/thresholds.ts';
import type { RunResult } from '../load/types.ts';

const usageCodes = new Set(['BALLAST_ERR_INVALID_SETTING', 'BALLAST_ERR_UNKNOWN_SETTING', 'BALLAST_ERR_USAGE', 'BALLAST_ERR_LOAD_PLAN', 'BALLAST_ERR_LOAD_RESULT']);

export function formatLoadHelp(): string {
  return [
    'Usage: ballast load URL [URL…] [options]',
    '       ballast load PLAN.ts|PLAN.json [options]',
    '       ballast load merge RESULT.json RESULT.json… [--json FILE] [--html FILE] [--threshold RULE]',
    '',
    'Generates HTTP load against URLs (closed model: users; open model: a rate; SSE streams; slow',
    'clients) and reports users, requests per minute, average and max response time, error rate by',
    'status, and p50/p90/p99/p99.9 from HDR histograms. In the open model latency is measured from',
    'the intended send time (no coordinated omission). Ctrl-C ends the run early and reports what',
    'it measured. Exit codes: 0 ok, 1 failed (or stopped before the load started), 2 bad usage,',
    '99 a --threshold broken.',
    formatHelp(loadSettings),
    '',
    'Examples:',
    '  ballast load http://127.0.0.1:8000/ --users 64 --duration 30s',
    '  ballast load http://127.0.0.1:8000/ --rate 500 --arrival poisson --duration 1m --threshold \'p99<250ms\'',
    '  ballast load http://127.0.0.1:8000/ --stages 30s:500,60s:5000 --think-ms 1000 --json run.json --html run.html',
    '  ballast load http://127.0.0.1:8000/feed --streams 1000 --hold 20s',
    '  ballast load plan.ts --threads 2',
    '  ballast load merge agent-1.json agent-2.json --html all.html',
  ].join('\n');
}

async function report(result: RunResult, settings: Pick<LoadSettings, 'json' | 'html' | 'threshold'>): Promise<number> {
  const thresholds = settings.threshold.map(parseThreshold);
  if (thresholds.length > 0) result.thresholds = evaluateThresholds(result, thresholds);
  process.stdout.write(`${formatSummary(result)}\n`);
  if (settings.json) {
    await writeJsonResult(settings.json, result);
    process.stdout.write(`\nresult written to ${settings.json}\n`);
  }
  if (settings.html) {
    await writeHtmlReport(settings.html, result);
    process.stdout.write(`${settings.json ? '' : '\n'}report written to ${settings.html}\n`);
  }
  return result.thresholds?.some((outcome) => !outcome.ok) ? thresholdsBrokenExitCode : exitCodes.ok;
}

async function runMerge(argv: string[]): Promise<number> {
  const { settings, positionals, sources } = resolveSettings<LoadSettings>(loadSettings, { argv, env: {} });
  if (settings.help) {
    process.stdout.write(`${formatLoadHelp()}\n`);
    return exitCodes.ok;
  }
  const ignored = Object.entries(sources).filter(([name, source]) => source === 'cli' && !['json', 'html', 'threshold', 'progress'].includes(name)).map(([name]) => name);
  if (ignored.length > 0) process.stderr.write(`ballast load merge: ignoring options that only apply to a run: ${ignored.join(', ')}\n`);
  if (positionals.length === 0) {
    process.stderr.write('ballast load merge: expected result files: `ballast load merge a.json b.json`\n');
    return exitCodes.usage;
  }
  const results = await Promise.all(positionals.map((path) => readJsonResult(path)));
  return report(mergeResults(results), settings);
}

export async function runLoad(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'merge') return await runMerge(argv.slice(1));
    const command = await parseLoadCommand(argv, process.env);
    if (command.settings.help) {
      process.stdout.write(`${formatLoadHelp()}\n`);
      return exitCodes.ok;
    }
    // Validate the thresholds before spending minutes on a run.
    command.settings.threshold.forEach(parseThreshold);
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let result: RunResult;
    try {
      result = await runLoadTest(command.run, {
        progress: command.settings.progress && process.stderr.isTTY ? process.stderr : undefined,
        signal: controller.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return await report(result, command.settings);
  } catch (error) {
    if (isBallastError(error) && usageCodes.has(error.code)) {
      process.stderr.write(`ballast load: ${error.message} [${error.code}]\n`);
      return exitCodes.usage;
    }
    if (isBallastError(error) && error.code === 'BALLAST_ERR_LOAD_STOPPED') {
      // No result, so no --json, --html or thresholds; not a success either.
      process.stderr.write(`ballast load: ${error.message} [${error.code}]\n`);
      return exitCodes.failure;
    }
    throw error;
  }
}

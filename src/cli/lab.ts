// `ballast lab`: the seeds' scenarios, each run against a naive and a tuned server under the same
// load, with a report (Markdown + self-contained HTML) whose findings are computed from the
// measurements. `ballast lab feed-service|object-store|seed-data` run the lab's services alone.

import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { formatHelp, resolveSettings, suggest } from '../config/schema.ts';
import { createError, exitCodes } from '../errors.ts';
import { runLab as runScenarios } from '../lab/runner.ts';
import { writeLabReport } from '../lab/report/index.ts';
import { scenarios } from '../lab/scenarios/index.ts';
import { runServiceCommand, serviceCommands } from '../lab/services-cli.ts';
import { labSettings, type LabSettings } from '../lab/settings.ts';
import { stopAll } from '../lab/processes.ts';

/** Exit code when a run completed but an acceptance check failed (as `ballast load` thresholds). */
export const checksFailedExitCode = 99;

function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nginx');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function helpText(): string {
  const list = scenarios.map((s) => `  ${s.name.padEnd(14)} seed ${s.seeds}  ${s.title}`).join('\n');
  return [
    'Usage: ballast lab [SCENARIO…] [options]',
    '       ballast lab feed-service|object-store|seed-data [options]',
    '',
    'Runs the seeds\' scenarios naive and tuned under the same load and explains what happened.',
    '',
    'Scenarios:',
    list,
    formatHelp(labSettings),
    '',
    'Exit code: 0, or 99 when an acceptance check failed (not with --quick, whose sizes are too small',
    'to judge), 1 when a scenario could not run. Docs: docs/lab.md',
  ].join('\n');
}

export async function runLab(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name && serviceCommands.includes(name)) return runServiceCommand(name, rest);
  const { settings, positionals } = resolveSettings<LabSettings>(labSettings, { argv, env: process.env });
  if (settings.help) {
    process.stdout.write(`${helpText()}\n`);
    return exitCodes.ok;
  }
  if (settings.list) {
    for (const s of scenarios) process.stdout.write(`${s.name.padEnd(14)} seed ${s.seeds.padEnd(4)} ~${s.estimateSeconds(settings.quick)} s  ${s.title}\n`);
    return exitCodes.ok;
  }
  const names = [...positionals, ...settings.only];
  for (const wanted of names) {
    if (!scenarios.some((s) => s.name === wanted)) {
      const hint = suggest(wanted, [...scenarios.map((s) => s.name), ...serviceCommands]);
      throw createError('BALLAST_ERR_USAGE', `unknown lab scenario \`${wanted}\`${hint ? `; did you mean \`${hint}\`?` : ''} (see \`ballast lab --list\`)`);
    }
  }
  const selected = names.length ? scenarios.filter((s) => names.includes(s.name)) : scenarios;
  if (settings.target && !/^https?:\/\//.test(settings.target)) throw createError('BALLAST_ERR_INVALID_SETTING', `expected \`target\` (--target) to be an http:// or https:// URL, got \`${settings.target}\``);
  const nginxPath = settings.nginx === 'off' ? undefined : findNginx();
  if (settings.nginx === 'on' && !nginxPath) throw createError('BALLAST_ERR_INVALID_SETTING', 'expected an `nginx` binary on PATH or in /usr/sbin with `--nginx on`, found none');

  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nballast lab: interrupted; stopping the servers and writing what was measured (Ctrl-C again to stop at once)\n');
      controller.abort();
    } else {
      void stopAll().finally(() => process.exit(130));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const estimate = selected.reduce((sum, s) => sum + s.estimateSeconds(settings.quick), 0);
  process.stderr.write(`ballast lab: ${selected.length} scenario${selected.length === 1 ? '' : 's'} (${selected.map((s) => s.name).join(', ')}), about ${Math.ceil(estimate / 60)} min${settings.quick ? ' (--quick)' : ''}${settings.target ? `, load against ${settings.target}` : ''}\n`);
  const write = settings.report ? (lab: Parameters<typeof writeLabReport>[1]) => writeLabReport(settings.report, lab) : undefined;
  try {
    const lab = await runScenarios({
      scenarios: selected,
      quick: settings.quick,
      target: settings.target || undefined,
      workers: settings.workers,
      databaseUrl: settings.databaseUrl || process.env.DATABASE_URL || undefined,
      redisUrl: settings.redisUrl || process.env.REDIS_URL || undefined,
      nginxPath,
      out: process.stderr,
      progress: settings.progress,
      signal: controller.signal,
      onScenario: async (partial) => { await write?.(partial); },
    });
    if (write) {
      const paths = await write(lab);
      process.stderr.write(`\nreport: ${paths.markdown}\n        ${paths.html}\n`);
    }
    const failedChecks = lab.scenarios.flatMap((s) => s.checks.filter((c) => !c.ok).map((c) => `${s.name}: ${c.text} (${c.measured})`));
    const errored = lab.scenarios.filter((s) => s.error);
    process.stderr.write(`\nballast lab: ${lab.scenarios.length} scenarios in ${Math.round(lab.elapsedMs / 1000)} s; ${errored.length} failed to run; ${failedChecks.length} checks failed${failedChecks.length ? `:\n  ${failedChecks.join('\n  ')}` : ''}\n`);
    if (controller.signal.aborted) return 130;
    if (errored.length) return exitCodes.failure;
    if (failedChecks.length && !settings.quick) return checksFailedExitCode;
    return exitCodes.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

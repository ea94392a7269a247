// The lab report in Markdown: per scenario, the seeds' table (users, requests per minute, average
// and max response, error rate by status) for naive and tuned side by side, percentiles, the
// servers' command lines, the findings computed from the measurements, and the acceptance checks.

import type { Summary } from '../../load/index.ts';
import type { GroupResult } from '../../load/index.ts';
import { describeErrors, failedFraction } from '../scenarios/common.ts';
import type { LabRunResult, PhaseResult, ScenarioResult, VariantRun } from '../types.ts';
import { formatCount, formatMs, formatPercent } from './format.ts';

export interface TableRow {
  label: string;
  cells: string[];
}

export const tableHeader = ['', 'users / streams', 'requests', 'requests/min', 'average', 'max', 'p50', 'p90', 'p99', 'p99.9', 'error rate', 'errors by status', 'streams'];

function usersCell(group: GroupResult): string {
  const s = group.summary;
  if (group.kind === 'stream') return `${formatCount(s.streams?.opened ?? 0)} streams`;
  if (group.kind === 'closed') return formatCount(s.users || s.concurrencyMax);
  return `open, ≤${formatCount(s.concurrencyMax)} in flight`;
}

function streamsCell(summary: Summary): string {
  const st = summary.streams;
  if (!st) return '';
  return `${formatCount(st.firstEventMs.count)} got events, ${formatCount(st.events)} events, ${st.drops} drops, first event p99 ${formatMs(st.firstEventMs.p99)}`;
}

function groupCells(group: GroupResult): string[] {
  const s = group.summary;
  const hasRequests = group.kind !== 'stream';
  const lat = s.latencyMs;
  return [
    usersCell(group),
    hasRequests ? formatCount(s.requests) : '',
    // Over the run, or over the slowest answer when that outlasted it (the csv pair's 1 ms run).
    hasRequests ? formatCount(s.requests / (Math.max(s.durationMs, lat.max) / 60_000)) : '',
    hasRequests ? formatMs(lat.mean) : '',
    hasRequests ? formatMs(lat.max) : '',
    hasRequests ? formatMs(lat.p50) : '',
    hasRequests ? formatMs(lat.p90) : '',
    hasRequests ? formatMs(lat.p99) : '',
    hasRequests ? formatMs(lat.p999) : '',
    // Requests still unanswered when the run ended count as failed here (the load summary keeps
    // them apart as `interrupted`): a request nobody answered is not a success.
    hasRequests ? formatPercent(failedFraction(s)) : '',
    describeErrors(s),
    streamsCell(s),
  ];
}

/** One row per variant (and per load group when a phase runs several, e.g. streams + /hello). */
export function phaseRows(phase: PhaseResult): TableRow[] {
  const rows: TableRow[] = [];
  for (const run of phase.runs) {
    const groups = run.result.groups;
    for (const group of groups) rows.push({ label: groups.length > 1 ? `${run.variant} · ${group.name}` : run.variant, cells: groupCells(group) });
  }
  return rows;
}

/** Columns that are empty in every row are left out. */
export function compactTable(rows: TableRow[]): { header: string[]; rows: TableRow[] } {
  const keep = tableHeader.slice(1).map((_, i) => rows.some((row) => row.cells[i] !== ''));
  return {
    header: ['', ...tableHeader.slice(1).filter((_, i) => keep[i])],
    rows: rows.map((row) => ({ label: row.label, cells: row.cells.filter((_, i) => keep[i]) })),
  };
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function extrasLine(run: VariantRun): string {
  const entries = Object.entries(run.extras);
  return entries.length ? `- ${run.variant}: ${entries.map(([key, value]) => `${key} ${value}`).join('; ')}` : '';
}

export function statusLine(scenario: ScenarioResult): string {
  if (scenario.skipped) return `skipped: ${scenario.skipped}`;
  if (scenario.error) return `error: ${scenario.error.split('\n')[0]}`;
  const failed = scenario.checks.filter((c) => !c.ok).length;
  return scenario.checks.length ? `${scenario.checks.length - failed}/${scenario.checks.length} checks passed` : 'no checks';
}

function renderScenario(scenario: ScenarioResult): string[] {
  const lines = [`## ${scenario.name}: ${scenario.title} (seed ${scenario.seeds})`, '', scenario.summary, ''];
  lines.push(`*${statusLine(scenario)}; ${Math.round(scenario.elapsedMs / 1000)} s.*`, '');
  if (scenario.skipped) return lines;
  if (scenario.setup.length) lines.push(...scenario.setup.map((s) => `- ${s}`), '');
  for (const phase of scenario.phases) {
    lines.push(`### ${phase.name}`, '', phase.description, '');
    const table = compactTable(phaseRows(phase));
    lines.push(`| ${table.header.map(escapeCell).join(' | ')} |`, `|${table.header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const row of table.rows) lines.push(`| **${escapeCell(row.label)}** | ${row.cells.map(escapeCell).join(' | ')} |`);
    lines.push('');
    for (const run of phase.runs) {
      lines.push(`- ${run.variant} server: \`${run.server.replace(/`/g, "'")}\``);
      const extra = extrasLine(run);
      if (extra) lines.push(extra);
      const bound = run.result.generator.filter((g) => g.verdict === 'generator-bound');
      if (bound.length) lines.push(`- ${run.variant}: the load generator was a bottleneck (${bound.flatMap((g) => g.reasons).join('; ')}); read these numbers with that in mind.`);
    }
    lines.push('');
  }
  if (scenario.findings.length) lines.push('**Findings**', '', ...scenario.findings.map((f) => `- ${f}`), '');
  if (scenario.checks.length) lines.push('**Checks**', '', ...scenario.checks.map((c) => `- ${c.ok ? '✅' : '❌'} ${c.text}: ${c.measured}`), '');
  if (scenario.error) lines.push('**Error**', '', '```', scenario.error, '```', '');
  return lines;
}

export function renderMarkdownReport(lab: LabRunResult): string {
  const lines = [
    '# ballast lab report',
    '',
    `Run ${lab.startedAt}, ${Math.round(lab.elapsedMs / 1000)} s in all${lab.quick ? ', **--quick** (brief smoke-test sizes, not measurements)' : ''}${lab.target ? `, against **${lab.target}**` : ''}. Machine: ${lab.machine.cpus} CPUs, ${lab.machine.memoryGb} GiB, Node ${lab.machine.node}, ${lab.machine.platform}; the load generator, the servers, the services and the database share it.`,
    '',
    '| scenario | seed | result | time |',
    '| --- | --- | --- | ---: |',
    ...lab.scenarios.map((s) => `| [${s.name}](#${s.name}) | ${s.seeds} | ${statusLine(s).replace(/\|/g, '\\|')} | ${Math.round(s.elapsedMs / 1000)} s |`),
    '',
    lab.target ? `Each scenario ran its load against **${lab.target}** (your server); the findings describe what was measured there.` : 'Each scenario runs the same load against a **naive** server (ballast configured like the seeds\' servers, e.g. `--worker-connections 1` for gunicorn\'s sync worker) and a **tuned** one. Latency is from the intended send time in open-model runs (no coordinated omission); "error rate" and "errors by status" count HTTP statuses ≥ 400, requests without an answer (timeout, reset, refused) and requests still unanswered when the run ended (interrupted).',
    '',
  ];
  for (const scenario of lab.scenarios) lines.push(`<a id="${scenario.name}"></a>`, '', ...renderScenario(scenario));
  return `${lines.join('\n')}\n`;
}

// The lab report as one self-contained HTML page: the same tables, findings and checks as the
// Markdown, plus charts over time per phase (naive and tuned on the same axes), drawn by uPlot
// inlined from node_modules with the data inlined as JSON, so the file opens anywhere, offline.

import type { SeriesPoint } from '../../load/index.ts';
import type { GroupResult } from '../../load/index.ts';
import type { LabRunResult, PhaseResult, ScenarioResult } from '../types.ts';
import { compactTable, phaseRows, statusLine } from './markdown.ts';
import { escapeHtml, readUplot, scriptJson } from '../../html-assets.ts';

interface ChartLine {
  label: string;
  values: Array<number | null>;
  colour: string;
  dash?: boolean;
}

interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  x: number[];
  lines: ChartLine[];
  log?: boolean;
}

const variantColours: Record<string, [string, string]> = {
  naive: ['#dc2626', '#f59e0b'],
  tuned: ['#2563eb', '#16a34a'],
  target: ['#9333ea', '#0891b2'],
};



/** Inline `code` in findings and setup lines. */
function inline(text: string): string {
  // A fenced block (the nginx.conf in a setup note) becomes <pre>; the rest gets inline <code>.
  return text.split(/```[a-z]*\n?/).map((part, i) => (i % 2 === 1 ? `<pre>${escapeHtml(part)}</pre>` : escapeHtml(part).replace(/`([^`]+)`/g, '<code>$1</code>'))).join('');
}


function okPerSecond(point: SeriesPoint): number {
  return point.requests - point.errors;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Charts for one phase: per load group, latency and answers per second (or events and open streams). */
export function phaseCharts(idPrefix: string, phase: PhaseResult): ChartSpec[] {
  const groupNames = [...new Set(phase.runs.flatMap((run) => run.result.groups.map((group) => group.name)))];
  const charts: ChartSpec[] = [];
  for (const name of groupNames) {
    const byVariant = phase.runs
      .map((run) => ({ variant: run.variant, group: run.result.groups.find((g) => g.name === name) }))
      .filter((entry): entry is { variant: typeof entry.variant; group: GroupResult } => entry.group !== undefined);
    const length = Math.max(1, ...byVariant.map((entry) => entry.group.series.length));
    const x = Array.from({ length }, (_, i) => i + 1);
    const pad = (values: number[]): Array<number | null> => x.map((_, i) => (i < values.length ? values[i]! : null));
    const suffix = groupNames.length > 1 ? ` (${name})` : '';
    const isStream = byVariant.some((entry) => entry.group.kind === 'stream');
    const id = `${idPrefix}-${name.replace(/[^a-z0-9]+/gi, '-')}`;
    if (isStream) {
      charts.push({
        id: `${id}-events`, title: `SSE events received per second${suffix}`, unit: 'events/s', x,
        lines: byVariant.map(({ variant, group }) => ({ label: `${variant} events/s`, values: pad(group.series.map((p) => p.events)), colour: variantColours[variant]![0] })),
      });
      charts.push({
        id: `${id}-open`, title: `Open streams${suffix}`, unit: 'streams', x,
        lines: byVariant.flatMap(({ variant, group }) => [
          { label: `${variant} open`, values: pad(group.series.map((p) => p.concurrency)), colour: variantColours[variant]![0] },
          { label: `${variant} dropped/s`, values: pad(group.series.map((p) => p.streamDrops)), colour: variantColours[variant]![1], dash: true },
        ]),
      });
      continue;
    }
    charts.push({
      id: `${id}-latency`, title: `Response time per second${suffix}: p50 and p99`, unit: 'ms', x, log: true,
      lines: byVariant.flatMap(({ variant, group }) => [
        { label: `${variant} p99`, values: pad(group.series.map((p) => (p.requests ? round(p.latencyMs.p99) : 0))), colour: variantColours[variant]![0] },
        { label: `${variant} p50`, values: pad(group.series.map((p) => (p.requests ? round(p.latencyMs.p50) : 0))), colour: variantColours[variant]![0], dash: true },
      ]).map((line) => ({ ...line, values: line.values.map((v) => (v === 0 ? null : v)) })),
    });
    charts.push({
      id: `${id}-answers`, title: `Answers per second${suffix}: good and failed`, unit: 'per second', x,
      lines: byVariant.flatMap(({ variant, group }) => [
        { label: `${variant} ok`, values: pad(group.series.map(okPerSecond)), colour: variantColours[variant]![0] },
        { label: `${variant} errors`, values: pad(group.series.map((p) => p.errors)), colour: variantColours[variant]![1], dash: true },
      ]),
    });
  }
  return charts;
}

// Runs in the browser: draws every chart from the inlined data. Plain ES2017.
const clientScript = `
(function () {
  var charts = JSON.parse(document.getElementById('lab-data').textContent);
  function width(el) { return Math.max(320, Math.min(900, el.parentElement.clientWidth - 10)); }
  var plots = [];
  charts.forEach(function (c) {
    var el = document.getElementById(c.id);
    if (!el) return;
    var opts = {
      title: c.title, width: width(el), height: 240,
      scales: { x: { time: false }, y: c.log ? { distr: 3 } : {} },
      axes: [{ label: 'seconds' }, { label: c.unit }],
      series: [{ label: 's' }].concat(c.lines.map(function (l) {
        return { label: l.label, stroke: l.colour, width: 2, dash: l.dash ? [6, 4] : undefined, spanGaps: false, points: { show: c.x.length < 30 } };
      }))
    };
    plots.push(new uPlot(opts, [c.x].concat(c.lines.map(function (l) { return l.values; })), el));
    el.setAttribute('data-rendered', 'true');
  });
  window.addEventListener('resize', function () { plots.forEach(function (p) { p.setSize({ width: width(p.root), height: 240 }); }); });
  document.body.setAttribute('data-charts', String(plots.length));
})();
`;

function renderTable(phase: PhaseResult): string {
  const table = compactTable(phaseRows(phase));
  const head = `<tr>${table.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = table.rows.map((row) => `<tr class="v-${escapeHtml(row.label.split(' ')[0]!)}"><th>${escapeHtml(row.label)}</th>${row.cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>${head}\n${body}</table>`;
}

function renderScenario(scenario: ScenarioResult, charts: ChartSpec[]): string {
  const parts = [`<section id="${escapeHtml(scenario.name)}">`, `<h2>${escapeHtml(scenario.name)}: ${escapeHtml(scenario.title)} <span class="seed">seed ${escapeHtml(scenario.seeds)}</span></h2>`];
  parts.push(`<p>${inline(scenario.summary)}</p>`, `<p class="meta">${escapeHtml(statusLine(scenario))}; ${Math.round(scenario.elapsedMs / 1000)} s.</p>`);
  if (scenario.skipped) return `${parts.join('\n')}</section>`;
  if (scenario.setup.length) parts.push(`<ul class="setup">${scenario.setup.map((s) => `<li>${inline(s)}</li>`).join('')}</ul>`);
  for (const [index, phase] of scenario.phases.entries()) {
    parts.push(`<h3>${escapeHtml(phase.name)}</h3>`, `<p class="meta">${escapeHtml(phase.description)}</p>`, renderTable(phase));
    parts.push(`<ul class="servers">${phase.runs.map((run) => `<li>${escapeHtml(run.variant)}: <code>${escapeHtml(run.server)}</code>${Object.keys(run.extras).length ? `<br>${Object.entries(run.extras).map(([k, v]) => `${escapeHtml(k)} ${escapeHtml(String(v))}`).join('; ')}` : ''}</li>`).join('')}</ul>`);
    const prefix = `c-${scenario.name}-${index}`;
    const phaseChartIds = charts.filter((chart) => chart.id.startsWith(`${prefix}-`)).map((chart) => chart.id);
    parts.push(`<div class="charts">${phaseChartIds.map((id) => `<div class="chart" id="${id}"></div>`).join('')}</div>`);
  }
  if (scenario.findings.length) parts.push('<h3>Findings</h3>', `<ul class="findings">${scenario.findings.map((f) => `<li>${inline(f)}</li>`).join('')}</ul>`);
  if (scenario.checks.length) parts.push('<h3>Checks</h3>', `<ul class="checks">${scenario.checks.map((c) => `<li class="${c.ok ? 'ok' : 'fail'}"><b>${c.ok ? 'PASS' : 'FAIL'}</b> ${inline(c.text)}: ${escapeHtml(c.measured)}</li>`).join('')}</ul>`);
  if (scenario.error) parts.push(`<pre class="error">${escapeHtml(scenario.error)}</pre>`);
  parts.push('</section>');
  return parts.join('\n');
}

export function renderHtmlReport(lab: LabRunResult): string {
  const uplot = readUplot();
  const charts = lab.scenarios.flatMap((scenario) => scenario.phases.flatMap((phase, index) => phaseCharts(`c-${scenario.name}-${index}`, phase)));
  const overview = lab.scenarios.map((s) => `<tr><td><a href="#${escapeHtml(s.name)}">${escapeHtml(s.name)}</a></td><td>${escapeHtml(s.seeds)}</td><td>${escapeHtml(statusLine(s))}</td><td>${Math.round(s.elapsedMs / 1000)} s</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ballast lab report: ${escapeHtml(lab.startedAt)}</title>
<style>${uplot.css}</style>
<style>
body { font: 14px/1.5 system-ui, -apple-system, Segoe UI, sans-serif; margin: 20px auto; max-width: 1300px; padding: 0 16px; color: #111827; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 36px; border-top: 1px solid #e5e7eb; padding-top: 16px; } h3 { font-size: 15px; }
.seed { font-weight: normal; color: #6b7280; font-size: 14px; }
.meta { color: #4b5563; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #e5e7eb; padding: 3px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
tr.v-naive th:first-child { color: #b91c1c; } tr.v-tuned th:first-child { color: #1d4ed8; }
code { background: #f3f4f6; padding: 1px 4px; font-size: 12px; word-break: break-word; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; } .chart { flex: 1 1 560px; min-width: 320px; }
.checks .ok { color: #166534; } .checks .fail { color: #b91c1c; }
pre { background: #f3f4f6; padding: 8px; overflow-x: auto; font-size: 12px; }
pre.error { background: #fef2f2; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>ballast lab report</h1>
<p class="meta">Run ${escapeHtml(lab.startedAt)}, ${Math.round(lab.elapsedMs / 1000)} s in all${lab.quick ? ', <b>--quick</b> (brief smoke-test sizes, not measurements)' : ''}${lab.target ? `, against <b>${escapeHtml(lab.target)}</b>` : ''}. Machine: ${lab.machine.cpus} CPUs, ${lab.machine.memoryGb} GiB, Node ${escapeHtml(lab.machine.node)}; the load generator, the servers, the services and the database share it.</p>
<p>Each scenario runs the same load against a <b>naive</b> server (ballast configured like the seeds' servers) and a <b>tuned</b> one. Latency is from the intended send time in open-model runs; errors count statuses ≥ 400 and requests without an answer.</p>
<table id="overview"><tr><th>scenario</th><th>seed</th><th>result</th><th>time</th></tr>
${overview}</table>
${lab.scenarios.map((scenario) => renderScenario(scenario, charts)).join('\n')}
<script id="lab-data" type="application/json">${scriptJson(charts)}</script>
<script>${uplot.js}</script>
<script>${clientScript}</script>
</body>
</html>
`;
}

// The HTML report: one self-contained file (uPlot's JS and CSS inlined from node_modules, the data
// inlined as JSON), so it can be attached to a CI run or mailed and opened anywhere, offline.
// Charts: throughput, latency percentiles, errors by status, and concurrency against the target,
// all per second (plus p99 per group for plans with several groups); the seeds' summary and the generator's verdict as text above them.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { RunResult } from '../types.ts';
import { formatSummary } from './terminal.ts';
import { escapeHtml, readUplot, scriptJson } from '../../html-assets.ts';




// Runs in the browser: builds the charts from the inlined data. Kept as plain ES2017.
const clientScript = `
(function () {
  var data = JSON.parse(document.getElementById('ballast-data').textContent);
  var series = data.series;
  var t = series.map(function (p) { return p.t + 1; });
  var colours = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];
  function width() { return Math.max(320, Math.min(1100, document.body.clientWidth - 40)); }
  function chart(id, title, unit, lines) {
    var el = document.getElementById(id);
    var opts = {
      title: title, width: width(), height: 260,
      scales: { x: { time: false } },
      axes: [{ label: 'seconds' }, { label: unit }],
      series: [{ label: 's' }].concat(lines.map(function (line, i) {
        return { label: line.label, stroke: colours[i % colours.length], width: 2, points: { show: t.length < 40 } };
      }))
    };
    var plot = new uPlot(opts, [t].concat(lines.map(function (line) { return line.values; })), el);
    el.setAttribute('data-rendered', 'true');
    return plot;
  }
  var plots = [];
  plots.push(chart('chart-throughput', 'Throughput per second', 'per second', [
    { label: 'requests', values: series.map(function (p) { return p.requests; }) },
    { label: 'errors', values: series.map(function (p) { return p.errors; }) },
    { label: 'dropped arrivals', values: series.map(function (p) { return p.dropped; }) },
    { label: 'SSE events', values: series.map(function (p) { return p.events; }) }
  ]));
  var latency = [
    { label: 'p50', values: series.map(function (p) { return p.latencyMs.p50; }) },
    { label: 'p90', values: series.map(function (p) { return p.latencyMs.p90; }) },
    { label: 'p99', values: series.map(function (p) { return p.latencyMs.p99; }) },
    { label: 'max', values: series.map(function (p) { return p.latencyMs.max; }) }
  ];
  if (series.some(function (p) { return p.serviceMs; })) {
    latency.push({ label: 'service p99', values: series.map(function (p) { return p.serviceMs ? p.serviceMs.p99 : null; }) });
  }
  plots.push(chart('chart-latency', 'Latency percentiles per second' + (data.hasOpen ? ' (from the intended send time)' : ''), 'ms', latency));
  var statuses = {};
  series.forEach(function (p) { Object.keys(p.statusCounts).forEach(function (s) { if (Number(s) >= 400) statuses[s] = true; }); });
  var errorLines = Object.keys(statuses).sort().map(function (s) {
    return { label: 'HTTP ' + s, values: series.map(function (p) { return p.statusCounts[s] || 0; }) };
  });
  errorLines.push({ label: 'no response (timeout, reset, refused)', values: series.map(function (p) {
    var http = 0; Object.keys(p.statusCounts).forEach(function (s) { if (Number(s) >= 400) http += p.statusCounts[s]; });
    return p.errors - http;
  }) });
  errorLines.push({ label: 'streams dropped', values: series.map(function (p) { return p.streamDrops; }) });
  plots.push(chart('chart-errors', 'Errors per second', 'per second', errorLines));
  // Targets of different groups are in different units (users, req/s, streams): per group, show
  // each group's own concurrency instead of a meaningless sum.
  plots.push(data.groups.length > 1
    ? chart('chart-concurrency', 'Concurrency per group (users, in flight, open streams)', 'count', data.groups.map(function (group) {
      return { label: group.name, values: group.series.map(function (p) { return p.concurrency; }) };
    }))
    : chart('chart-concurrency', 'Concurrency (users, in flight, open streams) and target', 'count', [
      { label: 'concurrency (peak)', values: series.map(function (p) { return p.concurrency; }) },
      { label: 'target (users, req/s or streams)', values: series.map(function (p) { return p.target; }) }
    ]));
  if (data.groups.length > 1) {
    var groupLines = data.groups.map(function (group) {
      return { label: group.name + ' p99', values: group.series.map(function (p) { return p.requests > 0 ? p.latencyMs.p99 : null; }) };
    });
    var holder = document.createElement('div');
    holder.className = 'chart';
    holder.id = 'chart-groups';
    document.getElementById('chart-concurrency').after(holder);
    plots.push(chart('chart-groups', 'p99 latency per group', 'ms', groupLines));
  }
  window.addEventListener('resize', function () { plots.forEach(function (plot) { plot.setSize({ width: width(), height: 260 }); }); });
  document.body.setAttribute('data-charts', String(plots.length));
})();
`;

export function renderHtmlReport(result: RunResult): string {
  const uplot = readUplot();
  const data = {
    series: result.series,
    hasOpen: result.groups.every((group) => group.kind === 'open'),
    groups: result.groups.map((group) => ({ name: group.name, series: group.series })),
  };
  const verdict = result.generator.some((report) => report.verdict === 'generator-bound')
    ? '<p class="warn">The generator itself was a bottleneck in this run: see “generator” below.</p>'
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ballast load report: ${escapeHtml(result.startedAt)}</title>
<style>${uplot.css}</style>
<style>
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; margin: 20px; color: #111827; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
pre { background: #f3f4f6; padding: 12px; overflow-x: auto; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.chart { margin: 18px 0; }
.warn { color: #b91c1c; font-weight: 600; }
.meta { color: #4b5563; }
</style>
</head>
<body>
<h1>ballast load report</h1>
<p class="meta">Started ${escapeHtml(result.startedAt)}, ${result.durationMs / 1000} s${result.runs > 1 ? `, ${result.runs} runs merged` : ''}.</p>
${verdict}
<pre id="summary">${escapeHtml(formatSummary(result))}</pre>
<div class="chart" id="chart-throughput"></div>
<div class="chart" id="chart-latency"></div>
<div class="chart" id="chart-errors"></div>
<div class="chart" id="chart-concurrency"></div>
<script id="ballast-data" type="application/json">${scriptJson(data)}</script>
<script>${uplot.js}</script>
<script>${clientScript}</script>
</body>
</html>
`;
}

export async function writeHtmlReport(path: string, result: RunResult): Promise<void> {
  const absolute = resolve(path);
  await mkdir(dirname(absolute), { recursive: true });
  await writeFile(absolute, renderHtmlReport(result));
}

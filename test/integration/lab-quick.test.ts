// `ballast lab --quick` end to end, as CI runs it: every scenario naive and tuned (nginx only where
// it is installed), the csv pair (seed 002) and reload (seed 003) in detail, the report's Markdown
// tables and findings, results.json, and the self-contained HTML report opened in headless
// Chromium with every chart drawn. --quick sizes are too small to judge the other checks.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/serve.ts';

const chromiumPath = '/usr/bin/chromium';
const reportDir = mkdtempSync(join(tmpdir(), 'ballast-lab-test-'));
let run: { code: number | null; stderr: string; elapsedMs: number };

function runLab(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stderr: string; stdout: string; elapsedMs: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(repoRoot, 'bin/ballast.js'), 'lab', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr, stdout, elapsedMs: performance.now() - started });
  }));
}

before(async () => {
  run = await runLab(['--quick', '--report', reportDir], 420_000);
  console.log(run.stderr);
});

test('ballast lab --quick runs every scenario, naive and tuned, and writes the report', () => {
  assert.equal(run.code, 0, run.stderr);
  for (const file of ['report.md', 'report.html', 'results.json']) assert.ok(existsSync(join(reportDir, file)), `${file} written`);
  assert.ok(run.elapsedMs < 360_000, `took ${Math.round(run.elapsedMs / 1000)} s`);
  const lab = JSON.parse(readFileSync(join(reportDir, 'results.json'), 'utf8')) as { scenarios: Array<{ name: string; skipped?: string; phases: Array<{ runs: Array<{ variant: string; result: { summary: { requests: number } } }> }> }> };
  const names = lab.scenarios.map((s) => s.name);
  assert.deepEqual(names, ['check-feed', 'stream-feed', 'csv-pair', 'database', 'stalls', 'slow-clients', 'leak', 'reload', 'overload', 'nginx']);
  for (const scenario of lab.scenarios) {
    if (scenario.skipped) {
      assert.equal(scenario.name, 'nginx', `${scenario.name} skipped: ${scenario.skipped}`);
      continue;
    }
    const variants = new Set(scenario.phases.flatMap((phase) => phase.runs.map((r) => r.variant)));
    assert.deepEqual([...variants].sort(), ['naive', 'tuned'], scenario.name);
    const sent = scenario.phases.flatMap((phase) => phase.runs).reduce((sum, r) => sum + r.result.summary.requests, 0);
    assert.ok(sent > 0, `${scenario.name}: no requests measured`);
  }
});

test('the csv pair takes 2 × delay naive and 1 × delay tuned (seed 002)', () => {
  const lab = JSON.parse(readFileSync(join(reportDir, 'results.json'), 'utf8')) as { scenarios: Array<{ name: string; phases: Array<{ runs: Array<{ variant: string; result: { summary: { requests: number; errors: number; latencyMs: { max: number } } } }> }>; checks: Array<{ ok: boolean; text: string }> }> };
  const csv = lab.scenarios.find((s) => s.name === 'csv-pair')!;
  const byVariant = Object.fromEntries(csv.phases[0]!.runs.map((r) => [r.variant, r.result.summary]));
  assert.equal(byVariant.naive!.requests, 2);
  assert.equal(byVariant.tuned!.requests, 2);
  assert.equal(byVariant.tuned!.errors, 0);
  // --quick uses delay=2: naive ~4 s (the second request waits for the first), tuned ~2 s.
  assert.ok(byVariant.naive!.latencyMs.max >= 3800, `naive pair ${byVariant.naive!.latencyMs.max} ms`);
  assert.ok(byVariant.tuned!.latencyMs.max < 3000, `tuned pair ${byVariant.tuned!.latencyMs.max} ms`);
  assert.ok(csv.checks.every((c) => c.ok), JSON.stringify(csv.checks));
});

test('a restart loses requests; SIGHUP loses none (seed 003)', () => {
  const lab = JSON.parse(readFileSync(join(reportDir, 'results.json'), 'utf8')) as { scenarios: Array<{ name: string; phases: Array<{ runs: Array<{ variant: string; result: { summary: { requests: number; errors: number; interrupted: number } } }> }> }> };
  const reload = lab.scenarios.find((s) => s.name === 'reload')!;
  const byVariant = Object.fromEntries(reload.phases[0]!.runs.map((r) => [r.variant, r.result.summary]));
  assert.ok(byVariant.naive!.errors > 0, `naive restart: ${byVariant.naive!.errors} errors`);
  assert.equal(byVariant.tuned!.errors, 0);
  assert.equal(byVariant.tuned!.interrupted, 0);
  assert.ok(byVariant.tuned!.requests > 1000);
});

test('the Markdown report has the seeds\' table for naive and tuned, findings and checks', () => {
  const md = readFileSync(join(reportDir, 'report.md'), 'utf8');
  assert.match(md, /^# ballast lab report/m);
  assert.match(md, /## csv-pair: two concurrent \/csv_test\?delay=10 \(seed 002\)/);
  assert.match(md, /\|\s*\| users \/ streams \| requests \| requests\/min \| average \| max \| p50 \| p90 \| p99 \| p99\.9 \| error rate \| errors by status \|/);
  assert.match(md, /\| \*\*naive\*\* \| 2 \| 2 \|/);
  assert.match(md, /\| \*\*tuned\*\* \| 2 \| 2 \|/);
  assert.match(md, /- naive server: `DEMO_MODE=naive .*ballast serve lab\/demo-app\/app\.ts --workers 1 --worker-connections 1/);
  // Findings carry measured numbers, not canned text.
  assert.match(md, /Naive \(1 worker, 1 request at a time\): the pair finished in \d+\.\d+ s/);
  assert.match(md, /Naive \(restart\): each deploy took the server away for ~[\d.]+ (ms|s)/);
  assert.match(md, /✅ tuned: reload loses no request: 0 errors over 3 reloads/);
});

test('the HTML report is self-contained and opens in headless Chromium with its charts drawn', async (t) => {
  const html = join(reportDir, 'report.html');
  const text = readFileSync(html, 'utf8');
  assert.doesNotMatch(text, /<script[^>]+src=|<link[^>]+href=/, 'no external scripts or styles');
  if (!existsSync(chromiumPath)) {
    t.skip(`${chromiumPath} is not installed; the HTML report was not checked in a browser`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1600 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('body[data-charts]');
    const charts = (await page.evaluate(`[...document.querySelectorAll('.chart')].map((element) => {
      const canvas = element.querySelector('canvas');
      if (!canvas) return { id: element.id, painted: 0, rendered: element.getAttribute('data-rendered'), legend: '' };
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
      return { id: element.id, painted, rendered: element.getAttribute('data-rendered'), legend: element.querySelector('.u-legend')?.textContent ?? '' };
    })`)) as { id: string; painted: number; rendered: string | null; legend: string }[];
    assert.deepEqual(errors, []);
    // At least latency + answers for every scenario that ran.
    const lab = JSON.parse(readFileSync(join(reportDir, 'results.json'), 'utf8')) as { scenarios: Array<{ name: string; skipped?: string; phases: Array<{ runs: Array<{ variant: string }> }> }> };
    // Each phase's charts (ids `c-SCENARIO-PHASE-…`) have a series per variant that ran in it
    // (naive and tuned; the database's cache phase is tuned only).
    const variantsOf = new Map<string, string[]>();
    for (const scenario of lab.scenarios.filter((s) => !s.skipped)) {
      const own = charts.filter((c) => c.id.startsWith(`c-${scenario.name}-`));
      assert.ok(own.length >= 2, `${scenario.name}: charts ${JSON.stringify(charts.map((c) => c.id))}`);
      scenario.phases.forEach((phase, index) => variantsOf.set(`c-${scenario.name}-${index}-`, phase.runs.map((r) => r.variant)));
    }
    for (const chart of charts) {
      assert.equal(chart.rendered, 'true', chart.id);
      assert.ok(chart.painted > 2000, `${chart.id}: ${chart.painted} painted pixels`);
      const variants = [...variantsOf].find(([prefix]) => chart.id.startsWith(prefix))?.[1] ?? ['naive', 'tuned'];
      for (const variant of variants) assert.ok(chart.legend.includes(variant), `${chart.id}: no ${variant} series in "${chart.legend}"`);
    }
    assert.match(await page.textContent('#overview') ?? '', /csv-pair/);
    mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'test-artifacts', 'lab-report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test('ballast lab --list, --help and an unknown scenario', async () => {
  const list = await runLab(['--list']);
  assert.equal(list.code, 0);
  for (const name of ['check-feed', 'stream-feed', 'csv-pair', 'database', 'stalls', 'slow-clients', 'leak', 'reload', 'overload', 'nginx']) assert.match(list.stdout, new RegExp(`^${name} `, 'm'));
  const help = await runLab(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--target STRING/);
  assert.match(help.stdout, /--quick, --no-quick/);
  const unknown = await runLab(['csv-pairs']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown lab scenario `csv-pairs`; did you mean `csv-pair`\?/);
});

test('--target runs a scenario\'s load against a server the user started; the report has a target column', async () => {
  const { startServe } = await import('../helpers/serve.ts');
  const server = await startServe(['lab/demo-app/app.ts', '--workers', '1', '--bind', '127.0.0.1:0', '--access-log', 'off']);
  const dir = mkdtempSync(join(tmpdir(), 'ballast-lab-target-'));
  try {
    const result = await runLab(['csv-pair', '--quick', '--target', server.url, '--report', dir]);
    assert.equal(result.code, 0, result.stderr);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(md, /\| \*\*target\*\* \| 2 \| 2 \|/);
    assert.doesNotMatch(md, /\| \*\*naive\*\* \|/);
    assert.match(md, /Your server: the pair finished in 2\.\d+ s/);
  } finally {
    await server.stop();
  }
});

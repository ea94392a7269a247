// The HTML report opens in a real headless Chromium with its four uPlot charts drawn: each chart's
// canvas must hold many non-blank pixels. The screenshot is kept in test-artifacts/ for humans.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeTempDir, repoRoot, runBallastLoad, startLoadServer } from '../helpers/load-helpers.ts';

const chromiumPath = '/usr/bin/chromium';

test('the HTML report opens in headless Chromium with its charts drawn, for one group and for a plan', async (t) => {
  if (!existsSync(chromiumPath)) {
    t.skip(`${chromiumPath} is not installed (apt-get install chromium); the HTML report was not checked in a browser`);
    return;
  }
  const server = await startLoadServer();
  const html = join(makeTempDir(), 'report.html');
  const planHtml = join(makeTempDir(), 'plan-report.html');
  try {
    const run = await runBallastLoad([`${server.url}/bimodal`, '--rate', '200', '--duration', '4s', '--html', html]);
    assert.equal(run.code, 0, run.stderr);
    const plan = await runBallastLoad([fileURLToPath(new URL('../fixtures/load-plan.json', import.meta.url)), '--target', server.url, '--duration', '2s', '--html', planHtml]);
    assert.equal(plan.code, 0, plan.stderr);
  } finally {
    await server.stop();
  }
  const text = readFileSync(html, 'utf8');
  assert.doesNotMatch(text, /<script[^>]+src=|<link[^>]+href=/, 'self-contained: no external scripts or styles');

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('body[data-charts="4"]');
    // A string, evaluated in the page: this project's types have no DOM on purpose.
    const charts = (await page.evaluate(`[...document.querySelectorAll('.chart')].map((element) => {
      const canvas = element.querySelector('canvas');
      if (!canvas) return { id: element.id, painted: 0, legend: '' };
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
      return { id: element.id, painted, legend: element.querySelector('.u-legend')?.textContent ?? '' };
    })`)) as { id: string; painted: number; legend: string }[];
    assert.deepEqual(errors, []);
    assert.equal(charts.length, 4);
    for (const chart of charts) assert.ok(chart.painted > 2000, `${chart.id}: ${chart.painted} painted pixels`);
    assert.match(charts[1].legend, /p99/);
    assert.match(await page.textContent('#summary') ?? '', /percentiles +p50/);
    const artifacts = join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'load-report.png'), fullPage: true });

    // A plan with several groups adds a p99-per-group chart and shows concurrency per group.
    await page.goto(pathToFileURL(planHtml).href);
    await page.waitForSelector('body[data-charts="5"]');
    const legends = (await page.evaluate(`[...document.querySelectorAll('.chart .u-legend')].map((legend) => legend.textContent)`)) as string[];
    assert.match(legends[3], /browse.*api.*feed/);
    assert.match(legends[4], /browse p99.*api p99/);
    assert.deepEqual(errors, []);
    await page.screenshot({ path: join(artifacts, 'load-report-plan.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

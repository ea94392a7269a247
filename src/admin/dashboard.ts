// The live dashboard: one static page (dashboard.html, plain JS, no build step) completed at serve
// time with uPlot's JS and CSS from node_modules and a small config, so the browser needs nothing
// but the admin server: no CDN, works offline and behind firewalls. The page holds no data of its
// own; it reads everything from the token-protected /status, /reports and /events.
// Also home to the stack-frame helpers that `ballast top` shares with the page.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** `file:///…/ballast/src/`: frames under it are the server's own, not the app's. */
export const ballastSourceUrl = new URL('../', import.meta.url).href;
/** `file:///…/ballast/`: shown paths are relative to it when they are inside it. */
export const ballastRootUrl = new URL('../../', import.meta.url).href;

/**
 * Workers push their stats (the heartbeat) once a second, so a healthy worker's heartbeat age
 * runs up to ~1 s; more than 1 s overdue means its event loop is blocked.
 */
export const stalledHeartbeatAgeMs = 2000;

/** `spinFor (file:///app/x.ts:23:3)` → its URL part (`file:///app/x.ts`), or '' when there is none. */
export function frameUrl(frame: string): string {
  return /\((.*):\d+:\d+\)$/.exec(frame)?.[1] ?? '';
}

/** Node's internals, dependencies and ballast's own frames: not where the app's time went. */
export function isInternalFrame(frame: string): boolean {
  const url = frameUrl(frame);
  return url === '' || url.startsWith('node:') || url.includes('/node_modules/') || url.startsWith(ballastSourceUrl);
}

/** The innermost frame of the app's own code (else the innermost frame): where a stall happened. */
export function topAppFrame(stack: readonly string[]): string | undefined {
  return stack.find((frame) => !isInternalFrame(frame)) ?? stack[0];
}

/** `spinFor (file:///work/ballast/test/x.ts:23:3)` → `spinFor (test/x.ts:23:3)`. */
export function shortenFrame(frame: string): string {
  return frame.replace(ballastRootUrl, '').replace('file://', '');
}

let page: Promise<string | undefined> | undefined;

async function buildDashboardPage(): Promise<string | undefined> {
  const template = await readFile(new URL('./dashboard.html', import.meta.url), 'utf8').catch(() => undefined);
  if (template === undefined) return undefined;
  const require = createRequire(import.meta.url);
  const distDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const [uplotJs, uplotCss] = await Promise.all([
    readFile(join(distDir, 'uPlot.iife.min.js'), 'utf8'),
    readFile(join(distDir, 'uPlot.min.css'), 'utf8'),
  ]);
  const config = JSON.stringify({ sourceUrl: ballastSourceUrl, rootUrl: ballastRootUrl, stalledHeartbeatAgeMs }).replace(/</g, '\\u003c');
  // Function replacers: the inlined text is taken literally (uPlot's code contains `$&`-like runs).
  return template
    .replace('/*@inline uPlot.min.css*/', () => uplotCss)
    .replace('/*@inline uPlot.iife.min.js*/', () => uplotJs)
    .replace('/*@inline config*/', () => config);
}

/** The dashboard HTML with its assets inlined (read once, then cached); undefined without dashboard.html. */
export function renderDashboardPage(): Promise<string | undefined> {
  page ??= buildDashboardPage().catch((error: unknown) => {
    page = undefined;
    throw error;
  });
  return page;
}

/** What a browser gets for the dashboard without a valid token: a page that says so (401). */
export function renderUnauthorizedPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>ballast: unauthorized</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f4f5f7;color:#1f2937}
main{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:28px 34px;max-width:560px;box-shadow:0 1px 3px #0001}
h1{font-size:20px;margin:0 0 8px;color:#b91c1c}code{background:#f3f4f6;padding:1px 5px;border-radius:4px}</style></head>
<body><main id="unauthorized">
<h1>Unauthorized</h1>
<p>This dashboard needs the admin token, and the link you opened has a wrong or missing one.</p>
<p>Open the link that <code>ballast serve</code> logs at start (<code>dashboard: http://…/?token=…</code>),
or add <code>?token=YOUR_TOKEN</code> (the value of <code>--admin-token</code> or <code>BALLAST_ADMIN_TOKEN</code>) to this address.</p>
</main></body>
</html>
`;
}

// What every self-contained HTML page of ballast needs: uPlot's JS and CSS to inline (the
// dashboard, the load report and the lab report work offline), and safe embedding of text and JSON.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let uplot: { js: string; css: string } | undefined;

/** uPlot's minified JS and CSS from node_modules, read once. */
export function readUplot(): { js: string; css: string } {
  if (!uplot) {
    const require = createRequire(import.meta.url);
    const distDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
    uplot = { js: readFileSync(join(distDir, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(distDir, 'uPlot.min.css'), 'utf8') };
  }
  return uplot;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** JSON safe inside a <script> element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

// Writes a lab run to a directory: report.md, report.html and results.json.

import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LabRunResult } from '../types.ts';
import { renderHtmlReport } from './html.ts';
import { renderMarkdownReport } from './markdown.ts';

export { renderHtmlReport } from './html.ts';
export { renderMarkdownReport } from './markdown.ts';

export async function writeLabReport(dir: string, lab: LabRunResult): Promise<{ markdown: string; html: string; json: string }> {
  const absolute = resolve(dir);
  await mkdir(absolute, { recursive: true });
  const paths = { markdown: join(absolute, 'report.md'), html: join(absolute, 'report.html'), json: join(absolute, 'results.json') };
  await writeFile(paths.markdown, renderMarkdownReport(lab));
  await writeFile(paths.html, renderHtmlReport(lab));
  // The per-second HDR histograms (`intervals`) are left out: they make the file ~10x larger and
  // the report is read from the summaries and series.
  await writeFile(paths.json, `${JSON.stringify(lab, (key, value) => (key === 'intervals' ? undefined : value))}\n`);
  return paths;
}

// The JSON result file: the summary and per-second series for people and dashboards, and the
// per-second HDR histograms (compressed base64) for machines, so `ballast load merge` can combine
// files from several processes or hosts exactly. Format tag: `ballast-load/1`.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createError } from '../../errors.ts';
import type { RunResult } from '../types.ts';

export async function writeJsonResult(path: string, result: RunResult): Promise<void> {
  const absolute = resolve(path);
  await mkdir(dirname(absolute), { recursive: true });
  await writeFile(absolute, `${JSON.stringify(result, null, 1)}\n`);
}

export async function readJsonResult(path: string): Promise<RunResult> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(resolve(path), 'utf8'));
  } catch (error) {
    throw createError('BALLAST_ERR_LOAD_RESULT', `cannot read ${path}: ${(error as Error).message}`, error);
  }
  const candidate = parsed as Partial<RunResult> | null;
  if (!candidate || candidate.format !== 'ballast-load/1' || !Array.isArray(candidate.groups)) {
    throw createError('BALLAST_ERR_LOAD_RESULT', `expected ${path} to be a \`ballast load --json\` result (format ballast-load/1), got ${candidate && typeof candidate === 'object' ? `format \`${String(candidate.format)}\`` : typeof parsed}`);
  }
  return candidate as RunResult;
}

// Where reports go besides the log and the dashboard: a rotating JSONL file and a webhook.
// Both are best-effort and never block the supervisor: file writes are appended in order on
// one promise chain, webhook posts retry with backoff and give up with a log line.

import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import type { Report } from './reports.ts';

export interface ReportSink {
  write(report: Report): void;
  /** Resolves when everything written so far is settled (tests, shutdown). */
  flush(): Promise<void>;
}

export function createJsonlSink(path: string, log: Logger, options: { maxBytes?: number; keep?: number } = {}): ReportSink {
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const keep = options.keep ?? 3;
  let chain: Promise<void> = mkdir(dirname(path), { recursive: true }).then(() => undefined);
  async function rotateIfNeeded(): Promise<void> {
    const size = await stat(path).then((s) => s.size, () => 0);
    if (size < maxBytes) return;
    for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => {});
    await rename(path, `${path}.1`);
  }
  return {
    write(report) {
      const line = `${JSON.stringify(report)}\n`;
      chain = chain
        .then(rotateIfNeeded)
        .then(() => appendFile(path, line))
        .catch((error: unknown) => log.error({ err: error, path }, `cannot write the report log ${path}`));
    },
    flush: () => chain,
  };
}

export function createWebhookSink(url: string, log: Logger, options: { attempts?: number; timeoutMs?: number; backoffMs?: number } = {}): ReportSink {
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 5000;
  const backoffMs = options.backoffMs ?? 1000;
  const pending = new Set<Promise<void>>();
  async function post(report: Report): Promise<void> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'ballast-report' },
          body: JSON.stringify(report),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return;
        if (response.status < 500 && response.status !== 429) {
          log.warn({ url, status: response.status }, `report webhook refused the report (${response.status}); not retrying`);
          return;
        }
        throw new Error(`status ${response.status}`);
      } catch (error) {
        if (attempt === attempts) {
          log.warn({ url, err: error, attempts }, `report webhook failed ${attempts} times; report dropped (it is still in the log and /reports)`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
      }
    }
  }
  return {
    write(report) {
      const sending = post(report).finally(() => pending.delete(sending));
      pending.add(sending);
    },
    flush: async () => { await Promise.all(pending); },
  };
}

// A small fixed-rate load loop on undici for supervisor tests: sends `ratePerSecond` requests
// spread evenly over `durationMs` through a keep-alive pool and records every outcome. It is a
// test instrument, not the load generator (`ballast load` is).

import { Pool } from 'undici';

export interface SteadyLoadResult {
  sent: number;
  statusCounts: Record<number, number>;
  errors: string[];
  bodies: Map<string, number>;
  /** Response times (ms) of the requests that got a response, in completion order. */
  latenciesMs: number[];
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export async function runSteadyLoad(options: {
  url: string;
  path: string;
  ratePerSecond: number;
  durationMs: number;
  connections?: number;
  onTick?: (sent: number) => void;
}): Promise<SteadyLoadResult> {
  const origin = new URL(options.url).origin;
  const pool = new Pool(origin, { connections: options.connections ?? 10, pipelining: 1 });
  const result: SteadyLoadResult = { sent: 0, statusCounts: {}, errors: [], bodies: new Map(), latenciesMs: [] };
  const total = Math.round((options.ratePerSecond * options.durationMs) / 1000);
  const intervalMs = 1000 / options.ratePerSecond;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    result.sent++;
    options.onTick?.(result.sent);
    const sentAt = performance.now();
    inflight.push(
      pool.request({ path: options.path, method: 'GET' }).then(
        async (response) => {
          const body = await response.body.text();
          result.latenciesMs.push(performance.now() - sentAt);
          result.statusCounts[response.statusCode] = (result.statusCounts[response.statusCode] ?? 0) + 1;
          result.bodies.set(body, (result.bodies.get(body) ?? 0) + 1);
        },
        (error: Error & { code?: string }) => {
          result.errors.push(`${error.code ?? error.name}: ${error.message}`);
        },
      ),
    );
  }
  await Promise.all(inflight);
  await pool.close();
  return result;
}
